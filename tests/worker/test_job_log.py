"""The ``fail`` line of :mod:`verk_compat.worker.job_log`: traceback frames, their number, and
nothing formatted when WARNING is off."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

import verk_compat
from verk_compat.worker.job_log import job_frames, log_failure, set_backtrace_frames

PKG = verk_compat.__file__.rsplit("/", 1)[0]


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, Capture]]:
    logger = logging.Logger("vktest.joblog", logging.INFO)  # outside the registry: no pytest
    capture = Capture()
    logger.addHandler(capture)
    yield logger, capture
    set_backtrace_frames(None)


def inner() -> None:
    raise KeyError("missing")


def outer() -> None:
    inner()


def failure() -> BaseException:
    try:
        outer()
    except KeyError as exc:
        return exc
    raise AssertionError("unreachable")


def test_fail_line_then_one_line_per_frame_innermost_first(
    captured: tuple[logging.Logger, Capture],
) -> None:
    logger, capture = captured
    log_failure(logger, "j1", "Klass", "q", time.time(), failure(), "retry")
    [record] = capture.records
    head, *frames = record.getMessage().split("\n")
    assert head.startswith("fail jid=j1 class=Klass queue=q ms=")
    assert head.endswith("error=KeyError: 'missing' -> retry")
    assert [f.rsplit(":in ", 1)[1] for f in frames] == ["`inner'", "`outer'", "`failure'"]
    assert all(f.startswith(f"    {__file__}:") for f in frames)
    assert record.backtrace == [f.strip() for f in frames]  # type: ignore[attr-defined]
    assert (record.levelno, record.jid, record.job_class) == (logging.WARNING, "j1", "Klass")  # type: ignore[attr-defined]

    set_backtrace_frames(1)
    log_failure(logger, "j2", "Klass", "q", time.time(), failure(), "dead")
    assert len(capture.records[1].getMessage().split("\n")) == 2
    set_backtrace_frames(0)
    log_failure(logger, "j3", "Klass", "q", time.time(), failure(), "dead")
    assert "\n" not in capture.records[2].getMessage()
    with pytest.raises(ValueError, match="frames"):
        set_backtrace_frames(-1)


def test_nothing_is_built_when_warning_is_off(captured: tuple[logging.Logger, Capture]) -> None:
    logger, capture = captured
    logger.setLevel(logging.ERROR)

    class Exploding(Exception):
        def __str__(self) -> str:
            raise AssertionError("formatted although WARNING is off")

    log_failure(logger, "j1", "Klass", "q", time.time(), Exploding(), "retry")
    assert capture.records == []


def test_job_frames_drop_only_the_runners_outer_frames() -> None:
    job = ["/app/jobs.py:3:in `work'", "/app/lib.py:9:in `helper'"]
    runner = [f"{PKG}/worker/sync_pool.py:127:in `_serve'", f"{PKG}/worker/processor.py:1:in `x'"]
    assert job_frames([*job, *runner]) == job
    inside = [f"{PKG}/client/enqueue.py:5:in `push'", *job, *runner]
    assert job_frames(inside) == inside[:3]  # the package called by the job stays
    assert job_frames(runner) == runner  # an error of the runner itself keeps every frame
    assert job_frames([]) == []
