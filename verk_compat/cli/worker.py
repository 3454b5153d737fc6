"""``verk-compat worker MODULE:APP``: run a worker process (or N forked ones).

Redis keys: everything :class:`verk_compat.worker.launcher.Worker` touches (queues, in-progress
lists,
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
from typing import TYPE_CHECKING, Any

import click

from verk_compat.cli._errors import check_redis
from verk_compat.cli.shards import parse_shards, plan_shards
from verk_compat.codec.profiles import PROFILES
from verk_compat.redis_url import resolve, where
from verk_compat.worker.app import App
from verk_compat.worker.job_log import (
    BufferedHandler,
    FastFormatter,
    JsonFormatter,
    set_backtrace_frames,
)

if TYPE_CHECKING:
    from verk_compat.worker.launcher import Worker
    from verk_compat.worker.sharded import ShardedWorker

__all__ = ["load_app", "parse_queue", "worker"]

log = logging.getLogger("verk_compat.cli")

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def parse_queue(text: str) -> tuple[str, int]:
    """``name=concurrency`` (concurrency defaults to 25, Verk's and our default).

    Sidekiq's ``name,weight`` is refused: a weight is a share of one pool of threads, while
    here each queue has its own concurrency, so reading it either way would surprise someone.
    """
    name, sep, count = text.partition("=")
    if not name:
        raise click.BadParameter(f"--queue takes NAME[=CONCURRENCY], not {text!r}")
    if "," in name:
        raise click.BadParameter(
            f"--queue {text!r}: Sidekiq's NAME,WEIGHT form is not accepted; each queue has its "
            f"own concurrency here: --queue {name.partition(',')[0]}=N"
        )
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


def _configure_logging(level: str, log_format: str, configure: bool, frames: int | None) -> None:
    """The CLI's logging: one short line per job start/finish (``text``, formatted as cheaply as
    logging allows) or one JSON object per record (``json``) on stdout, at ``level``, in place
    of the root logger's handlers. ``configure`` False (``--no-log-config``): the user's own
    ``logging`` set-up (handlers, levels, formats) is left exactly as it is."""
    set_backtrace_frames(frames)
    if not configure:
        return
    handler = BufferedHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else FastFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper()))


def _run_one(app: App, options: dict[str, Any]) -> int:
    _configure_logging(
        options.pop("log_level"),
        options.pop("log_format", "text"),
        options.pop("log_config", True),
        options.pop("log_backtrace", None),
    )
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

    Each child runs in its own process group: a Ctrl-C on the terminal reaches the parent
    only, which forwards it once, so the first Ctrl-C is graceful and the second stops at once,
    as with one process (in the terminal's group, a child saw each Ctrl-C twice).
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
                os.setpgid(0, 0)
                for signum in _FORWARDED:
                    signal.signal(signum, signal.SIG_DFL)
                code = _run_one(app, _child_options(options, index))
            finally:
                # os._exit skips the interpreter's exit: flush buffered log lines first.
                with contextlib.suppress(Exception):
                    logging.shutdown()
                    sys.stdout.flush()
                os._exit(code)
        # Both sides set the group, as shells do, whichever runs first; only a Ctrl-C in the
        # instant between fork and setpgid can still reach a child directly.
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)
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
@click.option(
    "--unknown-jobs",
    type=click.Choice(["fail", "requeue"]),
    default=None,
    help="A job of a class the app does not know: requeue (default; hand it back for another "
    "process, e.g. Ruby Sidekiq) or fail (UnknownJob, retried). --burst defaults to fail.",
)
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="info",
    show_default=True,
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line per record, or one JSON object per record.",
)
@click.option(
    "--log-config/--no-log-config",
    default=True,
    show_default=True,
    help="--no-log-config: leave your own logging set-up (handlers, levels, formats) alone.",
)
@click.option(
    "--log-backtrace",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Traceback lines under a failed job's log line (innermost first); 0: none. Default: all.",
)
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
    unknown_jobs: str | None,
    log_level: str,
    log_format: str,
    log_config: bool,
    log_backtrace: int | None,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """Run the jobs of MODULE:APP from the given queues (default: default=25)."""
    app = load_app(app_spec)
    if burst and unknown_jobs == "requeue":
        raise click.BadParameter(
            "--burst cannot requeue unknown jobs: its queues would never drain"
        )
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
        "unknown_jobs": unknown_jobs,
        "log_level": log_level,
        "log_format": log_format,
        "log_config": log_config,
        "log_backtrace": log_backtrace,
        "metrics_port": metrics_port,
        "metrics_host": metrics_host,
    }
    plan = plan_shards(options["queues"], options["shards"], redis_url)  # a bad --shard: now
    # As Sidekiq does at boot: a wrong URL or database fails now, not in a retry loop.
    for url in plan:
        check_redis(url, "--redis-url" if url == options["redis_url"] else "--shard")
    code = _run_one(app, options) if processes == 1 else _run_many(app, options, processes)
    sys.exit(code)
