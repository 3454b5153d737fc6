"""Fixtures shared by the sync and async client connection tests: an ACL user, a TLS server.

Import the fixtures by name into a test module (``from client_fixtures import acl_user``);
pytest finds them among the module's globals.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from verk_compat.devtools.redis_server import free_port

__all__ = ["acl_user", "tls_redis"]


@pytest.fixture
def acl_user(r: redis.Redis) -> Iterator[tuple[str, str]]:
    """A throwaway ACL user (name, password) allowed every command and key."""
    name, password = f"enq-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    r.acl_setuser(name, enabled=True, passwords=[f"+{password}"], commands=["+@all"], keys=["*"])
    yield name, password
    r.acl_deluser(name)


@pytest.fixture(scope="session")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A redis-server with only a TLS port, on a throwaway self-signed certificate."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed: cannot make a test certificate")
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    args = ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1"]
    args += ["--tls-cert-file", str(cert), "--tls-key-file", str(key)]
    args += ["--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"]
    args += ["--save", "", "--appendonly", "no", "--dir", str(tmp)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        _wait_tls(port, cert, proc)
        yield port, cert
    finally:
        proc.terminate()
        proc.wait(5)


def _wait_tls(port: int, cert: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.skip("redis-server here cannot serve TLS")
        with contextlib.suppress(redis.ConnectionError):
            client = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(cert))
            try:
                client.ping()
                return
            finally:
                client.close()
        time.sleep(0.05)
    pytest.fail("TLS redis-server did not come up")
