"""The pure half of the clients: jobs in, :class:`Write` s (Redis commands) out.

:class:`verk_compat.client.client.Client` and :class:`verk_compat.client.async_client.AsyncClient`
share it, so the
sync and async clients cannot drift apart. Payloads come from the codec
(:class:`verk_compat.codec.job.Job`), key names from :mod:`verk_compat.keys`.

Speed without a second encoder: payloads are cut from templates (:mod:`verk_compat.client.template`)
that the codec encodes, once per batch for bulk pushes and once per (class, options) for single
pushes; each job's args go through ``strict_args`` and the codec's Ruby-JSON writer. The bytes are
the ones ``Job.new(...).encode()`` gives (``tests/test_client_plan.py`` checks it), at a fraction
of the cost. Calls a template cannot serve (middleware, caller jid or ``created_at``, non-scalar
options, schedules, Resque singles) build a codec Job.

Redis keys named: ``queues`` + ``queue:<q>`` (SADD + LPUSH), ``schedule`` (ZADD), or for the
Resque target ``resque:queues`` + ``resque:queue:<q>`` (SADD + RPUSH), for the Verk target
``queue:<q>`` (LPUSH of ``Verk.enqueue``'s 13-key payload, no ``queues`` set, as Verk) and
``schedule`` (ZADD scored by the integer due time); all ``ns:`` prefixed under a namespace.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal

import msgspec

from verk_compat.client.options import options_of
from verk_compat.client.template import (
    ARGS,
    ARGS_MARK,
    CREATED_MARK,
    ENQUEUED_MARK,
    JID,
    JID_MARK,
    Template,
    time_hole,
    time_token,
)
from verk_compat.codec.jid import new_jid, new_jids
from verk_compat.codec.job import Job, Profile, check_args, now
from verk_compat.codec.ruby_json import dumps
from verk_compat.codec.timestamps import score
from verk_compat.codec.verk import new_verk_jid as verk_jid
from verk_compat.codec.verk_write import verk_from_job
from verk_compat.errors import InvalidJob, VerkError
from verk_compat.keys import Keys, ResqueKeys

__all__ = [
    "TARGETS",
    "At",
    "Batch",
    "ClientMiddleware",
    "Planner",
    "Target",
    "Write",
    "as_args",
    "epoch",
    "options_of",
]

Target = Literal["sidekiq", "resque", "verk"]
TARGETS: tuple[Target, ...] = ("sidekiq", "resque", "verk")
At = _dt.datetime | float | int
#: Client middleware: gets each Job before it is pushed and returns the Job to push.
ClientMiddleware = Callable[[Job], Job]

_SPLIT = msgspec.json.Decoder(list[msgspec.Raw]).decode
_SCALARS = (str, int, float, bool, type(None))
_CACHE_SIZE = 512
_MISSING: Any = object()


def epoch(at: At) -> float:
    """Float epoch seconds of a datetime (naive = local time, as Ruby's Time) or a number.

    Raises:
        TypeError: ``at`` is neither.
        ValueError: ``at`` is NaN or infinite (Redis refuses a NaN score; ``inf`` never runs).
    """
    if isinstance(at, _dt.datetime):
        return at.timestamp()
    if isinstance(at, bool) or not isinstance(at, int | float):
        raise TypeError(f"at must be a datetime or epoch seconds, not {type(at).__name__}")
    try:
        seconds = float(at)
    except OverflowError:  # an int beyond any float
        seconds = math.inf if at > 0 else -math.inf
    if not math.isfinite(seconds):
        raise ValueError(f"at must be a finite time, not {at!r}")
    return seconds


def as_args(args: Any, path: str = "args") -> list[Any]:
    """``args`` as a list (a tuple is accepted), checked against Sidekiq's ``strict_args``."""
    if type(args) is tuple:
        args = list(args)
    check_args(args, path)
    return list(args)


@dataclass(frozen=True, slots=True)
class Write:
    """The commands of one round trip: an optional SADD of the queue name, then one push (or a
    ``WAIT`` after them, see :func:`wait_write`)."""

    command: Literal["LPUSH", "RPUSH", "ZADD", "WAIT"]
    key: str
    args: Sequence[str | bytes]
    queues_key: str | None = None
    queue: str = ""

    def commands(self) -> list[tuple[str | bytes, ...]]:
        """The Redis commands, in order."""
        push = (self.command, self.key, *self.args)
        if self.queues_key is None:
            return [push]
        return [("SADD", self.queues_key, self.queue), push]


def wait_write(replicas: int, timeout: float) -> Write:
    """Redis ``WAIT <replicas> <ms>`` sent after the pushes of a round trip (same connection,
    so it waits for exactly those writes); its reply is the number of replicas that have them."""
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise ValueError(f"wait_replicas must be a whole number >= 0, not {replicas!r}")
    if not timeout > 0:
        raise ValueError(
            f"wait_timeout must be > 0 seconds (WAIT 0 blocks forever), not {timeout!r}"
        )
    return Write("WAIT", str(replicas), (str(max(1, round(timeout * 1000))),))


@dataclass(frozen=True, slots=True)
class Batch:
    """Validated jobs of one bulk push: their args, encoded args and jids."""

    source: list[list[Any]]
    args: list[msgspec.Raw]
    jids: list[str]


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


@dataclass(frozen=True, slots=True)
class Planner:
    """Pure enqueue logic shared by the sync and async clients: jobs in, :class:`Write` out."""

    keys: Keys | ResqueKeys
    profile: Profile = "sidekiq7"
    batch_size: int = 1000
    middleware: tuple[ClientMiddleware, ...] = ()
    #: ``verk``: payloads written as ``Verk.enqueue`` / ``Verk.schedule`` write them.
    target: Target = "sidekiq"
    _templates: dict[str, tuple[Template, str] | None] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def build(
        cls,
        *,
        namespace: str | None = None,
        target: Target = "sidekiq",
        profile: Profile = "sidekiq7",
        batch_size: int = 1000,
        middleware: Sequence[ClientMiddleware] = (),
    ) -> Planner:
        """A planner for ``target`` (Resque's namespace defaults to ``resque``)."""
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, not {target!r}")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        keys: Keys | ResqueKeys
        if target == "resque":
            keys = ResqueKeys() if namespace is None else ResqueKeys(namespace)
        else:
            keys = Keys(namespace or "")
        return cls(keys, profile, batch_size, tuple(middleware), target)

    def job(self, class_name: str, args: Any, options: dict[str, Any]) -> Job:
        """A validated Job (strict_args included), passed through the middleware."""
        job = Job.new(class_name, as_args(args), **options)
        for middleware in self.middleware:
            job = middleware(job)
        if self.middleware:
            check_args(job.args)
        return job

    def enqueue_write(
        self, class_name: str, args: Any, options: dict[str, Any]
    ) -> tuple[str, Write]:
        """The jid and the push of one job: from a template when possible, else the codec's Job."""
        if self.target == "verk":
            job = self.job(class_name, args, {**options, "jid": options.get("jid") or verk_jid()})
            return str(job.jid), self.push([job])
        jid = new_jid()
        write = self.single(class_name, args, options, jid, now())
        if write is not None:
            return jid, write
        job = self.job(class_name, args, options)
        return str(job.jid), self.push([job])

    def single(
        self, class_name: str, args: Any, options: dict[str, Any], jid: str, stamp: float
    ) -> Write | None:
        """The LPUSH of one job cut from a cached template, or ``None`` when none applies.

        Only plain calls qualify: Sidekiq target, no middleware, no caller jid or created_at,
        and options whose values are JSON scalars (so ``repr`` tells them apart exactly).
        """
        cached = self._single_template(class_name, options)
        if cached is None:
            return None
        template, key = cached
        token = time_token(stamp, self.profile == "sidekiq8")
        values = {"args": dumps(as_args(args)), "jid": jid.encode()}
        values["created_at"] = values["enqueued_at"] = token
        queue = options.get("queue", "default")
        return Write("LPUSH", key, [template.fill(values)], self.keys.queues, queue)

    def _single_template(
        self, class_name: str, options: dict[str, Any]
    ) -> tuple[Template, str] | None:
        """The cached template of (class, options) and its queue key, or ``None``."""
        if self.middleware or not isinstance(self.keys, Keys) or type(class_name) is not str:
            return None
        if options.get("jid") is not None or "created_at" in options:
            return None
        for value in options.values():
            if type(value) not in _SCALARS:
                return None
        key = f"{class_name}\0{options!r}"
        cached: tuple[Template, str] | None = self._templates.get(key, _MISSING)
        if cached is _MISSING:
            template = self._cut_single(class_name, options)
            queue = self.keys.queue(options.get("queue", "default"))
            cached = None if template is None else (template, queue)
            if len(self._templates) >= _CACHE_SIZE:
                self._templates.clear()
            self._templates[key] = cached
        return cached

    def _cut_single(self, class_name: str, options: dict[str, Any]) -> Template | None:
        opts = {**options, "jid": JID_MARK, "created_at": CREATED_MARK}
        job = Job.new(class_name, [ARGS_MARK], **opts).replace(enqueued_at=ENQUEUED_MARK)
        ms = self.profile == "sidekiq8"
        holes = [ARGS, JID, time_hole("created_at", CREATED_MARK, ms)]
        holes.append(time_hole("enqueued_at", ENQUEUED_MARK, ms))
        return Template.cut(job.encode(self.profile), holes)

    def batches(
        self, class_name: str, many_args: Iterable[Any], options: dict[str, Any]
    ) -> list[Batch]:
        """Every job validated (before anything is written), in batches of ``batch_size``."""
        if options.get("jid") is not None:
            raise ValueError("enqueue_many cannot take a jid: each job gets its own")
        Job.new(class_name, [], **options)  # checks the class and options once
        out: list[Batch] = []
        for chunk in _chunks(many_args, self.batch_size):
            out.append(_batch(chunk, len(out) * self.batch_size))
        return out

    def push_batch(
        self, class_name: str, batch: Batch, options: dict[str, Any], stamp: float | None = None
    ) -> Write:
        """One bulk push: one ``created_at`` and one ``enqueued_at`` for the batch (push_bulk)."""
        created = options.get("created_at") or (now() if stamp is None else stamp)
        opts = {**options, "created_at": created}
        if self.middleware or self.target == "verk":
            return self._push_jobs(class_name, batch, opts, stamp)
        template = Job.new(class_name, [ARGS_MARK], **{**opts, "jid": JID_MARK})
        queue = template.queue or ""
        if isinstance(self.keys, ResqueKeys):
            cut = Template.cut(template.encode_resque(), [ARGS])
        else:
            stamped = template.replace(enqueued_at=now() if stamp is None else stamp)
            cut = Template.cut(stamped.encode(self.profile), [ARGS, JID])
        if cut is None:
            return self._push_jobs(class_name, batch, opts, stamp)
        return self._write(queue, cut.fill_many(batch.args, batch.jids))

    def _push_jobs(
        self, class_name: str, batch: Batch, opts: dict[str, Any], stamp: float | None
    ) -> Write:
        jids = [verk_jid() for _ in batch.jids] if self.target == "verk" else batch.jids
        pairs = zip(batch.source, jids, strict=True)
        return self.push([self.job(class_name, a, {**opts, "jid": j}) for a, j in pairs], stamp)

    def push(self, jobs: Sequence[Job], stamp: float | None = None) -> Write:
        """SADD + variadic push of jobs that share one queue, ``enqueued_at`` set now."""
        queue = jobs[0].queue or ""
        if isinstance(self.keys, ResqueKeys):
            return self._write(queue, [job.encode_resque() for job in jobs])
        stamp = now() if stamp is None else stamp
        if self.target == "verk":
            made = [verk_from_job(job, enqueued_at=stamp, strict=True) for job in jobs]
            return self._verk_lpush(queue, [job.encode() for job in made])
        payloads = [job.replace(enqueued_at=stamp).encode(self.profile) for job in jobs]
        return self._write(queue, payloads)

    def _verk_lpush(self, queue: str, payloads: list[bytes]) -> Write:
        """LPUSH ``queue:<q>`` only: Verk writes no ``queues`` set."""
        return Write("LPUSH", self.keys.queue(queue), payloads)

    def _write(self, queue: str, payloads: list[bytes]) -> Write:
        if isinstance(self.keys, ResqueKeys):
            return Write("RPUSH", self.keys.queue(queue), payloads, self.keys.queues, queue)
        return self._lpush(queue, payloads)

    def _lpush(self, queue: str, payloads: list[bytes]) -> Write:
        return Write("LPUSH", self.keys.queue(queue), payloads, self.keys.queues, queue)

    def at(self, job: Job, at: float) -> Write:
        """ZADD into ``schedule`` (no ``enqueued_at`` in the member), or a push if ``at`` passed."""
        if at <= now():
            return self.push([job])
        if isinstance(self.keys, ResqueKeys):
            raise VerkError("the Resque target cannot schedule jobs (Resque has no schedule set)")
        if self.target == "verk":  # Verk.schedule: integer due time, null enqueued_at
            made = verk_from_job(job, enqueued_at=None, scheduled=True, strict=True)
            return Write("ZADD", self.keys.schedule, (str(int(at)), made.encode()))
        payload = job.replace(enqueued_at=None).encode(self.profile)
        return Write("ZADD", self.keys.schedule, (score(at), payload))


def _batch(chunk: list[Any], start: int) -> Batch:
    """Check ``strict_args`` for every job of a chunk, then encode all args in one go."""
    chunk = [list(args) if type(args) is tuple else args for args in chunk]
    try:
        for args in chunk:
            check_args(args)
    except InvalidJob:
        for i, args in enumerate(chunk):  # raise again, naming the job
            check_args(args, f"job {start + i}: args")
        raise
    # One codec encode for the chunk, split back into each job's args bytes (no re-encoding).
    return Batch(chunk, _SPLIT(dumps(chunk)), new_jids(len(chunk)))
