"""Jobs for the CLI and interop tests (``verk-compat worker tests.support.worker_app:app``).

Each job appends one JSON line ``{"class", "args", "jid"?}`` to the file named by
``WORKER_OUT``; ``SlowJob`` sleeps ``args[1]`` seconds first.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from verk_compat.worker.app import App

app = App()
_lock = threading.Lock()


def runs(out: Path) -> Counter[int]:
    """How many times each job ran, by its first argument, from a ``WORKER_OUT`` file (a torn
    last line, mid-write, is skipped)."""
    counts: Counter[int] = Counter()
    if out.exists():
        for line in out.read_text().splitlines():
            try:
                counts[json.loads(line)["args"][0]] += 1
            except (ValueError, KeyError, IndexError):
                continue
    return counts


def record(name: str, args: list[Any]) -> None:
    line = json.dumps({"class": name, "args": args}) + "\n"
    with _lock, open(os.environ["WORKER_OUT"], "a", encoding="utf-8") as fh:
        fh.write(line)


@app.job("HardWorker")
def hard_worker(*args: Any) -> None:
    record("HardWorker", list(args))


@app.job("AsyncWorker")
async def async_worker(*args: Any) -> None:
    record("AsyncWorker", list(args))


@app.job("SlowJob")
def slow_job(i: int, seconds: float) -> None:
    time.sleep(seconds)
    record("SlowJob", [i, seconds])


@app.job("FailingJob")
def failing_job(*args: Any) -> None:
    raise RuntimeError(f"failing on purpose: {args!r}")


@app.job("ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper")
def active_job_wrapper(job_data: dict[str, Any]) -> None:
    record(str(job_data.get("job_class")), list(job_data.get("arguments", [])))
