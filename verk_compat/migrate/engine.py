"""The migration engine: moves each element of a :class:`Unit` exactly once, or quarantines it.

One server (source and target are the same Redis and database): every element moves in ONE
``migrate_move`` script, which removes it from the source only if it is still the exact element
the converter saw, and writes the converted payload in the same script. A crash at any point
leaves each job either in the source or in the target, never both, never neither.

Two servers: for each element, ``migrate_mark`` (source) records it as pending under a sequence
number in ``verk:migrate:progress:<source key>``; ``migrate_apply`` (target) writes it and
records the number in ``verk:migrate:applied`` in one script; ``migrate_finish`` (source)
removes it and clears the pending mark. A rerun first completes a pending step: it applies it
only if the target's record shows it was not applied. So every element is written to the target
exactly once, provided neither server loses acknowledged writes and nothing else removes
elements from the source while the migration runs (stop consumers first; producers may go on).

A payload the converter refuses moves (one script, on the source server) into
``verk:quarantine:<source key>`` wrapped with its reason. Redis keys: the units' keys, those two
bookkeeping hashes and the quarantine lists (see :mod:`verk_compat.keys`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from redis import Redis

from verk_compat.errors import InvalidJob
from verk_compat.keys import Keys
from verk_compat.lua import script
from verk_compat.migrate.convert import Converted, Converter, quarantine_entry
from verk_compat.migrate.replies import as_bytes, text

__all__ = ["Hook", "Kind", "Migrator", "Unit", "UnitReport"]

Kind = Literal["LEFT", "RIGHT", "ZSET", "SET", "COUNTER", "LPOS", "LSET"]
#: ``hook(step, unit_report)`` after each step: ``moved``/``quarantined`` (one server) or
#: ``marked``/``applied``/``moved`` (two servers). Tests raise in it to simulate a crash.
Hook = Callable[[str, "UnitReport"], None]
_BOOK = Keys()  # bookkeeping keys are never namespaced


@dataclass(frozen=True)
class Unit:
    """One source key moving into one target key.

    Attributes:
        source: Key on the source server.
        src_kind: ``LEFT``/``RIGHT`` (the list end to take from), ``ZSET``, ``SET``, ``COUNTER``,
            or ``LPOS`` (in place: the target is the same key, elements replaced by ``LSET``).
        target: Key on the target server.
        dst_kind: ``LEFT``/``RIGHT`` (the list end to push to), ``ZSET``, ``SET``, ``COUNTER``,
            or ``LSET`` (with ``LPOS``).
        convert: The payload converter (raises :class:`InvalidJob` to quarantine).
        register: ``(set key, member)`` SADDed on the target before the first move.
    """

    source: str
    src_kind: Kind
    target: str
    dst_kind: Kind
    convert: Converter
    register: tuple[str, str] | None = None

    @property
    def in_place(self) -> bool:
        return self.src_kind == "LPOS" or (
            self.source == self.target and self.src_kind == "ZSET" == self.dst_kind
        )


@dataclass
class UnitReport:
    """Counts for one unit. ``ok``: ``before == moved + quarantined + unchanged + left``."""

    source: str
    target: str
    before: int = 0
    moved: int = 0
    quarantined: int = 0
    unchanged: int = 0
    left: int = 0
    conflicts: int = 0
    recovered: int = 0
    samples: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.before == self.moved + self.quarantined + self.unchanged + self.left

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "before": self.before,
            "moved": self.moved,
            "quarantined": self.quarantined,
            "unchanged": self.unchanged,
            "left": self.left,
            "conflicts": self.conflicts,
            "recovered": self.recovered,
            "ok": self.ok,
            "samples": self.samples,
            "reasons": self.reasons,
        }


def _size(client: Redis, key: str, kind: Kind) -> int:
    if kind in ("LEFT", "RIGHT", "LPOS"):
        return int(client.llen(key))
    if kind == "ZSET":
        return int(client.zcard(key))
    if kind == "SET":
        return int(client.scard(key))
    return int(client.exists(key))


def same_server(a: Redis, b: Redis) -> bool:
    """Whether two clients reach the same server and database (scripts can span them)."""
    db_a = a.connection_pool.connection_kwargs.get("db", 0)
    db_b = b.connection_pool.connection_kwargs.get("db", 0)
    run_a = a.info("server")["run_id"]
    return bool(db_a == db_b and run_a == b.info("server")["run_id"])


class Migrator:
    """Runs units from ``src`` to ``dst`` (the same client, or another server)."""

    def __init__(
        self,
        src: Redis,
        dst: Redis | None = None,
        *,
        dry_run: bool = False,
        samples: int = 2,
        progress: Callable[[str], None] | None = None,
        every: int = 1000,
        hook: Hook | None = None,
        tick: Callable[[UnitReport], None] | None = None,
    ) -> None:
        self.src = src
        self.dst = src if dst is None else dst
        self.local = dst is None or dst is src or same_server(src, dst)
        self.dry_run, self.samples, self.every = dry_run, samples, every
        self.progress, self.hook, self.tick = progress, hook, tick
        self._runs: dict[str, str] = {}

    def _say(self, line: str) -> None:
        if self.progress is not None:
            self.progress(line)

    def _step(self, name: str, rep: UnitReport) -> None:
        if name in ("moved", "quarantined"):
            done = rep.moved + rep.quarantined
            if self.every > 0 and done % self.every == 0:
                self._say(f"  {rep.source} -> {rep.target}: {done}/{rep.before}")
        if self.hook is not None:
            self.hook(name, rep)

    # -- reading the source -----------------------------------------------------------------

    def _elements(self, unit: Unit) -> Iterator[tuple[bytes, str | None]]:
        """Source elements in move order with their ZSET score (or COUNTER TTL in ms)."""
        src, key, kind = self.src, unit.source, unit.src_kind
        if kind in ("LEFT", "RIGHT") and not self.dry_run:
            index = 0 if kind == "LEFT" else -1
            while (item := src.lindex(key, index)) is not None:
                yield as_bytes(item), None
        elif kind in ("LEFT", "RIGHT", "LPOS"):
            items = [as_bytes(i) for i in src.lrange(key, 0, -1)]
            yield from ((i, None) for i in (items if kind == "LEFT" else reversed(items)))
        elif kind == "ZSET":
            pairs: list[Any] = src.zrange(key, 0, -1, withscores=True, score_cast_func=bytes)
            yield from ((as_bytes(member), text(score)) for member, score in pairs)
        elif kind == "SET":
            yield from ((member, None) for member in sorted(map(as_bytes, src.smembers(key))))
        else:
            value = src.get(key)
            if value is not None:
                yield as_bytes(value), str(src.pttl(key))

    def _ticking(
        self, elements: Iterator[tuple[bytes, str | None]], rep: UnitReport
    ) -> Iterator[tuple[bytes, str | None]]:
        """``elements``, calling :attr:`tick` with the counts before each and after the last."""
        if self.tick is None:
            yield from elements
            return
        for element in elements:
            self.tick(rep)
            yield element
        self.tick(rep)

    # -- one unit -----------------------------------------------------------------------------

    def run_unit(self, unit: Unit) -> UnitReport:
        """Move (or, in a dry run, count) every element of ``unit``; return its counts."""
        rep = UnitReport(unit.source, unit.target)
        in_place = unit.in_place and self.local
        if not self.local and not self.dry_run:
            self._recover(unit, rep)
        rep.before = _size(self.src, unit.source, unit.src_kind)
        self._say(f"{unit.source} -> {unit.target}: {rep.before} element(s)")
        if unit.register is not None and not self.dry_run and rep.before:
            self.dst.sadd(*unit.register)
        for raw, score in self._ticking(self._elements(unit), rep):
            try:
                out = unit.convert(raw)
            except InvalidJob as exc:
                self._quarantine(unit, rep, raw, score, str(exc))
                continue
            except Exception as exc:  # whatever a converter trips on, one element never stops a run
                self._quarantine(unit, rep, raw, score, f"unreadable ({type(exc).__name__}: {exc})")
                continue
            if in_place and out.payload == raw:
                rep.unchanged += 1
                continue
            if len(rep.samples) < self.samples:
                rep.samples.append(text(out.payload))
            if self.dry_run:
                rep.moved += 1
            elif self.local:
                self._move_local(unit, rep, raw, score, out)
            else:
                self._move_remote(unit, rep, raw, score, out)
        if self.dry_run:
            rep.left = rep.before - rep.moved - rep.quarantined - rep.unchanged
        else:
            size = _size(self.src, unit.source, unit.src_kind)
            rep.left = size - rep.moved - rep.unchanged if in_place else size
            if not self.local:
                self._cleanup(unit)
        return rep

    def _quarantine(
        self, unit: Unit, rep: UnitReport, raw: bytes, score: str | None, reason: str
    ) -> None:
        if len(rep.reasons) < self.samples:
            rep.reasons.append(reason)
        if self.dry_run:
            rep.quarantined += 1
            return
        kind = "LPOS" if unit.src_kind == "LPOS" else unit.src_kind
        entry = quarantine_entry(raw, unit.source, reason, score)
        keys = [unit.source, _BOOK.quarantine(unit.source)]
        if script("migrate_move")(self.src, keys, [kind, raw, "RIGHT", entry, ""]):
            rep.quarantined += 1
            self._step("quarantined", rep)

    def _move_local(
        self, unit: Unit, rep: UnitReport, raw: bytes, score: str | None, out: Converted
    ) -> None:
        score = out.score or score or ""
        args = [unit.src_kind, raw, unit.dst_kind, out.payload, score]
        if script("migrate_move")(self.src, [unit.source, unit.target], args):
            rep.moved += 1
            self._step("moved", rep)
        else:
            rep.conflicts += 1

    # -- two servers --------------------------------------------------------------------------

    def _run_id(self, unit: Unit) -> str:
        run = self._runs.get(unit.source)
        if run is None:
            progress = _BOOK.migrate_progress(unit.source)
            self.src.hsetnx(progress, "run", secrets.token_hex(8))
            run = self._runs[unit.source] = text(self.src.hget(progress, "run") or b"")
        return run

    def _apply(self, unit: Unit, seq: int, payload: bytes, extra: str) -> None:
        field_ = f"{self._run_id(unit)}|{unit.source}"
        args = [unit.dst_kind, payload, extra, field_, seq]
        script("migrate_apply")(self.dst, [unit.target, _BOOK.migrate_applied], args)

    def _finish(self, unit: Unit, rep: UnitReport, seq: int) -> None:
        keys = [unit.source, _BOOK.migrate_progress(unit.source)]
        done = script("migrate_finish")(self.src, keys, [unit.src_kind, seq])
        if done == 0:
            rep.conflicts += 1

    def _move_remote(
        self, unit: Unit, rep: UnitReport, raw: bytes, score: str | None, out: Converted
    ) -> None:
        extra = out.score or score or ""
        keys = [unit.source, _BOOK.migrate_progress(unit.source)]
        self._run_id(unit)
        seq = int(script("migrate_mark")(self.src, keys, [unit.src_kind, raw, extra]))
        if seq < 0:
            raise RuntimeError(f"{unit.source}: a move is pending; is another migration running?")
        if seq == 0:
            rep.conflicts += 1
            return
        self._step("marked", rep)
        self._apply(unit, seq, out.payload, extra)
        self._step("applied", rep)
        self._finish(unit, rep, seq)
        rep.moved += 1
        self._step("moved", rep)

    def _recover(self, unit: Unit, rep: UnitReport) -> None:
        """Complete a step a crashed run left pending (apply it only if not yet applied)."""
        progress = _BOOK.migrate_progress(unit.source)
        pending, raw, extra = self.src.hmget(progress, ["pending", "raw", "score"])
        if pending is None or raw is None:
            return
        seq = int(pending)
        try:
            out = unit.convert(as_bytes(raw))
        except Exception:  # converted before the crash, so not expected; keep it in place
            self.src.hdel(progress, "pending", "raw", "score")
            return
        self._apply(unit, seq, out.payload, out.score or text(extra or b""))
        self._finish(unit, rep, seq)
        rep.recovered += 1
        self._say(f"{unit.source}: completed the step a previous run left pending")

    def _cleanup(self, unit: Unit) -> None:
        """Drop the bookkeeping once the source is empty and nothing is pending."""
        progress = _BOOK.migrate_progress(unit.source)
        if _size(self.src, unit.source, unit.src_kind) or self.src.hexists(progress, "pending"):
            return
        run = self.src.hget(progress, "run")
        if run is not None:
            self.dst.hdel(_BOOK.migrate_applied, f"{text(run)}|{unit.source}")
        self.src.delete(progress)
        self._runs.pop(unit.source, None)

    def run(self, units: list[Unit]) -> list[UnitReport]:
        """Run every unit in order."""
        return [self.run_unit(unit) for unit in units]
