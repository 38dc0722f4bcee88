"""At start, tell a broker that refuses our credentials from one that is not there yet.

Both services keep running while the broker is down (they answer UNAVAILABLE
and reconnect). A wrong password or CA is different: retrying cannot fix it,
so the service must stop at once with a message naming the setting to fix.

kafka-python retries a failed bootstrap until its timeout and then raises only
`KafkaTimeoutError: Unable to bootstrap`; the cause of each attempt is passed
to its `kafka.net.manager` logger ("Bootstrap connection to ... failed: <exc>").
`check_kafka_credentials` listens to that logger during one bounded bootstrap
and classifies the causes:

- a TLS handshake refused (certificate not trusted, wrong host name): the CA;
- `SaslAuthenticationFailedError` (Apache Kafka's answer to a wrong password),
  `UnsupportedSaslMechanismError`, or a SCRAM exchange that ended without the
  server's signature: the broker's final SCRAM message carries `e=<error>`
  instead of `v=<signature>` when it rejects the proof (RFC 5802 section 7),
  which kafka-python 3.0 reports as `KeyError('v')`.

Anything else (refused connection, timeout) means "not reachable yet".
"""

from __future__ import annotations

import logging
from typing import Any

from kafka import KafkaAdminClient
from kafka.errors import KafkaError, SaslAuthenticationFailedError, UnsupportedSaslMechanismError

from vinculo.security.kafka import (
    CAFILE_ENV,
    PASSWORD_ENV,
    PASSWORD_FILE_ENV,
    USERNAME_ENV,
    KafkaSecurity,
    kafka_client_config,
)

log = logging.getLogger(__name__)


class KafkaCredentialsRejected(RuntimeError):
    """The broker refused this client's TLS or SASL credentials; the message names the setting."""


class _Causes(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.exceptions: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        self.exceptions.extend(arg for arg in args if isinstance(arg, BaseException))


def rejection(exc: BaseException, security: KafkaSecurity) -> str | None:
    """What to fix if `exc` means the broker refused the credentials; None otherwise."""
    text = str(exc)
    if security.uses_tls and ("Handshake failed" in text or "CERTIFICATE_VERIFY" in text):
        return (
            f"the TLS handshake with the broker failed ({text}): check {CAFILE_ENV} (the CA"
            " that signed the broker's certificate) and that the bootstrap host names match it"
        )
    if not security.uses_sasl:
        return None
    sasl_refused = isinstance(exc, (SaslAuthenticationFailedError, UnsupportedSaslMechanismError))
    scram_refused = isinstance(exc, KeyError) and exc.args == ("v",)
    wrong_signature = isinstance(exc, ValueError) and "wrong signature" in text
    if sasl_refused or scram_refused or wrong_signature:
        return (
            f"the broker refused SASL {security.sasl_mechanism} authentication of user"
            f" {security.username!r}: check {PASSWORD_ENV} (or {PASSWORD_FILE_ENV}),"
            f" {USERNAME_ENV} and VINCULO_KAFKA_SASL_MECHANISM"
        )
    return None


def check_kafka_credentials(bootstrap: str, security: KafkaSecurity, timeout_s: float) -> None:
    """Raise KafkaCredentialsRejected if the broker refuses TLS or SASL within `timeout_s`;
    return if it accepts them or cannot be reached (the caller keeps retrying then)."""
    if not (security.uses_tls or security.uses_sasl):
        return
    causes = _Causes()
    manager_log = logging.getLogger("kafka.net.manager")
    level = manager_log.level
    manager_log.addHandler(causes)
    manager_log.setLevel(logging.WARNING)  # its "Bootstrap connection ... failed" lines
    try:
        admin = _admin(bootstrap, security, timeout_s)
    except KafkaError as exc:
        for cause in causes.exceptions:
            problem = rejection(cause, security)
            if problem is not None:
                raise KafkaCredentialsRejected(f"Kafka at {bootstrap}: {problem}") from cause
        log.warning("Kafka at %s not reachable to check credentials yet: %s", bootstrap, exc)
        return
    finally:
        manager_log.removeHandler(causes)
        manager_log.setLevel(level)
    admin.close()


def _admin(bootstrap: str, security: KafkaSecurity, timeout_s: float) -> Any:
    return KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="vinculo-credentials-check",
        bootstrap_timeout_ms=int(timeout_s * 1000),
        **kafka_client_config(security),
    )
