"""Trace context across the payload: written by the Python client (or Ruby Sidekiq's client)
under the keys Ruby's OpenTelemetry Sidekiq instrumentation uses, read back by the worker's
tracing middleware (opentelemetry-sdk, in-memory exporter)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
import redis
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.support.ruby import ruby_eval
from verk_compat.client.client import Client
from verk_compat.tracing import TraceClientMiddleware, TraceServerMiddleware
from verk_compat.worker.app import App
from verk_compat.worker.launcher import Worker

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


@pytest.fixture
def spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def traced_app(provider: TracerProvider, style: Any, seen: list[dict[str, Any]]) -> App:
    app = App()
    app.middleware.append(TraceServerMiddleware(provider, propagation_style=style))

    @app.job("TracedJob")
    async def traced_job(n: int) -> None:
        context = trace.get_current_span().get_span_context()
        seen.append({"trace_id": context.trace_id, "baggage": baggage.get_all()})

    @app.job("BrokenJob")
    async def broken_job() -> None:
        raise ValueError("no luck")

    return app


async def run_worker(app: App, redis_url: str) -> None:
    worker = Worker(app, {"default": 2}, redis_url=redis_url, burst=True, block_timeout=0.2)
    try:
        await asyncio.wait_for(worker.run(), 20)
    finally:
        await worker.aclose()


def by_name(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


async def test_python_client_context_is_continued_by_the_worker_as_a_child(
    redis_url: str, r: redis.Redis, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    tracer = provider.get_tracer("test")
    with (
        tracer.start_as_current_span("GET /orders") as request_span,
        Client(redis_url, middleware=[TraceClientMiddleware(provider)]) as client,
    ):
        token = otel_context.attach(baggage.set_baggage("tenant", "acme"))
        try:
            jid = client.enqueue("TracedJob", [1])
        finally:
            otel_context.detach(token)
    request_trace = request_span.get_span_context().trace_id
    payload = json.loads(r.lindex("queue:default", 0) or b"{}")
    found = TRACEPARENT.match(payload["traceparent"])
    assert found is not None and int(found.group(1), 16) == request_trace
    assert payload["baggage"] == "tenant=acme" and payload["jid"] == jid
    seen: list[dict[str, Any]] = []
    await run_worker(traced_app(provider, "child", seen), redis_url)
    (publish,) = by_name(exporter, "default publish")
    (process,) = by_name(exporter, "default process")
    assert publish.kind is SpanKind.PRODUCER and process.kind is SpanKind.CONSUMER
    assert publish.context.trace_id == process.context.trace_id == request_trace
    assert process.parent is not None and process.parent.span_id == publish.context.span_id
    assert int(found.group(2), 16) == publish.context.span_id
    assert seen == [{"trace_id": request_trace, "baggage": {"tenant": "acme"}}]
    attributes = dict(process.attributes or {})
    assert attributes["messaging.system"] == "sidekiq"
    assert attributes["messaging.sidekiq.job_class"] == "TracedJob"
    assert attributes["messaging.message_id"] == jid
    assert attributes["messaging.destination"] == "default"
    assert attributes["messaging.operation"] == "process"
    assert [e.name for e in process.events] == ["created_at", "enqueued_at"]


async def test_link_style_starts_a_new_trace_linked_to_the_enqueuer(
    redis_url: str, r: redis.Redis, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    with (
        provider.get_tracer("test").start_as_current_span("rails"),
        Client(redis_url, middleware=[TraceClientMiddleware(provider)]) as client,
    ):
        client.enqueue("TracedJob", [2])
    await run_worker(traced_app(provider, "link", []), redis_url)
    (publish,) = by_name(exporter, "default publish")
    (process,) = by_name(exporter, "default process")
    assert process.parent is None
    assert process.context.trace_id != publish.context.trace_id
    assert [link.context.span_id for link in process.links] == [publish.context.span_id]


async def test_a_failing_job_marks_its_span_as_an_error(
    redis_url: str, r: redis.Redis, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    with Client(redis_url) as client:
        client.enqueue("BrokenJob", [])
    await run_worker(traced_app(provider, "child", []), redis_url)
    (process,) = by_name(exporter, "default process")
    assert process.status.status_code is StatusCode.ERROR
    assert "ValueError" in (process.status.description or "")
    assert [e.name for e in process.events][-1] == "exception"
    assert r.zcard("retry") == 1


def test_bad_propagation_style_is_refused() -> None:
    with pytest.raises(ValueError, match="propagation_style"):
        TraceServerMiddleware(propagation_style="sideways")  # type: ignore[arg-type]


@pytest.mark.interop
async def test_ruby_written_traceparent_is_continued_by_the_python_worker(
    redis_url: str, r: redis.Redis, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    # What opentelemetry-instrumentation-sidekiq's client middleware leaves in the job hash
    # (propagation.inject(job)): top-level "traceparent" (and "tracestate" when set).
    trace_id, span_id = "4bf92f3577b34e4f" * 2, "00f067aa0ba902b7"
    ruby_eval(
        "Sidekiq::Client.push('class' => 'TracedJob', 'args' => [3], "
        f"'traceparent' => '00-{trace_id}-{span_id}-01', 'tracestate' => 'rojo=00f067aa0ba902b7')",
        redis_url,
    )
    provider, exporter = spans
    seen: list[dict[str, Any]] = []
    await run_worker(traced_app(provider, "child", seen), redis_url)
    (process,) = by_name(exporter, "default process")
    assert process.context.trace_id == int(trace_id, 16)
    assert process.parent is not None and process.parent.span_id == int(span_id, 16)
    assert process.context.trace_state.get("rojo") == "00f067aa0ba902b7"
    assert seen[0]["trace_id"] == int(trace_id, 16)


@pytest.mark.interop
def test_python_written_context_is_where_ruby_extracts_it(
    redis_url: str, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    # Ruby's server middleware calls propagation.extract(msg): the parsed job hash, string keys.
    provider, _exporter = spans
    with (
        provider.get_tracer("test").start_as_current_span("django view") as view,
        Client(redis_url, middleware=[TraceClientMiddleware(provider)]) as client,
    ):
        client.enqueue("RubyJob", [1])
    code = "job = Sidekiq::Queue.new('default').first.item\nputs JSON.generate(job)"
    item = json.loads(ruby_eval(code, redis_url).strip().splitlines()[-1])
    found = TRACEPARENT.match(item["traceparent"])
    assert found is not None and int(found.group(1), 16) == view.get_span_context().trace_id
