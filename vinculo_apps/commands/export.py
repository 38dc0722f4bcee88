"""`vinculo export --out events.jsonl`: the interaction topic back to an event file.

What came in through the ingest API (and the raw-topic bridge) lives in Kafka.
This reads the topic from its beginning to the offsets it ends at when the
command starts, and writes the project's own event format, which `vinculo
train` and `vinculo import events` read: a model can be retrained on the events
the service has been scoring (docs/model.md). `--owner` keeps only those
people's networks.

Each event is written once. The ingest service publishes an event keyed by its
owner and, unless it is owner-only or feedback, a mirrored copy keyed by the
contact, with the id `~OWNER/EVENT_ID`; training mirrors events itself, so the
copy is left out, unless `--owner` keeps the copy's network and not the
original's: then the original is written, rebuilt from the copy. No set of
seen events is kept, and a topic of any length streams through in constant
memory.

A record that is not a valid event (it cannot be decoded, or its time or ids
break the rules of `vinculo.validation`, e.g. written by another producer or
before a rule existed) is left out and counted, and the command exits 1.

Forgotten people stay forgotten: the tombstone topic (`vinculo.tombstones.v1`,
`vinculo.erasure`) is read first, and every event a tombstone matches is left
out (counted as `forgotten`), the mirrored copies included.

It assigns partitions by hand and joins no consumer group, so it commits
nothing and does not disturb a running scoring service.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from vinculo import settings as settings_lib
from vinculo import tombstone_log
from vinculo.domain import type_name
from vinculo.erasure import TombstoneSet
from vinculo.identifiers import is_mirror_id
from vinculo.kafka_positions import reached
from vinculo.security.kafka import KafkaClientSettings, kafka_client_config
from vinculo.security.kafka_check import KafkaCredentialsRejected, check_kafka_credentials
from vinculo.settings import SettingsError, setting
from vinculo.topics import INTERACTIONS_TOPIC
from vinculo.v1 import events_pb2 as pb
from vinculo.validation import Rejection, checked_time, original
from vinculo_apps import addresses
from vinculo_apps.arguments import missing_directory
from vinculo_apps.importers.files import FORMATS, write_csv, write_jsonl

POLL_MS = 500


@dataclass(frozen=True)
class ExportSettings(KafkaClientSettings):
    kafka_bootstrap: str = setting(
        "127.0.0.1:9092",
        "VINCULO_KAFKA_BOOTSTRAP",
        "Kafka bootstrap servers to read from (unset: 127.0.0.1:$VINCULO_BROKER_PORT)",
    )
    timeout_s: float = setting(
        10.0,
        "VINCULO_EXPORT_TIMEOUT_S",
        "give up when the broker cannot be reached, or no record arrives, for this long",
    )

    def validate(self) -> None:
        self.validate_kafka_security()


@dataclass
class ExportCounts:
    written: int = 0
    mirrored_copies: int = 0
    other_owners: int = 0
    unreadable: int = 0
    forgotten: int = 0
    partitions: int = 0
    per_type: dict[str, int] = field(default_factory=dict)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help=".jsonl or .csv, optionally .gz")
    parser.add_argument("--format", choices=FORMATS, help="default: from the file name")
    parser.add_argument(
        "--owner", action="append", default=[], help="keep this person's network (repeatable)"
    )
    settings_lib.add_flags(parser, ExportSettings)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_lib.load(ExportSettings, args)
    except SettingsError as exc:
        print(f"vinculo export: {exc}", file=sys.stderr)
        return 2
    # The one way every command finds the broker (vinculo_apps.addresses).
    bootstrap = addresses.resolve(addresses.KAFKA, getattr(args, "kafka_bootstrap", None))
    settings = dataclasses.replace(settings, kafka_bootstrap=bootstrap)
    problem = missing_directory("--out", args.out)
    if problem:
        print(f"vinculo export: {problem}", file=sys.stderr)
        return 2
    fmt = args.format or ("csv" if ".csv" in args.out.suffixes else "jsonl")
    counts = ExportCounts()
    started = time.monotonic()
    # Written beside the target and renamed at the end: a failed export leaves no
    # half file that could pass for the whole topic.
    partial = args.out.with_name(args.out.name + ".partial")
    try:
        check_kafka_credentials(
            settings.kafka_bootstrap, settings.kafka_security(), settings.timeout_s
        )
        events = exported_events(settings, set(args.owner), counts)
        (write_csv if fmt == "csv" else write_jsonl)(events, partial)
    except (KafkaError, TimeoutError, KafkaCredentialsRejected, tombstone_log.BadTombstone) as exc:
        partial.unlink(missing_ok=True)
        print(f"vinculo export: Kafka at {settings.kafka_bootstrap}: {exc}", file=sys.stderr)
        return 2
    except BaseException:
        partial.unlink(missing_ok=True)  # Ctrl-C or a bug: no half file either
        raise
    partial.replace(args.out)
    print(_summary(counts, args.out, time.monotonic() - started))
    return 1 if counts.unreadable else 0


def exported_events(
    settings: ExportSettings, owners: set[str], counts: ExportCounts
) -> Iterator[pb.InteractionEvent]:
    """Every event of the topic once (see the module docstring), in partition order."""
    now = time.time()
    tombstones = TombstoneSet(
        tombstone_log.read_all(
            settings.kafka_bootstrap, settings.timeout_s, settings.kafka_security()
        )
    )
    for value in _topic_values(settings, counts):
        event = _readable(value, now)
        if event is None:
            counts.unreadable += 1  # the scoring service dead-letters these too
            continue
        if tombstones and _forgotten(tombstones, event):
            counts.forgotten += 1
            continue
        if owners and event.owner_id not in owners:
            counts.other_owners += 1
            continue
        if is_mirror_id(event.event_id):
            made_from = original(event)
            if made_from is None or not owners or made_from.owner_id in owners:
                counts.mirrored_copies += 1
                continue
            event = made_from
        counts.written += 1
        name = type_name(event.type)
        counts.per_type[name] = counts.per_type.get(name, 0) + 1
        yield event


def _forgotten(tombstones: TombstoneSet, event: pb.InteractionEvent) -> bool:
    """The event, or the original a mirrored copy was made from, is erased."""
    t = event.occurred_at.seconds + event.occurred_at.nanos / 1e9
    if tombstones.erased(event.owner_id, event.contact_id, t):
        return True
    made_from = original(event) if is_mirror_id(event.event_id) else None
    return made_from is not None and tombstones.erased(made_from.owner_id, made_from.contact_id, t)


def _readable(value: bytes, now: float) -> pb.InteractionEvent | None:
    """The record's event when it decodes and is valid (as the scoring service checks it)."""
    try:
        event = pb.InteractionEvent.FromString(value)
    except DecodeError:
        return None
    # No limit on future times here: the topic may hold events ingested days ago.
    return None if isinstance(checked_time(event, math.inf), Rejection) else event


def _topic_values(settings: ExportSettings, counts: ExportCounts) -> Iterator[bytes]:
    """Record values from the beginning of each partition to its end when first fetched.

    The end is the high watermark of the partition's first fetch response, not
    `end_offsets`: the embedded broker (Tansu) answers ListOffsets with the base
    offset of the last record batch, which would cut the export short (measured:
    1,310 against 1,358 records). Taking the first watermark also ends a live
    topic's export instead of chasing new events.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        group_id=None,
        client_id="vinculo-export",
        bootstrap_timeout_ms=int(settings.timeout_s * 1000),
        **kafka_client_config(settings.kafka_security()),
    )
    try:
        numbers = consumer.partitions_for_topic(INTERACTIONS_TOPIC)
        if not numbers:
            raise TimeoutError(f"no topic {INTERACTIONS_TOPIC} (nothing was ever ingested?)")
        partitions = [TopicPartition(INTERACTIONS_TOPIC, p) for p in sorted(numbers)]
        counts.partitions = len(partitions)
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends: dict[TopicPartition, int] = {}
        pending = set(partitions)
        progress_at = time.monotonic()
        while pending:
            batches = consumer.poll(timeout_ms=POLL_MS)
            for tp in pending - ends.keys():
                if (watermark := consumer.highwater(tp)) is not None:
                    ends[tp] = watermark
                    progress_at = time.monotonic()
            for tp, records in batches.items():
                progress_at = time.monotonic()
                yield from (r.value for r in records if tp not in ends or r.offset < ends[tp])
            pending = {tp for tp in pending if not reached(consumer, tp, ends.get(tp))}
            if pending and time.monotonic() - progress_at > settings.timeout_s:
                raise TimeoutError(f"no progress for {settings.timeout_s:.0f} s")
    finally:
        consumer.close()


def _summary(counts: ExportCounts, out: Path, seconds: float) -> str:
    kinds = ", ".join(f"{n:,} {kind}" for kind, n in sorted(counts.per_type.items()))
    lines = [
        f"exported {counts.written:,} events to {out} in {seconds:.1f} s"
        + (f" ({kinds})" if kinds else ""),
        f"  from {counts.partitions} partitions; left out {counts.mirrored_copies:,} mirrored "
        f"copies and {counts.other_owners:,} records of other owners",
    ]
    if counts.forgotten:
        lines.append(f"  {counts.forgotten:,} records of forgotten people were left out")
    if counts.unreadable:
        lines.append(f"  {counts.unreadable:,} records could not be read and were left out")
    return "\n".join(lines)
