"""Ending a gRPC call with a status: the scoring service's RPCs share these."""

from __future__ import annotations

from typing import NoReturn

import grpc


def fail(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    context.abort(code, message)
    raise AssertionError("context.abort returned")  # abort always raises


def require_id(context: grpc.ServicerContext, value: str, name: str) -> None:
    if not value:
        fail(context, grpc.StatusCode.INVALID_ARGUMENT, f"{name}: required")
