"""RESP packing and error wording shared by :class:`~verk_compat.client.client.Client` and
:class:`~verk_compat.client.async_client.AsyncClient`: pure code, no I/O.

Both clients send the commands of their :class:`~verk_compat.client.planner.Write` s in one write
and read every reply themselves (never through redis-py's retrying ``execute``), so both need
the same bytes, the same reply checks and the same messages:

* :class:`Packer` packs writes with the connection's own redis-py encoder; a single push
  (``SADD queues <q>`` + ``LPUSH queue:<q> <payload>``) is a cached per-queue head plus the
  payload, byte for byte what ``pack_commands`` gives (``tests/test_client_conn.py`` checks it).
* :func:`check_replies` raises the first error reply (WRONGTYPE, NOPERM, ...) naming the server
  and the command; :func:`after_write` and :func:`unavailable_error` word connection failures,
  never showing a password.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import redis

from verk_compat.client.planner import Write
from verk_compat.errors import NotReplicated, RedisUnavailable

__all__ = [
    "AFTER_WRITE",
    "Packer",
    "after_write",
    "check_replicated",
    "check_replies",
    "commands",
    "pool_args",
    "reply_count",
    "unavailable_error",
]

#: Why a connection error or timeout after the write began is not retried.
AFTER_WRITE = (
    "after the commands were sent, so they may or may not have run; not retried, "
    "so that no job is ever pushed twice"
)
_HEADS = 512  # cached per-queue RESP prefixes
_EMPTY = b"$0\r\n\r\n"


class Packs(Protocol):
    """What :class:`Packer` needs of a connection: redis-py's (sync or asyncio) packers."""

    def pack_command(self, *args: Any) -> list[bytes]: ...

    def pack_commands(self, commands: Iterable[Iterable[Any]]) -> list[bytes]: ...


def commands(writes: Sequence[Write]) -> list[tuple[str | bytes, ...]]:
    """Every Redis command of ``writes``, in order."""
    return [c for write in writes for c in write.commands()]


def reply_count(writes: Sequence[Write]) -> int:
    """How many replies the commands of ``writes`` get."""
    return sum(1 if write.queues_key is None else 2 for write in writes)


class Packer:
    """RESP bytes of writes; a single push reuses a cached head per (command, key, queue)."""

    __slots__ = ("_heads",)

    def __init__(self) -> None:
        self._heads: dict[tuple[str, str, str | None, str], bytes] = {}

    def pack(self, conn: Packs, writes: Sequence[Write]) -> list[bytes]:
        """Cached head + payload for a single push, else redis-py's ``pack_commands``."""
        if len(writes) == 1:
            write = writes[0]
            if write.queues_key is not None and len(write.args) == 1:
                payload = write.args[0]
                if type(payload) is bytes:
                    key = (write.command, write.key, write.queues_key, write.queue)
                    head = self._heads.get(key) or self._head(conn, write, key)
                    return [b"".join((head, b"$%d\r\n" % len(payload), payload, b"\r\n"))]
        return list(conn.pack_commands(commands(writes)))

    def _head(self, conn: Packs, write: Write, key: tuple[str, str, str | None, str]) -> bytes:
        """``SADD queues <q>`` and the push up to its payload, packed by redis-py once."""
        sadd = b"".join(conn.pack_command("SADD", write.queues_key, write.queue))
        push = b"".join(conn.pack_command(write.command, write.key, b""))
        if not push.endswith(_EMPTY):  # pragma: no cover - RESP is RESP
            raise AssertionError("unexpected RESP packing of an empty argument")
        if len(self._heads) >= _HEADS:
            self._heads.clear()
        head = self._heads[key] = sadd + push[: -len(_EMPTY)]
        return head


def pool_args(pool: Any) -> tuple[str, ...]:
    """The arguments of ``pool.get_connection(...)``, for every redis-py from 5.0 on.

    redis-py 5.0 to 5.2 require a command name (which they ignore); later versions deprecate
    passing one (a warning). Which one a pool wants is read from its signature, once per class.
    """
    pool_type: Any = type(pool)
    return _pool_args(pool_type)


@functools.cache
def _pool_args(pool_type: Any) -> tuple[str, ...]:
    try:
        param = inspect.signature(pool_type.get_connection).parameters.get("command_name")
    except (TypeError, ValueError):  # pragma: no cover - a pool without a readable signature
        return ()
    required = param is not None and param.default is inspect.Parameter.empty
    return ("LPUSH",) if required else ()


def after_write(exc: BaseException) -> redis.ConnectionError | redis.TimeoutError:
    """redis-py's error for a failure once the write began, saying the push may have run."""
    kind = redis.TimeoutError if isinstance(exc, redis.TimeoutError) else redis.ConnectionError
    return kind(f"{exc} ({AFTER_WRITE})")


def unavailable_error(place: str, exc: Exception) -> RedisUnavailable:
    """:class:`RedisUnavailable` for a redis-py connection error or timeout at ``place``."""
    if isinstance(exc, redis.AuthenticationError):
        kind = "refused the credentials (or needs some)"
    elif isinstance(exc, redis.TimeoutError):
        kind = "timed out"
    else:
        kind = "is unreachable"
    return RedisUnavailable(f"Redis at {place} {kind}: {exc}")


def check_replies(place: str, writes: Sequence[Write], replies: Sequence[Any]) -> None:
    """Raise the first error reply, naming the server and the command it answered."""
    for reply in replies:
        if isinstance(reply, redis.ResponseError):
            _raise_reply_error(place, writes, replies)


def check_replicated(place: str, wait: Write, reply: Any, jids: Sequence[str]) -> None:
    """Raise :class:`NotReplicated` when ``WAIT``'s reply is short of the replicas asked for."""
    wanted, acked, ms = int(wait.key), int(reply), int(wait.args[0])
    if acked < wanted:
        raise NotReplicated(
            f"Redis at {place}: {len(jids)} job(s) pushed to the primary, but {acked} of "
            f"{wanted} replica(s) confirmed them within {ms} ms; they are queued, "
            "and a failover before they replicate could lose them",
            list(jids),
            acked,
            wanted,
        )


def _raise_reply_error(place: str, writes: Sequence[Write], replies: Sequence[Any]) -> None:
    for command, reply in zip(commands(writes), replies, strict=True):
        if isinstance(reply, redis.ResponseError):
            name, key = (
                x.decode(errors="replace") if isinstance(x, bytes) else x for x in command[:2]
            )
            message = f"Redis at {place} answered {name} {key} with an error: {reply}"
            try:
                error = type(reply)(message)
            except Exception:  # an exception type with a different constructor
                error = redis.ResponseError(message)
            raise error from reply
