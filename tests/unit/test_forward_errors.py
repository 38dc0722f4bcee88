"""How a forwarded call's error comes back to the caller (routing/forwarding.py)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from scoring_service.routing.forwarding import RETRY_AFTER, _relay_error


class HopError(grpc.RpcError):  # type: ignore[misc]
    def __init__(
        self, code: grpc.StatusCode, details: str, trailing: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._trailing


class Aborted(Exception):
    pass


class CallerContext:
    """The caller's side of the first hop: records what the call ended with."""

    def __init__(self, active: bool) -> None:
        self.active = active
        self.code: grpc.StatusCode | None = None
        self.details = ""
        self.trailing: tuple[tuple[str, str], ...] = ()

    def is_active(self) -> bool:
        return self.active

    def set_trailing_metadata(self, trailing: Any) -> None:
        self.trailing = tuple(trailing)

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.code, self.details = code, details
        raise Aborted


def relay(error: HopError, context: CallerContext) -> CallerContext:
    with pytest.raises(Aborted):
        _relay_error(error, context)  # type: ignore[arg-type]
    return context


def test_a_holder_that_stops_mid_forward_answers_unavailable_with_a_retry_hint() -> None:
    context = relay(HopError(grpc.StatusCode.CANCELLED, "Cancelled"), CallerContext(True))
    assert context.code == grpc.StatusCode.UNAVAILABLE
    assert "holder stopped" in context.details
    assert dict(context.trailing).get(RETRY_AFTER)


def test_a_caller_that_cancelled_gets_its_cancel_back() -> None:
    context = relay(HopError(grpc.StatusCode.CANCELLED, "Cancelled"), CallerContext(False))
    assert context.code == grpc.StatusCode.CANCELLED


def test_other_errors_come_back_unchanged() -> None:
    context = relay(HopError(grpc.StatusCode.NOT_FOUND, "no owner-1"), CallerContext(True))
    assert (context.code, context.details) == (grpc.StatusCode.NOT_FOUND, "no owner-1")


def test_a_holder_that_cannot_be_reached_answers_unavailable_with_a_retry_hint() -> None:
    """gRPC's transport error gets the same retry hint as a moving partition."""
    error = HopError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses")
    context = relay(error, CallerContext(True))
    assert context.code == grpc.StatusCode.UNAVAILABLE
    assert "holder is unreachable" in context.details
    assert dict(context.trailing).get(RETRY_AFTER) == "1000"


def test_the_holders_own_unavailable_comes_back_with_its_own_hint() -> None:
    hint = ((RETRY_AFTER, "1000"),)
    error = HopError(grpc.StatusCode.UNAVAILABLE, "partition 3 is rebalancing", hint)
    context = relay(error, CallerContext(True))
    assert (context.code, context.details) == (
        grpc.StatusCode.UNAVAILABLE,
        "partition 3 is rebalancing",
    )
    assert context.trailing == hint
