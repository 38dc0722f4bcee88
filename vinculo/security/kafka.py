"""How every Kafka client of the product connects: TLS and SASL settings, one object.

`KafkaClientSettings` is the mixin both services' settings (and the commands
that read Kafka) inherit: `VINCULO_KAFKA_SECURITY_PROTOCOL` and friends.
`settings.kafka_security()` turns it into a `KafkaSecurity` (the password read
from its file if one is named), and `kafka_client_config` into the keyword
arguments of kafka-python's `KafkaProducer`, `KafkaConsumer` and
`KafkaAdminClient`. Every place that builds one of those passes
`**kafka_client_config(security)`; nothing else sets `security_protocol`.

The default is PLAINTEXT, which `vinculo up` uses on loopback. A managed
cluster typically wants SASL_SSL with SCRAM-SHA-512 and the provider's CA.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vinculo.settings import SettingsError, setting

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
PASSWORD_ENV = "VINCULO_KAFKA_SASL_PASSWORD"
PASSWORD_FILE_ENV = "VINCULO_KAFKA_SASL_PASSWORD_FILE"
USERNAME_ENV = "VINCULO_KAFKA_SASL_USERNAME"
CAFILE_ENV = "VINCULO_KAFKA_SSL_CAFILE"


@dataclass(frozen=True)
class KafkaSecurity:
    """What a Kafka client needs to reach a secured cluster; the password is never shown."""

    protocol: str = "PLAINTEXT"
    cafile: str = ""
    certfile: str = ""
    keyfile: str = ""
    sasl_mechanism: str = "SCRAM-SHA-512"
    username: str = ""
    password: str = dataclasses.field(default="", repr=False)

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")


PLAINTEXT = KafkaSecurity()


def kafka_client_config(security: KafkaSecurity) -> dict[str, Any]:
    """kafka-python keyword arguments (security_protocol, ssl_*, sasl_*) for `security`."""
    config: dict[str, Any] = {"security_protocol": security.protocol}
    if security.uses_tls:
        config["ssl_check_hostname"] = True
        if security.cafile:
            config["ssl_cafile"] = security.cafile
        if security.certfile:
            config["ssl_certfile"] = security.certfile
            config["ssl_keyfile"] = security.keyfile
    if security.uses_sasl:
        config["sasl_mechanism"] = security.sasl_mechanism
        config["sasl_plain_username"] = security.username
        config["sasl_plain_password"] = security.password
    return config


def _secret(default: str, env: str, help: str) -> Any:
    """A setting whose value is left out of the settings object's repr (and so of logs)."""
    return dataclasses.field(default=default, repr=False, metadata={"env": env, "help": help})


@dataclass(frozen=True)
class KafkaClientSettings:
    kafka_security_protocol: str = setting(
        "PLAINTEXT",
        "VINCULO_KAFKA_SECURITY_PROTOCOL",
        "Kafka security protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
    )
    kafka_ssl_cafile: str = setting(
        "", CAFILE_ENV, "CA certificates (PEM) the broker's certificate is checked against"
        " (empty: the system's roots)"
    )  # fmt: skip
    kafka_ssl_certfile: str = setting(
        "", "VINCULO_KAFKA_SSL_CERTFILE", "client certificate (PEM), if the brokers ask for one"
    )
    kafka_ssl_keyfile: str = setting(
        "", "VINCULO_KAFKA_SSL_KEYFILE", "private key (PEM) of that client certificate"
    )
    kafka_sasl_mechanism: str = setting(
        "SCRAM-SHA-512",
        "VINCULO_KAFKA_SASL_MECHANISM",
        "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
    )
    kafka_sasl_username: str = setting("", USERNAME_ENV, "SASL user name")
    kafka_sasl_password: str = _secret(
        "", PASSWORD_ENV, f"SASL password (no flag; prefer {PASSWORD_FILE_ENV})"
    )
    kafka_sasl_password_file: str = setting(
        "", PASSWORD_FILE_ENV, "file holding the SASL password (one line)"
    )

    def validate_kafka_security(self) -> None:
        protocol = self.kafka_security_protocol
        if protocol not in PROTOCOLS:
            raise SettingsError(
                f"VINCULO_KAFKA_SECURITY_PROTOCOL: {protocol!r} is not one of"
                f" {', '.join(PROTOCOLS)}"
            )
        if bool(self.kafka_ssl_certfile) != bool(self.kafka_ssl_keyfile):
            raise SettingsError(
                "VINCULO_KAFKA_SSL_CERTFILE, VINCULO_KAFKA_SSL_KEYFILE: give both or neither"
            )
        tls = protocol in ("SSL", "SASL_SSL")
        for env, path in (
            (CAFILE_ENV, self.kafka_ssl_cafile),
            ("VINCULO_KAFKA_SSL_CERTFILE", self.kafka_ssl_certfile),
            ("VINCULO_KAFKA_SSL_KEYFILE", self.kafka_ssl_keyfile),
        ):
            if path and not tls:
                raise SettingsError(f"{env}: only used with SSL or SASL_SSL, not {protocol}")
            if path and not Path(path).is_file():
                raise SettingsError(f"{env}: no such file {path}")
        if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
            self._validate_sasl()

    def _validate_sasl(self) -> None:
        if self.kafka_sasl_mechanism not in MECHANISMS:
            raise SettingsError(
                f"VINCULO_KAFKA_SASL_MECHANISM: {self.kafka_sasl_mechanism!r} is not one of"
                f" {', '.join(MECHANISMS)}"
            )
        if not self.kafka_sasl_username:
            raise SettingsError(f"{USERNAME_ENV}: required with SASL")
        if bool(self.kafka_sasl_password) == bool(self.kafka_sasl_password_file):
            raise SettingsError(f"{PASSWORD_ENV} or {PASSWORD_FILE_ENV}: give exactly one")
        if self.kafka_sasl_password_file and not Path(self.kafka_sasl_password_file).is_file():
            raise SettingsError(
                f"{PASSWORD_FILE_ENV}: no such file {self.kafka_sasl_password_file}"
            )

    def kafka_security(self) -> KafkaSecurity:
        """The settings as one object, the password read from its file if one is named."""
        password = self.kafka_sasl_password
        if self.kafka_sasl_password_file:
            text = Path(self.kafka_sasl_password_file).read_text(encoding="utf-8").strip()
            if not text:
                raise SettingsError(
                    f"{PASSWORD_FILE_ENV}: {self.kafka_sasl_password_file} is empty"
                )
            password = text
        return KafkaSecurity(
            protocol=self.kafka_security_protocol,
            cafile=self.kafka_ssl_cafile,
            certfile=self.kafka_ssl_certfile,
            keyfile=self.kafka_ssl_keyfile,
            sasl_mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_sasl_username,
            password=password,
        )
