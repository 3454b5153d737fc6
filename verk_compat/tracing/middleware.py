"""Trace context in Sidekiq payloads, the way Ruby's OpenTelemetry Sidekiq instrumentation
writes it, and a span per job.

Ruby's client middleware calls ``OpenTelemetry.propagation.inject(job)``: the job hash itself
is the carrier, so the configured propagators (by default W3C trace context and baggage) add
top-level string keys to the payload: ``traceparent``, ``tracestate`` (when not empty) and
``baggage`` (when not empty). Its server middleware calls ``propagation.extract(msg)`` on the
same keys. Here the global OpenTelemetry propagator (``opentelemetry.propagate``, also
tracecontext + baggage unless ``OTEL_PROPAGATORS`` says otherwise) injects into and extracts
from those keys, so both stacks read each other's payloads.

Spans follow the Ruby instrumentation: ``<queue> publish`` (PRODUCER) and ``<queue> process``
(CONSUMER), or ``<class> publish|process`` with ``span_naming="job_class"``; attributes
``messaging.system`` = ``sidekiq``, ``messaging.sidekiq.job_class``, ``messaging.message_id``,
``messaging.destination``, ``messaging.destination_kind`` = ``queue`` and, on process,
``messaging.operation`` = ``process``; events ``created_at`` and ``enqueued_at``.
``propagation_style`` is Ruby's option: ``link`` (its default: the job span starts a new trace
linked to the enqueuer's span), ``child`` (the job span joins the enqueuer's trace) or ``none``.

Keys touched: none.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import msgspec
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from verk_compat.codec.job import Job
from verk_compat.worker.middleware import JobContext

__all__ = ["CONTEXT_KEYS", "TraceClientMiddleware", "TraceServerMiddleware", "carrier_of"]

#: Payload keys the default propagators use (W3C trace context, W3C baggage).
CONTEXT_KEYS = ("traceparent", "tracestate", "baggage")

Style = Literal["link", "child", "none"]
Naming = Literal["queue", "job_class"]
_TRACER = "verk_compat.tracing"


def carrier_of(job: Job) -> dict[str, str]:
    """The payload's top-level string keys, as a propagator carrier (other values skipped)."""
    carrier: dict[str, str] = {}
    for key, raw in job.extra.items():
        try:
            value = json.loads(bytes(raw))
        except ValueError:
            continue
        if isinstance(value, str):
            carrier[key] = value
    return carrier


def _class(job: Job) -> str:
    return job.wrapped or job.class_name


def _attributes(job: Job, queue: str) -> dict[str, str]:
    return {
        "messaging.system": "sidekiq",
        "messaging.sidekiq.job_class": _class(job),
        "messaging.message_id": job.jid or "",
        "messaging.destination": queue,
        "messaging.destination_kind": "queue",
    }


def _span_name(job: Job, queue: str, naming: Naming, operation: str) -> str:
    return f"{_class(job) if naming == 'job_class' else queue} {operation}"


def _ns(epoch: float | None) -> int | None:
    return None if epoch is None else int(epoch * 1_000_000_000)


class TraceClientMiddleware:
    """Client middleware (``Job -> Job``): a ``publish`` span, and its context in the payload.

    The span covers building the job, not the Redis write (a client middleware here returns the
    job instead of wrapping the push).

    Args:
        tracer_provider: Where spans go (the global provider when ``None``).
        span_naming: ``queue`` (Ruby's default) or ``job_class``.
    """

    def __init__(
        self, tracer_provider: trace.TracerProvider | None = None, span_naming: Naming = "queue"
    ) -> None:
        self.tracer = trace.get_tracer(_TRACER, tracer_provider=tracer_provider)
        self.span_naming: Naming = span_naming

    def __call__(self, job: Job) -> Job:
        queue = job.queue or "default"
        name = _span_name(job, queue, self.span_naming, "publish")
        attributes = _attributes(job, queue)
        with self.tracer.start_as_current_span(
            name, kind=SpanKind.PRODUCER, attributes=attributes
        ) as span:
            if job.created_at is not None:
                span.add_event("created_at", timestamp=_ns(job.created_at))
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
        if not carrier:
            return job
        extra = dict(job.extra)
        for key, value in carrier.items():
            extra[key] = msgspec.Raw(json.dumps(value).encode())
        return job.replace(extra=extra)


class TraceServerMiddleware:
    """Worker middleware: runs each job in a ``process`` span, continuing the payload's trace.

    Args:
        tracer_provider: Where spans go (the global provider when ``None``).
        propagation_style: ``link`` (Ruby's default), ``child`` or ``none``.
        span_naming: ``queue`` (Ruby's default) or ``job_class``.
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        propagation_style: Style = "link",
        span_naming: Naming = "queue",
    ) -> None:
        if propagation_style not in ("link", "child", "none"):
            raise ValueError(f"propagation_style must be link, child or none: {propagation_style}")
        self.tracer = trace.get_tracer(_TRACER, tracer_provider=tracer_provider)
        self.style: Style = propagation_style
        self.span_naming: Naming = span_naming

    def _parent(self, job: Job) -> tuple[otel_context.Context, list[Link]]:
        """The context to run the job in (baggage included) and the links of its span."""
        extracted = propagate.extract(carrier_of(job))
        if self.style == "child":
            return extracted, []
        span_context = trace.get_current_span(extracted).get_span_context()
        links = [Link(span_context)] if self.style == "link" and span_context.is_valid else []
        # A root span (the job starts its own trace); baggage still comes along.
        return trace.set_span_in_context(trace.INVALID_SPAN, extracted), links

    async def __call__(self, ctx: JobContext, call_next: Callable[[], Awaitable[None]]) -> None:
        job = ctx.job
        parent, links = self._parent(job)
        attributes: dict[str, Any] = {**_attributes(job, ctx.queue)}
        attributes["messaging.operation"] = "process"
        name = _span_name(job, ctx.queue, self.span_naming, "process")
        # Attached (not only passed as the span's parent) so the job sees the baggage too.
        token = otel_context.attach(parent)
        try:
            with self.tracer.start_as_current_span(
                name,
                kind=SpanKind.CONSUMER,
                attributes=attributes,
                links=links,
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                for event in ("created_at", "enqueued_at"):
                    stamp = getattr(job, event)
                    if stamp is not None:
                        span.add_event(event, timestamp=_ns(stamp))
                try:
                    await call_next()
                except BaseException as exc:
                    span.record_exception(exc)
                    message = f"Unhandled exception of type: {type(exc).__name__}"
                    span.set_status(Status(StatusCode.ERROR, message))
                    raise
        finally:
            otel_context.detach(token)
