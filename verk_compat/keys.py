"""Every Redis key verk-compat touches, and nothing else builds a key string.

Key names follow Sidekiq 6.4 to 8.1 (docs/wire.md §3). A namespace works like redis-namespace: it
prefixes key *names* (``ns:queue:default``) and never values, set members or hash fields, so a
process identity stored in ``processes`` stays unprefixed while its hash key gets the prefix.
In-progress lists (``inprogress:<queue>:<identity>``) are verk-compat's own reliable-fetch lists.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Keys", "ResqueKeys", "glob_escape"]


@dataclass(frozen=True, slots=True)
class Keys:
    """Builds Sidekiq key names, optionally under a redis-namespace style prefix."""

    namespace: str = ""

    def _k(self, name: str) -> str:
        return f"{self.namespace}:{name}" if self.namespace else name

    @property
    def queues(self) -> str:
        """SET of queue names (client SADD on every push)."""
        return self._k("queues")

    def queue(self, name: str) -> str:
        """LIST of job payloads: LPUSH by clients, popped from the right."""
        return self._k(f"queue:{name}")

    def queue_name(self, key: str | bytes) -> str:
        """The queue name of a ``queue:<name>`` key (inverse of :meth:`queue`)."""
        text = key.decode() if isinstance(key, bytes) else key
        prefix = self.queue("")
        if not text.startswith(prefix):
            raise ValueError(f"not a queue key: {text!r}")
        return text[len(prefix) :]

    @property
    def schedule(self) -> str:
        """ZSET of scheduled jobs, scored by float epoch seconds."""
        return self._k("schedule")

    @property
    def retry(self) -> str:
        """ZSET of jobs waiting for a retry, scored by float epoch seconds."""
        return self._k("retry")

    @property
    def dead(self) -> str:
        """ZSET of dead jobs, scored by time of death."""
        return self._k("dead")

    @property
    def processes(self) -> str:
        """SET of live process identities (members unprefixed)."""
        return self._k("processes")

    def process(self, identity: str) -> str:
        """HASH of one process (info, busy, beat, quiet, rss, rtt_us, concurrency)."""
        return self._k(identity)

    def work(self, identity: str) -> str:
        """HASH of running jobs, Sidekiq >= 7 name."""
        return self._k(f"{identity}:work")

    def workers(self, identity: str) -> str:
        """HASH of running jobs, Sidekiq 6.x name."""
        return self._k(f"{identity}:workers")

    def signals(self, identity: str) -> str:
        """LIST of signals (TSTP, TERM, TTIN) sent to a process by Web/API."""
        return self._k(f"{identity}-signals")

    def inprogress(self, queue: str, identity: str) -> str:
        """LIST holding jobs a process has fetched from ``queue`` and not yet acknowledged."""
        return self._k(f"inprogress:{queue}:{identity}")

    def inprogress_pattern(self) -> str:
        """SCAN pattern matching every in-progress list (glob characters escaped)."""
        return glob_escape(self._k("inprogress:")) + "*"

    @property
    def orphan_lock(self) -> str:
        """STRING lock (SET NX EX) held while one process requeues a dead process's jobs."""
        return self._k("verk:orphan_lock")

    @property
    def process_cleanup(self) -> str:
        """STRING lock Sidekiq >= 6.5.4 takes before pruning ``processes``."""
        return self._k("process_cleanup")

    @property
    def stat_processed(self) -> str:
        return self._k("stat:processed")

    @property
    def stat_failed(self) -> str:
        return self._k("stat:failed")

    def stat_processed_day(self, day: _dt.date) -> str:
        return self._k(f"stat:processed:{day.isoformat()}")

    def stat_failed_day(self, day: _dt.date) -> str:
        return self._k(f"stat:failed:{day.isoformat()}")

    def inprogress_parts(self, key: str | bytes) -> tuple[str, str]:
        """``(queue, identity)`` of an ``inprogress:<queue>:<identity>`` key.

        The identity is the last three ``:``-separated parts (``hostname:pid:hex12``), so a
        queue name may itself contain ``:``.
        """
        text = key.decode() if isinstance(key, bytes) else key
        prefix = self._k("inprogress:")
        if not text.startswith(prefix):
            raise ValueError(f"not an in-progress key: {text!r}")
        parts = text[len(prefix) :].rsplit(":", 3)
        if len(parts) != 4 or not parts[0]:
            raise ValueError(f"not an in-progress key: {text!r}")
        return parts[0], ":".join(parts[1:])

    # -- Verk 1.x nodes (read only: listed by the admin API) ------------------------------------

    @property
    def verk_nodes(self) -> str:
        """SET of Verk node ids (Verk with ``generate_node_id: true``)."""
        return self._k("verk_nodes")

    def verk_node(self, node_id: str) -> str:
        """STRING ``alive`` a Verk node keeps with PSETEX (twice its heartbeat)."""
        return self._k(f"verk:node:{node_id}")

    def verk_node_queues(self, node_id: str) -> str:
        """SET of the queues a Verk node serves."""
        return self._k(f"verk:node:{node_id}:queues")

    # -- periodic jobs (sidekiq-cron 1.x names; verk_compat.worker.cron) ----------------------

    @property
    def cron_jobs(self) -> str:
        """SET of every cron entry's hash key, unprefixed (``cron_job:<name>``)."""
        return self._k("cron_jobs")

    @staticmethod
    def cron_member(name: str) -> str:
        """The ``cron_jobs`` member of entry ``name`` (a key name, never prefixed: a member)."""
        return f"cron_job:{name}"

    def cron_job(self, name: str) -> str:
        """HASH of one cron entry (name, klass, cron, args, message, status, ...)."""
        return self._k(f"cron_job:{name}")

    def cron_job_of_member(self, member: str | bytes) -> str:
        """The hash key of a ``cron_jobs`` member (the namespace added to it)."""
        text = member.decode() if isinstance(member, bytes) else member
        return self._k(text)

    def cron_enqueued(self, name: str) -> str:
        """ZSET of the ticks already enqueued (member: tick ISO 8601 UTC; score: epoch)."""
        return self._k(f"cron_job:{name}:enqueued")

    def cron_history(self, name: str) -> str:
        """LIST of the last enqueues, newest first (``{"jid","enqueued"}`` JSON)."""
        return self._k(f"cron_job:{name}:jid_history")

    def inprogress_splits(self, key: str | bytes) -> list[tuple[str, str]]:
        """Every ``(queue, identity)`` reading of an ``inprogress:<queue>:<identity>`` key.

        Both a queue name and a hostname (or ``DYNO``) may contain ``:``, so the key alone
        does not say where the queue ends. The identity always ends in ``:<pid>:<nonce>``
        (digits, then no ``:``); every ``:`` before that is a possible boundary. The reading
        of :meth:`inprogress_parts` (a hostname without ``:``) comes first, then the others
        with ever longer hostnames. Empty if the key is not an in-progress key.
        """
        text = key.decode(errors="surrogateescape") if isinstance(key, bytes) else key
        prefix = self._k("inprogress:")
        match = _IDENTITY_TAIL.search(text, len(prefix))
        if not text.startswith(prefix) or match is None:
            return []
        body, tail = text[len(prefix) : match.start()], text[match.start() :]
        cuts = [i for i, c in enumerate(body) if c == ":"]
        return [(body[:i], body[i + 1 :] + tail) for i in reversed(cuts) if 0 < i < len(body) - 1]

    def inprogress_owners(self, key: str | bytes) -> list[tuple[str, str]]:
        """The :meth:`inprogress_splits` readings whose owner has this project's identity shape
        (``host:pid:hex12``; a Verk node's ``inprogress:<q>:<node id>`` is Verk's); empty if
        none."""
        return [s for s in self.inprogress_splits(key) if _OWNER.fullmatch(s[1])]

    @staticmethod
    def choose_inprogress_reading(
        readings: list[tuple[str, str]], known: Sequence[object]
    ) -> tuple[str, str]:
        """The reading to use; ``known``: for each reading, whether its queue is in ``queues``.

        A hostname and a queue name may both hold ":": the reading whose queue clients have
        pushed to (the ``queues`` set) is the right one; else the first (a ":"-free hostname).
        """
        return next((s for s, k in zip(readings, known, strict=True) if k), readings[0])

    # -- migration (verk_compat.migrate) -------------------------------------------------------

    def quarantine(self, source: str) -> str:
        """LIST of payloads a migration could not convert, from source key ``source``; also
        the due ``retry``/``schedule`` members the poller could not read (``source`` = the set's
        name).

        Each element is a JSON wrapper ``{"reason","source_key","raw"}`` (RPUSH, oldest first).
        """
        return self._k(f"verk:quarantine:{source}")

    def migrate_progress(self, source: str) -> str:
        """HASH on the *source* server: a cross-server migration's marker for key ``source``.

        Fields ``run`` (run id), ``seq`` (last sequence number), ``pending``/``raw``/``score``
        (the element being moved, if any).
        """
        return self._k(f"verk:migrate:progress:{source}")

    @property
    def migrate_applied(self) -> str:
        """HASH on the *target* server: ``<run>|<source key>`` -> last applied sequence number."""
        return self._k("verk:migrate:applied")

    def key(self, logical: str) -> str:
        """Any logical (un-namespaced) key name under this namespace, for migration renames."""
        return self._k(logical)

    def logical(self, key: str | bytes) -> str | None:
        """The logical name of ``key`` under this namespace (inverse of :meth:`key`), or None."""
        text = key.decode() if isinstance(key, bytes) else key
        if not self.namespace:
            return text
        prefix = self.namespace + ":"
        return text[len(prefix) :] if text.startswith(prefix) else None

    def inprogress_queue_pattern(self, queue: str) -> str:
        """SCAN pattern of every in-progress list of ``queue`` (Verk 1.x uses the same names)."""
        return glob_escape(self._k(f"inprogress:{queue}:")) + "*"

    def pattern(self) -> str:
        """SCAN pattern of every key under this namespace (every key when there is none)."""
        return glob_escape(self.namespace) + ":*" if self.namespace else "*"

    def queue_pattern(self) -> str:
        """SCAN pattern of every queue list (glob characters escaped)."""
        return glob_escape(self.queue("")) + "*"


@dataclass(frozen=True, slots=True)
class ResqueKeys:
    """Resque's key names (always namespaced, ``resque`` by default; docs/wire.md §5)."""

    namespace: str = "resque"

    def _k(self, name: str) -> str:
        return f"{self.namespace}:{name}" if self.namespace else name

    @property
    def queues(self) -> str:
        return self._k("queues")

    def queue(self, name: str) -> str:
        """LIST: RPUSH on enqueue, LPOP by workers (the mirror image of Sidekiq)."""
        return self._k(f"queue:{name}")

    @property
    def failed(self) -> str:
        return self._k("failed")

    # -- resque-scheduler's delayed jobs (``Resque.enqueue_at``/``enqueue_in``) -----------------

    @property
    def delayed_schedule(self) -> str:
        """ZSET ``delayed_queue_schedule``: each timestamp holding jobs (member = score = unix
        seconds)."""
        return self._k("delayed_queue_schedule")

    def delayed(self, timestamp: int | str) -> str:
        """LIST ``delayed:<unix seconds>`` of the jobs due then (RPUSH; LPOP when due)."""
        return self._k(f"delayed:{timestamp}")

    def delayed_pattern(self) -> str:
        """SCAN pattern of every ``delayed:*`` key (``delayed:last_enqueued_at`` is a HASH)."""
        return glob_escape(self.delayed("")) + "*"

    @staticmethod
    def delayed_member(timestamp: int | str) -> str:
        """A ``timestamps:<job>`` SET member: the unprefixed ``delayed:<ts>`` name."""
        return f"delayed:{timestamp}"

    def timestamps_pattern(self) -> str:
        """SCAN pattern of the ``timestamps:<encoded job>`` SETs indexing delayed jobs."""
        return glob_escape(self._k("timestamps:")) + "*"

    # -- migration (verk_compat.migrate) -------------------------------------------------------

    def queue_pattern(self) -> str:
        """SCAN pattern of every queue list (glob characters in the namespace escaped)."""
        return glob_escape(self.queue("")) + "*"

    def pattern(self) -> str:
        """SCAN pattern of every key under this namespace."""
        return glob_escape(self.namespace) + ":*" if self.namespace else "*"

    def key(self, logical: str) -> str:
        """Any logical (un-namespaced) name under this namespace (e.g. a ``timestamps:*``
        member, ``delayed:<ts>``, which resque-scheduler stores without the namespace)."""
        return self._k(logical)

    def logical(self, key: str | bytes) -> str | None:
        """The name of ``key`` without the namespace, or None if it is not under it."""
        text = key.decode("utf-8", "surrogateescape") if isinstance(key, bytes) else key
        if not self.namespace:
            return text
        prefix = self.namespace + ":"
        return text[len(prefix) :] if text.startswith(prefix) else None


#: A verk-compat (or Sidekiq) process identity, ``host:pid:hex12`` (the hostname may hold ":").
_OWNER = re.compile(r".+:\d+:[0-9a-f]{12}")
#: The end of a process identity: ``:<pid>:<nonce>``.
_IDENTITY_TAIL = re.compile(r":[0-9]+:[^:]+\Z")


def glob_escape(text: str) -> str:
    """``text`` with Redis glob characters (``*?[]\\``) escaped, for SCAN/ZSCAN MATCH patterns.

    The one place patterns escape user text (namespaces, queue names, searched jids).
    """
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
