"""The shared back-off: 0.1 s doubling to 5 s, reset after a success."""

from __future__ import annotations

import asyncio

from verk_compat.worker.backoff import Backoff


def test_doubles_up_to_the_cap_and_resets() -> None:
    backoff = Backoff()
    delays = [backoff.failed() for _ in range(8)]
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    backoff.reset()
    assert backoff.delay == 0.1


def test_zero_first_never_waits() -> None:
    backoff = Backoff(first=0.0)
    assert [backoff.failed() for _ in range(3)] == [0.0, 0.0, 0.0]


def test_sleep_waits_the_logged_delay() -> None:
    backoff = Backoff(first=0.01, cap=0.02)
    logged = backoff.delay

    async def main() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await backoff.sleep()
        return loop.time() - start

    assert asyncio.run(main()) >= logged * 0.9
    assert backoff.delay == 0.02
