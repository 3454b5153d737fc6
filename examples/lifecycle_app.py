"""Lifecycle hooks and a per-process resource: run with

    verk-compat worker examples.lifecycle_app:app
    verk-compat health            # exit 0 while this host's workers heartbeat

The startup hook opens the resource before the process fetches a job; jobs read it from
``app.context``; the shutdown hook closes it once every job has finished.
"""

from __future__ import annotations

import sqlite3

from verk_compat.app import App
from verk_compat.worker.lifecycle import ProcessContext

app = App()


@app.on_startup
def open_database(ctx: ProcessContext) -> None:
    ctx.db = sqlite3.connect(":memory:", check_same_thread=False)
    ctx.db.execute("create table visits (page text)")


@app.on_shutdown
async def close_database(ctx: ProcessContext) -> None:
    ctx.db.close()


@app.job("CountVisit")
def count_visit(page: str) -> None:
    db = app.context.db  # this process's connection, opened by the startup hook
    db.execute("insert into visits values (?)", (page,))
