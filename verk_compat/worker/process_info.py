"""Pure builders for the process data Sidekiq Web and ``Sidekiq::ProcessSet`` read.

No I/O here: :mod:`verk_compat.worker.heartbeat` sends what these functions build
(docs/wire.md §3.2, §3.3, §4.8).

- :func:`process_info`: the ``info`` JSON of the ``<identity>`` hash, with every key a reader
  from Sidekiq 6.4 to 8.1 looks at: ``hostname``, ``started_at`` (float s), ``pid``, ``tag``,
  ``concurrency``, ``queues``, ``weights`` (7.0.3+ shape: one hash per capsule), ``labels``,
  ``identity``, ``version``, ``embedded`` and ``capsules`` (8.0.9+ Web derives queues from it).
  Verk's model maps onto Sidekiq 7 capsules exactly: one manager per queue with its own
  concurrency is one capsule per queue (mode ``strict``, the queue's weight 0). Paused queues
  (:meth:`verk_compat.worker.launcher.Worker.pause_queue`) are left out of ``queues``/``weights``/
  ``capsules``/``concurrency`` (Web shows what the process fetches from) and listed under the
  extra key ``paused``, which Sidekiq ignores.
- :func:`heartbeat_fields`: the other hash fields: ``busy``, ``beat`` (float s), ``quiet``
  (``"true"``/``"false"``), ``rss`` (KB), ``rtt_us`` and ``concurrency`` (the 8.1.2+ field).
- :func:`work_entry`: one value of the work hash, ``{"queue", "payload": <job JSON as a
  string>, "run_at": <integer s>}``; :func:`work_keys`: the hashes' names by wire profile
  (``<identity>:workers`` for Sidekiq 6.x readers, ``<identity>:work`` for 7.0+; both by
  default, so 6.x and 7.x Web both list the running jobs during an upgrade).

Keys touched: none (names only, through :class:`verk_compat.keys.Keys`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import msgspec

from verk_compat.codec.job import Profile
from verk_compat.codec.profiles import rules
from verk_compat.codec.timestamps import score
from verk_compat.keys import Keys

__all__ = ["heartbeat_fields", "process_info", "split_identity", "work_entry", "work_keys"]


def split_identity(identity: str) -> tuple[str, int]:
    """``(hostname, pid)`` of a ``hostname:pid:hex12`` identity (a hostname may hold ``:``)."""
    host, pid, _nonce = identity.rsplit(":", 2)
    return host, int(pid)


def process_info(
    identity: str,
    queues: Mapping[str, int],
    *,
    started_at: float,
    version: str,
    tag: str = "",
    labels: Collection[str] = (),
    embedded: bool = False,
    paused: Collection[str] = (),
) -> dict[str, Any]:
    """The ``info`` dict (JSON-encode it once per change) for ``queues`` (name -> slots)."""
    host, pid = split_identity(identity)
    active = {q: n for q, n in queues.items() if q not in paused}
    info: dict[str, Any] = {
        "hostname": host,
        "started_at": float(started_at),
        "pid": pid,
        "tag": tag,
        "concurrency": sum(active.values()),
        "queues": list(active),
        "weights": [{q: 0} for q in active],
        "labels": list(labels),
        "identity": identity,
        "version": version,
        "embedded": embedded,
        "capsules": {
            q: {"concurrency": n, "mode": "strict", "weights": {q: 0}} for q, n in active.items()
        },
    }
    held = [q for q in queues if q in paused]
    if held:
        info["paused"] = held
    return info


def heartbeat_fields(
    info_json: bytes,
    *,
    busy: int,
    quiet: bool,
    beat: float,
    rss: int,
    rtt_us: int,
    concurrency: int,
) -> dict[str, bytes | str | int]:
    """Fields HSET on ``<identity>`` each beat (types as Sidekiq writes them)."""
    return {
        "info": info_json,
        "busy": busy,
        "beat": score(beat),
        "quiet": "true" if quiet else "false",
        "rss": rss,
        "rtt_us": rtt_us,
        "concurrency": concurrency,
    }


def work_entry(queue: str, raw: bytes, run_at: float) -> bytes:
    """One work-hash value: the payload double-encoded (a JSON string), ``run_at`` integer s."""
    return msgspec.json.encode(
        {"queue": queue, "payload": raw.decode("utf-8", "replace"), "run_at": int(run_at)}
    )


def work_keys(keys: Keys, identity: str, profile: Profile) -> tuple[str, ...]:
    """Names of the running-jobs hashes the profile's Sidekiq Web versions read."""
    names = {"workers": keys.workers(identity), "work": keys.work(identity)}
    return tuple(names[name] for name in rules(profile).work_hashes)
