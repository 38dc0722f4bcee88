"""Vinculo benchmarks: the pipeline measured against its peers in one run.

`python -m bench.run [--quick]` starts the embedded broker and both services,
measures raw kafka-python, ingest-to-scored throughput, freshness, serving
latency against a bare grpcio echo server, scale and idle cost, and writes
`bench/results/latest.json` and a PNG chart. See docs/performance.md.
"""
