"""deploy/docker-compose.yml runs the scoring service scaled (`docker compose up --scale
scoring=3`). No Docker engine here: the file is read and checked for what would make
replicas collide (one host port, one shared store, one advertised address)."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import yaml

from scoring_service.routing.directory import default_advertised_address

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DATA_DIR = "/home/vinculo/data"


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_scaled_scoring_replicas_get_a_host_port_each() -> None:
    scoring = compose()["services"]["scoring"]
    assert "container_name" not in scoring and "hostname" not in scoring
    [mapping] = scoring["ports"]
    found = re.fullmatch(r"(\d+)-(\d+):50052", mapping)
    assert found, mapping
    assert int(found[2]) - int(found[1]) + 1 >= 3


def test_each_replica_has_a_store_of_its_own_and_advertises_its_own_address() -> None:
    scoring = compose()["services"]["scoring"]
    mounts = [str(v) for v in scoring.get("volumes", [])]
    assert not any(m.endswith(":" + DATA_DIR) for m in mounts), "a volume shared by replicas"
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert f'VOLUME ["{DATA_DIR}"]' in dockerfile  # anonymous: one per container
    assert "VINCULO_GRPC_HOST=0.0.0.0" in dockerfile
    environment = scoring["environment"]
    assert "VINCULO_SCORING_ADVERTISED_ADDRESS" not in environment  # would be one for all


def test_forwarding_checks_peers_against_a_name_the_certificate_holds() -> None:
    document = compose()
    scoring = document["services"]["scoring"]
    environment = scoring["environment"]
    assert environment["VINCULO_SCORING_TLS_PEER_CA"] == "/run/secrets/ca.crt"
    security = (DEPLOY.parent / "SECURITY.md").read_text()
    assert f"DNS:{environment['VINCULO_SCORING_TLS_PEER_NAME']}" in security
    assert set(scoring["secrets"]) <= set(document["secrets"])


def test_a_wildcard_grpc_host_advertises_the_address_the_hostname_resolves_to() -> None:
    own = socket.gethostbyname(socket.gethostname())
    for wildcard in ("0.0.0.0", "::", ""):
        assert default_advertised_address(wildcard, 50052) == f"{own}:50052"
    assert default_advertised_address("10.1.2.3", 7) == "10.1.2.3:7"
