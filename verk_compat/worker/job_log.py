"""The per-job log lines: ``start`` and ``done`` at INFO, ``fail`` (with the traceback) at
WARNING, on the ``verk_compat.worker.processor`` logger; and the CLI's handler and formatters.

``start`` and ``done`` (jid, class, queue and ms) skip the usual per-record overhead
(:class:`JobLog`). When the only handler they would reach is the CLI's own (``verk-compat
worker`` with its default logging, :class:`BufferedHandler`) and no filters are attached, they
are rendered as that handler's formatter would and written once per event-loop turn; otherwise
(your own handlers, filters or record factory) they are ordinary ``LogRecord`` objects that go
through the logger's normal level check, filters, propagation and handlers. Either way the level
is checked once per loop turn, and nothing is formatted when INFO is off.

A failed job's ``fail`` line (:func:`log_failure`) names the error and what happens next (retry,
dead, discard) and is followed by the traceback, one line per frame, innermost first, in the
shape of the ``error_backtrace`` Sidekiq stores (``file:line:in `function'``), without the
frames of this package that merely called the job (:func:`job_frames`); how many frames is
:func:`set_backtrace_frames` (the CLI's ``--log-backtrace``). The record also carries the
frames as ``record.backtrace`` and ``jid``/``job_class``/``queue`` attributes, which
:class:`JsonFormatter` writes as fields.

Keys touched: none.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from verk_compat.worker.retry import backtrace_lines

__all__ = [
    "DONE",
    "START",
    "BufferedHandler",
    "FastFormatter",
    "JobLog",
    "JsonFormatter",
    "LineWriter",
    "job_frames",
    "log_failure",
    "set_backtrace_frames",
]

#: How many frames a ``fail`` line shows: None all, 0 none (see :func:`set_backtrace_frames`).
_frames: int | None = None


def set_backtrace_frames(frames: int | None) -> None:
    """Show at most ``frames`` traceback lines (innermost first) under each ``fail`` line;
    None: all of them (the default), 0: none."""
    global _frames
    if frames is not None and frames < 0:
        raise ValueError(f"backtrace frames must be None or >= 0, not {frames}")
    _frames = frames


#: Where this package's files are: frames there, outside the job, are the runner's own.
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def job_frames(lines: list[str]) -> list[str]:
    """``lines`` (innermost first) without the outermost run of this package's frames (the
    processor, middleware chain and thread pool that called the job), unless that is all."""
    end = len(lines)
    while end and lines[end - 1].startswith(_PACKAGE):
        end -= 1
    return lines[:end] or lines


def log_failure(
    logger: logging.Logger,
    jid: str | None,
    job_class: str,
    queue: str,
    started: float,
    exc: BaseException,
    outcome: str,
) -> None:
    """The WARNING ``fail`` line of a job that raised ``exc``, then its traceback lines."""
    if not logger.isEnabledFor(logging.WARNING):
        return
    frames = job_frames(backtrace_lines(exc)) if _frames != 0 else []
    if _frames is not None:
        frames = frames[:_frames]
    trace = "".join(f"\n    {line}" for line in frames)
    logger.warning(
        "fail jid=%s class=%s queue=%s ms=%.1f error=%s: %s -> %s%s",
        jid,
        job_class,
        queue,
        (time.time() - started) * 1000,
        type(exc).__name__,
        exc,
        outcome,
        trace,
        extra={"jid": jid, "job_class": job_class, "queue": queue, "backtrace": frames},
    )


#: The two per-job lines (``msg % args``), as records' ``msg`` on the standard path.
START = "start jid=%s class=%s queue=%s"
DONE = "done jid=%s class=%s queue=%s ms=%.1f"

_time = time.time
_perf_counter = time.perf_counter

#: Writes an INFO line ``msg % args`` as of ``created`` (epoch seconds): a handler's fast
#: writer, or `JobLog._record`. See :class:`JobLog`.
LineWriter = Callable[[float, str, tuple[Any, ...]], None]


class JobLog:
    """The per-job log lines without the stdlib's per-record cost.

    Once per event-loop turn (:meth:`choose`, cached in :attr:`chosen` until the turn ends)
    the level is checked (``Logger.isEnabledFor(INFO)``, which honours level changes and
    ``logging.disable``) and the way the lines are written is chosen:

    * **Fast path.** If the record would reach exactly one handler (walking the logger and its
      propagating parents, counting handlers whose level lets INFO through), that handler offers
      an ``info_writer()`` returning a writer (the CLI's handler does, see
      :class:`BufferedHandler`), neither the logger nor the handler has filters, and no
      custom log record factory is installed, the line ``msg % args`` goes straight to that
      writer: no ``LogRecord``, no handler lock per line. The CLI's writer renders it exactly as
      its formatter would and writes the lines of one loop turn with one ``write``.
    * **Standard path** (anything else, e.g. a library user's own handlers, filters or record
      factory): a real ``LogRecord`` (``msg`` and ``args`` as above, the usual attributes) is
      handed to ``Logger.handle``, so levels, filters, propagation and handlers behave as
      usual. To save the per-record cost the record is a copy of a template made once, with
      the message, arguments and times filled in; with a custom record factory it is made by
      ``Logger.info`` itself.

    A logging configuration change (level, handlers, filters) made in the middle of a loop turn
    applies from the next turn. A job's done line is written only if its start line was.
    """

    def __init__(self, logger: logging.Logger, source: str = __file__) -> None:
        self.logger = logger
        #: The records' ``pathname`` (the processor passes its own file).
        self.source = source
        #: The writer chosen for the current loop turn, False if INFO is off; None: not chosen
        #: yet, call :meth:`choose`.
        self.chosen: LineWriter | Literal[False] | None = None
        self._template: dict[str, Any] | None = None
        self._thread = 0

    def enabled(self) -> bool:
        """Whether INFO lines are wanted now."""
        return self.logger.isEnabledFor(logging.INFO)

    def line(self, created: float, msg: str, args: tuple[Any, ...]) -> None:
        """Log ``msg % args`` at INFO as of ``created`` (if INFO is on)."""
        write = self.chosen or self.choose()
        if write:
            write(created, msg, args)

    def choose(self) -> LineWriter | Literal[False]:
        """The writer for this loop turn, or False if INFO is off (cached in :attr:`chosen`
        until the turn ends; call from the loop's thread)."""
        if self.chosen is not None:
            return self.chosen
        writer: LineWriter | Literal[False] = False
        if self.logger.isEnabledFor(logging.INFO):
            writer = self.fast_writer() or self._record
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return writer  # no loop turn to cache it for: choose again next time
        self.chosen = writer
        loop.call_soon(self._forget)
        return writer

    def _forget(self) -> None:
        self.chosen = None

    def fast_writer(self) -> LineWriter | None:
        """The only handler's line writer if the fast path applies now, else None."""
        if logging.getLogRecordFactory() is not logging.LogRecord:
            return None
        logger: logging.Logger | None = self.logger
        assert logger is not None
        if logger.filters:
            return None
        found: list[logging.Handler] = []
        while logger is not None:
            for handler in logger.handlers:
                if handler.level <= logging.INFO:
                    found.append(handler)
            if not logger.propagate:
                break
            logger = logger.parent
        if len(found) != 1 or found[0].filters:
            return None
        info_writer = getattr(found[0], "info_writer", None)
        if info_writer is None:
            return None
        writer: LineWriter | None = info_writer()
        return writer

    def _record(self, created: float, msg: str, args: tuple[Any, ...]) -> None:
        if logging.getLogRecordFactory() is not logging.LogRecord:
            self.logger.info(msg, *args)
            return
        template = self._template
        if template is None or self._thread != threading.get_ident():
            template = self._template = self._make_template()
        record = logging.LogRecord.__new__(logging.LogRecord)
        record.__dict__.update(template)
        record.msg = msg
        record.args = args
        record.created = created
        record.msecs = int((created - int(created)) * 1000) + 0.0
        record.relativeCreated = (created - _LOG_START) * 1000
        self.logger.handle(record)

    def _make_template(self) -> dict[str, Any]:
        self._thread = threading.get_ident()
        record = self.logger.makeRecord(
            self.logger.name, logging.INFO, self.source, 0, "", (), None, "process"
        )
        template = dict(record.__dict__)
        if template.get("process") is not None:
            template["process"] = os.getpid()
        return template


#: logging's start time, for ``relativeCreated``.
_LOG_START: float = getattr(logging, "_startTime", time.time())


class BufferedHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes records without a flush (a syscall) each; flushes at most every 0.2 s.

    Two lines per job are on the hot path, and they take a shortcut: :meth:`info_writer` gives
    the processor's :class:`JobLog` a writer that renders an INFO line exactly as
    :class:`FastFormatter` renders the record (no ``LogRecord``, no lock per line) and queues
    it; the lines queued during one event-loop turn are written with one ``write`` at the end
    of the turn, and before any record this handler emits, so the output keeps its order. The
    processor uses the writer only while this handler is the only one its records would reach
    and no filters are attached (see :class:`JobLog`); otherwise job lines are ordinary
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
        if type(formatter) is not FastFormatter:
            return None
        return functools.partial(self._info_line, formatter)

    def _info_line(
        self, formatter: FastFormatter, created: float, msg: str, args: tuple[Any, ...]
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


class FastFormatter(logging.Formatter):
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


class JsonFormatter(logging.Formatter):
    """One JSON object per record (``--log-format json``): ``ts`` (ISO 8601, UTC), ``level``,
    ``logger``, ``pid``, ``msg``; a job's lines add ``jid``, ``class``, ``queue`` (``done``:
    ``ms``; ``fail``: ``backtrace``, a list, so ``msg`` is only the first line); a logged
    exception adds ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        stamp = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        out: dict[str, Any] = {
            "ts": stamp.isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": os.getpid(),
            "msg": message,
        }
        if record.msg in (START, DONE) and isinstance(record.args, tuple):
            out.update(zip(("jid", "class", "queue", "ms"), record.args, strict=False))
        for attr, key in (("jid", "jid"), ("job_class", "class"), ("queue", "queue")):
            value = getattr(record, attr, None)
            if value is not None:
                out[key] = value
        backtrace = getattr(record, "backtrace", None)
        if isinstance(backtrace, list):
            out["msg"] = message.split("\n", 1)[0]
            out["backtrace"] = backtrace
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str)
