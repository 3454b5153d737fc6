"""``verk-compat worker MODULE:APP``: run a worker process (or N forked ones).

Redis keys: everything :class:`verk_compat.worker.launcher.Worker` touches (queues, in-progress
lists,
retry/schedule/dead, heartbeat keys, stats).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from verk_compat.cli.shards import parse_shards, plan_shards
from verk_compat.codec.profiles import PROFILES
from verk_compat.redis_url import resolve, where
from verk_compat.worker.app import App

if TYPE_CHECKING:
    from verk_compat.worker.launcher import Worker
    from verk_compat.worker.sharded import ShardedWorker

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
        raise click.BadParameter(f"{spec!r} is not a verk_compat.worker.app.App")
    return app


class _BufferedHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes records without a flush (a syscall) each; flushes at most every 0.2 s.

    Two lines per job are on the hot path, and they take a shortcut: :meth:`info_writer` gives
    :mod:`verk_compat.worker.processor` a writer that renders an INFO line exactly as
    :class:`_FastFormatter` renders the record (no ``LogRecord``, no lock per line) and queues
    it; the lines queued during one event-loop turn are written with one ``write`` at the end
    of the turn, and before any record this handler emits, so the output keeps its order. The
    processor uses the writer only while this handler is the only one its records would reach
    and no filters are attached (see ``processor._JobLog``); otherwise job lines are ordinary
    records. ``logging.shutdown()`` flushes what is left.
    """

    def __init__(self) -> None:
        super().__init__(sys.stdout)
        self._flushed = time.monotonic()
        #: Pieces of rendered job lines not written yet (appended by the loop's thread only,
        #: three per line).
        self._lines: list[str] = []
        self._write_scheduled = False
        #: The start of a job line up to the message, for the millisecond ``_msecs``.
        self._prefix = ""
        self._msecs = -1

    def info_writer(self) -> Callable[[float, str, tuple[Any, ...]], None] | None:
        """``(created, msg, args)`` writing the INFO line ``msg % args`` as :meth:`emit` would,
        or None when the formatter is not ours (then the caller logs records as usual)."""
        formatter = self.formatter
        if type(formatter) is not _FastFormatter:
            return None
        return functools.partial(self._info_line, formatter)

    def _info_line(
        self, formatter: _FastFormatter, created: float, msg: str, args: tuple[Any, ...]
    ) -> None:
        """Queue one INFO line as of ``created``; call from the event loop's thread."""
        second = int(created)
        msecs = int((created - second) * 1000)  # as LogRecord computes it
        if msecs != self._msecs or second != formatter.second:
            if second != formatter.second:
                formatter.set_second(created)
            self._msecs = msecs
            self._prefix = f"{formatter.stamp},{msecs:03d}{formatter.info}"
        self._lines += (self._prefix, msg % args, "\n")
        if not self._write_scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._end_of_turn()
                return
            self._write_scheduled = True
            loop.call_soon(self._end_of_turn)

    def _end_of_turn(self) -> None:
        self._write_scheduled = False
        self.acquire()
        try:
            self._write_lines()
        except Exception:
            self.handleError(logging.makeLogRecord({"msg": "job log lines"}))
        finally:
            self.release()
        if time.monotonic() - self._flushed > 0.2:
            self._flushed = time.monotonic()
            self.flush()

    def _write_lines(self) -> None:
        """Write the queued lines (hold the handler's lock). Only the first ``n`` are taken:
        the loop's thread may append meanwhile if another thread got here."""
        lines = self._lines
        n = len(lines)
        if n:
            chunk = lines[:n]
            del lines[:n]
            self.stream.write("".join(chunk))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record) + "\n"
            if self._lines:
                self._write_lines()
            self.stream.write(text)
        except Exception:
            self.handleError(record)
            return
        if record.levelno >= logging.WARNING or time.monotonic() - self._flushed > 0.2:
            self._flushed = time.monotonic()
            self.flush()

    def flush(self) -> None:
        self.acquire()
        try:
            self._write_lines()
        finally:
            self.release()
        super().flush()


class _FastFormatter(logging.Formatter):
    """``%(asctime)s pid=<pid> %(levelname)s: %(message)s`` with the date part built once a
    second instead of per record (``time.strftime`` is most of a record's formatting cost)."""

    def __init__(self) -> None:
        super().__init__(f"%(asctime)s pid={os.getpid()} %(levelname)s: %(message)s")
        self._tail = f" pid={os.getpid()} "
        #: What follows the milliseconds in an INFO line.
        self.info = f"{self._tail}INFO: "
        self.second = -1
        self.stamp = ""

    def set_second(self, created: float) -> None:
        """Render the date part for the second of ``created``."""
        self.second = int(created)
        self.stamp = time.strftime(self.default_time_format, self.converter(created))

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info:
            return super().format(record)
        created = record.created
        if int(created) != self.second:
            self.set_second(created)
        message = record.msg % record.args if record.args else str(record.msg)
        return f"{self.stamp},{int(record.msecs):03d}{self._tail}{record.levelname}: {message}"


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
    _configure_logging(options.pop("log_level"))
    _start_metrics(app, options)

    async def main() -> None:
        worker = _make_worker(app, options)
        worker.install_signal_handlers()
        # A forked child starts with these blocked (see _run_many): a signal the parent
        # forwarded meanwhile is delivered now, to the worker's handlers.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORWARDED)
        for each in getattr(worker, "workers", [worker]):
            log.info("worker %s on queues %s at %s", each.identity, each.queues, where(each.redis))
        try:
            await worker.run()
        finally:
            await worker.aclose()

    # Sync jobs past the shutdown timeout run in daemon threads: their payloads are already
    # back in the queue, and the interpreter exits without waiting for them (as Sidekiq does).
    asyncio.run(main())
    return 0


def _make_worker(app: App, options: dict[str, Any]) -> Worker | ShardedWorker:
    """A Worker, or a ShardedWorker when ``--shard`` put queues on other servers."""
    from verk_compat.worker.launcher import Worker
    from verk_compat.worker.sharded import ShardedWorker

    shards = options.pop("shards", None)
    if not shards:
        return Worker(app, **options)
    plan = plan_shards(options.pop("queues"), shards, options.pop("redis_url"))
    return ShardedWorker(app, plan, **options)


def _start_metrics(app: App, options: dict[str, Any]) -> None:
    """Serve ``--metrics-port`` (popped from ``options``) when given (extra ``metrics``)."""
    port, host = options.pop("metrics_port", None), options.pop("metrics_host", "127.0.0.1")
    if port is None:
        return
    from verk_compat.metrics.server import serve_worker_metrics

    serve_worker_metrics(
        app.events, port, redis_url=options["redis_url"], namespace=options["namespace"], host=host
    )
    log.info("metrics on http://%s:%d/metrics", host, port)


#: Signals the parent of ``--processes N`` forwards to its children.
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGTSTP, signal.SIGTTIN)


def _run_many(app: App, options: dict[str, Any], processes: int) -> int:
    """Fork ``processes`` workers, forward TERM/INT/TSTP/TTIN to them, wait for all.

    The forwarded signals are blocked around each fork: a signal the parent gets meanwhile is
    forwarded once the new child is listed, and the child (default handlers, signals still
    blocked) receives it only once its worker's own handlers are installed (:func:`_run_one`),
    so it always shuts down gracefully. A child flushes its log before it exits.
    """
    children: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    for signum in _FORWARDED:
        signal.signal(signum, forward)
    for index in range(processes):
        signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for signum in _FORWARDED:
                    signal.signal(signum, signal.SIG_DFL)
                code = _run_one(app, _child_options(options, index))
            finally:
                # os._exit skips the interpreter's exit: flush buffered log lines first.
                with contextlib.suppress(Exception):
                    logging.shutdown()
                    sys.stdout.flush()
                os._exit(code)
        children.append(pid)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORWARDED)
    status = 0
    for child in children:
        _, code = os.waitpid(child, 0)
        status = status or os.waitstatus_to_exitcode(code)
    return status


def _child_options(options: dict[str, Any], index: int) -> dict[str, Any]:
    """Options of child ``index``: each serves its metrics on its own port (``port + index``)."""
    child = dict(options)
    if child.get("metrics_port") is not None:
        child["metrics_port"] += index
    return child


def _add_schedules(app: App, paths: tuple[str, ...]) -> None:
    from verk_compat.worker.cron import load_schedule

    for path in paths:
        try:
            app.add_cron(*load_schedule(path))
        except ValueError as exc:  # CronEntryError included
            raise click.BadParameter(str(exc), param_hint="--cron-schedule") from None


@click.command()
@click.argument("app_spec", metavar="MODULE:APP")
@click.option(
    "--queue", "-q", "queues", multiple=True, metavar="NAME[=N]", help="Queue and concurrency."
)
@click.option("--burst", is_flag=True, help="Exit once the queues are empty and nothing runs.")
@click.option("--shutdown-timeout", "-t", default=25.0, show_default=True, type=float)
@click.option(
    "--job-timeout",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="Fail a job running longer than this with JobTimeout (a job's own timeout wins). "
    "Not Sidekiq's --timeout, which is --shutdown-timeout here.",
)
@click.option("--processes", "-p", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--redis-url", envvar="REDIS_URL", default=None, help="Default: $REDIS_URL.")
@click.option(
    "--shard",
    "shards",
    multiple=True,
    metavar="QUEUE=URL",
    help="Serve QUEUE on this Redis server instead (queues sharded by name; repeatable).",
)
@click.option("--namespace", default="", help="redis-namespace style key prefix.")
@click.option("--poll-interval", type=float, default=None, help="Scheduler poll interval (s).")
@click.option(
    "--cron-interval",
    type=float,
    default=30.0,
    show_default=True,
    help="Mean seconds between cron polls (sidekiq-cron's cron_poll_interval); 0: no cron.",
)
@click.option(
    "--cron-schedule",
    "cron_schedules",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A sidekiq-cron schedule file (.yml/.yaml/.toml) whose entries this worker saves.",
)
@click.option("--heartbeat-ttl", type=int, default=60, show_default=True)
@click.option("--beat-interval", type=float, default=5.0, show_default=True)
@click.option(
    "--orphan-interval",
    type=float,
    default=30.0,
    show_default=True,
    help="Mean seconds between checks for dead processes' in-progress jobs.",
)
@click.option(
    "--profile",
    type=click.Choice(PROFILES),
    default="sidekiq7",
    show_default=True,
    help="Sidekiq version rules: timestamps, retry jitter, work-hash key name.",
)
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve Prometheus metrics on this port (child i of --processes: port + i).",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True)
def worker(
    app_spec: str,
    queues: tuple[str, ...],
    burst: bool,
    shutdown_timeout: float,
    job_timeout: float | None,
    processes: int,
    redis_url: str | None,
    shards: tuple[str, ...],
    namespace: str,
    poll_interval: float | None,
    cron_interval: float,
    cron_schedules: tuple[str, ...],
    heartbeat_ttl: int,
    beat_interval: float,
    orphan_interval: float,
    profile: str,
    log_level: str,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """Run the jobs of MODULE:APP from the given queues (default: default=25)."""
    app = load_app(app_spec)
    if cron_schedules:
        _add_schedules(app, cron_schedules)
    options: dict[str, Any] = {
        "queues": dict(parse_queue(q) for q in queues) or {"default": 25},
        "redis_url": resolve(redis_url),
        "shards": parse_shards(shards),
        "namespace": namespace,
        "burst": burst,
        "shutdown_timeout": shutdown_timeout,
        "job_timeout": job_timeout,
        "poll_interval": poll_interval,
        "cron_interval": cron_interval,
        "heartbeat_ttl": heartbeat_ttl,
        "beat_interval": beat_interval,
        "orphan_interval": orphan_interval,
        "profile": profile,
        "log_level": log_level,
        "metrics_port": metrics_port,
        "metrics_host": metrics_host,
    }
    plan_shards(options["queues"], options["shards"], redis_url)  # refuse a bad --shard now
    code = _run_one(app, options) if processes == 1 else _run_many(app, options, processes)
    sys.exit(code)
