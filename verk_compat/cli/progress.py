"""Migration progress: a bar with rate and time left on a terminal, plain lines otherwise.

:class:`MigrationProgress` is fed by :func:`verk_compat.migrate.migrate` (``progress`` lines and
``tick`` counts). On a terminal each key gets a click progress bar (count, percent, jobs per
second, time left), redrawn at most every 0.1 s; elsewhere (a log file, a pipe, CI) the engine's
plain lines, one per key and one per 1,000 jobs, pass through unchanged. Touches no key.
"""

from __future__ import annotations

import time
from typing import Any, TextIO

import click

from verk_compat.migrate import UnitReport

__all__ = ["MigrationProgress", "rate_text"]

#: Seconds between two redraws of a bar.
REDRAW = 0.1


def rate_text(done: int, total: int, seconds: float) -> str:
    """``2,500 jobs/s, 0:12 left`` (``- jobs/s`` before a rate can be measured)."""
    if done <= 0 or seconds <= 0:
        return "- jobs/s"
    rate = done / seconds
    left = round(max(total - done, 0) / rate)
    hours, rest = divmod(left, 3600)
    clock = (
        f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
    )
    return f"{rate:,.0f} jobs/s, {clock} left"


class MigrationProgress:
    """Shows a migration's progress on ``file`` (a bar when ``tty``, else plain lines)."""

    def __init__(self, file: TextIO, tty: bool) -> None:
        self.file, self.tty = file, tty
        #: Jobs between two plain lines (0 on a terminal: the bar shows them).
        self.every = 0 if tty else 1000
        self._bar: Any = None  # click's ProgressBar (its class is not public)
        self._rep: UnitReport | None = None
        self._started = self._drawn = 0.0
        self._shown = 0

    def line(self, text: str) -> None:
        """A progress line of the engine (a key starts, or a count when not on a terminal)."""
        self.close()
        click.echo(text, file=self.file)

    def tick(self, rep: UnitReport) -> None:
        """The counts of the key being migrated, before each job and once at its end."""
        if not self.tty or rep.before <= 0:
            return
        if rep is not self._rep:
            self._open(rep)
        done = rep.moved + rep.quarantined + rep.unchanged
        now = time.monotonic()
        if now - self._drawn < REDRAW and done < rep.before:
            return
        self._drawn = now
        self._bar.update(done - self._shown, rate_text(done, rep.before, now - self._started))
        self._shown = done

    def _open(self, rep: UnitReport) -> None:
        self.close()
        self._rep, self._shown = rep, 0
        self._started = self._drawn = time.monotonic()
        self._bar = click.progressbar(
            length=rep.before,
            label=f"  {rep.source}",
            file=self.file,
            show_eta=False,  # click's needs a second of history; rate_text's is exact
            show_pos=True,
            item_show_func=lambda item: item,
        )
        self._bar.__enter__()

    def close(self) -> None:
        """End the current bar (its last state stays on screen)."""
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
        self._bar, self._rep = None, None
