"""The keep-alive thread's warning names the real cause: a blocked event loop, or Redis."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from verk_compat.devtools.redis_server import EmbeddedRedis
from verk_compat.worker.app import App
from verk_compat.worker.heartbeat import stall_warning
from verk_compat.worker.launcher import Worker


def test_stall_warning_names_the_cause() -> None:
    loop_blocked = stall_warning(3.04, "h:1:ab", loop_answers=False, error=None, alive=True)
    assert loop_blocked == (
        "event loop stalled: no heartbeat for 3.0s (does a job block the loop?); "
        "keeping h:1:ab alive from a thread"
    )
    redis_down = stall_warning(
        2.0, "h:1:ab", loop_answers=True, error=ConnectionError("refused"), alive=False
    )
    assert redis_down == (
        "Redis unreachable or too slow: the heartbeat could not be written for 2.0s "
        "(ConnectionError: refused); the event loop is running; keeping h:1:ab alive from a "
        "thread failed: the process hash had already expired"
    )
    assert "job" not in redis_down


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_a_redis_outage_is_not_blamed_on_a_job() -> None:
    """Issue 9 item 12: while Redis did not answer (here: the server process stopped with
    SIGSTOP for 1.5 s, an idle worker whose loop runs freely) the keep-alive thread warned
    "event loop stalled ... does a job block the loop?" once Redis answered again. It asks
    the loop now, and says Redis could not take the beat."""
    capture = Capture()
    launcher_log = logging.getLogger("verk_compat.worker.launcher")
    launcher_log.addHandler(capture)
    with EmbeddedRedis() as server:
        w = Worker(
            App(),
            {"default": 1},
            redis_url=server.url,
            block_timeout=0.2,
            beat_interval=0.2,
            heartbeat_ttl=2,
        )
        task = asyncio.create_task(w.run())
        try:
            await asyncio.sleep(0.5)
            assert server._proc is not None
            os.kill(server._proc.pid, signal.SIGSTOP)
            try:
                await asyncio.sleep(1.5)
            finally:
                os.kill(server._proc.pid, signal.SIGCONT)
            for _ in range(40):
                if any("heartbeat" in m for m in capture.messages):
                    break
                await asyncio.sleep(0.1)
            w.stop()
            await asyncio.wait_for(task, 10)
        finally:
            launcher_log.removeHandler(capture)
            await w.aclose()
    stalls = [m for m in capture.messages if "alive from a thread" in m]
    assert stalls, capture.messages
    assert all("does a job block the loop" not in m for m in stalls), stalls
    assert "Redis unreachable or too slow" in stalls[0]


async def test_a_failed_beat_says_redis_is_unreachable() -> None:
    """The loop's own warning when a beat cannot be written names Redis, and the return."""
    capture = Capture()
    launcher_log = logging.getLogger("verk_compat.worker.launcher")
    launcher_log.addHandler(capture)
    server = EmbeddedRedis().start()
    w = Worker(App(), {"default": 1}, redis_url=server.url, block_timeout=0.2, beat_interval=0.2)
    task = asyncio.create_task(w.run())
    try:
        await asyncio.sleep(0.5)
        server.stop()
        for _ in range(50):
            if any("heartbeat could not be written" in m for m in capture.messages):
                break
            await asyncio.sleep(0.1)
        server = EmbeddedRedis(port=server.port).start()
        for _ in range(50):
            if any("Redis reachable again" in m for m in capture.messages):
                break
            await asyncio.sleep(0.1)
        w.stop()
        await asyncio.wait_for(task, 15)
    finally:
        launcher_log.removeHandler(capture)
        await w.aclose()
        server.stop()
    assert any(
        m.startswith("Redis unreachable: the heartbeat could not be written")
        for m in capture.messages
    ), capture.messages
    assert any(m.startswith("Redis reachable again") for m in capture.messages), capture.messages
