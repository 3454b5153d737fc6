"""The commands the client sends, seen by Redis MONITOR, against the ones Ruby Sidekiq sent.

``monitor_client_commands.json`` holds the MONITOR lines of Sidekiq 6.4.1's ``perform_async``,
``perform_in`` and ``push_bulk``; the Python client must send the same commands (no MULTI, SADD
then one variadic LPUSH; ZADD with a float-string score), differing only in jids and times.
"""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from verk_compat.client.client import Client
from verk_compat.devtools.redis_server import EmbeddedRedis

_ROOT = Path(__file__).resolve().parents[2]
_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')


_PUSHED = ["args", "class", "created_at", "enqueued_at", "jid", "queue", "retry"]
_SCHEDULED = ["args", "class", "created_at", "jid", "queue", "retry"]
#: shape() of each recorded command, kept here so the test runs where the fixture is absent.
RECORDED = {
    "perform_async": [("sadd", "queues", 1, []), ("lpush", "queue:default", 1, [_PUSHED])],
    "perform_in": [("zadd", "schedule", 2, [_SCHEDULED])],
    "push_bulk": [("sadd", "queues", 1, []), ("lpush", "queue:default", 2, [_PUSHED] * 2)],
}


def recorded() -> dict[str, list[tuple[Any, ...]]]:
    """The recorded command shapes, checked against the recorded MONITOR fixture."""
    path = _ROOT / "fixtures" / "sidekiq-6.4.1" / "monitor_client_commands.json"
    lines: dict[str, list[str]] = json.loads(path.read_text())["commands"]
    shapes = {label: [shape(parse(x)) for x in got] for label, got in lines.items()}
    assert shapes == RECORDED
    return RECORDED


def parse(line: str) -> list[str]:
    """The arguments of a MONITOR line (still escaped the MONITOR way)."""
    return _ARG.findall(line.split("] ", 1)[1])


def shape(args: list[str]) -> tuple[Any, ...]:
    """What must match Ruby: command, key, argument count, score format, payload keys."""
    name, key, *rest = args
    name = name.lower()  # redis-rb sends lowercase names, redis-py uppercase: same command
    if name == "zadd":
        score, member = rest
        assert re.fullmatch(r"\d{10}\.\d+", score), score
        payloads = [member]
    else:
        payloads = [] if name == "sadd" else rest
    keys = [sorted(json.loads(p.replace('\\"', '"'))) for p in payloads]
    return (name, key, len(rest), keys)


class Monitor:
    """A raw MONITOR connection: the exact lines Redis prints for each command."""

    def __init__(self, server: EmbeddedRedis) -> None:
        self.sock = socket.create_connection((server.host, server.port), timeout=5)
        self.sock.sendall(b"MONITOR\r\n")
        self.buf = b""
        assert self._line() == "+OK"

    def _line(self) -> str:
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(1 << 20)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def commands(self, count: int) -> list[list[str]]:
        """The next ``count`` writes (the connection handshake is skipped)."""
        out: list[list[str]] = []
        while len(out) < count:
            args = parse(self._line()[1:])
            if args[0].lower() in ("sadd", "lpush", "zadd", "multi", "exec"):
                out.append(args)
        return out


def test_commands_match_ruby_sidekiq(redis_server: EmbeddedRedis, redis_url: str) -> None:
    ruby = recorded()
    monitor = Monitor(redis_server)
    with Client(redis_url) as client:
        client.enqueue("FixtureWorker", [1, "two"])
        client.enqueue_in(300, "FixtureWorker", ["later"])
        bulk = ruby["push_bulk"][1][2]  # payloads in the recorded LPUSH
        client.enqueue_many("FixtureWorker", [[i] for i in range(bulk)])
    ours = monitor.commands(5)
    monitor.sock.close()
    assert [shape(c) for c in ours[0:2]] == ruby["perform_async"]
    assert [shape(c) for c in ours[2:3]] == ruby["perform_in"]
    assert [shape(c) for c in ours[3:5]] == ruby["push_bulk"]
    assert float(ours[2][2]) == pytest.approx(time.time() + 300, abs=5)
