"""Sidekiq's retry rules (docs/wire.md §4.4) as pure functions: no Redis, fixed clock and RNG."""

from __future__ import annotations

import json
import random
from typing import Literal, TypedDict, Unpack

import pytest
from hypothesis import given
from hypothesis import strategies as st

from verk_compat.codec.job import Job, Profile
from verk_compat.worker.app import UnknownJob
from verk_compat.worker.retry import (
    Dead,
    Decision,
    Discard,
    Retry,
    RetryIn,
    apply_registered,
    backoff,
    backtrace_lines,
    error_class_name,
    max_retries,
    next_attempt,
    record_failure,
    retry_queue,
)

NOW = 1_700_000_000.5


class Boom(Exception):
    pass


def raised(exc: Exception) -> Exception:
    try:
        raise exc
    except Exception as caught:
        return caught


class Options(TypedDict, total=False):
    """The keyword options of ``next_attempt`` the tests vary."""

    path: Literal["local", "global"]
    default_retry: bool | int
    retry_in: RetryIn | None
    profile: Profile


def decide(job: Job, exc: Exception | None = None, **kw: Unpack[Options]) -> Decision:
    return next_attempt(
        job, exc or raised(Boom("bad")), queue="default", now=NOW, rng=random.Random(1), **kw
    )


def test_first_failure_sets_count_zero_and_failed_at() -> None:
    job = Job.new("HardWorker", [1])
    decision = decide(job)
    assert isinstance(decision, Retry)
    payload = decision.payload
    assert payload.retry_count == 0
    assert payload.failed_at == NOW
    assert payload.retried_at is None
    assert payload.error_class == f"{Boom.__module__}.Boom"
    assert payload.error_message == "bad"
    assert payload.queue == "default"


def test_later_failure_increments_and_sets_retried_at() -> None:
    job = Job.new("HardWorker", [1]).replace(retry_count=3, failed_at=NOW - 100)
    decision = decide(job)
    assert isinstance(decision, Retry)
    assert decision.payload.retry_count == 4
    assert decision.payload.retried_at == NOW
    assert decision.payload.failed_at == NOW - 100


@pytest.mark.parametrize("count", [0, 1, 5, 24])
def test_delay_is_count4_plus_15_plus_jitter(count: int) -> None:
    job = Job.new("W", []) if count == 0 else Job.new("W", []).replace(retry_count=count - 1)
    decision = decide(job)
    assert isinstance(decision, Retry)
    delay = decision.at - NOW
    assert count**4 + 15 <= delay <= count**4 + 15 + 9 * (count + 1)


@given(st.integers(min_value=0, max_value=30), st.integers())
def test_backoff_bounds(count: int, seed: int) -> None:
    delay = backoff(count, random.Random(seed))
    assert count**4 + 15 <= delay <= count**4 + 15 + 9 * (count + 1)
    assert (delay - count**4 - 15) % (count + 1) == 0


def test_exhausted_after_25_goes_dead() -> None:
    job = Job.new("W", []).replace(retry_count=24)
    assert isinstance(decide(job), Dead)
    assert isinstance(decide(Job.new("W", []).replace(retry_count=23)), Retry)


def test_retry_integer_limit_and_zero() -> None:
    assert isinstance(decide(Job.new("W", [], retry=2).replace(retry_count=1)), Dead)
    assert isinstance(decide(Job.new("W", [], retry=2).replace(retry_count=0)), Retry)
    # Ruby's 0 is truthy: no retries, straight to the dead set.
    assert isinstance(decide(Job.new("W", [], retry=0)), Dead)
    assert max_retries(True) == 25
    assert max_retries(7) == 7


def test_retry_false_discards() -> None:
    decision = decide(Job.new("W", [], retry=False))
    assert isinstance(decision, Discard)


def test_dead_false_discards_when_exhausted() -> None:
    job = Job.new("W", [], retry=1, dead=False).replace(retry_count=0)
    assert isinstance(decide(job), Discard)


def test_missing_retry_key_global_path_drops_local_uses_default() -> None:
    job = Job.decode(b'{"class":"W","args":[],"jid":"abc","queue":"default"}')
    assert job.retry is None
    assert isinstance(decide(job, raised(UnknownJob("x")), path="global"), Discard)
    assert isinstance(decide(job, path="local"), Retry)
    assert isinstance(decide(job, path="local", default_retry=False), Discard)


def test_unknown_job_error_class() -> None:
    assert error_class_name(UnknownJob("x")) == "verk_compat.UnknownJob"
    assert error_class_name(ValueError("x")) == "ValueError"


def test_error_message_truncated_to_10000() -> None:
    decision = decide(Job.new("W", []), raised(Boom("x" * 20_000)))
    assert isinstance(decision, Retry)
    assert decision.payload.error_message == "x" * 10_000


def test_retry_queue_and_fetched_queue() -> None:
    assert retry_queue(Job.new("W", [], queue="a"), "a") == "a"
    assert retry_queue(Job.new("W", [], queue="a", retry_queue="slow"), "a") == "slow"
    decision = decide(Job.new("W", [], queue="a", retry_queue="slow"))
    assert isinstance(decision, Retry)
    assert decision.payload.queue == "slow"


def test_retry_in_hook() -> None:
    job = Job.new("W", [])
    custom = decide(job, retry_in=lambda count, exc, j: 100)
    assert isinstance(custom, Retry)
    assert 100 <= custom.at - NOW <= 109
    assert isinstance(decide(job, retry_in=lambda c, e, j: "kill"), Dead)
    assert isinstance(decide(job, retry_in=lambda c, e, j: "discard"), Discard)
    default = decide(job, retry_in=lambda c, e, j: None)
    assert isinstance(default, Retry)
    assert 15 <= default.at - NOW <= 24

    def broken(count: int, exc: BaseException, j: Job) -> int:
        raise RuntimeError("hook bug")

    assert isinstance(decide(job, retry_in=broken), Retry)


def test_retry_for_exhausts_by_time() -> None:
    job = Job.new("W", [], retry_for=60).replace(retry_count=0, failed_at=NOW - 120)
    assert isinstance(decide(job), Dead)
    young = Job.new("W", [], retry_for=600).replace(retry_count=0, failed_at=NOW - 120)
    assert isinstance(decide(young), Retry)


def test_backtrace_lines_innermost_first() -> None:
    def inner() -> None:
        raise Boom("deep")

    def outer() -> None:
        inner()

    try:
        outer()
    except Boom as exc:
        lines = backtrace_lines(exc)
    assert "in `inner'" in lines[0]
    assert "in `outer'" in lines[1]


def test_backtrace_option_writes_error_backtrace() -> None:
    pytest.importorskip("verk_compat.codec.backtrace")
    from verk_compat.codec.backtrace import decode_backtrace

    exc = raised(Boom("x"))
    with_bt = record_failure(Job.new("W", [], backtrace=1), exc, queue="q", now=NOW)
    assert with_bt.error_backtrace is not None
    assert len(decode_backtrace(with_bt.error_backtrace)) == 1
    without = record_failure(Job.new("W", []), exc, queue="q", now=NOW)
    assert without.error_backtrace is None


@given(st.integers(min_value=0, max_value=30), st.integers())
def test_sidekiq8_jitter_is_rand_of_10_times_count_plus_one(count: int, seed: int) -> None:
    delay = backoff(count, random.Random(seed), "sidekiq8")
    assert count**4 + 15 <= delay < count**4 + 15 + 10 * (count + 1)


def test_sidekiq8_jitter_covers_values_the_7x_formula_cannot_reach() -> None:
    rng = random.Random(3)
    extras = {backoff(3, rng, "sidekiq8") - 3**4 - 15 for _ in range(2000)}
    assert extras == set(range(40))  # 7.x only yields multiples of 4 up to 36


def test_sidekiq8_retry_for_replaces_the_count_limit() -> None:
    # Sidekiq 8.1: with retry_for, only time counts, however many retries were made...
    many = Job.new("W", [], retry=2, retry_for=600).replace(retry_count=5, failed_at=NOW - 60)
    assert isinstance(decide(many, profile="sidekiq8"), Retry)
    assert isinstance(decide(many), Dead)  # 7.x: count and time both apply
    old = Job.new("W", [], retry_for=60).replace(retry_count=0, failed_at=NOW - 120)
    assert isinstance(decide(old, profile="sidekiq8"), Dead)
    # ...and without retry_for, only the count.
    assert isinstance(
        decide(Job.new("W", [], retry=2).replace(retry_count=1), profile="sidekiq8"), Dead
    )


def test_sidekiq8_profile_writes_failure_times_as_integer_ms() -> None:
    decision = decide(Job.new("W", []), profile="sidekiq8")
    assert isinstance(decision, Retry)
    wire = json.loads(decision.payload.encode("sidekiq8"))
    assert wire["failed_at"] == round(NOW * 1000) and isinstance(wire["failed_at"], int)


def test_registered_options_fill_what_the_payload_leaves_open() -> None:
    plain = Job.new("Capped", [])  # retry: true, as any push by class name writes
    job = apply_registered(plain, retry=2, retry_queue="low", dead=False, backtrace=5)
    assert (job.retry, job.retry_queue, job.dead, job.backtrace) == (2, "low", False, 5)
    given = Job.new("Capped", [], retry=7, retry_queue="mine", dead=True, backtrace=False)
    kept = apply_registered(given, retry=2, retry_queue="low", dead=False, backtrace=5)
    assert (kept.retry, kept.retry_queue, kept.dead, kept.backtrace) == (7, "mine", True, False)
    assert apply_registered(Job.new("X", [], retry=False), retry=3).retry is False
    assert apply_registered(Job.new("X", [], retry=1), retry=3).retry == 1  # 1 is not true
    assert apply_registered(plain) is plain  # nothing registered: the payload as it is


def test_registered_retry_caps_a_payload_that_says_true() -> None:
    job = Job.new("Capped", []).replace(retry_count=1, failed_at=NOW - 60)
    assert isinstance(decide(job), Retry)  # Sidekiq's 25
    assert isinstance(decide(apply_registered(job, retry=2)), Dead)
    assert isinstance(decide(apply_registered(job, retry=2, dead=False)), Discard)
