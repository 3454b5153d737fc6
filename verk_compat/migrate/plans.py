"""Which keys each migration moves, and how: builds the :class:`~.engine.Unit` list.

Redis keys read (to discover queues and data keys; nothing is written here):
    * Resque: ``<rns>:queues`` (SET), ``<rns>:queue:<q>`` (LIST), ``<rns>:failed`` (LIST),
      resque-scheduler's ``<rns>:delayed:<ts>`` / ``delayed_queue_schedule`` / ``timestamps:*``
      (:mod:`.delayed`), and every ``<rns>:*`` key (SCAN) to list those left alone.
    * Sidekiq / Verk 1.x: ``[ns:]queues``, ``[ns:]queue:<q>``, ``[ns:]schedule``, ``[ns:]retry``,
      ``[ns:]dead``, ``[ns:]stat:*``, ``[ns:]inprogress:<q>:<id>``.

List ends (docs/wire.md §5): Resque RPUSHes and LPOPs (index 0 oldest), Sidekiq LPUSHes and pops
from the right (index -1 oldest). Taking from one end and pushing to the other keeps run order.
Process hashes, work/workers hashes, signal lists, ``processes`` and locks are ephemeral and
never moved; any other unknown key is listed as skipped.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import msgspec
from redis import Redis

from verk_compat.codec.job import Profile
from verk_compat.keys import Keys, ResqueKeys
from verk_compat.migrate.convert import (
    identity,
    resque_failure_to_sidekiq,
    resque_to_sidekiq,
    sidekiq_to_resque,
    sidekiq_to_verk,
    verk1_to_sidekiq,
)
from verk_compat.migrate.delayed import delayed_units, index_keys
from verk_compat.migrate.engine import Kind, Unit
from verk_compat.migrate.leftovers import (
    family,
    leftovers,
    resque_reason,
    sidekiq_leftovers,
    sidekiq_reason,
)
from verk_compat.migrate.replies import text

__all__ = [
    "Failed",
    "Plan",
    "classify",
    "copy",
    "job_census",
    "namespace",
    "resque",
    "to_resque",
    "to_verk",
    "verk1",
    "verk_queues",
]

Failed = Literal["dead", "retry", "skip"]


@dataclass
class Plan:
    """The units to run, and the keys deliberately left alone."""

    units: list[Unit] = field(default_factory=list)
    #: Keys of the source stack the plan does not read (each listed by the CLI).
    skipped: list[str] = field(default_factory=list)
    #: Why a skipped key is left on purpose; a skipped key without one is *unhandled*.
    reasons: dict[str, str] = field(default_factory=dict)
    #: resque-scheduler's delayed jobs are part of the plan (their index is tidied after).
    delayed: bool = False
    #: Jobs the source holds in the keys this plan should cover (None: not counted). The
    #: units' ``before`` must add up to it, or a key was missed.
    expected: int | None = None


def _queues(
    src: Redis, members: str, pattern: str, prefix: str, only: Sequence[str] | None
) -> list[str]:
    if only:
        return list(dict.fromkeys(only))
    names = {text(m) for m in src.smembers(members)}
    names |= {text(k)[len(prefix) :] for k in src.scan_iter(match=pattern, _type="list")}
    return sorted(names)


def resque(
    src: Redis,
    *,
    resque_ns: str = "resque",
    namespace: str = "",
    queues: Sequence[str] | None = None,
    failed: Failed = "dead",
    profile: Profile = "sidekiq7",
) -> Plan:
    """Resque -> Sidekiq: each queue LPOP (oldest) -> LPUSH; ``failed`` -> ``dead``/``retry``;
    without ``queues``, resque-scheduler's delayed jobs -> ``schedule`` (:mod:`.delayed`).

    Every other key under the Resque namespace is listed in ``skipped`` (with a reason when it
    is left on purpose, :func:`~verk_compat.migrate.leftovers.resque_reason`).
    """
    rk, sk = ResqueKeys(resque_ns), Keys(namespace)
    plan = Plan(delayed=not queues)
    for q in _queues(src, rk.queues, rk.queue_pattern(), rk.queue(""), queues):
        conv = partial(resque_to_sidekiq, queue=q, profile=profile)
        plan.units.append(Unit(rk.queue(q), "LEFT", sk.queue(q), "LEFT", conv, (sk.queues, q)))
    if failed != "skip":
        target = sk.dead if failed == "dead" else sk.retry
        conv = partial(resque_failure_to_sidekiq, profile=profile)
        plan.units.append(Unit(rk.failed, "LEFT", target, "ZSET", conv))
    handled = {rk.queues}
    if plan.delayed:
        plan.units += delayed_units(src, rk, sk, profile=profile)
        handled.update(index_keys(src, rk))
    handled.update(unit.source for unit in plan.units)

    def why(name: str) -> str | None:
        if queues and name.startswith("queue:"):
            return "not selected (--queue)"
        if queues and name.startswith(("delayed:", "timestamps:", "delayed_queue_schedule")):
            return "delayed jobs span queues: migrated only without --queue"
        if name == "failed" and failed == "skip":
            return "--failed skip"
        return resque_reason(name)

    plan.skipped, plan.reasons = leftovers(src, rk.pattern(), rk.logical, handled, why)
    return plan


def to_resque(
    src: Redis,
    *,
    namespace: str = "",
    resque_ns: str = "resque",
    queues: Sequence[str] | None = None,
) -> Plan:
    """Sidekiq -> Resque: each queue RPOP (oldest) -> RPUSH ``{"class","args"}``.

    Sidekiq's ``schedule``/``retry``/``dead`` have no Resque equivalent: they are listed as
    unhandled, as is any other key under the namespace the plan does not read.
    """
    sk, rk = Keys(namespace), ResqueKeys(resque_ns)
    plan = Plan()
    for q in _queues(src, sk.queues, sk.queue_pattern(), sk.queue(""), queues):
        unit = Unit(sk.queue(q), "RIGHT", rk.queue(q), "RIGHT", sidekiq_to_resque, (rk.queues, q))
        plan.units.append(unit)
    handled = {unit.source for unit in plan.units} | {sk.queues}
    plan.skipped, plan.reasons = sidekiq_leftovers(src, sk, handled, queues)
    return plan


def classify(logical: str) -> tuple[Kind, Kind, str] | None:
    """``(source kind, target kind, Redis type)`` of a Sidekiq data key, ``None`` for others.

    Lists (``queue:*``, ``inprogress:*``) move RPOP -> LPUSH, which keeps their order.
    """
    if logical == "queues":
        return "SET", "SET", "set"
    if logical.startswith(("queue:", "inprogress:")):
        return "RIGHT", "LEFT", "list"
    if logical in ("schedule", "retry", "dead"):
        return "ZSET", "ZSET", "zset"
    if logical.startswith("stat:"):
        return "COUNTER", "COUNTER", "string"
    return None


def _wanted(keys: Keys, logical: str, queues: Sequence[str] | None) -> bool:
    if not queues:
        return True
    if logical.startswith("queue:"):
        return keys.queue_name(keys.key(logical)) in queues
    if logical.startswith("inprogress:"):
        return inprogress_owner(Keys(), logical, queues) in queues
    return False  # sets, sorted sets and counters span queues: moved only without --queue


def namespace(
    src: Redis,
    *,
    from_ns: str,
    to_ns: str,
    queues: Sequence[str] | None = None,
) -> Plan:
    """Rename Sidekiq data keys from namespace ``from_ns`` to ``to_ns`` ("" = plain).

    Values, members and scores move untouched. Moving queue lists also SADDs the queue name to
    the target ``queues`` set.
    """
    src_keys, dst_keys = Keys(from_ns), Keys(to_ns)
    plan = Plan()
    identities = {text(m) for m in src.smembers(src_keys.processes)}
    order = {"list": 0, "zset": 1, "set": 2, "string": 3}
    found: list[tuple[int, str, Unit]] = []
    for key in sorted(text(k) for k in src.scan_iter(match=src_keys.pattern(), count=1000)):
        logical = src_keys.logical(key)
        kinds = None if logical is None else classify(logical)
        if logical is None or kinds is None or not _wanted(src_keys, logical, queues):
            plan.skipped.append(key)
            why = None if logical is None else sidekiq_reason(logical, identities)
            if why is None and logical is not None and kinds is not None:
                why = "not selected (--queue)"
            if why is None and logical is not None and not from_ns and not family(logical):
                why = "not a Sidekiq key (a plain database holds other applications' keys)"
            if why is not None:
                plan.reasons[key] = why
            continue
        src_kind, dst_kind, type_ = kinds
        if text(src.type(key)) != type_:
            plan.skipped.append(key)
            continue
        register = None
        if logical.startswith("queue:"):
            register = (dst_keys.queues, src_keys.queue_name(key))
        unit = Unit(key, src_kind, dst_keys.key(logical), dst_kind, identity, register)
        found.append((order[type_], key, unit))
    plan.units = [unit for _, _, unit in sorted(found, key=lambda t: (t[0], t[1]))]
    return plan


def copy(src: Redis, *, ns: str = "", queues: Sequence[str] | None = None) -> Plan:
    """Redis A -> Redis B, same layout: :func:`namespace` with the same namespace both sides."""
    return namespace(src, from_ns=ns, to_ns=ns, queues=queues)


_IDENTITY = re.compile(r".+:\d+:[0-9a-f]{12}")  # the hostname may hold ":"


def inprogress_owner(keys: Keys, key: str, known: Collection[str] = ()) -> str | None:
    """The queue of an in-progress key: Verk's ``inprogress:<q>:<node id>`` or verk-compat's
    ``inprogress:<q>:<host>:<pid>:<hex12>``.

    A queue name and a hostname may both hold ``:``, so a verk-compat key can read several ways
    (:meth:`Keys.inprogress_splits`); the reading whose queue is ``known`` (from the queue
    lists, the ``queues`` set and the sets' members) wins, else the one with a plain hostname.
    """
    readings = [q for q, ident in keys.inprogress_splits(key) if _IDENTITY.fullmatch(ident)]
    if readings:
        return next((q for q in readings if q in known), readings[0])
    queue = key[len(keys.key("inprogress:")) :].rpartition(":")[0]
    return queue or None


_QUEUE_OF = msgspec.json.Decoder(dict[str, msgspec.Raw])


def _member_queues(src: Redis, keys: Keys) -> set[str]:
    """Queue names named by the members of ``schedule``, ``retry`` and ``dead``."""
    names: set[str] = set()
    for name in ("schedule", "retry", "dead"):
        for member, _score in src.zscan_iter(keys.key(name)):
            try:
                token = _QUEUE_OF.decode(member).get("queue")
                queue = None if token is None else msgspec.json.decode(token)
            except Exception:  # not JSON, or nested too deep: names no queue
                continue
            if isinstance(queue, str) and queue:
                names.add(queue)
    return names


def verk_queues(src: Redis, keys: Keys) -> list[str]:
    """Every queue of a Verk state: Verk writes no ``queues`` set, so the names come from
    ``queue:*`` lists, ``inprogress:*`` lists (a queue whose list is empty has none) and the
    sorted sets' members, as well as ``queues`` when a Sidekiq client wrote one."""
    names = _named_queues(src, keys)
    return sorted(names | set(inprogress_keys(src, keys, names, claim_all=True)))


def _named_queues(src: Redis, keys: Keys) -> set[str]:
    """Queues named by ``queues``, a ``queue:*`` list or a set member."""
    names = {text(m) for m in src.smembers(keys.queues)}
    prefix = keys.queue("")
    found = src.scan_iter(match=keys.queue_pattern(), _type="list")
    return names | {text(k)[len(prefix) :] for k in found} | _member_queues(src, keys)


def inprogress_keys(
    src: Redis, keys: Keys, known: Collection[str], *, claim_all: bool = False
) -> dict[str, list[str]]:
    """``{queue: [in-progress keys]}``, each key given to exactly one queue (its
    :func:`inprogress_owner`); only queues in ``known`` unless ``claim_all``."""
    owned: dict[str, list[str]] = {}
    for key in sorted(
        text(k) for k in src.scan_iter(match=keys.inprogress_pattern(), _type="list")
    ):
        owner = inprogress_owner(keys, key, known)
        if owner and (claim_all or owner in known):
            owned.setdefault(owner, []).append(key)
    return owned


def job_census(src: Redis, keys: Keys) -> int:
    """Jobs held in every ``queue:*`` and ``inprogress:*`` list and in ``schedule``, ``retry``
    and ``dead``: what a full migration must account for."""
    pipe = src.pipeline(transaction=False)
    for pattern in (keys.queue_pattern(), keys.inprogress_pattern()):
        for key in src.scan_iter(match=pattern, _type="list"):
            pipe.llen(key)
    for name in ("schedule", "retry", "dead"):
        pipe.zcard(keys.key(name))
    return sum(int(n) for n in pipe.execute())


def verk1(
    src: Redis,
    *,
    in_place: bool,
    namespace: str = "",
    queues: Sequence[str] | None = None,
    profile: Profile = "sidekiq7",
) -> Plan:
    """Verk 1.x -> Sidekiq. Verk uses Sidekiq's plain key names, so on one server (no target
    namespace) payloads are converted in place (LPOS + LSET, order untouched); otherwise each
    queue moves RPOP -> LPUSH. Verk in-progress lists go back to the pop end of their queue
    (LPOP -> RPUSH, as Verk's own requeue does); ``schedule``/``retry``/``dead`` members are
    converted with their scores. Payloads already in Sidekiq form are left (or moved) as is.
    Queues are found by :func:`verk_queues`; without ``queues`` the plan's ``expected`` is the
    :func:`job_census`, so a missed key shows as a count mismatch.
    """
    vk, sk = Keys(), Keys(namespace)
    plan = Plan(expected=None if queues else job_census(src, vk))
    names = list(dict.fromkeys(queues)) if queues else verk_queues(src, vk)
    owned = inprogress_keys(src, vk, set(names) | _named_queues(src, vk))
    for q in names:
        conv = partial(verk1_to_sidekiq, queue=q, profile=profile)
        kinds: tuple[Kind, Kind] = ("LPOS", "LSET") if in_place else ("RIGHT", "LEFT")
        plan.units.append(Unit(vk.queue(q), kinds[0], sk.queue(q), kinds[1], conv, (sk.queues, q)))
        for key in owned.get(q, []):
            plan.units.append(Unit(key, "LEFT", sk.queue(q), "RIGHT", conv, (sk.queues, q)))
    if not queues:
        conv = partial(verk1_to_sidekiq, profile=profile)
        for name in ("schedule", "retry", "dead"):
            plan.units.append(Unit(vk.key(name), "ZSET", sk.key(name), "ZSET", conv))
    handled = {unit.source for unit in plan.units} | {vk.queues}
    plan.skipped, plan.reasons = sidekiq_leftovers(src, vk, handled, queues)
    return plan


def to_verk(
    src: Redis,
    *,
    in_place: bool,
    namespace: str = "",
    queues: Sequence[str] | None = None,
) -> Plan:
    """Sidekiq -> Verk 1.x (the mirror of :func:`verk1`): Sidekiq keys under ``namespace`` to
    Verk's plain keys; on one server without a namespace payloads are converted in place (LPOS +
    LSET). In-progress lists go back to the pop end of their queue; ``schedule``/``retry``/
    ``dead`` members keep their scores. Payloads already in Verk's format are left as they are.
    Verk writes no ``queues`` set, so none is written (Sidekiq's is left alone).
    """
    sk, vk = Keys(namespace), Keys()
    plan = Plan(expected=None if queues else job_census(src, sk))
    names = list(dict.fromkeys(queues)) if queues else verk_queues(src, sk)
    owned = inprogress_keys(src, sk, set(names) | _named_queues(src, sk))
    for q in names:
        conv = partial(sidekiq_to_verk, queue=q)
        kinds: tuple[Kind, Kind] = ("LPOS", "LSET") if in_place else ("RIGHT", "LEFT")
        plan.units.append(Unit(sk.queue(q), kinds[0], vk.queue(q), kinds[1], conv))
        for key in owned.get(q, []):
            plan.units.append(Unit(key, "LEFT", vk.queue(q), "RIGHT", conv))
    if not queues:
        for name in ("schedule", "retry", "dead"):
            conv = partial(sidekiq_to_verk, scheduled=name == "schedule")
            plan.units.append(Unit(sk.key(name), "ZSET", vk.key(name), "ZSET", conv))
    handled = {unit.source for unit in plan.units} | {sk.queues}
    plan.skipped, plan.reasons = sidekiq_leftovers(src, sk, handled, queues)
    return plan
