"""Sidekiq jobs written the way Verk 1.x writes jobs (the client's ``verk`` target and the
``sidekiq-to-verk`` migration; Verk's format: :mod:`verk_compat.codec.verk`, docs/verk.md).

Keys touched: none.
"""

from __future__ import annotations

from verk_compat.codec.backtrace import decode_backtrace
from verk_compat.codec.job import Job
from verk_compat.codec.verk import DEFAULT_MAX_RETRY_COUNT, VerkJob, new_verk_jid
from verk_compat.errors import InvalidJob

__all__ = ["SIDEKIQ_ONLY", "max_retry_count_of", "verk_from_job"]


#: Sidekiq fields Verk has no place for (a Verk node drops them when it rewrites a job).
SIDEKIQ_ONLY = ("backtrace", "tags", "retry_queue", "dead", "retry_for", "wrapped", "bid")


def max_retry_count_of(retry: object, *, scheduled: bool = False) -> int | None:
    """Verk's ``max_retry_count`` for a Sidekiq ``retry``: ``N`` -> N, ``False`` -> 0 (dead at
    the first failure: Verk never discards), ``True`` -> 25 (``Verk.enqueue``'s default) or,
    for a scheduled job, null (``Verk.schedule`` leaves it null; Verk reads null as 25)."""
    if isinstance(retry, bool) or retry is None:
        if retry is False:
            return 0
        return None if scheduled else DEFAULT_MAX_RETRY_COUNT
    if isinstance(retry, int):
        return retry
    return None if scheduled else DEFAULT_MAX_RETRY_COUNT  # a float retry: Sidekiq's default


def _seconds(value: float | None) -> int | None:
    return None if value is None else int(value)


def _plain(backtrace: str | None) -> str | None:
    """Sidekiq's base64/zlib backtrace as Verk's plain text (one frame per line)."""
    if backtrace is None:
        return None
    try:
        return "".join(f"    {line}\n" for line in decode_backtrace(backtrace))
    except InvalidJob:
        return backtrace  # already plain text


def verk_from_job(
    job: Job, *, enqueued_at: float | None, scheduled: bool = False, strict: bool = False
) -> VerkJob:
    """``job`` as a Verk job: ``Verk.enqueue``'s shape (``Verk.schedule``'s with ``scheduled``).

    ``retry`` becomes ``max_retry_count`` (:func:`max_retry_count_of`); Sidekiq's 0-based
    ``retry_count`` becomes Verk's 1-based one; timestamps integer seconds; a missing jid a Verk
    jid; Sidekiq's encoded backtrace plain text. With ``strict`` (the client), a Sidekiq-only
    field or an unknown key is refused instead of dropped.

    Raises:
        InvalidJob: ``strict`` and the job has a field Verk cannot carry.
    """
    if strict:
        for name in SIDEKIQ_ONLY:
            if getattr(job, name) is not None:
                raise InvalidJob(f"{name}: the Verk target has no place for it", field=name)
        if job.extra:
            key = next(iter(job.extra))
            raise InvalidJob(f"{key}: the Verk target has no place for it", field=key)
    return VerkJob(
        job.class_name,
        list(job.args),
        jid=job.jid or new_verk_jid(),
        queue=job.queue,
        retry_count=0 if job.retry_count is None else job.retry_count + 1,
        max_retry_count=max_retry_count_of(job.retry, scheduled=scheduled),
        error_message=job.error_message,
        error_backtrace=_plain(job.error_backtrace),
        created_at=None if strict else _seconds(job.created_at),
        enqueued_at=_seconds(enqueued_at),
        failed_at=_seconds(job.failed_at),
        retried_at=_seconds(job.retried_at),
    )
