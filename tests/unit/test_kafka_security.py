"""Kafka client security settings: validation, kafka-python arguments, refusal causes."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from kafka.errors import KafkaConnectionError, SaslAuthenticationFailedError

from ingest_service.settings import IngestSettings
from scoring_service.settings import ScoringSettings
from vinculo import settings as settings_mod
from vinculo.security.kafka import PLAINTEXT, KafkaSecurity, kafka_client_config
from vinculo.security.kafka_check import rejection
from vinculo.settings import SettingsError
from vinculo_apps.commands.export import ExportSettings

SASL = {
    "VINCULO_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "VINCULO_KAFKA_SASL_USERNAME": "vinculo",
    "VINCULO_KAFKA_SASL_PASSWORD": "s3cret-value",
}


def test_plaintext_by_default_adds_nothing_but_the_protocol() -> None:
    for cls in (IngestSettings, ScoringSettings, ExportSettings):
        loaded = settings_mod.load(cls, environ={})
        assert loaded.kafka_security() == PLAINTEXT
    assert kafka_client_config(PLAINTEXT) == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_from_the_environment_becomes_kafka_python_arguments(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("pem")
    environ = {**SASL, "VINCULO_KAFKA_SSL_CAFILE": str(ca)}
    security = settings_mod.load(IngestSettings, environ=environ).kafka_security()
    assert kafka_client_config(security) == {
        "security_protocol": "SASL_SSL",
        "ssl_check_hostname": True,
        "ssl_cafile": str(ca),
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "vinculo",
        "sasl_plain_password": "s3cret-value",
    }


def test_ssl_with_a_client_certificate(tmp_path: Path) -> None:
    for name in ("crt", "key"):
        (tmp_path / name).write_text("pem")
    environ = {
        "VINCULO_KAFKA_SECURITY_PROTOCOL": "SSL",
        "VINCULO_KAFKA_SSL_CERTFILE": str(tmp_path / "crt"),
        "VINCULO_KAFKA_SSL_KEYFILE": str(tmp_path / "key"),
    }
    config = kafka_client_config(
        settings_mod.load(ScoringSettings, environ=environ).kafka_security()
    )
    assert config["ssl_certfile"] == str(tmp_path / "crt")
    assert config["ssl_keyfile"] == str(tmp_path / "key")
    assert "sasl_mechanism" not in config and "ssl_cafile" not in config


def test_the_password_comes_from_a_file_and_is_never_shown(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-a-file\n")
    environ = {**SASL, "VINCULO_KAFKA_SASL_PASSWORD": ""}
    environ["VINCULO_KAFKA_SASL_PASSWORD_FILE"] = str(secret)
    loaded = settings_mod.load(IngestSettings, environ=environ)
    security = loaded.kafka_security()
    assert security.password == "from-a-file"
    assert "from-a-file" not in repr(security)
    with_env_password = settings_mod.load(IngestSettings, environ=SASL)
    assert "s3cret-value" not in repr(with_env_password)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"VINCULO_KAFKA_SECURITY_PROTOCOL": "TLS"}, "VINCULO_KAFKA_SECURITY_PROTOCOL"),
        ({**SASL, "VINCULO_KAFKA_SASL_USERNAME": ""}, "VINCULO_KAFKA_SASL_USERNAME"),
        ({**SASL, "VINCULO_KAFKA_SASL_PASSWORD": ""}, "VINCULO_KAFKA_SASL_PASSWORD"),
        ({**SASL, "VINCULO_KAFKA_SASL_PASSWORD_FILE": "/x"}, "VINCULO_KAFKA_SASL_PASSWORD_FILE"),
        ({**SASL, "VINCULO_KAFKA_SASL_MECHANISM": "GSSAPI"}, "VINCULO_KAFKA_SASL_MECHANISM"),
        ({**SASL, "VINCULO_KAFKA_SSL_CAFILE": "/no/such.pem"}, "VINCULO_KAFKA_SSL_CAFILE"),
        ({"VINCULO_KAFKA_SSL_CAFILE": __file__}, "VINCULO_KAFKA_SSL_CAFILE"),  # PLAINTEXT
        ({**SASL, "VINCULO_KAFKA_SSL_CERTFILE": __file__}, "VINCULO_KAFKA_SSL_KEYFILE"),
    ],
)
def test_a_bad_setting_is_refused_by_name(environ: dict[str, str], named: str) -> None:
    for cls in (IngestSettings, ScoringSettings, ExportSettings):
        with pytest.raises(SettingsError, match=named):
            settings_mod.load(cls, environ=environ)


def test_an_empty_password_file_is_refused_by_name(tmp_path: Path) -> None:
    empty = tmp_path / "password"
    empty.write_text("\n")
    environ = {**SASL, "VINCULO_KAFKA_SASL_PASSWORD": ""}
    environ["VINCULO_KAFKA_SASL_PASSWORD_FILE"] = str(empty)
    loaded = settings_mod.load(ScoringSettings, environ=environ)
    with pytest.raises(SettingsError, match="VINCULO_KAFKA_SASL_PASSWORD_FILE"):
        loaded.kafka_security()


SASL_SSL = KafkaSecurity(protocol="SASL_SSL", username="vinculo", password="x")


@pytest.mark.parametrize(
    ("cause", "named"),
    [
        (SaslAuthenticationFailedError("Authentication failed"), "VINCULO_KAFKA_SASL_PASSWORD"),
        (KeyError("v"), "VINCULO_KAFKA_SASL_PASSWORD"),  # SCRAM server-final without v=
        (ValueError("Server sent wrong signature!"), "VINCULO_KAFKA_SASL_PASSWORD"),
        (
            KafkaConnectionError("Handshake failed: [SSL: CERTIFICATE_VERIFY_FAILED]"),
            "VINCULO_KAFKA_SSL_CAFILE",
        ),
    ],
)
def test_refusals_name_the_setting_to_fix(cause: BaseException, named: str) -> None:
    problem = rejection(cause, SASL_SSL)
    assert problem is not None and named in problem


@pytest.mark.parametrize(
    "cause",
    [
        KafkaConnectionError("[Errno 111] Connection refused"),
        KafkaConnectionError("socket disconnected"),
        KeyError("other"),
    ],
)
def test_an_unreachable_broker_is_not_a_refusal(cause: BaseException) -> None:
    assert rejection(cause, SASL_SSL) is None
    assert rejection(KeyError("v"), KafkaSecurity(protocol="SSL")) is None  # no SASL spoken


def test_the_password_has_no_flag() -> None:
    parser = argparse.ArgumentParser()
    settings_mod.add_flags(parser, IngestSettings)
    flags = {action.dest for action in parser._actions}
    assert "kafka_sasl_password_file" in flags and "kafka_sasl_password" not in flags
