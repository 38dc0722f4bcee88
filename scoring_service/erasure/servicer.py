"""ErasureService: ForgetContact and ForgetOwner (admin, or a reader of the owner).

A call makes a tombstone, publishes it to the tombstone topic and waits for the
broker's acknowledgement (then it is durable and every instance will apply it),
then waits for this instance to apply it. No acknowledgement: UNAVAILABLE and
nothing was forgotten; acknowledged but not applied here in time: UNAVAILABLE
saying so (a retry is harmless: a tombstone applies once, the later wins).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import NoReturn

import grpc
from google.protobuf.timestamp_pb2 import Timestamp  # type: ignore[import-untyped]
from kafka import KafkaProducer
from kafka.errors import KafkaError

from scoring_service.erasure.eraser import Eraser
from vinculo import tombstone_log
from vinculo.erasure import Tombstone
from vinculo.identifiers import forbidden_character, nfc
from vinculo.security.kafka import PLAINTEXT, KafkaSecurity
from vinculo.v1 import erasure_pb2 as pb
from vinculo.v1 import erasure_pb2_grpc

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ErasureService"].full_name
PUBLISH_TIMEOUT_S = 10.0
APPLY_WAIT_S = 30.0


def _fail(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    context.abort(code, message)
    raise AssertionError("context.abort returned")


def _checked_id(context: grpc.ServicerContext, value: str, name: str) -> str:
    if not value:
        _fail(context, grpc.StatusCode.INVALID_ARGUMENT, f"{name}: required")
    bad = forbidden_character(value)
    if bad is not None:
        _fail(context, grpc.StatusCode.INVALID_ARGUMENT, f"{name}: must not contain {bad}")
    return nfc(value)


class ErasureServicer(erasure_pb2_grpc.ErasureServiceServicer):
    def __init__(
        self,
        eraser: Eraser,
        bootstrap: str,
        clock: Callable[[], float] = time.time,
        apply_wait_s: float = APPLY_WAIT_S,
        security: KafkaSecurity = PLAINTEXT,
    ) -> None:
        self._security = security
        self._eraser = eraser
        self._bootstrap = bootstrap
        self._clock = clock
        self._apply_wait_s = apply_wait_s
        self._lock = threading.Lock()
        self._producer: KafkaProducer | None = None

    def ForgetContact(
        self, request: pb.ForgetContactRequest, context: grpc.ServicerContext
    ) -> pb.ForgetContactResponse:
        owner = _checked_id(context, request.owner_id, "owner_id")
        contact = _checked_id(context, request.contact_id, "contact_id")
        if owner == contact:
            _fail(context, grpc.StatusCode.INVALID_ARGUMENT, "contact_id: must not equal owner_id")
        until, removed = self._forget(Tombstone.for_contact(owner, contact, self._clock()), context)
        return pb.ForgetContactResponse(forgotten_until=until, relationships_removed=removed)

    def ForgetOwner(
        self, request: pb.ForgetOwnerRequest, context: grpc.ServicerContext
    ) -> pb.ForgetOwnerResponse:
        owner = _checked_id(context, request.owner_id, "owner_id")
        until, removed = self._forget(Tombstone.for_owner(owner, self._clock()), context)
        return pb.ForgetOwnerResponse(forgotten_until=until, relationships_removed=removed)

    def _forget(self, tombstone: Tombstone, context: grpc.ServicerContext) -> tuple[Timestamp, int]:
        try:
            self._publish(tombstone)
        except KafkaError as exc:
            _fail(
                context,
                grpc.StatusCode.UNAVAILABLE,
                f"the broker did not acknowledge the tombstone ({type(exc).__name__}): "
                "nothing was forgotten; retry",
            )
        (ticket,) = self._eraser.submit([tombstone])
        if not ticket.done.wait(self._apply_wait_s):
            _fail(
                context,
                grpc.StatusCode.UNAVAILABLE,
                "the tombstone is recorded and will be applied, but this instance has not "
                f"applied it within {self._apply_wait_s:.0f} s; retry to confirm",
            )
        until = Timestamp()
        until.FromNanoseconds(int(tombstone.until * 1e9))
        return until, ticket.removed

    def _publish(self, tombstone: Tombstone) -> None:
        with self._lock:
            if self._producer is None:
                tombstone_log.ensure_topic(self._bootstrap, self._security)
                self._producer = tombstone_log.new_producer(
                    self._bootstrap, "vinculo-scoring-erasure", self._security
                )
            try:
                tombstone_log.publish(self._producer, [tombstone], PUBLISH_TIMEOUT_S)
            except KafkaError:
                self._producer.close(timeout=1)
                self._producer = None
                raise

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=5)
                self._producer = None
