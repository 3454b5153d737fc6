"""Periodic jobs shared with Ruby's sidekiq-cron: the entry store and the poller.

:class:`CronStore` reads and writes entries where sidekiq-cron 1.8 keeps them, so an entry
saved here shows in Ruby's ``Sidekiq::Cron::Job.all`` (and Sidekiq Web's Cron tab) and one
saved by Ruby is enqueued by a Python worker. :class:`CronPoller` runs in every worker
process, as sidekiq-cron's poller runs in every Sidekiq process: each poll (every 15 to 45 s,
sidekiq-cron's 30 s average) looks at every entry and, for one whose latest tick is due
(:func:`verk_compat.codec.cron_entry.due_tick`), claims the tick and pushes the job in one step
(``lua/cron_enqueue.lua``): the tick's ``ZADD`` is sidekiq-cron's own de-duplication, so any
mix of Ruby and Python pollers enqueues each tick once.

Keys touched: ``cron_jobs`` (SMEMBERS, SADD), ``cron_job:<name>`` (HGETALL, HSET, EXISTS),
``cron_job:<name>:enqueued`` (ZADD, ZREMRANGEBYSCORE, EXISTS),
``cron_job:<name>:jid_history`` (LPUSH, LTRIM, LRANGE), ``queue:<q>`` (LPUSH), ``queues``
(SADD).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from verk_compat.codec.cron_entry import (
    HISTORY_SIZE,
    REMEMBER,
    CronEntry,
    CronEntryError,
    due_tick,
    enqueue_time_text,
    entries_from_schedule,
    history_item,
    tick_member,
)
from verk_compat.codec.cron_expr import CronError
from verk_compat.codec.job import Profile, now
from verk_compat.codec.timestamps import score
from verk_compat.keys import Keys
from verk_compat.lua import script

__all__ = ["POLL_INTERVAL", "CronPoller", "CronStore", "load_schedule"]

log = logging.getLogger(__name__)

#: sidekiq-cron's ``cron_poll_interval`` default (seconds, averaged: each wait is 0.5x-1.5x).
POLL_INTERVAL = 30.0


class CronStore:
    """Cron entries in Redis, in sidekiq-cron's layout."""

    def __init__(self, redis: Redis, keys: Keys, profile: Profile = "sidekiq7") -> None:
        self.redis = redis
        self.keys = keys
        self.profile = profile

    async def all(self) -> list[CronEntry | CronEntryError]:
        """Every stored entry (sorted by name); an unreadable one as its error."""
        members: Any = await self.redis.smembers(self.keys.cron_jobs)
        ordered = sorted(members)
        pipe: Any
        async with self.redis.pipeline(transaction=False) as pipe:
            for member in ordered:
                pipe.hgetall(self.keys.cron_job_of_member(member))
            hashes = await pipe.execute()
        out: list[CronEntry | CronEntryError] = []
        for member, raw in zip(ordered, hashes, strict=True):
            if not raw:
                continue  # listed but gone: sidekiq-cron skips it too
            try:
                out.append(CronEntry.from_redis(raw))
            except CronEntryError as exc:
                out.append(CronEntryError(f"{member.decode(errors='replace')}: {exc}"))
        return out

    async def find(self, name: str) -> CronEntry | None:
        """The entry called ``name``, or None (:class:`CronEntryError` if unreadable)."""
        raw: Any = await self.redis.hgetall(self.keys.cron_job(name))
        return CronEntry.from_redis(raw) if raw else None

    async def save(self, entry: CronEntry, stamp: float | None = None) -> None:
        """Store ``entry`` as ``Sidekiq::Cron::Job#save`` does.

        A status and ``last_enqueue_time`` already stored are kept (a ``disable`` outlives a
        restart); a new entry's current tick is marked enqueued so saving never enqueues.
        """
        stamp = now() if stamp is None else stamp
        key = self.keys.cron_job(entry.name)
        stored: Any = await self.redis.hmget(key, ["status", "last_enqueue_time"])
        status, last = stored
        fields = entry.to_redis()
        if status:
            fields["status"] = status.decode()
        if last:
            fields["last_enqueue_time"] = last.decode()
        enqueued = self.keys.cron_enqueued(entry.name)
        seen = await self.redis.exists(enqueued)
        pipe: Any
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(self.keys.cron_jobs, self.keys.cron_member(entry.name))
            pipe.hset(key, mapping=fields)
            if not seen:
                tick = entry.expr().previous_time(stamp)
                pipe.zadd(enqueued, {tick_member(tick): stamp})
            await pipe.execute()

    async def save_all(self, entries: Iterable[CronEntry]) -> None:
        for entry in entries:
            await self.save(entry)

    async def set_status(self, name: str, status: str) -> bool:
        """Enable or disable ``name`` (``enabled``/``disabled``); False if there is none."""
        key = self.keys.cron_job(name)
        if not await self.redis.exists(key):
            return False
        await self.redis.hset(key, "status", status)
        return True

    async def history(self, name: str) -> list[dict[str, Any]]:
        """The last enqueues of ``name``, newest first."""
        items: Any = await self.redis.lrange(self.keys.cron_history(name), 0, -1)
        return [json.loads(item) for item in items]

    async def enqueue_now(self, entry: CronEntry, stamp: float | None = None) -> str:
        """Push ``entry``'s job at once, whatever its schedule (``enque!``); returns the jid."""
        stamp = now() if stamp is None else stamp
        job = entry.job(stamp)
        payload = job.replace(enqueued_at=stamp).encode(self.profile)
        history = self.keys.cron_history(entry.name)
        pipe: Any
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(self.keys.queue(entry.queue), payload)
            pipe.sadd(self.keys.queues, entry.queue)
            pipe.hset(self.keys.cron_job(entry.name), "last_enqueue_time", _last(stamp))
            pipe.lpush(history, history_item(str(job.jid), stamp))
            pipe.ltrim(history, 0, HISTORY_SIZE - 1)
            await pipe.execute()
        return str(job.jid)

    async def enqueue_tick(self, entry: CronEntry, tick: float, stamp: float) -> str | None:
        """Claim ``tick`` and push the job if no poller (Ruby or Python) claimed it first;
        returns the jid pushed, or None."""
        job = entry.job(stamp)
        payload = job.replace(enqueued_at=stamp).encode(self.profile)
        name = entry.name
        keys = [
            self.keys.cron_job(name),
            self.keys.cron_enqueued(name),
            self.keys.queue(entry.queue),
            self.keys.queues,
            self.keys.cron_history(name),
        ]
        args: list[str | bytes | int] = [
            score(tick),
            tick_member(tick),
            payload,
            entry.queue,
            _last(stamp),
            history_item(str(job.jid), stamp),
            HISTORY_SIZE - 1,
            score(stamp - REMEMBER),
        ]
        done = await script("cron_enqueue").acall(self.redis, keys, args)
        return str(job.jid) if int(done) else None


def load_schedule(path: str | Path) -> list[CronEntry]:
    """Entries from a sidekiq-cron schedule file: YAML (``.yml``/``.yaml``, needs PyYAML:
    ``pip install verk-compat[yaml]``) or TOML (``.toml``), a table of name -> entry.

    Raises:
        CronEntryError: an unreadable file or a bad entry, naming the file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif path.suffix in (".yml", ".yaml"):
            data = _yaml(text)
        else:
            raise CronEntryError(f"{path}: a schedule file is .yml, .yaml or .toml")
    except (OSError, ValueError) as exc:
        if isinstance(exc, CronEntryError):
            raise
        raise CronEntryError(f"{path}: {exc}") from None
    return entries_from_schedule(data, str(path))


def _yaml(text: str) -> Any:
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        hint = "pip install 'verk-compat[yaml]'"
        raise CronEntryError(f"YAML schedules need PyYAML: {hint}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CronEntryError(f"bad YAML: {exc}") from None


def _last(stamp: float) -> str:
    return enqueue_time_text(stamp)


class CronPoller:
    """Enqueues due cron entries; :meth:`poll` once, or :meth:`run` forever."""

    def __init__(
        self,
        store: CronStore,
        entries: Iterable[CronEntry] = (),
        *,
        interval: float = POLL_INTERVAL,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        #: Entries defined in code, saved to Redis when :meth:`run` starts.
        self.entries = list(entries)
        self.interval = interval
        self.rng = rng or random.Random()
        self._warned: set[str] = set()
        #: Jobs this poller pushed since it was made.
        self.pushed = 0

    async def poll(self, stamp: float | None = None) -> int:
        """Enqueue every entry whose tick is due at ``stamp`` (now); returns how many."""
        stamp = now() if stamp is None else stamp
        pushed = 0
        for entry in await self.store.all():
            if isinstance(entry, CronEntryError):
                self._warn_once(str(entry))
                continue
            try:
                tick = due_tick(entry, entry.expr(), stamp)
                if tick is None:
                    continue
                jid = await self.store.enqueue_tick(entry, tick, stamp)
            except CronError as exc:
                # Refused before the tick was claimed: a Ruby poller may still enqueue it.
                self._warn_once(f"cron entry {entry.name!r} skipped: {exc}")
                continue
            if jid is not None:
                pushed += 1
                self.pushed += 1
                log.info("cron %s: enqueued %s (jid %s)", entry.name, entry.klass, jid)
        return pushed

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning("%s", message)

    def wait_time(self) -> float:
        """Uniform in [0.5 i, 1.5 i], as Sidekiq's pollers wait."""
        return self.interval * self.rng.random() + self.interval / 2

    async def run(self) -> None:
        """Save the code-defined entries, then poll forever (errors logged, polling goes on)."""
        saved = False
        while True:
            try:
                if not saved:
                    await self.store.save_all(self.entries)
                    saved = True
                await self.poll()
            except (RedisError, OSError) as exc:
                log.warning("cron poll failed (%s); retrying", exc)
            except Exception:
                log.exception("cron poll crashed; retrying")
            await asyncio.sleep(self.wait_time())
