"""A throwaway local CA for trying TLS: a CA, a server certificate for
127.0.0.1/localhost and client certificates, made with the `openssl` command.

For development, tests and the benchmark only; production certificates come
from the company's PKI. SECURITY.md shows the same steps as shell commands.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


class OpensslMissing(RuntimeError):
    """The `openssl` command (Debian package openssl) is not installed."""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _signed(directory: Path, name: str, subject: str, extensions: str) -> None:
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
             "-subj", subject, "-out", f"{name}.csr", cwd=directory)  # fmt: skip
    (directory / f"{name}.ext").write_text(extensions)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "30", "-sha256", "-extfile", f"{name}.ext",
             "-out", f"{name}.crt", cwd=directory)  # fmt: skip
    (directory / f"{name}.key").chmod(0o600)


def make_local_pki(directory: Path, clients: tuple[str, ...] = ()) -> Path:
    """ca.crt/.key, server.crt/.key (127.0.0.1, localhost), <client>.crt/.key (CN=client)."""
    if shutil.which("openssl") is None:
        raise OpensslMissing("the openssl command is needed (Debian package openssl)")
    directory.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.crt", "-days", "30", "-subj", "/CN=vinculo-local-ca", cwd=directory)  # fmt: skip
    (directory / "ca.key").chmod(0o600)
    _signed(directory, "server", "/CN=vinculo-server",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")  # fmt: skip
    for client in clients:
        _signed(directory, client, f"/CN={client}", "extendedKeyUsage=clientAuth\n")
    return directory


def main(argv: list[str] | None = None) -> int:
    """`python -m vinculo_apps.devstack.pki DIR [CLIENT...]`: a local CA for trying TLS."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m vinculo_apps.devstack.pki DIR [CLIENT_NAME...]", file=sys.stderr)
        return 2
    directory = make_local_pki(Path(args[0]), tuple(args[1:]))
    print(f"CA, server and client certificates in {directory}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
