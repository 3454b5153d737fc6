"""Testing mode without Redis: Sidekiq::Testing's ``fake!`` and ``inline!``, Dramatiq's StubBroker.

:class:`FakeClient` (and :class:`FakeAsyncClient`) has the client API (``enqueue``,
``enqueue_many``, ``schedule``, ``enqueue_in``). Hand it to the code under test where it would
get a :class:`~verk_compat.client.client.Client`. Every call goes through the client's own
planner (:class:`~verk_compat.client.planner.Planner`): the same argument checks
(``strict_args``), client middleware and payload bytes a real client would write, recorded in
:attr:`FakeClient.writes` as the Redis commands it would send.

* ``mode="fake"`` (the default) records the jobs per queue: :meth:`FakeClient.jobs`,
  :meth:`FakeClient.payloads`, :meth:`FakeClient.scheduled`, :meth:`FakeClient.clear`, and
  :meth:`FakeClient.drain` runs them (and the jobs they enqueue) in the order a worker would.
* ``mode="inline"`` runs each job at once, scheduled ones too, and raises what the job raises.

Jobs run as the worker runs them (:func:`perform`): the payload bytes decoded, the class
resolved through the app's registry only (Verk's ``function`` key included; an ActiveJob
wrapper through its Rails class, :mod:`verk_compat.worker.activejob`), the server
middleware chain around the call. Retries do not apply: a failure is raised to the test.

Keys touched: none (no Redis at all).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from typing import Any, Literal, Unpack

import msgspec

from verk_compat.client.options import JobOptions, options_of
from verk_compat.client.planner import (
    At,
    ClientMiddleware,
    Planner,
    Write,
    epoch,
)
from verk_compat.codec.job import Job, Profile, now
from verk_compat.worker.activejob import is_active_job, resolve_active_job
from verk_compat.worker.app import App
from verk_compat.worker.middleware import JobContext, run_chain

__all__ = ["FakeAsyncClient", "FakeClient", "Mode", "perform"]

Mode = Literal["fake", "inline"]


async def perform(app: App, raw: bytes, queue: str | None = None) -> None:
    """Run one payload as the worker's processor does, without Redis; exceptions propagate."""
    job = Job.decode(raw)
    queue = queue or job.queue or "default"
    if is_active_job(app, job):
        resolved = resolve_active_job(app, job)  # a Rails job, by its Rails class
    else:
        resolved = app.resolve(job.class_name, _function(job))
    ctx = JobContext(job, queue, raw)

    async def call() -> None:
        if resolved.is_async:
            await resolved.call(*ctx.job.args)
        else:
            resolved.call(*ctx.job.args)

    if app.middleware:
        await run_chain(app.middleware, ctx, call)
    else:
        await call()


def _function(job: Job) -> str | None:
    raw = job.extra.get("function") if job.extra else None
    value = None if raw is None else msgspec.json.decode(raw)
    return value if isinstance(value, str) else None


def _run(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` to its end from sync code (on a thread of its own inside a running loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


class _Recorder:
    """What the fake clients share: the planner, the recorded writes, and the job store."""

    def __init__(
        self,
        app: App | None,
        mode: Mode,
        namespace: str | None,
        profile: Profile,
        middleware: Sequence[ClientMiddleware],
    ) -> None:
        if mode not in ("fake", "inline"):
            raise ValueError(f"mode must be 'fake' or 'inline', not {mode!r}")
        if mode == "inline" and app is None:
            raise ValueError("inline mode runs jobs: it needs the App that registers them")
        self.app = app
        self.mode: Mode = mode
        self.planner = Planner.build(namespace=namespace, profile=profile, middleware=middleware)
        #: Every write, in order: the exact commands (and payload bytes) a client would send.
        self.writes: list[Write] = []
        self._queues: dict[str, list[bytes]] = {}
        self._scheduled: list[tuple[float, bytes]] = []

    # -- recording --------------------------------------------------------------------------

    def _plan_enqueue(self, class_name: str, args: Any, opts: dict[str, Any]) -> tuple[str, Write]:
        return self.planner.enqueue_write(class_name, args, opts)

    def _plan_many(self, class_name: str, many: Iterable[Any], opts: dict[str, Any]) -> Any:
        batches = self.planner.batches(class_name, many, opts)
        writes = [self.planner.push_batch(class_name, b, opts) for b in batches]
        return [j for b in batches for j in b.jids], writes

    def _plan_at(self, class_name: str, args: Any, at: At, opts: dict[str, Any]) -> Any:
        job = self.planner.job(class_name, args, opts)
        return str(job.jid), self.planner.at(job, epoch(at))

    def _record(self, write: Write) -> list[tuple[str, bytes]]:
        """Store ``write``'s jobs (fake) or return them to run (inline), in run order."""
        self.writes.append(write)
        if write.command == "ZADD":
            stamp, payload = write.args[0], _bytes(write.args[1])
            jobs = [(Job.decode(payload).queue or "default", payload)]
            if self.mode == "fake":
                self._scheduled.append((float(stamp), payload))
                self._scheduled.sort(key=lambda item: item[0])
                return []
            return jobs
        # LPUSH a b c leaves c b a, popped from the right: a runs first.
        payloads = [_bytes(p) for p in write.args]
        if self.mode == "fake":
            self._queues.setdefault(write.queue, []).extend(payloads)
            return []
        return [(write.queue, p) for p in payloads]

    # -- inspecting -------------------------------------------------------------------------

    def payloads(self, queue: str = "default") -> list[bytes]:
        """The exact bytes waiting in ``queue``, in the order a worker runs them."""
        return list(self._queues.get(queue, []))

    def jobs(self, queue: str | None = None, class_name: str | None = None) -> list[Job]:
        """Jobs waiting in ``queue`` (every queue when None), optionally of one class."""
        queues = [queue] if queue is not None else sorted(self._queues)
        found = [Job.decode(raw) for q in queues for raw in self._queues.get(q, [])]
        return [j for j in found if class_name is None or j.class_name == class_name]

    def scheduled(self) -> list[tuple[float, Job]]:
        """Scheduled jobs with their run time, soonest first."""
        return [(at, Job.decode(raw)) for at, raw in self._scheduled]

    @property
    def queues(self) -> list[str]:
        """Names of the queues holding jobs."""
        return sorted(q for q, items in self._queues.items() if items)

    def clear(self, queue: str | None = None) -> None:
        """Forget the jobs of ``queue`` (every queue and the scheduled jobs when None)."""
        if queue is None:
            self._queues.clear()
            self._scheduled.clear()
        else:
            self._queues.pop(queue, None)

    def _next(self, queue: str | None, scheduled: bool) -> tuple[str, bytes] | None:
        for name in [queue] if queue is not None else sorted(self._queues):
            items = self._queues.get(name or "")
            if items:
                return name or "", items.pop(0)
        if scheduled and self._scheduled:
            _, raw = self._scheduled.pop(0)
            return Job.decode(raw).queue or "default", raw
        return None

    async def _adrain(self, queue: str | None, app: App | None, scheduled: bool) -> int:
        app = app or self.app
        if app is None:
            raise ValueError("drain runs jobs: pass the App (or give it to the fake client)")
        count = 0
        while (item := self._next(queue, scheduled)) is not None:
            await perform(app, item[1], item[0])
            count += 1
        return count


class FakeClient(_Recorder):
    """A :class:`~verk_compat.client.client.Client` stand-in for unit tests, without Redis."""

    def __init__(
        self,
        app: App | None = None,
        *,
        mode: Mode = "fake",
        namespace: str | None = None,
        profile: Profile = "sidekiq7",
        middleware: Sequence[ClientMiddleware] = (),
    ) -> None:
        super().__init__(app, mode, namespace, profile, middleware)

    def enqueue(
        self,
        class_name: str,
        args: Sequence[Any] = (),
        *,
        queue: str = "default",
        retry: bool | int = True,
        jid: str | None = None,
        extra: Mapping[str, Any] | None = None,
        **options: Unpack[JobOptions],
    ) -> str:
        """Record (or, inline, run) one job; returns its jid."""
        jid, write = self._plan_enqueue(
            class_name, args, options_of(queue, retry, jid, options, extra, "enqueue")
        )
        self._apply([write])
        return jid

    def enqueue_many(
        self,
        class_name: str,
        many_args: Iterable[Sequence[Any]],
        *,
        queue: str = "default",
        retry: bool | int = True,
        extra: Mapping[str, Any] | None = None,
        **options: Unpack[JobOptions],
    ) -> list[str]:
        """One job per args list, all validated first (as ``Client.enqueue_many``)."""
        opts = options_of(queue, retry, None, options, extra, "enqueue_many")
        jids, writes = self._plan_many(class_name, many_args, opts)
        self._apply(writes)
        return list(jids)

    def schedule(
        self,
        class_name: str,
        args: Sequence[Any] = (),
        *,
        at: At,
        queue: str = "default",
        retry: bool | int = True,
        jid: str | None = None,
        extra: Mapping[str, Any] | None = None,
        **options: Unpack[JobOptions],
    ) -> str:
        """Record a job to run at ``at`` (inline: run it now, as Sidekiq's inline mode does)."""
        opts = options_of(queue, retry, jid, options, extra, "schedule")
        jid, write = self._plan_at(class_name, args, at, opts)
        self._apply([write])
        return str(jid)

    def enqueue_in(
        self,
        seconds: float,
        class_name: str,
        args: Sequence[Any] = (),
        *,
        queue: str = "default",
        retry: bool | int = True,
        jid: str | None = None,
        extra: Mapping[str, Any] | None = None,
        **options: Unpack[JobOptions],
    ) -> str:
        at = now() + float(seconds)
        return self.schedule(
            class_name, args, at=at, queue=queue, retry=retry, jid=jid, extra=extra, **options
        )

    def drain(
        self, queue: str | None = None, *, app: App | None = None, scheduled: bool = False
    ) -> int:
        """Run the waiting jobs of ``queue`` (all queues when None; ``scheduled`` ones too
        when asked), and the jobs they enqueue, until none is left; returns how many ran."""
        count = 0

        async def go() -> None:
            nonlocal count
            count = await self._adrain(queue, app, scheduled)

        _run(go())
        return count

    def close(self) -> None:
        """Nothing to close (the client API has it)."""

    def __enter__(self) -> FakeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _apply(self, writes: list[Write]) -> None:
        jobs = [job for write in writes for job in self._record(write)]
        if jobs:
            assert self.app is not None
            app = self.app

            async def go() -> None:
                for queue, raw in jobs:
                    await perform(app, raw, queue)

            _run(go())


class FakeAsyncClient(_Recorder):
    """An :class:`~verk_compat.client.async_client.AsyncClient` stand-in: the same methods,
    awaited; inline jobs run on the caller's event loop."""

    def __init__(
        self,
        app: App | None = None,
        *,
        mode: Mode = "fake",
        namespace: str | None = None,
        profile: Profile = "sidekiq7",
        middleware: Sequence[ClientMiddleware] = (),
    ) -> None:
        super().__init__(app, mode, namespace, profile, middleware)

    async def enqueue(
        self,
        class_name: str,
        args: Sequence[Any] = (),
        *,
        queue: str = "default",
        retry: bool | int = True,
        jid: str | None = None,
        extra: Mapping[str, Any] | None = None,
        **options: Unpack[JobOptions],
    ) -> str:
        jid, write = self._plan_enqueue(
            class_name, args, options_of(queue, retry, jid, options, extra, "enqueue")
        )
        await self._apply([write])
        return jid

    async def enqueue_many(
        self,
        class_name: str,
        many_args: Iterable[Sequence[Any]],
        *,
        queue: str = "default",
        retry: bool | int = True,
        extra: Mapping[str, Any] | None = None,
        **options: Unpack[JobOptions],
    ) -> list[str]:
        opts = options_of(queue, retry, None, options, extra, "enqueue_many")
        jids, writes = self._plan_many(class_name, many_args, opts)
        await self._apply(writes)
        return list(jids)

    async def schedule(
        self,
        class_name: str,
        args: Sequence[Any] = (),
        *,
        at: At,
        queue: str = "default",
        retry: bool | int = True,
        jid: str | None = None,
        extra: Mapping[str, Any] | None = None,
        **options: Unpack[JobOptions],
    ) -> str:
        opts = options_of(queue, retry, jid, options, extra, "schedule")
        jid, write = self._plan_at(class_name, args, at, opts)
        await self._apply([write])
        return str(jid)

    async def enqueue_in(
        self,
        seconds: float,
        class_name: str,
        args: Sequence[Any] = (),
        *,
        queue: str = "default",
        retry: bool | int = True,
        jid: str | None = None,
        extra: Mapping[str, Any] | None = None,
        **options: Unpack[JobOptions],
    ) -> str:
        at = now() + float(seconds)
        return await self.schedule(
            class_name, args, at=at, queue=queue, retry=retry, jid=jid, extra=extra, **options
        )

    async def drain(
        self, queue: str | None = None, *, app: App | None = None, scheduled: bool = False
    ) -> int:
        return await self._adrain(queue, app, scheduled)

    async def aclose(self) -> None:
        """Nothing to close (the client API has it)."""

    async def __aenter__(self) -> FakeAsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _apply(self, writes: list[Write]) -> None:
        for write in writes:
            for queue, raw in self._record(write):
                assert self.app is not None
                await perform(self.app, raw, queue)
