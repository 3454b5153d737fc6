"""Resque payloads: ``{"class": "...", "args": [...]}`` and nothing else.

Resque (and resque-scheduler) write only ``class`` and ``args``; the queue is the list the
payload sits in, there is no jid, retry or timestamp. Reading one is reading a Sidekiq payload
that lacks most keys, so ``Job.decode_resque`` is the Sidekiq decoder (any Sidekiq-named key a
Resque payload carries is read and checked as a field; the rest go to ``extra``). Writing one
keeps exactly the two keys Resque reads, ``args`` as decoded. Keys touched: none.
"""

from __future__ import annotations

from verk_compat.codec._encode import Job, args_raw
from verk_compat.codec.ruby_json import ENCODER

__all__ = ["encode_resque"]


def encode_resque(job: Job) -> bytes:
    """``job`` as Resque writes jobs: compact ``{"class":..,"args":..}``."""
    return ENCODER.encode({"class": job._w.class_name, "args": args_raw(job)})
