"""Keys of the source stack a migration did not handle: each listed, with a reason when it is
left deliberately.

A key the plan neither read nor has a reason to leave (:func:`resque_reason`,
:func:`sidekiq_reason`) is *unhandled*: the CLI lists it and exits non-zero unless told
``--skip-unhandled``. The reasons are pure functions of the key's logical (un-namespaced) name.

Keys touched: ``<ns>:*`` (SCAN, to list the source's keys), ``[ns:]processes`` (SMEMBERS, to
recognize process keys).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from redis import Redis

from verk_compat.keys import Keys
from verk_compat.migrate.replies import key_text

__all__ = ["family", "leftovers", "resque_reason", "sidekiq_leftovers", "sidekiq_reason"]

_RESQUE_EPHEMERAL = ("workers", "workers:heartbeat", "schedules_changed")
_RESQUE_LOCKS = ("resque_scheduler_master_lock", "resque_scheduler:master_lock")


def resque_reason(logical: str) -> str | None:
    """Why a Resque key not migrated is left on purpose, or None (then it is unhandled)."""
    if logical == "stat" or logical.startswith("stat:"):
        return "Resque's counters (Sidekiq keeps its own stat:*)"
    if logical in _RESQUE_EPHEMERAL or logical.startswith("worker:"):
        return "Resque worker registry (ephemeral)"
    if logical in _RESQUE_LOCKS:
        return "resque-scheduler lock (ephemeral)"
    if logical == "delayed:last_enqueued_at":
        return "resque-scheduler's last enqueue times of recurring schedules (bookkeeping)"
    return None


def sidekiq_reason(logical: str, identities: Collection[str]) -> str | None:
    """Why a Sidekiq key not migrated is left on purpose, or None (then it is unhandled).

    ``identities``: the members of ``processes``; their hashes, work hashes and signal lists
    are ephemeral (a live process writes them again).
    """
    if logical == "processes":
        return "process registry (ephemeral)"
    base = logical.removesuffix(":work").removesuffix(":workers").removesuffix("-signals")
    if base in identities:
        return "a process's heartbeat keys (ephemeral)"
    if logical in ("process_cleanup", "verk:orphan_lock"):
        return "lock (ephemeral)"
    if logical.startswith("verk:migrate:"):
        return "migration bookkeeping"
    if logical.startswith("verk:quarantine:"):
        return "payloads a migration or the poller could not read (inspect them by hand)"
    return None


def leftovers(
    src: Redis,
    pattern: str,
    logical: Callable[[str], str | None],
    handled: Collection[str],
    reason: Callable[[str], str | None],
) -> tuple[list[str], dict[str, str]]:
    """``(keys not handled, {key: reason} for those left on purpose)``: every key matching
    ``pattern`` that is not in ``handled``, sorted."""
    skipped: list[str] = []
    reasons: dict[str, str] = {}
    for raw in src.scan_iter(match=pattern, count=1000):
        key = key_text(raw)
        if key in handled:
            continue
        skipped.append(key)
        name = logical(key)
        why = None if name is None else reason(name)
        if why is not None:
            reasons[key] = why
    return sorted(skipped), reasons


def family(logical: str) -> bool:
    """A key of the Sidekiq family that no plan moves (sidekiq-cron entries, this project's own
    keys): unhandled when left, even in a plain database."""
    return logical.startswith(("cron_job", "verk:"))


_DATA = ("queues", "schedule", "retry", "dead")


def sidekiq_leftovers(
    src: Redis, keys: Keys, handled: Collection[str], queues: Sequence[str] | None
) -> tuple[list[str], dict[str, str]]:
    """:func:`leftovers` under ``keys``' namespace for a Sidekiq (or Verk 1.x) source."""
    identities = {key_text(m) for m in src.smembers(keys.processes)}

    def why(logical: str) -> str | None:
        found = sidekiq_reason(logical, identities)
        if found is not None:
            return found
        if logical.startswith("stat:"):
            return "counters: this mode moves jobs only"
        if logical == "verk_nodes" or logical.startswith("verk:node:"):
            return "Verk node registry (ephemeral)"
        if queues and logical.startswith(("queue:", "inprogress:")):
            return "not selected (--queue)"
        data = logical in _DATA or logical.startswith(("queue:", "inprogress:"))
        if not data and not keys.namespace and not family(logical):
            return "not a Sidekiq key (a plain database holds other applications' keys)"
        return None

    return leftovers(src, keys.pattern(), keys.logical, handled, why)
