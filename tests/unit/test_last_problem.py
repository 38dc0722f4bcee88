"""What `vinculo up` says when a service stops while starting: the service's own last
error, not kafka-python's lines about the connections it closed."""

from __future__ import annotations

from pathlib import Path

from vinculo_apps.devstack.stack import LOG_TAIL_BYTES, last_problem

MISMATCH = (
    "2026-12-05 05:08:59,384 ERROR scoring_service: state store /d/scoring.sqlite3 holds "
    "relationship state of schema version(s) [4], this build uses version 5: run with "
    "--rebuild-state (VINCULO_SCORING_REBUILD_STATE=true) to drop it"
)


def test_the_service_s_own_last_error_not_kafka_s(tmp_path: Path) -> None:
    log = tmp_path / "scoring.log"
    log.write_text(
        "2026-12-05 05:08:58,000 ERROR scoring_service: an older error\n"
        f"{MISMATCH}\n"
        "2026-12-05 05:09:00,000 ERROR kafka.cluster: Metadata refresh: failed Cancelled\n"
        "2026-12-05 05:09:00,100 INFO scoring_service: stopped\n"
    )
    assert last_problem(log, "scoring_service") == MISMATCH


def test_an_invalid_setting_and_nothing_to_say(tmp_path: Path) -> None:
    log = tmp_path / "ingest.log"
    log.write_text("ingest_service: partitions: must be at least 1, not 0\n")
    assert last_problem(log, "ingest_service") == (
        "ingest_service: partitions: must be at least 1, not 0"
    )
    assert last_problem(log, "scoring_service") == ""
    assert last_problem(tmp_path / "absent.log", "ingest_service") == ""


def test_only_the_end_of_a_long_log_is_read(tmp_path: Path) -> None:
    log = tmp_path / "scoring.log"
    filler = "2026-12-05 05:00:00,000 INFO scoring_service: consuming\n"
    log.write_text(f"{MISMATCH}\n" + filler * (2 * LOG_TAIL_BYTES // len(filler)))
    assert last_problem(log, "scoring_service") == ""
