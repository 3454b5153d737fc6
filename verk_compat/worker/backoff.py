"""The one back-off every worker loop uses while Redis is unreachable.

Fetch, reconcile, acknowledgement, failure recording, the queue poller and the first heartbeat
all retry the same way: 0.1 s, doubling up to 5 s, back to 0.1 s after a success. Short first
waits keep a blip invisible; the cap keeps a worker reconnecting within seconds of Redis
returning. Keys touched: none.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass(slots=True)
class Backoff:
    """Exponential delays between retries of one failing Redis round trip."""

    first: float = 0.1
    cap: float = 5.0
    #: The delay the next :meth:`sleep` waits (logged before sleeping).
    delay: float = field(init=False)

    def __post_init__(self) -> None:
        self.delay = self.first

    def failed(self) -> float:
        """The delay to wait after this failure; the next one doubles, up to ``cap``."""
        current = self.delay
        self.delay = min(current * 2, self.cap)
        return current

    def reset(self) -> None:
        """A round trip succeeded: the next failure waits ``first`` again."""
        self.delay = self.first

    async def sleep(self) -> None:
        """Wait out this failure's delay."""
        await asyncio.sleep(self.failed())
