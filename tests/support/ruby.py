"""Drive real Ruby Sidekiq (Debian ``ruby-sidekiq`` 6.4.1) from the tests.

``ruby_eval`` runs a Ruby snippet with Sidekiq's client pointed at the test Redis;
``SidekiqProcess`` runs a real ``sidekiq`` server process (``tests/support/ruby/ruby_consumer.rb``
records each job it runs to a JSON-lines file).
Both only ever talk to the test's own loopback Redis.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

RUBY_DIR = Path(__file__).resolve().parent / "ruby"
CONSUMER = RUBY_DIR / "ruby_consumer.rb"

_PRELUDE = """
require "sidekiq"
require "sidekiq/api"
require "json"
Sidekiq.configure_client { |c| c.redis = { url: ENV.fetch("REDIS_URL") } }
Sidekiq.logger.level = Logger::WARN
"""


RUBY_TIMEOUT = 120.0  # seconds


def ruby_eval(code: str, redis_url: str, timeout: float = RUBY_TIMEOUT, **env: str) -> str:
    """Run ``code`` under ``ruby`` with Sidekiq's client configured; return its stdout."""
    full_env = {**os.environ, "REDIS_URL": redis_url, **env}
    proc = subprocess.run(
        ["ruby", "-e", _PRELUDE + code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ruby failed ({proc.returncode}):\n{proc.stderr}\n{proc.stdout}")
    return proc.stdout


def ruby_json(code: str, redis_url: str, **env: str) -> Any:
    """Run ``code`` (whose last line prints JSON) and parse what it printed."""
    # ``timeout`` given positionally: else mypy reads ``**env`` (str values) as filling it.
    return json.loads(ruby_eval(code, redis_url, RUBY_TIMEOUT, **env).strip().splitlines()[-1])


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def wait_for_lines(path: Path, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    """Wait until ``path`` holds at least ``count`` JSON lines; return them."""
    deadline = time.monotonic() + timeout
    lines = read_jsonl(path)
    while len(lines) < count and time.monotonic() < deadline:
        time.sleep(0.1)
        lines = read_jsonl(path)
    return lines


class SidekiqProcess:
    """A real ``sidekiq`` server process against the test Redis.

    ``require`` is the Ruby file to load (the recording consumer by default); ``out`` is the
    JSON-lines file that the consumer appends each job it runs to.
    """

    def __init__(
        self,
        redis_url: str,
        *,
        queues: tuple[str, ...] = ("default",),
        concurrency: int = 2,
        require: Path = CONSUMER,
        out: Path | None = None,
        extra_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self._tmp = Path(tempfile.mkdtemp(prefix="verk-sidekiq-"))
        self.out = out or self._tmp / "out.jsonl"
        self.log = self._tmp / "sidekiq.log"
        args = ["sidekiq", "-r", str(require), "-c", str(concurrency), "-t", "5"]
        for q in queues:
            args += ["-q", q]
        self.args = [*args, *extra_args]
        self.env = {**os.environ, "REDIS_URL": redis_url, "INTEROP_OUT": str(self.out)}
        self.env.update(env or {})
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SidekiqProcess:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.args, stdout=log, stderr=subprocess.STDOUT, env=self.env
            )
        return self

    def jobs(self) -> list[dict[str, Any]]:
        return read_jsonl(self.out)

    def wait_for(self, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        lines = wait_for_lines(self.out, count, timeout)
        if len(lines) < count and self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"sidekiq exited early:\n{self.log.read_text(errors='replace')}")
        return lines

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> SidekiqProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
