"""``verk-compat worker MODULE:APP``: run a worker process (or N forked ones).

Redis keys: everything :class:`verk_compat.worker.Worker` touches (queues, in-progress lists,
retry/schedule/dead, heartbeat keys, stats).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import sys
import time
from typing import Any

import click

from ..app import App
from ..client import default_url

__all__ = ["load_app", "parse_queue", "worker"]

log = logging.getLogger("verk_compat.cli")


def parse_queue(text: str) -> tuple[str, int]:
    """``name=concurrency`` (concurrency defaults to 25, Verk's and our default)."""
    name, sep, count = text.partition("=")
    if not name:
        raise click.BadParameter(f"--queue takes NAME[=CONCURRENCY], not {text!r}")
    if not sep:
        return name, 25
    try:
        value = int(count)
    except ValueError:
        raise click.BadParameter(f"--queue {text!r}: concurrency must be an integer") from None
    if value < 1:
        raise click.BadParameter(f"--queue {text!r}: concurrency must be at least 1")
    return name, value


def load_app(spec: str) -> App:
    """Import ``module:attribute`` (the current directory is importable) and check it."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise click.BadParameter(f"expected MODULE:APP, not {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise click.BadParameter(f"cannot import {module_name!r}: {exc}") from None
    app = getattr(module, attr, None)
    if not isinstance(app, App):
        raise click.BadParameter(f"{spec!r} is not a verk_compat.app.App")
    return app


class _BufferedHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes records without a flush (a syscall) each; flushes at most every 0.2 s.

    Two lines per job are on the hot path; logging.shutdown() flushes what is left.
    """

    def __init__(self) -> None:
        super().__init__(sys.stdout)
        self._flushed = time.monotonic()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)
            return
        if record.levelno >= logging.WARNING or time.monotonic() - self._flushed > 0.2:
            self._flushed = time.monotonic()
            self.flush()


class _FastFormatter(logging.Formatter):
    """``%(asctime)s pid=<pid> %(levelname)s: %(message)s`` with the date part built once a
    second instead of per record (``time.strftime`` is most of a record's formatting cost)."""

    def __init__(self) -> None:
        super().__init__(f"%(asctime)s pid={os.getpid()} %(levelname)s: %(message)s")
        self._tail = f" pid={os.getpid()} "
        self._second = -1
        self._stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info:
            return super().format(record)
        created = record.created
        second = int(created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime(self.default_time_format, self.converter(created))
        message = record.msg % record.args if record.args else str(record.msg)
        return f"{self._stamp},{int(record.msecs):03d}{self._tail}{record.levelname}: {message}"


def _configure_logging(level: str) -> None:
    """One short line per job start/finish, formatted as cheaply as logging allows."""
    # Skip the per-record work we do not print: caller lookup, thread and process names.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging.logProcesses = False
    handler = _BufferedHandler()
    handler.setFormatter(_FastFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper()))


def _run_one(app: App, options: dict[str, Any]) -> int:
    from ..worker import Worker

    _configure_logging(options.pop("log_level"))

    async def main() -> None:
        worker = Worker(app, **options)
        worker.install_signal_handlers()
        log.info("worker %s on queues %s", worker.identity, worker.queues)
        try:
            await worker.run()
        finally:
            await worker.aclose()

    # Sync jobs past the shutdown timeout run in daemon threads: their payloads are already
    # back in the queue, and the interpreter exits without waiting for them (as Sidekiq does).
    asyncio.run(main())
    return 0


def _run_many(app: App, options: dict[str, Any], processes: int) -> int:
    """Fork ``processes`` workers, forward TERM/INT/TSTP to them, wait for all."""
    children: list[int] = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _run_one(app, dict(options))
            finally:
                os._exit(code)
        children.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGTSTP, signal.SIGTTIN):
        signal.signal(signum, forward)
    status = 0
    for child in children:
        _, code = os.waitpid(child, 0)
        status = status or os.waitstatus_to_exitcode(code)
    return status


@click.command()
@click.argument("app_spec", metavar="MODULE:APP")
@click.option(
    "--queue", "-q", "queues", multiple=True, metavar="NAME[=N]", help="Queue and concurrency."
)
@click.option("--burst", is_flag=True, help="Exit once the queues are empty and nothing runs.")
@click.option("--shutdown-timeout", "-t", default=25.0, show_default=True, type=float)
@click.option("--processes", "-p", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--redis-url", envvar="REDIS_URL", default=None, help="Default: $REDIS_URL.")
@click.option("--namespace", default="", help="redis-namespace style key prefix.")
@click.option("--poll-interval", type=float, default=None, help="Scheduler poll interval (s).")
@click.option("--heartbeat-ttl", type=int, default=60, show_default=True)
@click.option("--beat-interval", type=float, default=5.0, show_default=True)
@click.option(
    "--orphan-interval",
    type=float,
    default=30.0,
    show_default=True,
    help="Mean seconds between checks for dead processes' in-progress jobs.",
)
@click.option("--log-level", default="info", show_default=True)
def worker(
    app_spec: str,
    queues: tuple[str, ...],
    burst: bool,
    shutdown_timeout: float,
    processes: int,
    redis_url: str | None,
    namespace: str,
    poll_interval: float | None,
    heartbeat_ttl: int,
    beat_interval: float,
    orphan_interval: float,
    log_level: str,
) -> None:
    """Run the jobs of MODULE:APP from the given queues (default: default=25)."""
    app = load_app(app_spec)
    options: dict[str, Any] = {
        "queues": dict(parse_queue(q) for q in queues) or {"default": 25},
        "redis_url": redis_url or default_url(),
        "namespace": namespace,
        "burst": burst,
        "shutdown_timeout": shutdown_timeout,
        "poll_interval": poll_interval,
        "heartbeat_ttl": heartbeat_ttl,
        "beat_interval": beat_interval,
        "orphan_interval": orphan_interval,
        "log_level": log_level,
    }
    code = _run_one(app, options) if processes == 1 else _run_many(app, options, processes)
    sys.exit(code)
