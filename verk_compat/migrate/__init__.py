"""Queue migrations: Resque <-> Sidekiq, namespaced <-> plain, Verk 1.x <-> Sidekiq, Redis A -> B.

:func:`migrate` builds a plan (:mod:`.plans`), runs it (:mod:`.engine`) and returns a
:class:`Result` with per-key counts and the final count check
``before == moved + quarantined + unchanged + left``.

Guarantees (details in :mod:`.engine`):
    * One server: each element moves in one Lua script (``migrate_move``) that checks the source
      still holds the exact bytes the conversion started from: never lost, never doubled, at any
      crash point; a rerun just continues.
    * Two servers: mark (source) -> apply with a sequence record (target) -> remove (source);
      a rerun completes a pending step without writing it twice: exactly once at the target,
      as long as nothing else removes source elements during the run and no server loses
      acknowledged writes (failover).
    * A payload that cannot be converted goes to ``verk:quarantine:<source key>`` (source
      server) as ``{"reason","source_key","raw"}``, never dropped.

Redis keys: see :mod:`.plans` (data keys) and :mod:`.engine` (bookkeeping, quarantine).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from redis import Redis

from verk_compat.codec.job import Profile
from verk_compat.keys import ResqueKeys
from verk_compat.migrate import delayed, plans
from verk_compat.migrate.engine import Hook, Migrator, Unit, UnitReport, same_server

__all__ = ["MODES", "Mode", "Result", "Unit", "UnitReport", "migrate"]

Mode = Literal[
    "resque-to-sidekiq",
    "sidekiq-to-resque",
    "namespace",
    "verk-to-sidekiq",
    "sidekiq-to-verk",
    "move",
]
MODES: tuple[Mode, ...] = (
    "resque-to-sidekiq",
    "sidekiq-to-resque",
    "namespace",
    "verk-to-sidekiq",
    "sidekiq-to-verk",
    "move",
)


@dataclass
class Result:
    """What a migration did (or, in a dry run, would do)."""

    mode: str
    dry_run: bool
    reports: list[UnitReport] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    #: Why a skipped key is left on purpose (stat counters, ephemeral process keys, ...).
    reasons: dict[str, str] = field(default_factory=dict)
    #: Jobs counted in the source's keys before the run (verk-to-sidekiq without ``--queue``).
    expected: int | None = None

    def total(self, name: str) -> int:
        return sum(int(getattr(rep, name)) for rep in self.reports)

    @property
    def covered(self) -> bool:
        """The keys moved held every job the source had (``expected``), when it was counted."""
        return self.expected is None or self.total("before") == self.expected

    @property
    def ok(self) -> bool:
        """The count check holds for every key, and no job was left in a key nobody moved
        (false if the source changed meanwhile)."""
        return self.covered and all(rep.ok for rep in self.reports)

    @property
    def unhandled(self) -> list[str]:
        """Skipped keys with no reason to be left: data the migration did not move (the CLI
        exits non-zero for them unless ``--skip-unhandled``)."""
        return [key for key in self.skipped if key not in self.reasons]

    def as_dict(self) -> dict[str, Any]:
        names = ("before", "moved", "quarantined", "unchanged", "left", "conflicts", "recovered")
        return {
            "mode": self.mode,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "expected": self.expected,
            "totals": {name: self.total(name) for name in names},
            "keys": [rep.as_dict() for rep in self.reports],
            "skipped": self.skipped,
            "unhandled": self.unhandled,
            "ignored": self.reasons,
        }


def migrate(
    mode: Mode,
    src: Redis,
    dst: Redis | None = None,
    *,
    namespace: str = "",
    to_namespace: str = "",
    resque_namespace: str = "resque",
    queues: Sequence[str] | None = None,
    failed: plans.Failed = "dead",
    profile: Profile = "sidekiq7",
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
    hook: Hook | None = None,
    every: int = 1000,
    tick: Callable[[UnitReport], None] | None = None,
) -> Result:
    """Run one migration.

    Args:
        mode: One of :data:`MODES`.
        src: The source Redis.
        dst: The target Redis; ``None`` (or the same server and database) for one server.
        namespace: Sidekiq namespace: the target's for ``resque-to-sidekiq`` and
            ``verk-to-sidekiq``, the source's for ``sidekiq-to-resque``, ``sidekiq-to-verk``,
            ``namespace`` and ``move``.
        to_namespace: ``namespace`` mode only: the target namespace ("" = plain keys).
        resque_namespace: Resque's namespace (``resque``).
        queues: Only these queues (default: every queue found).
        failed: Resque ``failed`` entries go to ``dead``, ``retry``, or nowhere (``skip``).
        profile: The Sidekiq payload profile written by conversions.
        dry_run: Count and sample, write nothing.
        progress: Called with progress lines (a key's start, then every ``every`` jobs).
        hook: Called after each step (tests use it to simulate a crash).
        every: Jobs between two count lines; 0: no count lines (``tick`` shows progress).
        tick: Called with the key's counts before each element (a progress bar's feed).

    Returns:
        The counts per key.

    Raises:
        ValueError: source and target are the same keys on the same server.
    """
    local = dst is None or dst is src or same_server(src, dst)
    if mode == "resque-to-sidekiq":
        plan = plans.resque(
            src,
            resque_ns=resque_namespace,
            namespace=namespace,
            queues=queues,
            failed=failed,
            profile=profile,
        )
    elif mode == "sidekiq-to-resque":
        plan = plans.to_resque(src, namespace=namespace, resque_ns=resque_namespace, queues=queues)
    elif mode == "namespace" or mode == "move":
        target = namespace if mode == "move" else to_namespace
        if local and target == namespace:
            raise ValueError("source and target are the same keys: nothing to migrate")
        plan = plans.namespace(src, from_ns=namespace, to_ns=target, queues=queues)
    elif mode == "verk-to-sidekiq":
        in_place = local and not namespace
        plan = plans.verk1(
            src, in_place=in_place, namespace=namespace, queues=queues, profile=profile
        )
    elif mode == "sidekiq-to-verk":
        in_place = local and not namespace
        plan = plans.to_verk(src, in_place=in_place, namespace=namespace, queues=queues)
    else:
        raise ValueError(f"unknown migration {mode!r}; expected one of {MODES}")
    migrator = Migrator(
        src,
        None if local else dst,
        dry_run=dry_run,
        progress=progress,
        hook=hook,
        every=every,
        tick=tick,
    )
    reports = migrator.run(plan.units)
    if plan.delayed and not dry_run:
        delayed.tidy(src, ResqueKeys(resque_namespace))
    return Result(mode, dry_run, reports, plan.skipped, plan.reasons, plan.expected)
