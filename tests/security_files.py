"""Throwaway PKI and credentials for security tests: a CA, a server and client
certificates (made with the `openssl` command, as SECURITY.md shows), a tokens
file and a policy file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.harness import ServiceProcess
from vinculo.security.channel import ClientSecurity
from vinculo.security.tokens import hash_token, new_token
from vinculo_apps.devstack.pki import OpensslMissing, make_local_pki
from vinculo_apps.devstack.processes import wait_serving

POLICY = {
    "identities": {
        "ana": {"role": "reader", "owners": "self"},
        "crm": {"role": "reader", "owners": ["ana", "ben"]},
        "importer-ana": {"role": "producer", "owners": ["ana"]},
        "importer": {"role": "producer", "owners": "*"},
        "ops": {"role": "admin"},
        "cert-reader": {"role": "reader", "owners": ["ana"]},
    }
}


@dataclass
class SecurityFiles:
    directory: Path
    tokens: dict[str, str]  # identity -> the token it presents

    def path(self, name: str) -> str:
        return str(self.directory / name)

    def server_flags(self, mutual: bool = True, auth: bool = True) -> list[str]:
        flags = ["--tls-cert", self.path("server.crt"), "--tls-key", self.path("server.key")]
        if mutual:
            flags += ["--tls-client-ca", self.path("ca.crt")]
        if auth:
            flags += ["--auth-tokens-file", self.path("tokens"),
                      "--auth-policy-file", self.path("policy.json")]  # fmt: skip
        return flags

    def client(self, identity: str | None = None, cert: str | None = None) -> ClientSecurity:
        """TLS trusting the test CA, with `identity`'s token and/or client cert `cert`."""
        token_file = ""
        if identity is not None:
            token_file = self.path(f"{identity}.token")
            Path(token_file).write_text(self.tokens.get(identity, "not-a-valid-token"))
        return ClientSecurity(
            tls_ca=self.path("ca.crt"),
            tls_client_cert=self.path(f"{cert}.crt") if cert else "",
            tls_client_key=self.path(f"{cert}.key") if cert else "",
            token_file=token_file,
        )


def make_security_files(directory: Path) -> SecurityFiles:
    try:
        make_local_pki(directory, clients=("cert-reader",))
    except OpensslMissing as exc:
        pytest.skip(str(exc))
    tokens = {name: new_token() for name in POLICY["identities"] if name != "cert-reader"}
    lines = [f"{name} {hash_token(token)}" for name, token in tokens.items()]
    (directory / "tokens").write_text("# test tokens\n" + "\n".join(lines) + "\n")
    (directory / "policy.json").write_text(json.dumps(POLICY))
    return SecurityFiles(directory, tokens)


@dataclass
class SecureServiceProcess(ServiceProcess):
    """A ServiceProcess whose server speaks TLS: the health wait uses `security`."""

    security: ClientSecurity = field(default_factory=ClientSecurity)

    def start(self, timeout_s: float = 60.0) -> SecureServiceProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            *(sys.executable, "-m", self.module),
            *("--grpc-port", str(self.grpc_port), "--metrics-port", str(self.metrics_port)),
            *("--kafka-bootstrap", self.bootstrap, "--data-dir", str(self.data_dir)),
            *self._args(),  # a scoring instance joins its group in ~1 s, as in ServiceProcess
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("VINCULO_")}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        try:
            wait_serving(self.address, timeout_s, self.process, self.module, self.security)
        except BaseException:
            self.stop()
            raise
        return self
