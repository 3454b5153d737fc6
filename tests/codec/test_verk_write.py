"""Sidekiq jobs written as Verk writes jobs (``verk_compat.codec.verk_write``)."""

from __future__ import annotations

import json

import pytest

from verk_compat.codec.backtrace import encode_backtrace
from verk_compat.codec.job import Job
from verk_compat.codec.verk import VERK_KEYS, VerkJob
from verk_compat.codec.verk_write import max_retry_count_of, verk_from_job
from verk_compat.errors import InvalidJob


def test_retry_becomes_max_retry_count() -> None:
    assert [max_retry_count_of(r) for r in (True, False, 5, 0, None)] == [25, 0, 5, 0, 25]
    assert max_retry_count_of(True, scheduled=True) is None
    assert max_retry_count_of(7, scheduled=True) == 7


def test_failed_sidekiq_job_in_verks_terms() -> None:
    job = Job.new("W", [1, 2.5], retry=3, backtrace=True).replace(
        retry_count=1,
        failed_at=1700000000.75,
        retried_at=1700000100.5,
        error_message="boom",
        error_backtrace=encode_backtrace(["a.py:1:in `f'", "b.py:2:in `g'"]),
    )
    verk = verk_from_job(job, enqueued_at=1700000200.9)
    raw = verk.encode()
    assert list(json.loads(raw)) == list(VERK_KEYS)
    back = VerkJob.decode(raw)
    assert (back.retry_count, back.max_retry_count) == (2, 3)  # Verk counts failures from 1
    assert (back.failed_at, back.retried_at, back.enqueued_at) == (
        1700000000,
        1700000100,
        1700000200,
    )
    assert back.error_backtrace == "    a.py:1:in `f'\n    b.py:2:in `g'\n"
    assert json.loads(raw)["args"] == "[1,2.5]" and back.jid == job.jid
    with pytest.raises(InvalidJob, match="backtrace"):
        verk_from_job(job, enqueued_at=None, strict=True)
