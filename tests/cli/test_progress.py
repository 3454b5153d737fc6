"""Issue 9 item 14: migration progress is a bar with rate and time left on a terminal, and
plain lines (one per key, one per 1,000 jobs) everywhere else."""

from __future__ import annotations

import io

import pytest
import redis
from click.testing import CliRunner

from verk_compat.cli import main
from verk_compat.cli import progress as progress_module
from verk_compat.cli.progress import MigrationProgress, rate_text
from verk_compat.keys import Keys
from verk_compat.migrate import UnitReport, migrate


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def seed(r: redis.Redis, jobs: int) -> None:
    ns = Keys("old")
    r.sadd(ns.queues, "default")
    payloads = [f'{{"class":"A","args":[{i}],"jid":"j{i}","queue":"default"}}' for i in range(jobs)]
    r.lpush(ns.queue("default"), *payloads)


def test_rate_text() -> None:
    assert rate_text(0, 10, 1.0) == "- jobs/s"
    assert rate_text(5000, 35000, 2.0) == "2,500 jobs/s, 0:12 left"
    assert rate_text(1, 7202, 1.0) == "1 jobs/s, 2:00:01 left"
    assert rate_text(10, 10, 1.0) == "10 jobs/s, 0:00 left"


def test_a_terminal_gets_a_bar_with_rate_and_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "REDRAW", 0.0)
    screen = Terminal()
    shown = MigrationProgress(screen, tty=True)
    assert shown.every == 0  # no count lines: the bar shows the count
    rep = UnitReport("queue:a", "queue:b", before=3000)
    shown.line("queue:a -> queue:b: 3000 element(s)")
    for done in range(0, 3001, 500):
        rep.moved = done
        shown.tick(rep)
    shown.close()
    text = screen.getvalue()
    assert "queue:a -> queue:b: 3000 element(s)\n" in text
    assert "  queue:a" in text and "1500/3000" in text and "3000/3000" in text
    assert "jobs/s, " in text and " left" in text


def test_not_a_terminal_keeps_plain_lines() -> None:
    out = io.StringIO()
    shown = MigrationProgress(out, tty=False)
    assert shown.every == 1000
    shown.line("  queue:a -> queue:b: 1000/3000")
    shown.tick(UnitReport("queue:a", "queue:b", before=3000, moved=1000))
    assert out.getvalue() == "  queue:a -> queue:b: 1000/3000\n"


def test_a_real_migration_feeds_the_bar(r: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "REDRAW", 0.0)
    seed(r, 1500)
    screen = Terminal()
    shown = MigrationProgress(screen, tty=True)
    result = migrate(
        "namespace", r, namespace="old", progress=shown.line, every=shown.every, tick=shown.tick
    )
    shown.close()
    assert result.ok
    text = screen.getvalue()
    assert "1500/1500" in text and "jobs/s" in text
    assert "1000/1500\n" not in text  # no plain count line under the bar


def test_the_command_writes_plain_lines_when_not_a_terminal(r: redis.Redis, redis_url: str) -> None:
    seed(r, 2500)
    args = ["migrate", "namespace", "--namespace", "old", "--from-url", redis_url]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "  old:queue:default -> queue:default: 2000/2500\n" in result.output
    assert "\r" not in result.output and "jobs/s" not in result.output
