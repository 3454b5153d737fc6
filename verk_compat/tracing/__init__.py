"""OpenTelemetry traces across Ruby and Python (optional extra ``tracing``).

:class:`TraceClientMiddleware` (a client middleware) writes the current trace context into the
job payload and :class:`TraceServerMiddleware` (a worker middleware) reads it back and runs the
job in a ``<queue> process`` span. Both use the payload keys and span conventions of Ruby's
``opentelemetry-instrumentation-sidekiq``, so a trace crosses Rails, Ruby Sidekiq and
verk-compat in either direction; see ``docs/observability.md``.

Keys touched: none (the context travels inside the job payload).
"""

from __future__ import annotations

from verk_compat.tracing.middleware import (
    CONTEXT_KEYS,
    TraceClientMiddleware,
    TraceServerMiddleware,
    carrier_of,
)

__all__ = ["CONTEXT_KEYS", "TraceClientMiddleware", "TraceServerMiddleware", "carrier_of"]
