"""The worker runtime, in Verk's shape and Sidekiq's names.

``launcher`` (:class:`Worker`) starts one ``manager`` per queue; each manager's ``fetch`` loop
moves jobs into an in-progress list, its ``processor`` runs them (``sync_pool`` for plain
functions) through the ``middleware`` chain and reports ``events``; ``retry`` decides what a
failure becomes; ``scheduler`` moves due retries and scheduled jobs back to their queues;
``heartbeat``/``process_info`` keep the process visible to Sidekiq Web; ``orphans`` recovers
dead processes' jobs; ``counters`` keeps ``stat:processed``/``stat:failed``; ``signals``
handles OS signals and Web's Quiet/Stop.
"""

from __future__ import annotations

from verk_compat.worker.app import App
from verk_compat.worker.launcher import Worker
from verk_compat.worker.sharded import ShardedWorker

__all__ = ["App", "ShardedWorker", "Worker"]
