"""The per-job log lines: the CLI's fast path (same text as its formatter) and the standard
``logging`` path for everything else (own handlers, filters, record factories, levels)."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from verk_compat.codec.job import Job, now
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.job_log import DONE, START, BufferedHandler, FastFormatter, JobLog
from verk_compat.worker.launcher import Worker

K = Keys()
ROOT = Path(__file__).resolve().parents[2]
JID = "0123456789abcdef01234567"


def cli_handler() -> tuple[BufferedHandler, io.StringIO]:
    handler = BufferedHandler()
    stream = io.StringIO()
    handler.setStream(stream)
    handler.setFormatter(FastFormatter())
    return handler, stream


def rendered(handler: logging.Handler, created: float, msg: str, args: tuple[Any, ...]) -> str:
    """What the handler's formatter makes of a real record for this line."""
    record = logging.LogRecord(
        "verk_compat.worker.processor", logging.INFO, __file__, 0, msg, args, None
    )
    record.created = created
    record.msecs = int((created - int(created)) * 1000) + 0.0
    assert handler.formatter is not None
    return handler.formatter.format(record) + "\n"


#: The parent of the ``logger`` fixture; both are outside logging's registry, so that nothing
#: (pytest's log capture attaches to every registered non-propagating logger) adds handlers.
PARENT = logging.Logger("vktest")


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A private logger ``vktest.processor`` whose parent is :data:`PARENT` (and no root)."""
    child = logging.Logger("vktest.processor", logging.INFO)
    child.parent = PARENT
    yield child
    PARENT.handlers.clear()
    logging.setLogRecordFactory(logging.LogRecord)


async def test_fast_path_renders_like_the_formatter_once_per_loop_turn(
    logger: logging.Logger,
) -> None:
    handler, stream = cli_handler()
    PARENT.addHandler(handler)
    jlog = JobLog(logger)
    assert jlog.enabled()
    assert jlog.fast_writer() is not None
    created = 1_764_251_033.0457
    start = (JID, "HardWorker", "default")
    done = (JID, "HardWorker", "default", 12.345)
    jlog.line(created, START, start)
    jlog.line(created + 0.0125, DONE, done)
    jlog.line(created + 1.5, DONE, done)  # the next second
    assert stream.getvalue() == ""  # written at the end of the loop turn, in one write
    await asyncio.sleep(0)
    expected = [
        rendered(handler, created, START, start),
        rendered(handler, created + 0.0125, DONE, done),
        rendered(handler, created + 1.5, DONE, done),
    ]
    assert stream.getvalue() == "".join(expected)
    assert (
        f" pid={os.getpid()} INFO: start jid={JID} class=HardWorker queue=default\n"
        in (expected[0])
    )
    assert expected[1].endswith(f" INFO: done jid={JID} class=HardWorker queue=default ms=12.3\n")


async def test_fast_path_keeps_order_with_other_records_and_flushes(
    logger: logging.Logger,
) -> None:
    handler, stream = cli_handler()
    PARENT.addHandler(handler)
    jlog = JobLog(logger)
    jlog.line(1_764_251_033.5, START, (JID, "A", "q"))
    logger.warning("something else")
    lines = stream.getvalue().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        f"start jid={JID} class=A queue=q",
        "something else",
    ]
    jlog.line(1_764_251_033.6, DONE, (JID, "A", "q", 1.0))
    handler.flush()  # logging.shutdown() at exit: nothing queued is lost
    assert stream.getvalue().splitlines()[-1].endswith(f"done jid={JID} class=A queue=q ms=1.0")


def test_fast_path_without_a_loop_writes_at_once(logger: logging.Logger) -> None:
    handler, stream = cli_handler()
    PARENT.addHandler(handler)
    jlog = JobLog(logger)
    jlog.line(1_764_251_033.5, START, (JID, "A", "q"))
    assert stream.getvalue() == rendered(handler, 1_764_251_033.5, START, (JID, "A", "q"))


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_other_handlers_filters_and_factories_get_real_records(
    logger: logging.Logger,
) -> None:
    handler, stream = cli_handler()
    capture = Capture()
    PARENT.addHandler(handler)
    jlog = JobLog(logger)
    args = (JID, "A", "q")

    # A second handler: both get an ordinary record, the CLI handler prints the same text.
    logger.addHandler(capture)
    assert jlog.fast_writer() is None
    jlog.line(1_764_251_033.5, START, args)
    [record] = capture.records
    assert (record.msg, record.args, record.levelno) == (START, args, logging.INFO)
    assert record.getMessage() == f"start jid={JID} class=A queue=q"
    assert (record.name, record.funcName, record.created) == (
        logger.name,
        "process",
        1_764_251_033.5,
    )
    assert stream.getvalue() == rendered(handler, 1_764_251_033.5, START, args)
    logger.removeHandler(capture)
    await asyncio.sleep(0)  # the choice is made once per loop turn

    # A filter on the logger sees (and may drop) every line.
    seen: list[str] = []

    def drop(record: logging.LogRecord) -> bool:
        seen.append(record.getMessage())
        return False

    assert jlog.fast_writer() is not None
    logger.addFilter(drop)
    assert jlog.fast_writer() is None
    before = stream.getvalue()
    jlog.line(1_764_251_034.0, START, args)
    assert seen == [f"start jid={JID} class=A queue=q"] and stream.getvalue() == before
    logger.removeFilter(drop)

    # A filter on the handler, too.
    handler.addFilter(drop)
    assert jlog.fast_writer() is None
    handler.removeFilter(drop)

    # A custom record factory is used.
    made: list[logging.LogRecord] = []

    def factory(*a: Any, **kw: Any) -> logging.LogRecord:
        rec = logging.LogRecord(*a, **kw)
        made.append(rec)
        return rec

    logging.setLogRecordFactory(factory)
    assert jlog.fast_writer() is None
    await asyncio.sleep(0)
    jlog.line(1_764_251_034.0, START, args)
    assert [m.getMessage() for m in made] == [f"start jid={JID} class=A queue=q"]


async def test_a_handler_that_is_not_the_clis_gets_records(logger: logging.Logger) -> None:
    stream = io.StringIO()
    plain = logging.StreamHandler(stream)
    plain.setFormatter(logging.Formatter("%(levelname)s %(name)s %(funcName)s %(message)s"))
    logger.addHandler(plain)
    jlog = JobLog(logger)
    assert jlog.fast_writer() is None
    jlog.line(1_764_251_033.5, DONE, (JID, "A", "q", 0.25))
    assert (
        stream.getvalue()
        == f"INFO vktest.processor process done jid={JID} class=A queue=q ms=0.2\n"
    )
    # The CLI handler with another formatter: records too.
    handler, _ = cli_handler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.removeHandler(plain)
    logger.addHandler(handler)
    assert jlog.fast_writer() is None
    # A handler whose level drops INFO does not count as a destination.
    plain.setLevel(logging.WARNING)
    logger.addHandler(plain)
    handler.setFormatter(FastFormatter())
    assert jlog.fast_writer() is not None


def test_level_changes_are_honoured() -> None:
    logger = logging.getLogger("vktest_levels.processor")  # registered: setLevel clears caches
    jlog = JobLog(logger)
    try:
        logger.setLevel(logging.INFO)
        assert jlog.enabled()
        logger.setLevel(logging.WARNING)
        assert not jlog.enabled()
        logger.setLevel(logging.NOTSET)
        logging.getLogger("vktest_levels").setLevel(logging.INFO)
        assert jlog.enabled()
        logging.disable(logging.INFO)
        assert not jlog.enabled()
    finally:
        logging.disable(logging.NOTSET)
        logging.getLogger("vktest_levels").setLevel(logging.NOTSET)
    assert jlog.enabled() == logging.getLogger().isEnabledFor(logging.INFO)


async def test_worker_logs_start_and_done_records_for_library_users(
    r: redis.Redis, redis_url: str
) -> None:
    """In-process worker, a user's own handler on the processor logger: real records."""
    app = App()

    @app.job("SyncJob")
    def sync_job(*_args: Any) -> None:
        return None

    @app.job("AsyncJob")
    async def async_job(*_args: Any) -> None:
        return None

    jids = []
    for name in ("SyncJob", "AsyncJob"):
        job = Job.new(name, [1])
        jids.append((job.jid, name))
        r.lpush(K.queue("default"), job.replace(enqueued_at=now()).encode())
    capture = Capture()
    plog = logging.getLogger("verk_compat.worker.processor")
    plog.addHandler(capture)
    old_level = plog.level
    plog.setLevel(logging.INFO)
    try:
        w = Worker(app, {"default": 2}, redis_url=redis_url, burst=True, block_timeout=0.2)
        try:
            await asyncio.wait_for(w.run(), 20)
        finally:
            await w.aclose()
    finally:
        plog.removeHandler(capture)
        plog.setLevel(old_level)
    messages = [rec.getMessage() for rec in capture.records if rec.levelno == logging.INFO]
    for jid, name in jids:
        start = f"start jid={jid} class={name} queue=default"
        [done] = [m for m in messages if m.startswith(f"done jid={jid} ")]
        assert start in messages and messages.index(start) < messages.index(done)
        assert re.fullmatch(rf"done jid={jid} class={name} queue=default ms=\d+\.\d", done)


def test_cli_worker_writes_start_and_done_lines(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    """The CLI's default logging: one start and one done line per job, in the CLI's format,
    in order with the other lines (a failure's warning comes after its start line)."""
    jobs = [Job.new("HardWorker", [i]) for i in range(30)]
    jobs += [Job.new("AsyncWorker", [i], queue="critical") for i in range(30)]
    failing = Job.new("FailingJob", [1], retry=False)
    stamp = now()
    for job in [*jobs, failing]:
        r.lpush(K.queue(job.queue or "default"), job.replace(enqueued_at=stamp).encode())
    env = {**os.environ, "WORKER_OUT": str(tmp_path / "out.jsonl"), "PYTHONPATH": str(ROOT)}
    boot = "from verk_compat.cli import main; main()"
    cmd = [
        sys.executable,
        "-c",
        boot,
        "worker",
        "tests.support.worker_app:app",
        "--redis-url",
        redis_url,
    ]
    cmd += ["--burst", "-q", "default=5", "-q", "critical=3"]
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as out:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    text = log_path.read_text()
    assert proc.returncode == 0, text
    stamp_re = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} pid=\d+ "
    line_re = re.compile(
        stamp_re + r"INFO: (?P<what>start|done) jid=(?P<jid>[0-9a-f]{24}) "
        r"class=(?P<cls>\S+) queue=(?P<queue>\S+)(?P<ms> ms=\d+\.\d)?"
    )
    events: dict[str, list[tuple[str, str, str, bool]]] = {}
    order: list[tuple[str, str]] = []
    for line in text.splitlines():
        m = line_re.fullmatch(line)
        if m:
            events.setdefault(str(m["jid"]), []).append(
                (m["what"], m["cls"], m["queue"], bool(m["ms"]))
            )
            order.append((str(m["what"]), str(m["jid"])))
        elif " WARNING: fail jid=" in line:
            order.append(("fail", line.split("jid=")[1].split()[0]))
        elif line.startswith("    ") and order and order[-1][0] in ("fail", "frame"):
            order.append(("frame", line.strip()))  # the failure's traceback, one line a frame
        else:
            assert re.match(stamp_re + r"(INFO|WARNING): ", line), line
    for job in jobs:
        queue = job.queue or "default"
        assert events[str(job.jid)] == [
            ("start", job.class_name, queue, False),
            ("done", job.class_name, queue, True),
        ]
    fjid = str(failing.jid)
    assert events[fjid] == [("start", "FailingJob", "default", False)]
    assert order.index(("start", fjid)) < order.index(("fail", fjid))
    # Issue 9: the traceback follows the fail line, innermost frame first (the job's raise).
    after = order[order.index(("fail", fjid)) + 1 :]
    assert after and after[0][0] == "frame", after
    assert re.fullmatch(r".*/tests/support/worker_app\.py:\d+:in `failing_job'", after[0][1])
    assert len(events) == len(jobs) + 1
