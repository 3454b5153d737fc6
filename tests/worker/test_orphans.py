"""Orphan recovery against hostile names and keys (issues 15 and 16), on a real Redis."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis
import redis.asyncio

from verk_compat.codec.job import Job
from verk_compat.keys import Keys, glob_escape
from verk_compat.worker.app import App
from verk_compat.worker.launcher import Worker
from verk_compat.worker.orphans import recover_orphans

ME = "me:3:cccccccccccc"
DEAD = "h:1:aaaaaaaaaaaa"


@pytest.mark.parametrize("namespace", ["app[1]", "a?b", "a*b", "x]y", "back\\slash", "a[b"])
async def test_recovery_under_a_namespace_with_glob_characters(
    r: redis.Redis, ar: redis.asyncio.Redis, namespace: str
) -> None:
    """Issue 15: ``inprogress_pattern()`` did not escape the namespace, so under ``app[1]``
    (a character class) or ``a?b`` the SCAN matched nothing and a dead process's jobs stayed
    stranded for ever."""
    keys = Keys(namespace)
    r.rpush(keys.inprogress("q", DEAD), b"2", b"1")
    other = Keys(namespace.replace("\\", "") + "z")  # a neighbour the pattern must not match
    r.rpush(other.inprogress("q", DEAD), b"theirs")
    assert await recover_orphans(ar, keys, ME) == 2
    assert r.lrange(keys.queue("q"), 0, -1) == [b"2", b"1"]
    assert r.llen(other.inprogress("q", DEAD)) == 1


@pytest.mark.parametrize("char", list("*?[]\\"))
def test_every_pattern_escapes_each_glob_character(char: str) -> None:
    """Every SCAN pattern built from user text matches its own keys and nothing else."""
    ns = f"n{char}s"
    keys = Keys(ns)
    for pattern in (
        keys.inprogress_pattern(),
        keys.inprogress_queue_pattern(f"q{char}"),
        keys.queue_pattern(),
        keys.pattern(),
    ):
        literal = pattern[:-1]
        assert pattern.endswith("*") and "\\" + char in literal
        # Unescaped, the literal part is exactly the key prefix.
        assert literal.replace("\\" + char, char).startswith(ns)


@pytest.mark.parametrize("char", list("*?[]\\"))
async def test_glob_escape_matches_the_character_literally(r: redis.Redis, char: str) -> None:
    """The one escaping function, checked by Redis itself: the escaped text matches exactly
    the key holding the character, not a neighbour with another character in its place."""
    r.set(f"a{char}b", 1)
    r.set("azb", 1)
    assert list(r.scan_iter(match=glob_escape(f"a{char}b"))) == [f"a{char}b".encode()]


async def test_a_wrong_type_key_is_skipped_and_the_rest_recovered(
    r: redis.Redis, ar: redis.asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 16: a key named like an in-progress list but of another type (or a queue key of
    another type) ended the whole scan with WRONGTYPE: no dead process's jobs came back."""
    keys = Keys()
    r.set(keys.inprogress("q", "x:1:bbbbbbbbbbbb"), "a string")
    r.rpush(keys.inprogress("strq", "y:1:dddddddddddd"), b"blocked")
    r.set(keys.queue("strq"), "not a list")
    for i in range(5):
        r.rpush(keys.inprogress(f"q{i}", DEAD), f"job{i}".encode())
    with caplog.at_level(logging.ERROR, logger="verk_compat.worker.orphans"):
        assert await recover_orphans(ar, keys, ME) == 5
    assert [r.lrange(keys.queue(f"q{i}"), 0, -1) for i in range(5)] == [
        [f"job{i}".encode()] for i in range(5)
    ]
    assert r.get(keys.inprogress("q", "x:1:bbbbbbbbbbbb")) == b"a string"
    assert r.lrange(keys.inprogress("strq", "y:1:dddddddddddd"), 0, -1) == [b"blocked"]
    assert sum("WRONGTYPE" in m for m in caplog.messages) == 2
    assert r.exists(keys.orphan_lock) == 0


def test_inprogress_splits_reads_colons_in_queue_and_host() -> None:
    keys = Keys("ns")
    key = keys.inprogress("a:b", "web:1:42:0123456789ab")
    splits = keys.inprogress_splits(key)
    assert ("a:b", "web:1:42:0123456789ab") in splits
    assert splits[0] == ("a:b:web", "1:42:0123456789ab")
    assert keys.inprogress_splits(keys.inprogress("q", "h:1:ab").encode()) == [("q", "h:1:ab")]
    assert keys.inprogress_splits("ns:queue:q") == []
    assert keys.inprogress_splits("ns:inprogress:q:notanidentity") == []


@pytest.mark.parametrize("queue", ["q", "a:b"])
async def test_a_live_process_with_colons_in_its_hostname_keeps_its_jobs(
    r: redis.Redis, ar: redis.asyncio.Redis, queue: str
) -> None:
    """Issue 16: with ``:`` in the hostname (or DYNO) the identity was parsed wrongly, its
    (absent) hash taken for a dead process's, and a live worker's running jobs moved into
    ``queue:<q>:<part of the host>``, which no worker serves."""
    keys = Keys()
    live = "web:1:42:0123456789ab"
    r.hset(keys.process(live), "info", "{}")
    r.rpush(keys.inprogress(queue, live), b"running")
    r.sadd(keys.queues, queue)
    assert await recover_orphans(ar, keys, ME) == 0
    assert r.lrange(keys.inprogress(queue, live), 0, -1) == [b"running"]
    assert r.keys("queue:*") == []


@pytest.mark.parametrize("queue", ["q", "a:b", "a:b:c"])
async def test_a_dead_process_with_colons_in_its_hostname_goes_back_to_its_queue(
    r: redis.Redis, ar: redis.asyncio.Redis, queue: str
) -> None:
    keys = Keys()
    dead = "ip-10-0-0-1:internal:42:0123456789ab"
    r.rpush(keys.inprogress(queue, dead), b"2", b"1")
    r.sadd(keys.queues, queue)
    assert await recover_orphans(ar, keys, ME) == 2
    assert r.lrange(keys.queue(queue), 0, -1) == [b"2", b"1"]
    assert r.keys("queue:*") == [keys.queue(queue).encode()]


async def test_a_worker_named_with_colons_never_requeues_its_own_running_job(
    r: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real Worker whose DYNO holds ``:``, serving a queue whose name holds ``:``: its
    periodic orphan scan (every 50 ms here) must leave its own running job alone, so the
    job runs exactly once."""
    monkeypatch.setenv("DYNO", "web:1")
    keys = Keys()
    app = App()
    runs: list[int] = []
    release = asyncio.Event()

    @app.job("Slow")
    async def slow() -> None:
        runs.append(1)
        await release.wait()

    r.lpush(keys.queue("a:b"), Job.new("Slow", [], queue="a:b").encode())
    r.sadd(keys.queues, "a:b")
    w = Worker(app, {"a:b": 1}, redis_url=redis_url, block_timeout=0.2, orphan_interval=0.05)
    assert w.identity.startswith("web:1:")
    task = asyncio.create_task(w.run())
    try:
        for _ in range(100):
            await asyncio.sleep(0.02)
            if runs:
                break
        await asyncio.sleep(0.5)  # about ten orphan scans while the job runs
        assert runs == [1]
        assert r.keys("queue:*") == []
        assert r.llen(keys.inprogress("a:b", w.identity)) == 1
    finally:
        release.set()
        w.stop()
        await asyncio.wait_for(task, 10)
        await w.aclose()
    assert runs == [1]
