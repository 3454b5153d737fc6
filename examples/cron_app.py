"""Periodic jobs shared with Ruby's sidekiq-cron: run with

    REDIS_URL=redis://localhost:6379/0 verk-compat worker examples.cron_app:app
    verk-compat cron list

Every worker process (Python or Ruby with sidekiq-cron) polls the same entries; each tick is
enqueued once. ``examples/schedule.toml`` shows the file form (``config/schedule.yml`` works too).
"""

from __future__ import annotations

from pathlib import Path

from verk_compat.app import App
from verk_compat.worker.cron import load_schedule

app = App()


@app.job("ReportJob")
def report(kind: str) -> None:
    print(f"building the {kind} report")


# Every 5 minutes, to queue "default"; shows in Ruby's Sidekiq::Cron::Job.all as "report".
app.cron("report", "*/5 * * * *", "ReportJob", args=["sales"], description="sales report")
# Entries from a file, in sidekiq-cron's schedule format.
app.add_cron(*load_schedule(Path(__file__).with_name("schedule.toml")))
