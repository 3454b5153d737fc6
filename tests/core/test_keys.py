"""Key names against the ones real Sidekiq 6.4.1 wrote (``fixtures/sidekiq-6.4.1``).

Every key a recorded fixture names must be what :class:`verk_compat.keys.Keys` builds, and a
namespace must prefix key names only (redis-namespace style), never members or values.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from verk_compat.keys import Keys, ResqueKeys

_ROOT = Path(__file__).resolve().parents[2]
_FIXTURES = _ROOT / "fixtures"


def fixture(name: str, version: str = "6.4.1") -> dict[str, Any]:
    path = _FIXTURES / f"sidekiq-{version}" / f"{name}.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_queue_keys_match_recorded_pushes() -> None:
    keys = Keys()
    for name, queue in [
        ("enqueue_basic", "default"),
        ("set_queue_critical", "critical"),
        ("class_options_custom", "low"),
        ("enqueue_to", "critical"),
    ]:
        data = fixture(name)
        assert data["redis_key"] == keys.queue(queue)
        assert list(data["other_keys"]) == [keys.queues]
        assert keys.queue_name(data["redis_key"]) == queue
        assert keys.queue_name(data["redis_key"].encode()) == queue


def test_sorted_set_keys_match_recorded() -> None:
    keys = Keys()
    assert fixture("schedule_perform_in")["redis_key"] == keys.schedule == "schedule"
    assert fixture("retry_after_error")["redis_key"] == keys.retry == "retry"
    assert fixture("dead_after_retry0")["redis_key"] == keys.dead == "dead"


@pytest.mark.parametrize("version", ["6.4.1", "7.3.10"])
def test_process_keys_match_recorded(version: str) -> None:
    keys = Keys()
    state = fixture("server_state_while_running", version)["keys"]
    (identity,) = state[keys.processes]["members"]  # set members are never prefixed
    assert state[keys.process(identity)]["type"] == "hash"
    work = fixture("work_hash", version)["redis_key"]
    assert work == (keys.workers(identity) if version == "6.4.1" else keys.work(identity))


def test_signals_key_matches_recorded() -> None:
    recorded = fixture("process_signals")["redis_key"]
    assert Keys().signals(recorded.removesuffix("-signals")) == recorded


@pytest.mark.parametrize("version", ["6.4.1", "7.3.10"])
def test_server_state_keys_are_all_known(version: str) -> None:
    keys = Keys()
    state = fixture("server_state_while_running", version)["keys"]
    (identity,) = state[keys.processes]["members"]
    day = next(k for k in state if k.startswith("stat:failed:")).split(":")[-1]
    date = dt.date.fromisoformat(day)
    known = {
        keys.dead,
        keys.retry,
        keys.queues,
        keys.processes,
        keys.process(identity),
        keys.process_cleanup,
        keys.stat_processed,
        keys.stat_failed,
        keys.stat_processed_day(date),
        keys.stat_failed_day(date),
    }
    stats = {k for k in state if k.startswith("stat:")}
    assert stats == {
        keys.stat_processed,
        keys.stat_failed,
        keys.stat_processed_day(date),
        keys.stat_failed_day(date),
    }
    metrics = {k for k in state if k.startswith("j|") or "Worker-" in k}  # Web metrics (7.x)
    assert set(state) - metrics <= known


def test_namespace_prefixes_key_names_only() -> None:
    keys = Keys(namespace="myapp")
    identity = "vm:13080:7af3c8f2b2e6"
    assert keys.queues == "myapp:queues"
    assert keys.queue("default") == "myapp:queue:default"
    assert keys.queue_name("myapp:queue:default") == "default"
    assert keys.schedule == "myapp:schedule"
    assert keys.retry == "myapp:retry"
    assert keys.dead == "myapp:dead"
    assert keys.processes == "myapp:processes"
    assert keys.process(identity) == f"myapp:{identity}"
    assert keys.work(identity) == f"myapp:{identity}:work"
    assert keys.workers(identity) == f"myapp:{identity}:workers"
    assert keys.signals(identity) == f"myapp:{identity}-signals"
    assert keys.stat_processed == "myapp:stat:processed"
    assert keys.stat_failed_day(dt.date(2026, 1, 2)) == "myapp:stat:failed:2026-01-02"
    assert keys.inprogress("default", identity) == f"myapp:inprogress:default:{identity}"


def test_queue_name_rejects_foreign_keys() -> None:
    with pytest.raises(ValueError):
        Keys().queue_name("schedule")
    with pytest.raises(ValueError):
        Keys(namespace="ns").queue_name("queue:default")


def test_resque_keys() -> None:
    keys = ResqueKeys()
    assert keys.queue("jobs") == "resque:queue:jobs"
    assert keys.queues == "resque:queues"
    assert keys.failed == "resque:failed"
    assert ResqueKeys(namespace="app").queue("x") == "app:queue:x"


def test_verk_keys_match_recorded_verk_state() -> None:
    from tests.support.verk_dump import dump

    keys = Keys()
    state = dump("02-processing.json")
    [node] = [m["text"] for m in state[keys.verk_nodes]["members"]]
    assert keys.verk_node(node) in state and keys.verk_node_queues(node) in state
    assert keys.inprogress("default", node) in state
    assert keys.quarantine("retry") == "verk:quarantine:retry"
    assert Keys("ns").verk_node("1") == "ns:verk:node:1"


def test_cron_keys_are_sidekiq_crons_and_members_stay_unprefixed() -> None:
    plain, spaced = Keys(), Keys("ns")
    assert plain.cron_jobs == "cron_jobs" and spaced.cron_jobs == "ns:cron_jobs"
    assert plain.cron_job("a b") == "cron_job:a b"
    assert spaced.cron_enqueued("a") == "ns:cron_job:a:enqueued"
    assert spaced.cron_history("a") == "ns:cron_job:a:jid_history"
    member = spaced.cron_member("a")
    assert member == "cron_job:a"
    assert spaced.cron_job_of_member(member.encode()) == spaced.cron_job("a")
