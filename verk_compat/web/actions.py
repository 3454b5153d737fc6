"""The dashboard's buttons (POST): quiet/stop a process, delete/clear in a queue, and the set
actions (Retry now, Add to queue, Kill, Delete), one job, the selected ones, or all.

Each form names jobs as :mod:`verk_compat.web.data` does, so every action acts on the exact
member bytes the page showed; a job that has moved meanwhile is skipped, never guessed at.
Every handler first passes :func:`~verk_compat.web.app.checked_form` (CSRF, read-only).

Keys written: ``<identity>-signals``; ``queue:<q>`` (LREM, UNLINK), ``queues`` (SREM);
``schedule``/``retry``/``dead`` (ZREM, UNLINK, and the move scripts of
:mod:`verk_compat.api.sets`, which LPUSH to ``queue:<q>`` and ZADD to ``dead``).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import verk_compat.web.data as data
from verk_compat.api import JobSet, ProcessSet, Queue, SortedEntry
from verk_compat.errors import InvalidJob
from verk_compat.web.context import back, checked_form, settings_of
from verk_compat.web.pages import SETS, job_set

__all__ = ["ROUTES", "apply", "apply_all"]


def _one(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[0]


async def process_signal(request: Request) -> Response:
    form = await checked_form(request)
    if isinstance(form, Response):
        return form
    settings = settings_of(request)
    action, identity = _one(form, "action"), _one(form, "identity")
    processes = ProcessSet(settings.redis, settings.keys)
    if action not in ("quiet", "stop"):
        raise HTTPException(400, f"unknown action: {action}")
    targets = [p.identity for p in processes] if identity == "*" else [identity]
    for target in targets:
        await run_in_threadpool(processes.quiet if action == "quiet" else processes.stop, target)
    return back(request, "/busy")


async def queue_action(request: Request) -> Response:
    form = await checked_form(request)
    if isinstance(form, Response):
        return form
    settings = settings_of(request)
    name = request.path_params["name"]
    q = Queue(settings.redis, name, keys=settings.keys)
    action = _one(form, "action")
    if action == "clear":
        await run_in_threadpool(q.clear)
        return back(request, "/queues")
    if action != "delete":
        raise HTTPException(400, f"unknown action: {action}")
    for key in form.get("key", []):
        record = await run_in_threadpool(data.find_queued, q, key)
        if record is not None:
            await run_in_threadpool(q.delete, record)
    return back(request, f"/queues/{name}")


def apply(jobs: JobSet, action: str, entry: SortedEntry) -> bool:
    """Do ``action`` to one entry; False when it had already gone (or cannot be moved)."""
    try:
        if action == "delete":
            return jobs.delete(entry)
        if action == "retry":
            return jobs.retry(entry)
        if action == "add_to_queue":
            return jobs.add_to_queue(entry)
        if action == "kill":
            return bool(getattr(jobs, "kill")(entry))  # noqa: B009 (only killable sets offer it)
    except InvalidJob:
        return False
    raise ValueError(f"unknown action: {action}")


def apply_all(jobs: JobSet, action: str) -> int:
    """Do ``action`` to the whole set; how many jobs it moved or removed."""
    if action == "delete":
        return jobs.delete_all()
    if action == "retry":
        return jobs.retry_all()
    if action == "add_to_queue":
        return jobs.add_all_to_queue()
    if action == "kill":
        return int(getattr(jobs, "kill_all")())  # noqa: B009
    raise ValueError(f"unknown action: {action}")


def _selected(jobs: JobSet, action: str, idents: list[str]) -> int:
    done = 0
    for ident in idents:
        try:
            entry = data.find_entry(jobs, ident)
        except ValueError:
            continue
        if entry is not None and apply(jobs, action, entry):
            done += 1
    return done


async def set_action(request: Request) -> Response:
    form = await checked_form(request)
    if isinstance(form, Response):
        return form
    kind = request.path_params["kind"]
    jobs = job_set(request, kind)
    action, scope = _one(form, "action"), _one(form, "scope")
    if action not in SETS[kind].actions:
        raise HTTPException(400, f"{kind} has no action {action!r}")
    if scope == "all":
        await run_in_threadpool(apply_all, jobs, action)
    else:
        await run_in_threadpool(_selected, jobs, action, form.get("key", []))
    return back(request, f"/{kind}")


ROUTES = [
    Route("/busy", process_signal, methods=["POST"]),
    Route("/queues/{name:str}", queue_action, methods=["POST"]),
    Route("/{kind:str}", set_action, methods=["POST"]),
]
