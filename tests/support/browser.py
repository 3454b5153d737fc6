"""Headless Debian ``chromium`` against a real ``verk-compat web`` server on a free loopback
port: dump the DOM of a page, or save a screenshot of it (test artefacts)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from verk_compat.devtools.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
#: Where screenshots go (``build/`` is git-ignored); CI can collect this directory.
ARTIFACTS = Path(os.environ.get("VERK_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts")) / "web"


@contextmanager
def dashboard_server(redis_url: str, *args: str) -> Iterator[str]:
    """Run ``verk-compat web`` on 127.0.0.1:<free port>; yields its base URL."""
    port = free_port()
    code = "from verk_compat.cli import main; main()"
    cmd = [sys.executable, "-c", code, "web", "--port", str(port), "--redis-url", redis_url]
    proc = subprocess.Popen([*cmd, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_listening(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"verk-compat web exited early:\n{out}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"verk-compat web did not listen on {port} in {timeout}s")


def _chromium(binary: str, *args: str) -> str:
    # ignore_cleanup_errors: chromium's helpers may still write to the profile as it exits.
    with tempfile.TemporaryDirectory(
        prefix="verk-chromium-", ignore_cleanup_errors=True
    ) as profile:
        proc = subprocess.run(
            [
                binary,
                "--headless",
                "--no-sandbox",  # tests may run as root (containers)
                "--disable-gpu",
                "--no-first-run",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout


def dump_dom(binary: str, url: str) -> str:
    """The DOM of ``url`` after load, serialized by the browser."""
    return _chromium(binary, "--dump-dom", url)


def screenshot(binary: str, url: str, name: str, size: str = "1280,900") -> Path:
    """Save a PNG of ``url`` as ``ARTIFACTS/<name>.png``; returns its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    path.unlink(missing_ok=True)
    _chromium(binary, f"--screenshot={path}", f"--window-size={size}", url)
    return path
