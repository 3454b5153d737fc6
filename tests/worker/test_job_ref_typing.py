"""What mypy sees of a typed job handle (``mypy --strict`` checks this file, with
``warn_unused_ignores``: each ``type: ignore`` below is an error mypy must report)."""

from __future__ import annotations

from typing import assert_type

import pytest

from verk_compat.devtools.testing import FakeAsyncClient, FakeClient
from verk_compat.worker.app import App
from verk_compat.worker.job_ref import AsyncBound, Bound, JobRef

app = App()


@app.job("HardWorker", queue="critical")
def hard_worker(n: int, name: str) -> str:
    return f"{n}-{name}"


@app.job("Billing::Charge")
class Charge:
    def perform(self, cents: int) -> None:
        pass


def wrong_calls_mypy_refuses(fake: FakeClient) -> None:
    """Never run: each line is a call mypy must refuse (else its ignore is unused)."""
    hard_worker.enqueue("one", "two")  # type: ignore[arg-type]
    hard_worker.enqueue(1)  # type: ignore[call-arg]
    hard_worker.enqueue(1, "two", 3)  # type: ignore[call-arg]
    hard_worker.enqueue(1, nmae="two")  # type: ignore[call-arg]
    hard_worker.enqueue_in(60, 1, 2)  # type: ignore[arg-type]
    hard_worker.schedule(1e9, "x", "y")  # type: ignore[arg-type]
    hard_worker.using(fake).enqueue(1, 2)  # type: ignore[arg-type]
    hard_worker("1", "two")  # type: ignore[arg-type]


def test_handle_types() -> None:
    ref: JobRef[[int, str], str] = hard_worker
    assert ref is hard_worker
    assert_type(hard_worker(1, "two"), str)
    assert_type(Charge, type[Charge])  # a class comes back as it is
    fake = FakeClient(app)
    bound: Bound[[int, str]] = hard_worker.using(fake)
    async_bound: AsyncBound[[int, str]] = hard_worker.using(FakeAsyncClient(app))
    assert isinstance(bound, Bound) and isinstance(async_bound, AsyncBound)
    jid = hard_worker.using(fake).enqueue(1, "two")
    assert_type(jid, str)
    assert [job.args for job in fake.jobs("critical")] == [[1, "two"]]
    with pytest.raises(TypeError, match="missing a required argument"):
        hard_worker.using(fake).enqueue(1)  # type: ignore[call-arg]
