"""``verk-compat dev-server`` starts a real private server, prints its URL, stops on TERM."""

from __future__ import annotations

import signal
import subprocess
import sys

import redis


def test_dev_server_prints_a_url_that_works_and_stops_on_term() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from verk_compat.cli import main; main()", "dev-server"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("export REDIS_URL=redis://127.0.0.1:")
        url = line.split("=", 1)[1].split()[0]
        client = redis.Redis.from_url(url)
        assert client.ping()
        client.close()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
        assert "data is gone" in out
        assert proc.returncode == 0
    finally:
        proc.kill()
        proc.wait()
