"""The dashboard's pages (GET): dashboard, busy, queues, one queue, the three sets, one job.

Keys read: ``stat:*`` and daily stats, ``queues``, ``queue:<q>``, ``schedule``, ``retry``,
``dead``, ``processes``, ``<identity>``, ``<identity>:work``/``:workers``, and ``INFO``.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import verk_compat.web.data as data
from verk_compat.api import DeadSet, JobSet, ProcessSet, Queue, RetrySet, ScheduledSet, Stats
from verk_compat.codec.job import now
from verk_compat.web.context import render, settings_of
from verk_compat.web.format import chart

__all__ = ["ROUTES", "SETS", "SetKind", "job_set"]

PER_PAGE = 25


class SetKind:
    """One of the three sorted sets as the dashboard shows it."""

    def __init__(self, cls: type[JobSet], title: str, actions: tuple[str, ...]) -> None:
        self.cls = cls
        self.title = title
        self.actions = actions


#: URL segment -> set. ``actions`` are the buttons, as Sidekiq Web offers them per set.
SETS: dict[str, SetKind] = {
    "retries": SetKind(RetrySet, "Retries", ("retry", "add_to_queue", "kill", "delete")),
    "scheduled": SetKind(ScheduledSet, "Scheduled", ("add_to_queue", "kill", "delete")),
    "morgue": SetKind(DeadSet, "Dead", ("retry", "delete")),
}


def job_set(request: Request, kind: str) -> JobSet:
    """The API object of set ``kind`` (404 for an unknown one)."""
    if kind not in SETS:
        raise HTTPException(404, f"no such set: {kind}")
    settings = settings_of(request)
    return SETS[kind].cls(settings.redis, keys=settings.keys)


def _int(request: Request, name: str, default: int) -> int:
    try:
        return int(request.query_params.get(name, default))
    except ValueError:
        return default


def dashboard(request: Request) -> Response:
    settings = settings_of(request)
    days = max(1, min(_int(request, "days", 30), 180))
    history = Stats(settings.redis, settings.keys).history(days)
    return render(
        request,
        "dashboard.html",
        title="Dashboard",
        chart=chart(history),
        days=days,
        info=data.redis_info(settings.redis),
    )


def busy(request: Request) -> Response:
    settings = settings_of(request)
    processes = sorted(ProcessSet(settings.redis, settings.keys), key=lambda p: p.identity)
    running = {
        p.identity: data.running_jobs(settings.redis, settings.keys, p.identity) for p in processes
    }
    return render(
        request, "busy.html", title="Busy", processes=processes, running=running, now=now()
    )


def queues(request: Request) -> Response:
    settings = settings_of(request)
    stamp = now()
    rows = [(q.name, q.size(), q.latency(stamp)) for q in Queue.all(settings.redis, settings.keys)]
    return render(request, "queues.html", title="Queues", rows=rows)


def queue(request: Request) -> Response:
    settings = settings_of(request)
    name = request.path_params["name"]
    q = Queue(settings.redis, name, keys=settings.keys)
    records, where = data.queue_page(q, _int(request, "page", 1), _int(request, "per", PER_PAGE))
    rows = [(data.digest(r.raw), r) for r in records]
    return render(
        request, "queue.html", title=f"Queue {name}", name=name, rows=rows, paging=where,
        latency=q.latency(),
    )  # fmt: skip


def sorted_set(request: Request) -> Response:
    kind = request.path_params["kind"]
    jobs = job_set(request, kind)
    text = request.query_params.get("q", "").strip()
    where: data.Paging | None = None
    if text:
        entries = data.search_set(jobs, text)
    else:
        entries, where = data.set_page(
            jobs, _int(request, "page", 1), _int(request, "per", PER_PAGE)
        )
    rows = [(data.entry_id(e), e) for e in entries]
    meta = SETS[kind]
    return render(
        request, "set.html", title=meta.title, kind=kind, meta=meta, rows=rows, paging=where,
        q=text,
    )  # fmt: skip


def job(request: Request) -> Response:
    kind, ident = request.path_params["kind"], request.path_params["ident"]
    jobs = job_set(request, kind)
    try:
        entry = data.find_entry(jobs, ident)
    except ValueError as exc:
        raise HTTPException(404, str(exc)) from None
    if entry is None:
        raise HTTPException(404, "this job is no longer in the set")
    context: dict[str, Any] = {
        "entry": entry,
        "ident": ident,
        "backtrace": data.backtrace_of(entry),
    }
    extra = {} if entry.job is None else {k: bytes(v).decode() for k, v in entry.job.extra.items()}
    return render(
        request, "job.html", title=f"{SETS[kind].title}: job", kind=kind, meta=SETS[kind],
        extra=extra, **context,
    )  # fmt: skip


ROUTES = [
    Route("/", dashboard),
    Route("/busy", busy),
    Route("/queues", queues),
    Route("/queues/{name:str}", queue),
    Route("/{kind:str}", sorted_set),
    Route("/{kind:str}/{ident:str}", job),
]
