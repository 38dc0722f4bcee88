"""What TLS and token auth cost a read: top-10 over 1,000 relationships.

Two scoring services read the same topic (separate consumer groups): the
stack's plaintext one, and one with TLS, bearer tokens and a role policy. The
same closed-loop client drives ListRelationships (top 10, as of now) on each
at concurrency 1 and 32; the target is p50 at most 1.3x plaintext.

    python -m bench.security [--duration 3] [--rounds 3] [--out bench/results/security.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.loadgen import run_load
from bench.serving import CONSUMED, calls_for, load_owners
from bench.stack import Service, Stack, service
from bench.stats import LatencySummary, ratio
from vinculo.security.channel import ClientSecurity
from vinculo.security.tokens import hash_token, new_token
from vinculo_apps.devstack.pki import make_local_pki

SIZE = 1000
TARGET_P50_RATIO = 1.3


def _credentials(root: Path) -> tuple[list[str], ClientSecurity]:
    """Server flags and the client's security: a local CA, a token, a reader policy."""
    pki = make_local_pki(root / "pki")
    token = new_token()
    (pki / "tokens").write_text(f"bench {hash_token(token)}\n")
    (pki / "bench.token").write_text(token)
    policy = {"identities": {"bench": {"role": "reader", "owners": ["serve:n1000"]}}}
    (pki / "policy.json").write_text(json.dumps(policy))
    flags = [
        *("--tls-cert", str(pki / "server.crt"), "--tls-key", str(pki / "server.key")),
        *("--auth-tokens-file", str(pki / "tokens")),
        *("--auth-policy-file", str(pki / "policy.json")),
        *("--consumer-group", "vinculo-scoring-secure"),
    ]
    client = ClientSecurity(tls_ca=str(pki / "ca.crt"), token_file=str(pki / "bench.token"))
    return flags, client


def _start_secure(stack: Stack, root: Path, flags: list[str], client: ClientSecurity) -> Service:
    secure = service("scoring_service", root / "secure", stack.broker.bootstrap, flags)
    secure.start(180.0, client)
    return secure


def _row(
    concurrency: int, plain: list[LatencySummary], tls: list[LatencySummary]
) -> dict[str, Any]:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    plain_p50, tls_p50 = median([r.p50_ms for r in plain]), median([r.p50_ms for r in tls])
    p50 = ratio(tls_p50, plain_p50)
    return {
        "method": "list_top10", "relationships": SIZE, "concurrency": concurrency,
        "rounds": len(plain), "plaintext_p50_ms": plain_p50, "tls_token_p50_ms": tls_p50,
        "plaintext_p99_ms": median([r.p99_ms for r in plain]),
        "tls_token_p99_ms": median([r.p99_ms for r in tls]),
        "p50_ratio": p50, "target_met": p50 <= TARGET_P50_RATIO,
    }  # fmt: skip


def measure(root: Path, duration_s: float, rounds: int) -> list[dict[str, Any]]:
    with Stack(root) as stack:
        assert stack.scoring is not None
        load_owners(stack, [SIZE])
        flags, client = _credentials(root)
        secure = _start_secure(stack, root, flags, client)
        try:
            target = stack.scoring.metric(CONSUMED)
            deadline = time.monotonic() + 300
            while secure.metric(CONSUMED) < target and time.monotonic() < deadline:
                time.sleep(0.2)
            call = calls_for(SIZE)[0]  # list_top10, as of now
            rows = []
            for concurrency in (1, 32):
                # Interleaved rounds, medians: the machine's other load hits both sides.
                plain, tls = [], []
                for _ in range(rounds):
                    plain.append(run_load(stack.scoring.address, call.factory(), concurrency,
                                          duration_s))  # fmt: skip
                    tls.append(run_load(secure.address, call.factory(), concurrency, duration_s,
                                        security=client))  # fmt: skip
                rows.append(_row(concurrency, plain, tls))
            return rows
        finally:
            secure.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.security", description=__doc__)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/security.json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vinculo-bench-security-") as tmp:
        rows = measure(Path(tmp), args.duration, args.rounds)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    for row in rows:
        print(
            f"c{row['concurrency']}: plaintext p50 {row['plaintext_p50_ms']:.2f} ms, "
            f"TLS+token p50 {row['tls_token_p50_ms']:.2f} ms, x{row['p50_ratio']:.2f} "
            f"({'met' if row['target_met'] else 'NOT met'}: <= {TARGET_P50_RATIO}x)"
        )
    return 0 if all(row["target_met"] for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
