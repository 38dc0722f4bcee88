"""A state rebuild never drops more history than the log can give back.

`--rebuild-state` drops stored state of another schema version and
re-consumes the interaction topic from its beginning. If the topic holds fewer
records than the store was built from (an in-memory broker restarted and the
ingest outbox has not replayed yet, or retention deleted old records), the
rebuild would lose relationships. So before dropping anything the guard waits,
up to a bound, for the topic to hold at least as many records as the store
has seen events and relationships (each came from at least one record), and
otherwise refuses with a message saying what to do.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from scoring_service.features.state import STATE_SCHEMA_VERSION
from scoring_service.store import StateSchemaMismatch
from vinculo.security.kafka import PLAINTEXT, KafkaSecurity, kafka_client_config
from vinculo.topics import INTERACTIONS_TOPIC

log = logging.getLogger(__name__)


class RebuildRefused(StateSchemaMismatch):
    """The log holds less history than the state a rebuild would drop."""


def history_needed(database: Path) -> int:
    """Records a rebuild must find in the topic; 0 when nothing would be dropped."""
    if not database.exists():
        return 0
    conn = sqlite3.connect(database)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"relationships", "seen_events", "meta"} <= tables:
            return 0
        versions = {r[0] for r in conn.execute("SELECT DISTINCT schema_version FROM relationships")}
        meta = conn.execute("SELECT value FROM meta WHERE key = 'state_schema_version'").fetchone()
        if meta is not None:
            versions.add(int(meta[0]))
        if not versions - {STATE_SCHEMA_VERSION}:
            return 0  # same layout: a rebuild drops nothing
        (seen,) = conn.execute("SELECT COUNT(*) FROM seen_events").fetchone()
        (relationships,) = conn.execute("SELECT COUNT(*) FROM relationships").fetchone()
        return max(int(seen), int(relationships))
    except sqlite3.DatabaseError:
        return 0  # a damaged store: nothing in it can be counted (scoring_service.integrity)
    finally:
        conn.close()


def topic_records(bootstrap: str, timeout_s: float, security: KafkaSecurity = PLAINTEXT) -> int:
    """The records the interaction topic holds: the sum of its high watermarks (0 if absent).

    High watermarks from fetch responses, not `end_offsets`: Tansu answers
    ListOffsets with the base offset of the last batch (see commands/export.py).
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="vinculo-scoring-rebuild-guard",
        enable_auto_commit=False,
        max_partition_fetch_bytes=1024,  # only the watermark is wanted
        request_timeout_ms=int(timeout_s * 1000) + 1000,
        **kafka_client_config(security),
    )
    try:
        numbers = consumer.partitions_for_topic(INTERACTIONS_TOPIC) or set()
        partitions = [TopicPartition(INTERACTIONS_TOPIC, p) for p in numbers]
        if not partitions:
            return 0
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout_s
        marks: dict[TopicPartition, int] = {}
        while len(marks) < len(partitions):
            if time.monotonic() > deadline:
                raise KafkaError(f"no watermark for {len(partitions) - len(marks)} partitions")
            consumer.poll(timeout_ms=200)
            for tp in partitions:
                if (mark := consumer.highwater(tp)) is not None:
                    marks[tp] = mark
        return sum(marks.values())
    finally:
        consumer.close()


def check_rebuild(
    database: Path, bootstrap: str, wait_s: float, security: KafkaSecurity = PLAINTEXT
) -> None:
    """Return once a rebuild is safe; raise RebuildRefused after `wait_s` otherwise."""
    needed = history_needed(database)
    if needed == 0:
        return
    deadline = time.monotonic() + wait_s
    held, problem = 0, ""
    while True:
        try:
            held, problem = topic_records(bootstrap, timeout_s=5.0, security=security), ""
        except KafkaError as exc:
            problem = f" (Kafka at {bootstrap}: {exc})"
        if held >= needed:
            log.info("rebuild: the topic holds %d records, the store needs %d", held, needed)
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    raise RebuildRefused(
        f"refusing to rebuild the state store {database}: it was built from at least "
        f"{needed} records of {INTERACTIONS_TOPIC}, the topic holds {held}{problem} after "
        f"waiting {wait_s:.0f} s, so a rebuild would lose relationships. Start the ingest "
        "service (its outbox replays the history into an emptied broker) and retry, or run "
        "a build of the store's schema version"
    )
