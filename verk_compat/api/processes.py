"""``ProcessSet``: live worker processes (Ruby Sidekiq's or verk-compat's), and their signals.

A process is listed when its identity is in ``processes`` and its ``<identity>`` hash still has
``info`` (docs/wire.md §4.8). Live Verk nodes (in ``verk_nodes`` with ``verk:node:<id>`` still
set) follow, as :class:`Process` with ``kind`` ``"verk"``: their queues from
``verk:node:<id>:queues``, ``busy`` from their in-progress lists, ``beat`` estimated from the
key's remaining TTL (Verk sets it for 60 s every 30 s); they take no signals.
``quiet``/``stop`` do what ``Sidekiq::Process#quiet!``/``#stop!`` do: one MULTI of
``LPUSH <identity>-signals TSTP|TERM`` and ``EXPIRE <identity>-signals 60``; the process pops it
at its next heartbeat.

Keys touched: ``processes`` (SSCAN, SCARD, SREM in :meth:`ProcessSet.cleanup`), ``verk_nodes``,
``verk:node:<id>`` (PTTL), ``verk:node:<id>:queues``, ``inprogress:<q>:<id>`` (LLEN),
``<identity>`` (HMGET), ``<identity>-signals`` (LPUSH, EXPIRE), ``process_cleanup`` (SET NX EX).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.exceptions import ResponseError

from verk_compat.api.records import Base
from verk_compat.api.values import (
    as_float,
    as_int,
    info_queues,
    parse_info,
    read_float,
    read_int,
    shown,
    text,
    wire,
)
from verk_compat.keys import Keys

__all__ = ["FIELDS", "SIGNAL_TTL", "Process", "ProcessSet"]

#: Hash fields read per process (``concurrency`` is the Sidekiq 8.1.2+ field).
FIELDS = ("info", "busy", "beat", "quiet", "rss", "rtt_us", "concurrency")
#: Seconds a signal waits for the process (Sidekiq's EXPIRE).
SIGNAL_TTL = 60
#: Seconds of life a Verk node gives ``verk:node:<id>`` at each heartbeat (PSETEX).
VERK_NODE_TTL = 60.0


@dataclass(frozen=True, slots=True)
class Process:
    """One live process as its heartbeat describes it.

    ``problems`` names every field that could not be read (shown as 0 or empty instead).
    """

    identity: str
    info: dict[str, Any]
    busy: int
    beat: float
    quiet: bool
    rss: int
    rtt_us: int
    concurrency: int
    problems: tuple[str, ...] = ()
    #: ``"sidekiq"`` (Ruby Sidekiq or verk-compat) or ``"verk"`` (an Elixir Verk node).
    kind: str = "sidekiq"

    @property
    def queues(self) -> list[str]:
        """The queues it fetches from."""
        return info_queues(self.info)

    @property
    def tag(self) -> str:
        """The ``tag`` of its ``info`` (``""`` if none)."""
        return str(self.info.get("tag") or "")

    def summary(self, now: float) -> dict[str, Any]:
        """Plain JSON-ready fields, with ``beat_age`` in seconds at ``now`` (``None`` when
        ``beat`` could not be read)."""
        data = {
            "identity": shown(self.identity),
            "kind": self.kind,
            "hostname": self.info.get("hostname"),
            "pid": self.info.get("pid"),
            "tag": self.tag,
            "queues": self.queues,
            "concurrency": self.concurrency,
            "busy": self.busy,
            "beat": self.beat,
            "beat_age": None if self._unread("beat") else max(0.0, now - self.beat),
            "quiet": self.quiet,
            "rss": self.rss,
            "rtt_us": self.rtt_us,
        }
        if self.problems:
            data["unreadable"] = list(self.problems)
        return data

    def _unread(self, name: str) -> bool:
        return any(problem.startswith(f"{name}:") for problem in self.problems)


def build_process(identity: str, values: list[Any] | Exception) -> Process | None:
    """The process of one HMGET reply (:data:`FIELDS` order), or ``None`` without ``info``.

    A reply that is an error (the key is not a hash) or fields that cannot be read still give
    a process, with each such field named in ``problems``.
    """
    problems = [] if shown(identity) == identity else ["identity: not UTF-8"]
    if isinstance(values, Exception):
        problems.append(f"{shown(identity)}: {values}")
        values = [b"{}", None, None, None, None, None, None]
    info = parse_info(values[0])
    if info is None:
        if values[0] is None:
            return None  # the hash lost ``info``: the process is gone
        problems.append("info: not a JSON object")
        info = {}
    busy, beat, quiet, rss, rtt_us, concurrency = values[1:]
    if busy is not None and read_int(busy) is None:
        problems.append(f"busy: {_short(busy)}")
    if beat is not None and read_float(beat) is None:
        problems.append(f"beat: {_short(beat)}")
    threads = read_int(concurrency) or read_int(info.get("concurrency"))
    if threads is None and (concurrency is not None or "concurrency" in info):
        problems.append(f"concurrency: {_short(concurrency or info.get('concurrency'))}")
    return Process(
        identity=identity,
        info=info,
        busy=as_int(busy),
        beat=as_float(beat),
        quiet=quiet in (b"true", "true"),
        rss=as_int(rss),
        rtt_us=as_int(rtt_us),
        concurrency=threads or 0,
        problems=tuple(problems),
    )


def _short(value: Any) -> str:
    return repr(value)[:60]


class ProcessSet(Base):
    """The ``processes`` set, read as ``Sidekiq::ProcessSet`` does."""

    def __init__(self, redis: Redis, keys: Keys | None = None) -> None:
        super().__init__(redis, keys)
        #: What could not be read, one line each (the processes themselves carry their own).
        self.problems: list[str] = []

    def identities(self) -> list[str]:
        """Every identity in ``processes`` (live or not yet pruned), sorted.

        Names that are not UTF-8 are kept exactly (see :func:`~verk_compat.api.values.text`);
        when ``processes`` is not a set, none (and :attr:`problems` says why).
        """
        try:
            return sorted(text(m) for m in self.redis.sscan_iter(self.keys.processes))
        except ResponseError as exc:  # WRONGTYPE: something else wrote the key
            self.problems.append(f"unreadable {self.keys.processes}: {exc}")
            return []

    def size(self) -> int:
        """SCARD of ``processes`` (the dashboard's count; may include stale entries)."""
        return int(self.redis.scard(self.keys.processes))

    def __iter__(self) -> Iterator[Process]:
        identities = self.identities()
        pipe = self.redis.pipeline(transaction=False)
        for identity in identities:
            pipe.hmget(wire(self.keys.process(identity)), list(FIELDS))
        replies = pipe.execute(raise_on_error=False)
        for identity, values in zip(identities, replies, strict=True):
            process = build_process(identity, values)
            if process is not None:
                yield process
        yield from self.verk_nodes()

    def verk_nodes(self, now: float | None = None) -> Iterator[Process]:
        """Live Verk nodes (``verk:node:<id>`` not expired), as processes of kind ``verk``."""
        stamp = time.time() if now is None else now
        ids = sorted(text(m) for m in self.redis.smembers(self.keys.verk_nodes))
        pipe = self.redis.pipeline(transaction=False)
        for node in ids:
            pipe.pttl(self.keys.verk_node(node))
            pipe.smembers(self.keys.verk_node_queues(node))
        replies = pipe.execute()
        live = []
        for i, node in enumerate(ids):
            ttl, queues = int(replies[2 * i]), sorted(text(q) for q in replies[2 * i + 1])
            if ttl != -2:  # -2: the key expired, the node is gone
                live.append((node, ttl, queues))
        pipe = self.redis.pipeline(transaction=False)
        for node, _, queues in live:
            for queue in queues:
                pipe.llen(self.keys.inprogress(queue, node))
        lengths = iter(pipe.execute())
        for node, ttl, queues in live:
            busy = sum(int(next(lengths)) for _ in queues)
            age = VERK_NODE_TTL - ttl / 1000 if ttl >= 0 else 0.0
            info = {"identity": node, "queues": queues, "verk_node": True}
            yield Process(node, info, busy, stamp - max(0.0, age), False, 0, 0, 0, kind="verk")

    def get(self, identity: str) -> Process | None:
        """The live process ``identity``, or ``None``."""
        if not self.redis.sismember(self.keys.processes, identity):
            return None
        try:
            values: Any = self.redis.hmget(self.keys.process(identity), list(FIELDS))
        except ResponseError as exc:
            values = exc
        return build_process(identity, values)

    def busy(self) -> int:
        """Jobs running across live processes (the sum of ``busy``)."""
        return sum(p.busy for p in self)

    def cleanup(self) -> int:
        """SREM identities whose hash lost ``info``, at most once a minute across callers.

        Sidekiq 6.5.4+ does this under ``SET process_cleanup 1 NX EX 60``; returns how many
        identities were pruned (0 when another caller holds the lock).
        """
        if not self.redis.set(self.keys.process_cleanup, "1", nx=True, ex=60):
            return 0
        identities = self.identities()
        pipe = self.redis.pipeline(transaction=False)
        for identity in identities:
            pipe.hget(wire(self.keys.process(identity)), "info")
        replies = pipe.execute(raise_on_error=False)
        gone = [wire(i) for i, info in zip(identities, replies, strict=True) if info is None]
        return int(self.redis.srem(self.keys.processes, *gone)) if gone else 0

    def quiet(self, identity: str) -> None:
        """Ask ``identity`` to stop fetching new jobs (``TSTP``)."""
        self.signal(identity, "TSTP")

    def stop(self, identity: str) -> None:
        """Ask ``identity`` to shut down (``TERM``)."""
        self.signal(identity, "TERM")

    def signal(self, identity: str, name: str) -> None:
        """LPUSH ``name`` to ``<identity>-signals`` and EXPIRE it in 60 s, in one MULTI."""
        key = self.keys.signals(identity)
        pipe = self.redis.pipeline(transaction=True)
        pipe.lpush(key, name)
        pipe.expire(key, SIGNAL_TTL)
        pipe.execute()
