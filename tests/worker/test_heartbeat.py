"""Process data as Sidekiq Web 6.4 to 8.1 reads it: pure builders checked against recorded
Sidekiq 6.4.1 / 7.3.10 data, and the heartbeat against a real Redis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis
import redis.asyncio

from tests.support.replies import as_bytes
from verk_compat import __version__
from verk_compat.keys import Keys
from verk_compat.worker.heartbeat import Heartbeat, make_identity
from verk_compat.worker.process_info import (
    heartbeat_fields,
    process_info,
    split_identity,
    work_entry,
    work_keys,
)

K = Keys()
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def fixture(version: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (FIXTURES / f"sidekiq-{version}" / f"{name}.json").read_text()
    )
    return data


@pytest.mark.parametrize("version", ["6.4.1", "7.3.10"])
def test_info_has_every_key_sidekiq_writes_with_the_same_types(version: str) -> None:
    theirs = json.loads(fixture(version, "process_info")["raw"])
    ident = theirs["identity"]
    ours = process_info(
        ident, {"default": 1, "critical": 1}, started_at=theirs["started_at"], version="x"
    )
    assert set(theirs) <= set(ours)
    for key, value in theirs.items():
        assert type(ours[key]) is type(value), key
    for key in ("hostname", "pid", "tag", "labels", "identity", "started_at", "queues"):
        assert ours[key] == theirs[key], key
    assert ours["concurrency"] == 2


def test_info_capsules_weights_and_paused_queues() -> None:
    info = process_info(
        "web-1:host:42:0123456789ab",
        {"default": 25, "critical": 10, "low": 5},
        started_at=1700000000,
        version=__version__,
        tag="app",
        labels=("blue",),
        embedded=True,
        paused={"low"},
    )
    assert info["hostname"] == "web-1:host" and info["pid"] == 42
    assert isinstance(info["started_at"], float)
    assert (info["tag"], info["labels"], info["embedded"]) == ("app", ["blue"], True)
    assert info["queues"] == ["default", "critical"] and info["concurrency"] == 35
    # 7.0.3+ shape: one weights hash per capsule; Verk's per-queue managers are capsules.
    assert info["weights"] == [{"default": 0}, {"critical": 0}]
    assert info["capsules"] == {
        "default": {"concurrency": 25, "mode": "strict", "weights": {"default": 0}},
        "critical": {"concurrency": 10, "mode": "strict", "weights": {"critical": 0}},
    }
    assert info["paused"] == ["low"]
    assert "paused" not in process_info("h:1:ab", {"q": 1}, started_at=0, version="v")


def test_split_identity() -> None:
    assert split_identity("a:b:123:00ff00ff00ff") == ("a:b", 123)
    host, pid = split_identity(make_identity())
    assert host and pid > 0


@pytest.mark.parametrize("version", ["6.4.1", "7.3.10"])
def test_work_entry_matches_sidekiq(version: str) -> None:
    data = fixture(version, "work_hash")
    [theirs] = [json.loads(v) for v in data["raw"].values()]
    ours = json.loads(work_entry(theirs["queue"], theirs["payload"].encode(), theirs["run_at"]))
    assert ours == theirs
    assert list(ours) == ["queue", "payload", "run_at"]
    assert isinstance(ours["payload"], str) and isinstance(ours["run_at"], int)
    # run_at is truncated to integer seconds, as Sidekiq's Time.now.to_i.
    assert json.loads(work_entry("q", b"{}", 12.9))["run_at"] == 12


def test_work_keys_by_profile() -> None:
    """6.x Web reads <id>:workers and 7.x+ <id>:work: the default writes both."""
    assert work_keys(K, "h:1:ab", "sidekiq6") == ("h:1:ab:workers", "h:1:ab:work")
    assert work_keys(K, "h:1:ab", "sidekiq7") == ("h:1:ab:workers", "h:1:ab:work")
    assert work_keys(K, "h:1:ab", "sidekiq8") == ("h:1:ab:work",)
    assert work_keys(Keys("ns"), "h:1:ab", "sidekiq6")[0] == "ns:h:1:ab:workers"


@pytest.mark.parametrize("version", ["6.4.1", "7.3.10"])
def test_heartbeat_fields_match_sidekiq(version: str) -> None:
    theirs = fixture(version, "process_heartbeat")["raw"]
    quiet = fixture(version, "process_heartbeat_quiet")["raw"]
    ours = heartbeat_fields(
        b"{}", busy=1, quiet=False, beat=1795781354.9473999, rss=30496, rtt_us=160, concurrency=2
    )
    # Every field Sidekiq writes, plus the 8.1.2+ concurrency field.
    assert set(theirs) | {"concurrency"} == set(ours)
    assert ours["quiet"] == theirs["quiet"] == "false"
    assert (
        heartbeat_fields(b"{}", busy=0, quiet=True, beat=1, rss=1, rtt_us=1, concurrency=1)["quiet"]
        == quiet["quiet"]
    )
    assert float(str(ours["beat"])) == 1795781354.9473999
    assert (
        heartbeat_fields(b"{}", busy=0, quiet=True, beat=5, rss=0, rtt_us=0, concurrency=0)["beat"]
        == "5.0"
    )


@pytest.mark.parametrize("profile", ["sidekiq6", "sidekiq7", "sidekiq8"])
async def test_beat_writes_hash_work_and_pops_one_signal(
    r: redis.Redis, ar: redis.asyncio.Redis, profile: Any
) -> None:
    ident = make_identity()
    hb = Heartbeat(ar, K, ident, {"default": 3, "low": 2}, ttl=30, tag="t", profile=profile)
    raw = b'{"class":"X","args":[1],"jid":"abc","queue":"default","retry":true}'
    r.lpush(K.signals(ident), "TSTP", "TTIN")
    assert await hb.beat(1, False, {7: ("default", raw, 1700000000)}) == "TSTP"
    assert r.sismember(K.processes, ident)
    fields = r.hgetall(K.process(ident))
    assert set(fields) == {b"info", b"busy", b"beat", b"quiet", b"rss", b"rtt_us", b"concurrency"}
    assert (fields[b"busy"], fields[b"quiet"], fields[b"concurrency"]) == (b"1", b"false", b"5")
    assert int(fields[b"rss"]) > 0 and int(fields[b"rtt_us"]) >= 0
    info = msgspec.json.decode(fields[b"info"])
    assert info["identity"] == ident and info["tag"] == "t" and info["version"] == __version__
    assert 0 < r.ttl(K.process(ident)) <= 30
    written = [K.work(ident)] if profile == "sidekiq8" else [K.workers(ident), K.work(ident)]
    for wkey in written:
        assert r.hgetall(wkey) == {b"7": work_entry("default", raw, 1700000000)}
        assert 0 < r.ttl(wkey) <= 30
    assert r.exists(K.workers(ident)) == (profile != "sidekiq8")
    # Next beat: the job ended (no work key at all), the queues changed, TTIN pops.
    hb.set_queues({"default": 3, "low": 2, "new": 4}, paused={"low"})
    assert await hb.beat(0, True, {}) == "TTIN"
    assert not r.exists(K.work(ident), K.workers(ident))
    info = msgspec.json.decode(as_bytes(r.hget(K.process(ident), "info")))
    assert info["queues"] == ["default", "new"] and info["paused"] == ["low"]
    assert info["concurrency"] == 7 and r.hget(K.process(ident), "concurrency") == b"7"
    assert r.hget(K.process(ident), "quiet") == b"true"
    assert await hb.beat(0, True, {}) is None
    await hb.beat(1, False, {1: ("default", raw, 1)})
    await hb.clear()
    assert not r.sismember(K.processes, ident) and not r.exists(wkey)


async def test_worker_started_while_redis_is_down_waits_and_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import asyncio

    from verk_compat.codec.job import Job, now
    from verk_compat.devtools.redis_server import EmbeddedRedis
    from verk_compat.worker.app import App
    from verk_compat.worker.launcher import Worker

    ran: list[int] = []
    app = App()

    @app.job("Rec")
    async def rec(i: int) -> None:
        ran.append(i)

    server = EmbeddedRedis()  # not started yet
    try:
        w = Worker(app, {"default": 1}, redis_url=server.url, block_timeout=0.2, beat_interval=0.1)
        task = asyncio.create_task(w.run())
        await asyncio.sleep(0.5)
        assert "Redis unreachable at start" in caplog.text and not task.done()
        await asyncio.to_thread(server.start)
        r = redis.Redis.from_url(server.url)
        r.lpush(K.queue("default"), Job.new("Rec", [1]).replace(enqueued_at=now()).encode())
        async with asyncio.timeout(10):
            while ran != [1]:
                await asyncio.sleep(0.05)
        assert r.sismember(K.processes, w.identity)
        w.stop()
        await asyncio.wait_for(task, 10)
        await w.aclose()
        r.close()
    finally:
        server.close()
