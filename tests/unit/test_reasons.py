"""Every reason code written as a literal is known in advance, and its series exists at 0."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from ingest_service.metrics import IngestMetrics, RawBridgeMetrics
from scoring_service.metrics import ScoringMetrics
from vinculo.reasons import RAW_DEAD_LETTER_CODES, SCORING_DEAD_LETTER_CODES

ROOT = Path(__file__).resolve().parents[2]
_LITERAL = re.compile(r'Rejection\(\s*"([a-z_]+)"')


def test_every_literal_rejection_code_is_listed() -> None:
    sources = [
        *(ROOT / "vinculo").glob("*.py"),
        *(ROOT / "ingest_service").rglob("*.py"),
        *(ROOT / "scoring_service").rglob("*.py"),
    ]
    found = {code for path in sources for code in _LITERAL.findall(path.read_text())}
    assert found, "the pattern no longer finds Rejection literals"
    assert found - {*RAW_DEAD_LETTER_CODES, *SCORING_DEAD_LETTER_CODES} == set()


def test_labelled_counters_answer_zero_before_their_first_event() -> None:
    registry = CollectorRegistry()
    IngestMetrics(registry)
    RawBridgeMetrics(registry)
    ScoringMetrics(registry)
    for name, reason in (
        ("vinculo_ingest_events_rejected_total", "self_relationship"),
        ("vinculo_ingest_raw_dead_lettered_total", "not_cloudevent"),
        ("vinculo_scoring_events_dead_lettered_total", "undecodable"),
    ):
        assert registry.get_sample_value(name, {"reason": reason}) == 0, name
    errors = {"kind": "kafka"}
    assert registry.get_sample_value("vinculo_ingest_raw_bridge_errors_total", errors) == 0
