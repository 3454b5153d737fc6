"""Python enqueues, real Ruby Sidekiq 6.4.1 runs and reads: args and options arrive unchanged.

One private redis-server and one ``sidekiq`` process serve the whole module (db 0 is consumed by
Sidekiq; the API checks use db 1, which no process consumes). The consumer records each
``InteropWorker`` job it runs (``tests/support/ruby/ruby_consumer.rb``); the boot file below also
makes the
scheduled-job poller start at once and poll every 0.2 s, so the schedule test stays short.
"""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.support.payloads import same
from tests.support.replies import zmembers, zscored
from tests.support.ruby import CONSUMER, SidekiqProcess, ruby_json
from verk_compat.client.client import Client
from verk_compat.client.options import OPTION_NAMES
from verk_compat.codec.job import Job
from verk_compat.devtools.redis_server import EmbeddedRedis

pytestmark = pytest.mark.interop

WORKER = "InteropWorker"
QUEUES = ("default", "critical", "low", "bulk", "s8")

BOOT = f"""
require {json.dumps(str(CONSUMER))}
require "sidekiq/scheduled"
Sidekiq.options[:poll_interval_average] = 0.2
module VerkTestFastPoller
  private
  def initial_wait; end
end
Sidekiq::Scheduled::Poller.prepend(VerkTestFastPoller)
"""

# (name, args, options): every shape Python sends must arrive in Ruby's perform unchanged.
SHAPES: list[tuple[str, list[Any], dict[str, Any]]] = [
    ("empty", [], {}),
    ("unicode", ["héllo", "日本語", "😀", "𝄞", "e\u0301", "<script>&'", "a/b", ""], {}),
    ("line-separators", ["\u2028", "x\u2029y", {"\u2028": "\u2029"}], {}),
    ("escapes", ['"', "\\", "\n\t\r", "\x00", "\x01\x1f", "\x7f", "\b\f", "\\u0000"], {}),
    ("big-integers", [0, -1, 42, 2**31, 2**53 + 1, 2**63 - 1, 2**64, -(2**70), 10**40], {}),
    ("floats", [1.5, 0.1, -0.0, 3.0, 1e20, 1e-7, 1 / 3, 123456789.123456789, 1e16], {}),
    ("float-extremes", [5e-324, 1.7976931348623157e308, -1e-300, 1e100, 0.0, 2.5e-5], {}),
    ("nested", [{"a": {"b": [1, [2, [3, {}]]]}, "z": [], "y": {}}, [[[]]]], {}),
    ("nil-bool", [None, True, False, [None], {"k": None, "t": True}], {}),
    ("key-order", [{"z": 1, "a": 2, "m": 3, "1": 4}], {}),
    ("long-string", ["x" * 50_000], {}),
    ("queue", ["q"], {"queue": "critical"}),
    ("retry-false", [1], {"retry": False}),
    ("retry-int", [2], {"retry": 3}),
    ("retry-zero", [3], {"retry": 0}),
    ("custom-keys", [4], {"tags": ["a", "b"], "custom_key": {"x": [1, 2.5, None]}}),
    ("backtrace-true", [5], {"backtrace": True}),
    ("backtrace-int", [6], {"backtrace": 10, "queue": "low"}),
    ("retry-queue-dead", [7], {"retry_queue": "low", "dead": False, "retry_for": 3600}),
    ("given-jid", [8], {"jid": "a1b2c3d4e5f6a1b2c3d4e5f6"}),
]
OPTION_KEYS = ("queue", "retry", "tags", "custom_key", "backtrace", "retry_queue", "dead")


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis() as srv:
        yield srv


@pytest.fixture(scope="module")
def sidekiq(
    ruby_sidekiq: str, server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SidekiqProcess]:
    boot = tmp_path_factory.mktemp("boot") / "boot.rb"
    boot.write_text(BOOT, encoding="utf-8")
    with SidekiqProcess(server.url, queues=QUEUES, concurrency=10, require=boot) as proc:
        yield proc


def db_url(server: EmbeddedRedis, db: int) -> str:
    return f"redis://{server.host}:{server.port}/{db}"


def wait_for_jids(
    proc: SidekiqProcess, jids: list[str], timeout: float = 30
) -> list[dict[str, Any]]:
    """The recorded lines of ``jids`` once every one has run (fails after ``timeout``)."""
    wanted = set(jids)
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in proc.jobs() if line["jid"] in wanted]
        if {line["jid"] for line in lines} == wanted:
            return lines
        if time.monotonic() > deadline:
            missing = wanted - {line["jid"] for line in lines}
            log = proc.log.read_text(errors="replace")[-3000:]
            pytest.fail(f"{len(missing)} jobs never ran in Ruby; sidekiq log:\n{log}")
        proc.wait_for(0, timeout=0)  # raises if sidekiq died
        time.sleep(0.05)


def send_shapes(client: Client) -> dict[str, tuple[list[Any], dict[str, Any]]]:
    """Enqueue every shape; map jid -> (args, options)."""
    sent = {}
    for _name, args, options in SHAPES:
        named = {k: v for k, v in options.items() if k in OPTION_NAMES or k in ("queue", "retry")}
        extra = {k: v for k, v in options.items() if k not in {*named, "jid"}}
        jid = client.enqueue(WORKER, args, jid=options.get("jid"), extra=extra, **named)
        sent[jid] = (args, options)
    return sent


def check_arrived(
    lines: list[dict[str, Any]], sent: dict[str, tuple[list[Any], dict[str, Any]]]
) -> None:
    by_jid = {line["jid"]: line for line in lines}
    for jid, (args, options) in sent.items():
        line = by_jid[jid]
        same(line["args"], args, f"jid {jid} args")
        same(line["payload"]["args"], args, f"jid {jid} payload args")
        assert line["class"] == WORKER
        assert line["queue"] == options.get("queue", "default")
        same(line["payload"]["retry"], options.get("retry", True), "retry")
        for key in OPTION_KEYS:
            if key in options:
                same(line["payload"][key], options[key], f"jid {jid} {key}")
        if "retry_for" in options:
            same(line["payload"]["retry_for"], options["retry_for"], "retry_for")


def test_shapes_arrive_in_ruby_unchanged(server: EmbeddedRedis, sidekiq: SidekiqProcess) -> None:
    assert len(SHAPES) >= 15
    with Client(db_url(server, 0)) as client:
        sent = send_shapes(client)
    lines = wait_for_jids(sidekiq, list(sent))
    check_arrived(lines, sent)
    assert "a1b2c3d4e5f6a1b2c3d4e5f6" in sent
    for line in lines:
        assert line["sidekiq_version"] == "6.4.1"
        assert isinstance(line["payload"]["created_at"], float)
        assert isinstance(line["payload"]["enqueued_at"], float)


def test_sidekiq8_profile_runs_and_decodes(server: EmbeddedRedis, sidekiq: SidekiqProcess) -> None:
    before = time.time()
    with Client(db_url(server, 0), profile="sidekiq8") as client:
        jids = [client.enqueue(WORKER, args, queue="s8") for _n, args, _o in SHAPES]
    after = time.time()
    lines = wait_for_jids(sidekiq, jids)
    by_jid = {line["jid"]: line for line in lines}
    for jid, (_name, args, _opts) in zip(jids, SHAPES, strict=True):
        payload = by_jid[jid]["payload"]
        assert isinstance(payload["created_at"], int) and isinstance(payload["enqueued_at"], int)
        job = Job.decode(json.dumps(payload, ensure_ascii=False))
        same(job.args, args)
        assert job.created_at is not None and job.enqueued_at is not None
        assert before - 0.002 <= job.created_at <= job.enqueued_at <= after + 0.002


def test_enqueue_many_1000_run_once(server: EmbeddedRedis, sidekiq: SidekiqProcess) -> None:
    with Client(db_url(server, 0)) as client:
        jids = client.enqueue_many(WORKER, ([i, f"n{i}"] for i in range(1000)), queue="bulk")
    lines = wait_for_jids(sidekiq, jids)
    time.sleep(0.3)  # give a duplicate the chance to show up
    counts = collections.Counter(line["jid"] for line in sidekiq.jobs() if line["queue"] == "bulk")
    assert len(counts) == 1000 and set(counts.values()) == {1}
    assert sorted(line["args"][0] for line in lines) == list(range(1000))
    assert all(line["args"] == [line["args"][0], f"n{line['args'][0]}"] for line in lines)


@pytest.mark.slow
def test_scheduled_job_runs_after_its_time(server: EmbeddedRedis, sidekiq: SidekiqProcess) -> None:
    r = redis.Redis.from_url(db_url(server, 0))
    with Client(redis=r) as client:
        jid = client.enqueue_in(2, WORKER, ["scheduled"], queue="critical")
    ((member, at),) = zscored(r, "schedule")
    assert json.loads(member)["jid"] == jid
    (line,) = wait_for_jids(sidekiq, [jid], timeout=20)
    assert line["processed_at"] >= at
    assert line["payload"]["enqueued_at"] >= at  # set by Ruby's poller when it moved the job
    assert line["queue"] == "critical" and line["args"] == ["scheduled"]
    assert r.zcard("schedule") == 0
    r.close()


API_CHECK = """
alpha = Sidekiq::Queue.new("alpha")
ss = Sidekiq::ScheduledSet.new
st = Sidekiq::Stats.new
puts JSON.generate({
  "alpha_size" => alpha.size, "beta_size" => Sidekiq::Queue.new("beta").size,
  "alpha_jids" => alpha.map(&:jid), "alpha_args" => alpha.map(&:args),
  "alpha_classes" => alpha.map(&:klass), "alpha_enqueued" => alpha.map { |j| j.enqueued_at.to_f },
  "alpha_latency" => alpha.latency, "found" => alpha.find_job(ENV["FIND_JID"])&.jid,
  "queues" => Sidekiq::Queue.all.map(&:name).sort,
  "scheduled" => ss.map { |e| [e.jid, e.at.to_f, e.queue, e.args] },
  "scheduled_found" => ss.find_job(ENV["SCHED_JID"])&.jid,
  "stats" => {"enqueued" => st.enqueued, "scheduled_size" => st.scheduled_size,
              "queues" => st.queues, "default_queue_latency" => st.default_queue_latency}
})
"""


def test_ruby_api_reads_what_python_wrote(server: EmbeddedRedis) -> None:
    url = db_url(server, 1)
    r = redis.Redis.from_url(url)
    r.flushdb()
    with Client(redis=r) as client:
        alpha = client.enqueue_many("Billing::Charge", [[1], [2, {"x": 1.5}], [3]], queue="alpha")
        beta = [client.enqueue("Other", [], queue="beta") for _ in range(2)]
        later = client.schedule("Later", ["s"], at=time.time() + 3600.5, queue="gamma")
    time.sleep(0.05)
    got = ruby_json(API_CHECK, url, FIND_JID=alpha[1], SCHED_JID=later)
    assert got["alpha_size"] == 3 and got["beta_size"] == len(beta)
    assert got["alpha_jids"] == alpha[::-1]  # Queue#each walks LRANGE 0..-1: newest first
    assert got["alpha_args"] == [[3], [2, {"x": 1.5}], [1]]
    assert set(got["alpha_classes"]) == {"Billing::Charge"}
    assert got["found"] == alpha[1]
    assert got["queues"] == ["alpha", "beta"]  # scheduled jobs do not SADD queues
    (sched,) = got["scheduled"]
    assert sched[0] == later and sched[2] == "gamma" and sched[3] == ["s"]
    assert sched[1] == pytest.approx(
        float(r.zscore("schedule", zmembers(r, "schedule", 0, 0)[0]) or 0)
    )
    assert got["scheduled_found"] == later
    assert got["stats"]["enqueued"] == 5 and got["stats"]["scheduled_size"] == 1
    assert got["stats"]["queues"] == {"alpha": 3, "beta": 2}
    assert 0.05 <= got["alpha_latency"] < 10
    enqueued_at = json.loads(r.lindex("queue:alpha", -1) or b"")["enqueued_at"]
    assert got["alpha_enqueued"][-1] == pytest.approx(enqueued_at, abs=1e-6)
    r.close()
