"""Job ids: Sidekiq's 24 lowercase hex digits (``SecureRandom.hex(12)``). Touches no key."""

from __future__ import annotations

from os import register_at_fork, urandom

__all__ = ["JID_POOL", "new_jid", "new_jids"]

JID_POOL: list[str] = []


def new_jid() -> str:
    """A new jid: 24 random lowercase hex digits (``secrets.token_hex(12)``), drawn from a pool.

    Take one with ``JID_POOL.pop()`` (atomic, so threads never share one) and call this when the
    pool is empty. A forked child starts with an empty pool.
    """
    while True:
        try:
            return JID_POOL.pop()
        except IndexError:
            JID_POOL.extend(new_jids(256))


def new_jids(count: int) -> list[str]:
    """``count`` new jids from one ``urandom`` call (bulk pushes; refills the pool)."""
    hexed = urandom(12 * count).hex()
    return [hexed[at : at + 24] for at in range(0, len(hexed), 24)]


register_at_fork(after_in_child=JID_POOL.clear)
