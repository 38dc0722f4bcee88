"""Pieces of the benchmark harness: results schema, events, and an echo round trip."""

from __future__ import annotations

import itertools
import time
from typing import Any

import psutil
import pytest

from bench import cpu, report, run, scale
from bench.datasets import make_event, synthetic_events
from bench.echo import make_server
from bench.loadgen import run_load, unary_call
from bench.pipeline import batches, records_of
from bench.raw_kafka import records_for
from vinculo.v1 import events_pb2 as pb
from vinculo.v1 import ingest_pb2
from vinculo.validation import event_time, validate_event


def _results() -> dict[str, Any]:
    row = {"relationships": 1000, "method": "list_top10", "concurrency": 32, "p50_ms": 1.0,
           "p99_ms": 2.0, "qps": 900.0, "echo_p50_ms": 0.5, "echo_p99_ms": 1.0,
           "p50_vs_echo": 2.0, "p99_vs_echo": 2.0}  # fmt: skip
    return {
        "raw_kafka_eps": 8000.0,
        "ingest_to_scored_eps": 5000.0,
        "freshness_p99_s": 0.6,
        "serving": [row],
        "bytes_per_relationship": 700.0,
        "idle_cpu_percent": {"ingest_service": 0.3, "scoring_service": 0.5},
    }


def test_complete_results_validate() -> None:
    assert report.validate(_results()) == []


def test_missing_keys_and_bad_rows_are_reported() -> None:
    results = _results()
    del results["freshness_p99_s"]
    results["serving"][0]["echo_p99_ms"] = None
    problems = report.validate(results)
    assert "missing key freshness_p99_s" in problems
    assert any("echo_p99_ms" in p for p in problems)


def test_json_has_no_nan(tmp_path: Any) -> None:
    results = _results()
    results["bytes_per_relationship"] = float("nan")
    path = tmp_path / "r.json"
    report.write_json(results, path)
    assert '"bytes_per_relationship": null' in path.read_text()
    assert "Serving" in report.table({**results, "mode": "test"})


def test_events_are_valid_and_mirrored_into_two_records() -> None:
    now = time.time()
    event = make_event("e1", "a", "b", now - 10, type=pb.INTERACTION_TYPE_COMMENT)
    assert validate_event(event, now) is None
    records = records_for([event])
    assert [key for key, _ in records] == [b"a", b"b"]
    assert records_of([event]) == 2
    owner_only = list(synthetic_events("o", range(3), seed=1, now=now))
    assert all(validate_event(e, now) is None for e in owner_only)
    assert len(records_for(owner_only)) == records_of(owner_only) == 3


def test_batches_respect_the_api_limit() -> None:
    events = list(synthetic_events("o", range(2500), seed=2))
    requests = [ingest_pb2.PublishEventsRequest.FromString(b) for b in batches(events)]
    assert [len(r.events) for r in requests] == [1000, 1000, 500]


def test_echo_round_trip_through_the_load_generator() -> None:
    answer = ingest_pb2.PublishEventsResponse(
        results=[ingest_pb2.EventResult(event_id="x", status=ingest_pb2.EVENT_STATUS_ACCEPTED)]
    )
    server, port = make_server(0, answer.SerializeToString(), workers=4)
    try:
        call = unary_call(
            "/bench.v1.Echo/Echo", b"request", ingest_pb2.PublishEventsResponse.FromString
        )
        summary = run_load(f"127.0.0.1:{port}", call, concurrency=4, duration_s=0.05,
                           min_requests=20, warmup=1)  # fmt: skip
        assert summary.count >= 20
        assert summary.p50_ms > 0
        assert summary.p99_ms >= summary.p50_ms
    finally:
        server.stop(0).wait()


def test_cpu_spent_counts_the_work_of_each_process() -> None:
    def busy() -> int:
        deadline = time.process_time() + 0.05
        spins = 0
        while time.process_time() < deadline:
            spins += 1
        return spins

    spins, spent = cpu.cpu_spent({"me": psutil.Process()}, busy)
    assert spins > 0
    # psutil counts in 10 ms clock ticks: 50 ms of work reads as at least 4 ticks,
    # which sum to 0.0399999... in floating point.
    assert spent["me"] >= 0.04 - 1e-9


def test_cpu_bound_rate_and_its_lines_in_the_table() -> None:
    spent = {"ingest_service": 0.5, "scoring_service": 1.5}  # seconds for 1,000 events
    assert cpu.cpu_bound_eps(spent, 1000, cores=2) == 1000.0
    results = _results() | {
        "ingest_cpu_us_per_event": {name: s / 1000 * 1e6 for name, s in spent.items()},
        "ingest_cpu_bound_eps": 1000.0,
    }
    text = report.table(results)
    assert "ingest_service 500, scoring_service 1,500; sum 2,000" in text
    assert "could carry at that CPU cost  1,000" in text


def test_replay_copies_are_valid_distinct_and_each_newer_than_the_last() -> None:
    rows = [(1, 2, 1_000), (2, 1, 1_500), (3, 1, 4_000)]
    copies = [scale.replay_events(rows, k, 3) for k in range(3)]
    now = time.time()
    ids = {e.event_id for copy in copies for e in copy}
    assert len(ids) == 9
    assert all(validate_event(e, now) is None for copy in copies for e in copy)
    for earlier, later in itertools.pairwise(copies):
        assert event_time(later[0]) > event_time(earlier[-1])
        # the same real ties, in the same order and spacing
        assert [(e.owner_id, e.contact_id) for e in later] == [
            (e.owner_id, e.contact_id) for e in earlier
        ]
        gaps = [event_time(b) - event_time(a) for a, b in itertools.pairwise(later)]
        assert gaps == pytest.approx([500, 2_500], abs=1e-3)
    assert event_time(copies[-1][-1]) <= now


def _scale_row(rels: int, cost: float, reference_cost: float) -> dict[str, Any]:
    return {"relationships": rels, "reference_relationships": 10_000,
            "cpu_us_per_event": cost, "reference_cpu_us_per_event": reference_cost,
            "probe_eps": 1e6 / cost, "reference_probe_eps": 1e6 / reference_cost,
            "replay_cpu_us_per_record": cost, "reference_replay_cpu_us_per_record": reference_cost,
            "replay_rps": 1e6 / cost, "reference_replay_rps": 1e6 / reference_cost}  # fmt: skip


def test_flatness_is_judged_against_the_reference_store_of_the_same_minute() -> None:
    # The machine slowed down by half between checkpoints: both stores cost 1.5x more.
    drifted = _results() | {"ingest_ratio": 0.6, "idle_cpu_percent": {},
                            "scale": [_scale_row(10_000, 40.0, 40.0),
                                      _scale_row(1_000_000, 60.0, 60.0)]}  # fmt: skip
    flat = run.targets(drifted)
    key = "uniform per-event CPU, growing/reference max (1,000,000 vs 10,000 rels)"
    assert flat[key] == {"value": 1.0, "limit": "<= 1.2", "met": True}
    # Same minute, the big store costs 1.5x the small one: not flat.
    grown = drifted | {"scale": [_scale_row(10_000, 40.0, 40.0),
                                 _scale_row(1_000_000, 60.0, 40.0)]}  # fmt: skip
    assert run.targets(grown)[key]["met"] is False
    assert run.targets(grown)[key]["value"] == pytest.approx(1.5)
