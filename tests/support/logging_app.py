"""A worker app with its own ``logging`` set-up, made at import (``tests.support.logging_app:app``).

Its format shows the file, line and thread of each record and a request id that a logging
filter reads from a context variable, which a server middleware sets around every job.
``UserJob`` (sync) logs one line; ``Boom`` raises. With ``LOGGING_APP_HOOK`` set, a startup
hook (run after the CLI set up its own logging) adds a handler of the user's to ``userapp``
whose lines start with ``HOOK`` and show the file, line and thread.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys

from verk_compat.worker.app import App
from verk_compat.worker.lifecycle import ProcessContext
from verk_compat.worker.middleware import JobContext, Next

app = App()
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("REQUEST_ID", default="-")
log = logging.getLogger("userapp")


class RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


_handler = logging.StreamHandler(sys.stdout)
_handler.addFilter(RequestId())
_handler.setFormatter(
    logging.Formatter("USER %(levelname)s %(filename)s:%(lineno)d rid=%(request_id)s %(message)s")
)
logging.basicConfig(level=logging.INFO, handlers=[_handler], force=True)


async def request_id(ctx: JobContext, call_next: Next) -> None:
    REQUEST_ID.set(f"req-{ctx.job.jid}")
    await call_next()


app.middleware.append(request_id)


@app.on_startup
def user_handler(_context: ProcessContext) -> None:
    if os.environ.get("LOGGING_APP_HOOK"):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(
            logging.Formatter("HOOK %(filename)s:%(lineno)d %(threadName)s %(message)s")
        )
        log.addHandler(handler)


@app.job("UserJob")
def user_job(i: int) -> None:
    log.info("user line %d", i)


@app.job("Boom")
def boom() -> None:
    raise ValueError("boom on purpose")
