"""A real Prometheus (Debian's package) scrapes both services and answers the main queries.

Prometheus loads deploy/prometheus/rules.yml, so every recording and alerting
rule is evaluated against the services' real series: a rule naming a metric or
label the services do not export would still be "ok", so the test also asks for
the series each rule needs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import ServiceProcess, wait_until
from vinculo.v1 import events_pb2 as pb
from vinculo.v1 import ingest_pb2, ingest_pb2_grpc, scoring_pb2, scoring_pb2_grpc
from vinculo_apps.devstack.broker import free_port
from vinculo_apps.scrape import fetch_metrics

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("prometheus") is None, reason="needs prometheus (Debian package prometheus)"
    ),
]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "rules.yml"
DASHBOARD = DEPLOY / "grafana" / "vinculo.json"
_METRIC = re.compile(r"(?<![:\w])(?:grpc_server|vinculo)_[a-z_]+\b")  # not recording rules
CONFIG = """global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: ["{rules}"]
scrape_configs:
  - job_name: vinculo-ingest
    static_configs: [{{targets: ["127.0.0.1:{ingest}"]}}]
  - job_name: vinculo-scoring
    static_configs: [{{targets: ["127.0.0.1:{scoring}"]}}]
"""


@pytest.fixture
def prometheus(ingest: ServiceProcess, scoring: ServiceProcess, tmp_path: Path) -> Iterator[str]:
    config = tmp_path / "prometheus.yml"
    config.write_text(
        CONFIG.format(rules=RULES, ingest=ingest.metrics_port, scoring=scoring.metrics_port)
    )
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(url, process), 60, "prometheus ready")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _ready(url: str, process: subprocess.Popen[bytes]) -> bool:
    assert process.poll() is None, f"prometheus exited with {process.returncode}"
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def _api(url: str, path: str, **params: str) -> Any:
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{url}/api/v1/{path}?{query}", timeout=10) as reply:
        body = json.loads(reply.read())
    assert body["status"] == "success", body
    return body["data"]


def _values(url: str, expr: str) -> list[float]:
    return [float(r["value"][1]) for r in _api(url, "query", query=expr)["result"]]


def _traffic(ingest: ServiceProcess, scoring: ServiceProcess) -> None:
    event = pb.InteractionEvent(
        event_id=f"p{time.monotonic_ns()}",
        owner_id="ana",
        contact_id="bruno",
        type=pb.INTERACTION_TYPE_MESSAGE,
        direction=pb.DIRECTION_OUTBOUND,
    )
    event.occurred_at.seconds = int(time.time()) - 60
    with grpc.insecure_channel(ingest.address) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        stub.PublishEvents(ingest_pb2.PublishEventsRequest(events=[event]), timeout=30)
    with grpc.insecure_channel(scoring.address) as channel:
        summary = scoring_pb2.GetNetworkSummaryRequest(owner_id="ana")
        try:
            scoring_pb2_grpc.ScoringServiceStub(channel).GetNetworkSummary(summary, timeout=30)
        except grpc.RpcError as exc:  # NOT_FOUND until the first event is scored
            assert exc.code() == grpc.StatusCode.NOT_FOUND, exc


def test_prometheus_scrapes_both_services_and_every_rule_answers(
    prometheus: str, ingest: ServiceProcess, scoring: ServiceProcess
) -> None:
    def targets_up() -> bool:
        active = _api(prometheus, "targets")["activeTargets"]
        return len(active) == 2 and all(t["health"] == "up" for t in active)

    wait_until(targets_up, 60, "both targets up")
    # The targets page reports a scrape before its samples are queryable: wait for both.
    wait_until(
        lambda: sorted(_values(prometheus, "up")) == [1.0, 1.0], 30, "up = 1 for both targets"
    )

    def rates_answer() -> bool:
        _traffic(ingest, scoring)
        rate = _values(prometheus, 'sum(rate(grpc_server_handled_total{grpc_code="OK"}[10s]))')
        p99 = _values(
            prometheus,
            "histogram_quantile(0.99, sum by (le) "
            '(rate(grpc_server_handling_seconds_bucket{grpc_type="unary"}[10s])))',
        )
        return bool(rate and rate[0] > 0 and p99 and p99[0] > 0)

    wait_until(rates_answer, 60, "rates and quantiles of gRPC calls")
    accepted = "sum(rate(vinculo_ingest_events_accepted_total[30s]))"
    wait_until(lambda: _values(prometheus, accepted), 30, "rate of accepted events")
    # Dead-letter counters exist at 0 before any dead letter: the alert's sum answers 0.
    dead = "sum(vinculo_scoring_events_dead_lettered_total)"
    assert _values(prometheus, dead) == [0.0]
    for needed in (
        "vinculo_scoring_consumer_lag",
        "vinculo_scoring_events_committed_total",
        "vinculo_ingest_broker_up",
        "vinculo_scoring_ready",
        "vinculo_scoring_store_disk_free_bytes",
        "vinculo_scoring_store_disk_size_bytes",
        "vinculo_scoring_freshness_seconds_bucket",
        'grpc_server_handling_seconds_bucket{grpc_type="unary",le="0.25"}',
    ):
        assert _values(prometheus, f"count({needed})"), f"no series for {needed}"
    assert _values(prometheus, "vinculo_scoring_ready") == [1.0]

    def rules_evaluated() -> list[dict[str, Any]] | None:
        rules = [r for g in _api(prometheus, "rules")["groups"] for r in g["rules"]]
        return rules if all(r.get("lastEvaluation", "").startswith("2") for r in rules) else None

    rules = wait_until(rules_evaluated, 30, "every rule evaluated once")
    assert len(rules) == 17
    assert [r["name"] for r in rules if r["health"] != "ok"] == []
    for rule in rules:  # each expression answers through the query API too
        answer = _api(prometheus, "query", query=rule["query"])
        print(f"{rule['name']}: {answer['resultType']} {answer['result']}")  # shown with -s
    firing = [r["name"] for r in rules if r.get("state") == "firing"]
    assert firing == [], "a healthy stack fires no alert"


def test_every_dashboard_query_uses_exported_metrics_and_answers(
    prometheus: str, ingest: ServiceProcess, scoring: ServiceProcess
) -> None:
    scraped = set()
    for service in (ingest, scoring):
        page = fetch_metrics(f"http://127.0.0.1:{service.metrics_port}/metrics")
        scraped |= {s.name for f in text_string_to_metric_families(page) for s in f.samples}
    exprs = [t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p["targets"]]
    assert exprs
    for expr in exprs:
        unknown = set(_METRIC.findall(expr)) - scraped
        assert not unknown, f"dashboard query names metrics not exported: {unknown}"
        _api(prometheus, "query", query=expr.replace("$__rate_interval", "1m"))
