"""Vinculo's contract: what both services share (API, events, validation, gRPC runtime)."""
