"""Job counters and durations from the worker's events (no change to the processor).

Metric names (labels ``class``, ``queue``):

* ``verk_jobs_processed_total``: executions that ended, failures included (Sidekiq's
  ``processed`` counts the same way).
* ``verk_jobs_failed_total``: executions that raised.
* ``verk_jobs_retried_total``: executions of a job that had failed before (its payload has
  ``retry_count``: it came back from the retry set, or "Retry now").
* ``verk_job_duration_seconds``: histogram of execution time, failures included.

Keys touched: none.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from verk_compat.codec.job import Job
from verk_compat.worker.events import Event, EventManager, JobFailed, JobFinished, JobStarted

__all__ = ["BUCKETS", "JobMetrics", "job_labels"]

#: Seconds; jobs run from milliseconds to many minutes.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


def job_labels(job: Job, queue: str) -> tuple[str, str]:
    """``(class, queue)`` labels: the wrapped class for ActiveJob payloads, as Sidekiq shows."""
    return (job.wrapped or job.class_name, queue)


class JobMetrics:
    """Counters and a histogram in ``registry``; subscribe :meth:`handle` to an EventManager.

    Args:
        registry: Where the metrics live (a fresh one when ``None``).
        prefix: Metric name prefix.
    """

    def __init__(self, registry: CollectorRegistry | None = None, prefix: str = "verk") -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        labels = ("class", "queue")
        self.processed = Counter(
            f"{prefix}_jobs_processed", "Job executions that ended.", labels, registry=self.registry
        )
        self.failed = Counter(
            f"{prefix}_jobs_failed", "Job executions that raised.", labels, registry=self.registry
        )
        self.retried = Counter(
            f"{prefix}_jobs_retried",
            "Executions of jobs that had failed before.",
            labels,
            registry=self.registry,
        )
        self.duration = Histogram(
            f"{prefix}_job_duration_seconds",
            "Job execution time.",
            labels,
            buckets=BUCKETS,
            registry=self.registry,
        )

    def attach(self, events: EventManager) -> JobMetrics:
        """Subscribe to ``events`` (a worker app's ``app.events``); returns self."""
        events.subscribe(self.handle)
        return self

    def handle(self, event: Event) -> None:
        """Count one lifecycle event (other events are ignored)."""
        if isinstance(event, JobStarted):
            if event.job.retry_count is not None:
                self.retried.labels(*job_labels(event.job, event.queue)).inc()
        elif isinstance(event, JobFinished):
            self._ended(event.job, event.queue, event.finished_at - event.started_at)
        elif isinstance(event, JobFailed):
            self.failed.labels(*job_labels(event.job, event.queue)).inc()
            self._ended(event.job, event.queue, event.failed_at - event.started_at)

    def _ended(self, job: Job, queue: str, seconds: float) -> None:
        labels = job_labels(job, queue)
        self.processed.labels(*labels).inc()
        self.duration.labels(*labels).observe(max(0.0, seconds))
