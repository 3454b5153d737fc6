"""Prometheus metrics: job counters from the worker's events, Redis gauges, and the two ways
they are served (``verk-compat worker --metrics-port`` and the dashboard's ``/metrics``)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import redis
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from tests.support.web import RUBY_IDENTITY, seed
from verk_compat.api import connect
from verk_compat.cli.web import metrics_route
from verk_compat.codec.job import Job, now
from verk_compat.devtools.redis_server import free_port
from verk_compat.keys import Keys
from verk_compat.metrics import JobMetrics
from verk_compat.web import create_app
from verk_compat.worker.events import EventManager, JobFailed, JobFinished, JobStarted

ROOT = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by (name, sorted labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def test_job_metrics_count_events_per_class_and_queue() -> None:
    events = EventManager()
    metrics = JobMetrics().attach(events)
    ok = Job.new("Mailer", [1])
    again = Job.new("Mailer", [2]).replace(retry_count=0)
    wrapped = Job.new("JobWrapper", []).replace(wrapped="SendInvoice")
    events.emit(JobStarted(ok, "mail", 10.0))
    events.emit(JobFinished(ok, "mail", 10.0, 10.5))
    events.emit(JobStarted(again, "mail", 11.0))
    events.emit(JobFailed(again, "mail", 11.0, 13.0, RuntimeError("x")))
    events.emit(JobFinished(wrapped, "default", 1.0, 1.01))
    value = metrics.registry.get_sample_value
    mail = {"class": "Mailer", "queue": "mail"}
    assert value("verk_jobs_processed_total", mail) == 2
    assert value("verk_jobs_failed_total", mail) == 1
    assert value("verk_jobs_retried_total", mail) == 1
    assert value("verk_job_duration_seconds_count", mail) == 2
    assert value("verk_job_duration_seconds_sum", mail) == 2.5
    assert value("verk_job_duration_seconds_bucket", {**mail, "le": "0.5"}) == 1
    invoice = {"class": "SendInvoice", "queue": "default"}
    assert value("verk_jobs_processed_total", invoice) == 1


def test_dashboard_serves_redis_gauges_at_metrics(redis_url: str, r: redis.Redis) -> None:
    seed(redis_url, r)
    r.set("stat:processed", 77)
    client = connect(redis_url)
    app = create_app(redis=client, extra_routes=[metrics_route(client, Keys())])
    with TestClient(app) as web:
        reply = web.get("/metrics")
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
        found = samples(reply.text)
        # The HTML pages still work next to it.
        assert web.get("/").status_code == 200
    assert found[("verk_queue_size", (("queue", "critical"),))] == 30
    assert found[("verk_queue_size", (("queue", "default"),))] == 1
    assert 0 <= found[("verk_queue_latency_seconds", (("queue", "critical"),))] < 60
    assert found[("verk_set_size", (("set", "retry"),))] == 1
    assert found[("verk_set_size", (("set", "schedule"),))] == 1
    assert found[("verk_process_busy", (("identity", RUBY_IDENTITY),))] == 1
    assert found[("verk_process_concurrency", (("identity", RUBY_IDENTITY),))] == 2
    assert found[("verk_busy_slots", ())] == 1
    assert found[("verk_processed_total", ())] == 77


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return samples(reply.read().decode())


def test_worker_serves_job_and_queue_metrics_on_its_port(
    redis_url: str, r: redis.Redis, tmp_path: Path
) -> None:
    port = free_port()
    stamp = now()
    jobs = [Job.new("HardWorker", [i]) for i in range(3)]
    jobs += [Job.new("FailingJob", ["x"]).replace(retry_count=0)]
    for job in jobs:
        r.lpush("queue:default", job.replace(enqueued_at=stamp).encode())
    r.lpush("queue:elsewhere", Job.new("HardWorker", []).replace(enqueued_at=stamp).encode())
    r.sadd("queues", "default", "elsewhere")
    env = {**os.environ, "WORKER_OUT": str(tmp_path / "out.jsonl"), "PYTHONPATH": str(ROOT)}
    boot = "from verk_compat.cli import main; main()"
    cmd = [sys.executable, "-c", boot, "worker", "tests.support.worker_app:app"]
    cmd += ["--redis-url", redis_url, "--metrics-port", str(port), "-q", "default=2"]
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        deadline = time.monotonic() + 30
        key = ("verk_jobs_processed_total", (("class", "HardWorker"), ("queue", "default")))
        while time.monotonic() < deadline and found.get(key) != 3:
            with contextlib.suppress(OSError):
                found = _scrape(port)
            time.sleep(0.2)
        assert found.get(key) == 3, log.read_text()
        failing = (("class", "FailingJob"), ("queue", "default"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and found.get(("verk_jobs_failed_total", failing)) != 1:
            found = _scrape(port)
            time.sleep(0.2)
        assert found[("verk_jobs_failed_total", failing)] == 1
        assert found[("verk_jobs_retried_total", failing)] == 1
        assert found[("verk_job_duration_seconds_count", failing)] == 1
        assert found[("verk_queue_size", (("queue", "elsewhere"),))] == 1
        assert found[("verk_queue_size", (("queue", "default"),))] == 0
        assert found[("verk_set_size", (("set", "retry"),))] == 1
        concurrency = [v for (n, _), v in found.items() if n == "verk_process_concurrency"]
        assert concurrency == [2]
    finally:
        proc.terminate()
        proc.wait(30)
