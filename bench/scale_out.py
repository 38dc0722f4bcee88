"""`python -m bench.scale_out [--quick]`: the scoring service over several instances.

Three measurements, each against its peer in the same run (issue "Scale out"):

1. forwarding: the top 10 of an owner with 1,000 relationships asked of the
   instance holding the owner (direct) and of the other one (forwarded), at
   concurrency 1 and 32: what a forward adds;
2. restore: a partition's state rebuilt by a new instance from the changelog,
   against rebuilding it by replaying the interaction log: time and bytes read;
3. throughput: the same records consumed to durable state by 1, 2 and 3
   instances of one group.

Everything runs on free loopback ports under a temporary directory and is
stopped at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
from kafka import KafkaProducer

from bench import scale_out_forward
from bench.cpu import cpu_bound_eps, cpu_spent
from bench.scale_out_forward import ForwardResult
from bench.stack import Service, service
from vinculo.partitioning import partition_of
from vinculo.security.kafka import PLAINTEXT, KafkaSecurity, kafka_client_config
from vinculo.timestamps import set_seconds
from vinculo.topics import INTERACTIONS_TOPIC, ensure_topics
from vinculo.v1 import events_pb2 as ev
from vinculo_apps.devstack.broker import EmbeddedBroker

PARTITIONS = 8
COMMITTED = "vinculo_scoring_events_committed_total"
T0 = time.time() - 30 * 86_400


@dataclass
class ScaleOutResult:
    """Each row, or None when left out (`--rows`)."""

    forward: ForwardResult | None
    restore: dict[str, float] | None
    throughput: dict[str, dict[str, float]] | None


def events(owners: list[str], contacts: int) -> Iterator[ev.InteractionEvent]:
    for owner in owners:
        for c in range(contacts):
            event = ev.InteractionEvent(
                event_id=f"{owner}-{c}",
                owner_id=owner,
                contact_id=f"c-{c}",
                type=ev.INTERACTION_TYPE_MESSAGE,
                direction=ev.DIRECTION_INBOUND,
                channel="email",
                owner_only=True,
            )
            set_seconds(event.occurred_at, T0 + c)
            yield event


def publish(
    bootstrap: str, owners: list[str], contacts: int, security: KafkaSecurity = PLAINTEXT
) -> tuple[int, int]:
    """Records and bytes written to the interaction topic."""
    ensure_topics(bootstrap, PARTITIONS, security=security)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=20,
        batch_size=256 * 1024,
        **kafka_client_config(security),
    )
    count = size = 0
    for event in events(owners, contacts):
        value = event.SerializeToString()
        producer.send(INTERACTIONS_TOPIC, key=event.owner_id.encode(), value=value)
        count += 1
        size += len(value) + len(event.owner_id)
    producer.flush()
    producer.close()
    return count, size


def owners_of_partition(partition: int, count: int) -> list[str]:
    found: list[str] = []
    i = 0
    while len(found) < count:
        name = f"owner-{i}"
        if partition_of(name, PARTITIONS) == partition:
            found.append(name)
        i += 1
    return found


def scoring(root: Path, bootstrap: str, name: str, group: str, *extra: str) -> Service:
    process = service(
        "scoring_service", root / name, bootstrap, ["--consumer-group", group, *extra]
    )
    process.name = name
    return process


def wait_for(check: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what}: not within {timeout_s} s")


def forwarding(root: Path, bootstrap: str, duration_s: float, rounds: int) -> ForwardResult:
    owner = owners_of_partition(0, 1)[0]
    sent, _ = publish(bootstrap, [owner], 1000)
    with ExitStack() as stack:
        pair = [scoring(root, bootstrap, f"fw-{n}", "bench-forward") for n in range(2)]
        for process in pair:
            stack.callback(process.stop)
            process.start()
        wait_for(lambda: sum(p.metric(COMMITTED) for p in pair) >= sent, 120, "1,000 scored")
        return scale_out_forward.measure(root, pair, owner, duration_s, rounds)


def restore_against_replay(root: Path, bootstrap: str, relationships: int) -> dict[str, float]:
    owners = owners_of_partition(3, max(1, relationships // 1000))
    sent, log_bytes = publish(bootstrap, owners, min(relationships, 1000))
    with ExitStack() as stack:
        first = scoring(root, bootstrap, "restore-first", "bench-restore")
        stack.callback(first.stop)
        first.start(timeout_s=1800)  # SERVING once caught up with the whole log
        wait_for(lambda: first.metric(COMMITTED) >= sent, 1800, "the first instance scored all")
        first.stop()
        newcomer = scoring(root, bootstrap, "restore-new", "bench-restore")
        stack.callback(newcomer.stop)
        started = time.perf_counter()
        newcomer.start(timeout_s=1800)  # health SERVING: every held partition caught up
        restore_s = time.perf_counter() - started
        text = newcomer.log_path.read_text(errors="replace")
        restored_bytes = sum(int(b) for b in re.findall(r"records, (\d+) bytes in", text))
        restore_only_s = sum(float(s) for s in re.findall(r"bytes in ([0-9.]+) s", text))
        newcomer.stop()
        replayer = scoring(root, bootstrap, "replay", "bench-replay", "--changelog", "false")
        stack.callback(replayer.stop)
        started = time.perf_counter()
        replayer.start(timeout_s=1800)
        wait_for(lambda: replayer.metric(COMMITTED) >= sent, 1800, "the replay scored all")
        replay_s = time.perf_counter() - started
    return {
        "relationships": float(sent),
        "restore_s": restore_s,
        "restore_only_s": restore_only_s,
        "restore_bytes": float(restored_bytes),
        "replay_s": replay_s,
        "replay_bytes": float(log_bytes),
    }


def throughput(root: Path, records: int) -> dict[str, dict[str, float]]:
    """For 1, 2 and 3 instances, each on a broker of its own (no backlog from the rows
    before): `records` published, timed until the group's committed count holds them
    all; and the CPU every process spent meanwhile, per record (they share the cores:
    their sum bounds the rate at cores / CPU per record)."""
    return {str(n): _throughput_of(root, n, records) for n in (1, 2, 3)}


def _throughput_of(root: Path, instances: int, records: int) -> dict[str, float]:
    group = f"bench-throughput-{instances}"
    with ExitStack() as stack:
        broker = stack.enter_context(EmbeddedBroker(log_path=root / f"broker-{group}.log"))
        ensure_topics(broker.bootstrap, PARTITIONS)
        members = [scoring(root, broker.bootstrap, f"{group}-{n}", group) for n in range(instances)]
        for process in members:
            stack.callback(process.stop)
            process.start(timeout_s=600)
        processes = {p.name: p.ps for p in members}
        processes["bench client"] = psutil.Process()
        if broker.process is not None:
            processes["broker"] = psutil.Process(broker.process.pid)
        owners = [f"tp{instances}-owner-{i}" for i in range(max(1, records // 100))]

        def run() -> float:
            started = time.perf_counter()
            sent, _ = publish(broker.bootstrap, owners, 100)
            wait_for(lambda: _committed(members) >= sent, 1800, f"{instances} instances")
            return sent / (time.perf_counter() - started)

        eps, spent = cpu_spent(processes, run)
    sent = len(owners) * 100
    return {
        "eps": eps,
        "scoring_cpu_us": sum(s for n, s in spent.items() if n.startswith(group)) / sent * 1e6,
        "broker_cpu_us": spent.get("broker", 0.0) / sent * 1e6,
        "client_cpu_us": spent["bench client"] / sent * 1e6,
        "total_cpu_us": sum(spent.values()) / sent * 1e6,
        "cpu_bound_eps": cpu_bound_eps(spent, sent),
    }


def _committed(members: list[Service]) -> float:
    return sum(p.metric(COMMITTED) for p in members)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.scale_out", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small data, a few minutes")
    parser.add_argument("--relationships", type=int, help="restore row size (1,000,000)")
    parser.add_argument("--records", type=int, help="throughput row size (400,000)")
    parser.add_argument(
        "--rows", default="forward,restore,throughput", help="comma-separated rows to run"
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/scale_out.json"))
    args = parser.parse_args(argv)
    rows = set(args.rows.split(","))
    relationships = args.relationships or (20_000 if args.quick else 1_000_000)
    records = args.records or (40_000 if args.quick else 400_000)
    duration_s, rounds = (1.0, 3) if args.quick else (3.0, 5)
    with tempfile.TemporaryDirectory(prefix="vinculo-bench-") as tmp:
        root = Path(tmp)
        fw, rs, tp = None, None, None
        if "forward" in rows:
            with EmbeddedBroker(log_path=root / "broker-forward.log") as broker:
                fw = forwarding(root, broker.bootstrap, duration_s, rounds)
        if "restore" in rows:
            with EmbeddedBroker(log_path=root / "broker-restore.log") as broker:
                rs = restore_against_replay(root, broker.bootstrap, relationships)
        if "throughput" in rows:
            tp = throughput(root, records)
    result = ScaleOutResult(
        forward=fw,
        restore=rs,
        throughput=tp,
    )
    print(report(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(asdict(result), indent=2))
    return 0


def report(r: ScaleOutResult) -> str:
    lines = ["Scale out (scoring instances of one group, same run)"]
    if r.forward is not None:
        lines += scale_out_forward.report(r.forward)
    if r.restore is not None:
        rs = r.restore
        lines.append(
            f"  restore {rs['relationships']:,.0f} relationships, process start to ready: "
            f"changelog {rs['restore_s']:.1f} s (the restore itself {rs['restore_only_s']:.1f} s, "
            f"{rs['restore_bytes']:,.0f} B read) vs replay {rs['replay_s']:.1f} s "
            f"({rs['replay_bytes']:,.0f} B of log)"
        )
    for n, row in (r.throughput or {}).items():
        cores = row["eps"] * row["total_cpu_us"] / 1e6
        lines.append(
            f"  ingest -> scored state, {n} instance(s): {row['eps']:,.0f} records/s; "
            f"CPU us/record scoring {row['scoring_cpu_us']:.0f}, "
            f"broker {row['broker_cpu_us']:.0f}, bench client {row['client_cpu_us']:.0f}, "
            f"total {row['total_cpu_us']:.0f}: {cores:.2f} of {os.cpu_count()} cores busy "
            f"(all of them would carry {row['cpu_bound_eps']:,.0f}/s)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
