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

from verk_compat.api.records import Base
from verk_compat.api.values import as_float, as_int, info_queues, parse_info

__all__ = ["FIELDS", "SIGNAL_TTL", "Process", "ProcessSet"]

#: Hash fields read per process (``concurrency`` is the Sidekiq 8.1.2+ field).
FIELDS = ("info", "busy", "beat", "quiet", "rss", "rtt_us", "concurrency")
#: Seconds a signal waits for the process (Sidekiq's EXPIRE).
SIGNAL_TTL = 60
#: Seconds of life a Verk node gives ``verk:node:<id>`` at each heartbeat (PSETEX).
VERK_NODE_TTL = 60.0


@dataclass(frozen=True, slots=True)
class Process:
    """One live process as its heartbeat describes it."""

    identity: str
    info: dict[str, Any]
    busy: int
    beat: float
    quiet: bool
    rss: int
    rtt_us: int
    concurrency: int
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
        """Plain JSON-ready fields, with ``beat_age`` in seconds at ``now``."""
        return {
            "identity": self.identity,
            "kind": self.kind,
            "hostname": self.info.get("hostname"),
            "pid": self.info.get("pid"),
            "tag": self.tag,
            "queues": self.queues,
            "concurrency": self.concurrency,
            "busy": self.busy,
            "beat": self.beat,
            "beat_age": max(0.0, now - self.beat),
            "quiet": self.quiet,
            "rss": self.rss,
            "rtt_us": self.rtt_us,
        }


def build_process(identity: str, values: list[Any]) -> Process | None:
    """The process of one HMGET reply (:data:`FIELDS` order), or ``None`` without ``info``."""
    info = parse_info(values[0])
    if info is None:
        return None
    busy, beat, quiet, rss, rtt_us, concurrency = values[1:]
    return Process(
        identity=identity,
        info=info,
        busy=as_int(busy),
        beat=as_float(beat),
        quiet=quiet in (b"true", "true"),
        rss=as_int(rss),
        rtt_us=as_int(rtt_us),
        concurrency=as_int(concurrency) or as_int(info.get("concurrency")),
    )


class ProcessSet(Base):
    """The ``processes`` set, read as ``Sidekiq::ProcessSet`` does."""

    def identities(self) -> list[str]:
        """Every identity in ``processes`` (live or not yet pruned), sorted."""
        return sorted(_text(m) for m in self.redis.sscan_iter(self.keys.processes))

    def size(self) -> int:
        """SCARD of ``processes`` (the dashboard's count; may include stale entries)."""
        return int(self.redis.scard(self.keys.processes))

    def __iter__(self) -> Iterator[Process]:
        identities = self.identities()
        pipe = self.redis.pipeline(transaction=False)
        for identity in identities:
            pipe.hmget(self.keys.process(identity), list(FIELDS))
        for identity, values in zip(identities, pipe.execute(), strict=True):
            process = build_process(identity, values)
            if process is not None:
                yield process
        yield from self.verk_nodes()

    def verk_nodes(self, now: float | None = None) -> Iterator[Process]:
        """Live Verk nodes (``verk:node:<id>`` not expired), as processes of kind ``verk``."""
        stamp = time.time() if now is None else now
        ids = sorted(_text(m) for m in self.redis.smembers(self.keys.verk_nodes))
        pipe = self.redis.pipeline(transaction=False)
        for node in ids:
            pipe.pttl(self.keys.verk_node(node))
            pipe.smembers(self.keys.verk_node_queues(node))
        replies = pipe.execute()
        live = []
        for i, node in enumerate(ids):
            ttl, queues = int(replies[2 * i]), sorted(_text(q) for q in replies[2 * i + 1])
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
        values: Any = self.redis.hmget(self.keys.process(identity), list(FIELDS))
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
            pipe.hget(self.keys.process(identity), "info")
        gone = [i for i, info in zip(identities, pipe.execute(), strict=True) if info is None]
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


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
