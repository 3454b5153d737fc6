"""Process signals, from the OS or from ``<identity>-signals`` (Sidekiq Web, ``Process#quiet!``).

Sidekiq's meanings (docs/wire.md §3.4, §4.7):

- ``TSTP``: quiet. Stop fetching, let running jobs finish, ``quiet`` becomes ``"true"``.
- ``TERM``: stop. Quiet, wait up to the shutdown timeout, push unfinished jobs back, leave
  ``processes``. (``INT`` from the OS too; a second ``INT`` exits at once.)
- ``TTIN``: log every running job and the stack of every asyncio task and every thread (where a
  stuck job is stuck), without stopping anything.

The heartbeat RPOPs one signal per beat and :func:`dispatch` acts on it; the OS handlers are
installed by :meth:`verk_compat.worker.launcher.Worker.install_signal_handlers`. :func:`dump` is
pure
(it builds the text); :func:`log_dump` logs it.

Keys touched: none (the heartbeat reads ``<identity>-signals``).
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from typing import Protocol

import msgspec

from verk_compat.worker.processor import Running

__all__ = ["SIGNALS", "SignalTarget", "dispatch", "dump", "log_dump"]

log = logging.getLogger(__name__)

#: Signal names a process may find in ``<identity>-signals``.
SIGNALS = ("TSTP", "TERM", "TTIN")


class SignalTarget(Protocol):
    """What a signal acts on (a :class:`verk_compat.worker.launcher.Worker`)."""

    identity: str

    def set_quiet(self) -> None: ...

    def stop(self) -> None: ...

    def dump_state(self) -> None: ...


def dispatch(name: str, target: SignalTarget) -> None:
    """Act on one signal name (as popped from ``<identity>-signals``)."""
    if name == "TSTP":
        log.info("TSTP: %s is quiet (no new jobs; running ones finish)", target.identity)
        target.set_quiet()
    elif name == "TERM":
        log.info("TERM: %s is shutting down", target.identity)
        target.stop()
    elif name == "TTIN":
        target.dump_state()
    else:
        log.warning("ignoring unknown signal %r for %s", name, target.identity)


def _job_line(tid: int, queue: str, raw: bytes, run_at: int, now: float) -> str:
    jid = klass = "?"
    try:
        payload = msgspec.json.decode(raw)
        if isinstance(payload, dict):
            jid, klass = str(payload.get("jid", "?")), str(payload.get("class", "?"))
    except msgspec.DecodeError:
        pass
    return f"  job tid={tid} queue={queue} class={klass} jid={jid} running={now - run_at:.0f}s"


def dump(
    identity: str,
    running: Running,
    tasks: Iterable[asyncio.Task[object]] = (),
    *,
    threads: bool = True,
    now: float | None = None,
) -> str:
    """Text of a TTIN dump: running jobs, asyncio task stacks, then thread stacks."""
    now = time.time() if now is None else now
    out = io.StringIO()
    jobs = list(running.items())
    out.write(f"TTIN {identity}: {len(jobs)} running jobs\n")
    for tid, (queue, raw, run_at) in jobs:
        out.write(_job_line(tid, queue, raw, run_at, now) + "\n")
    task_list = list(tasks)
    out.write(f"{len(task_list)} asyncio tasks\n")
    for task in task_list:
        out.write(f"  task {task.get_name()} {task.get_coro()!r}\n")
        for frame in task.get_stack():
            for line in traceback.format_stack(frame, limit=1):
                out.write("    " + line.replace("\n", "\n    ").rstrip() + "\n")
    if threads:
        names = {t.ident: t.name for t in threading.enumerate()}
        frames = sys._current_frames()
        out.write(f"{len(frames)} threads\n")
        for ident, frame in frames.items():
            out.write(f"  thread {names.get(ident, ident)}\n")
            for line in traceback.format_stack(frame):
                out.write("    " + line.replace("\n", "\n    ").rstrip() + "\n")
    return out.getvalue()


def log_dump(identity: str, running: Running) -> str:
    """Log (at WARNING, so it shows at any usual level) and return a TTIN dump."""
    try:
        tasks = list(asyncio.all_tasks())
    except RuntimeError:
        tasks = []
    text = dump(identity, running, tasks)
    log.warning("%s", text.rstrip())
    return text
