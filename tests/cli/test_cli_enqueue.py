"""``verk-compat enqueue`` against a real Redis."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from tests.support.payloads import queue_payloads, same, schedule_entries
from verk_compat.cli import main
from verk_compat.devtools.redis_server import free_port


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["enqueue", *args], env=env)
    return result.exit_code, result.output


def test_enqueue_prints_jid(redis_url: str, r: redis.Redis) -> None:
    code, out = run("HardWorker", '[1, "two", 3.0, 1e20, -0.0]', "--redis-url", redis_url)
    assert code == 0, out
    assert re.fullmatch(r"[0-9a-f]{24}\n", out)
    (payload,) = queue_payloads(r)
    assert payload["jid"] == out.strip() and payload["class"] == "HardWorker"
    same(payload["args"], [1, "two", 3.0, 1e20, -0.0])
    assert payload["retry"] is True and payload["queue"] == "default"


def test_options(redis_url: str, r: redis.Redis) -> None:
    code, out = run(
        "W", "[]", "-q", "critical", "--retry", "3", "--jid", "abc", "-o", "tags=[\"x\"]",
        "-o", "note=plain text", "-o", "backtrace=true", "--redis-url", redis_url,
    )  # fmt: skip
    assert code == 0, out
    (payload,) = queue_payloads(r, "queue:critical")
    assert out.strip() == payload["jid"] == "abc"
    assert payload["retry"] == 3 and payload["tags"] == ["x"]
    assert payload["note"] == "plain text" and payload["backtrace"] is True


@pytest.mark.parametrize(("flag", "value"), [("false", False), ("TRUE", True), ("0", 0)])
def test_retry_values(redis_url: str, r: redis.Redis, flag: str, value: bool | int) -> None:
    assert run("W", "--retry", flag, "--redis-url", redis_url)[0] == 0
    same(queue_payloads(r)[0]["retry"], value)


def test_in_and_at(redis_url: str, r: redis.Redis) -> None:
    before = time.time()
    assert run("W", "[1]", "--in", "60", "--redis-url", redis_url)[0] == 0
    assert run("W", "[2]", "--at", "4102444800.5", "--redis-url", redis_url)[0] == 0
    assert run("W", "[3]", "--at", "2100-01-02T00:00:00Z", "--redis-url", redis_url)[0] == 0
    assert run("W", "[4]", "--at", "2000-01-01T00:00:00+00:00", "--redis-url", redis_url)[0] == 0
    scores = {p["args"][0]: s for p, s in schedule_entries(r)}
    assert before + 60 <= scores[1] <= time.time() + 60
    assert scores[2] == 4102444800.5 and scores[3] == 4102531200.0
    assert [p["args"] for p in queue_payloads(r)] == [[4]]  # past: enqueued now


def test_namespace_profile_resque(redis_url: str, r: redis.Redis) -> None:
    assert run("W", "--namespace", "ns", "--profile", "sidekiq8", "--redis-url", redis_url)[0] == 0
    assert isinstance(queue_payloads(r, "ns:queue:default")[0]["created_at"], int)
    assert run("A", "[1]", "--resque", "-q", "jobs", "--redis-url", redis_url)[0] == 0
    assert r.lrange("resque:queue:jobs", 0, -1) == [b'{"class":"A","args":[1]}']


def test_redis_url_from_env(redis_url: str, r: redis.Redis) -> None:
    code, _ = run("W", "[]", env={"REDIS_URL": redis_url})
    assert code == 0 and r.llen("queue:default") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["W", "{not json"], "not valid JSON"),
        (["W", '{"a": 1}'], "must be a JSON array"),
        (["W", "--retry", "maybe"], "--retry"),
        (["W", "--at", "soon"], "--at"),
        (["W", "--at", "1", "--in", "1"], "not both"),
        (["W", "-o", "novalue"], "KEY=JSON"),
        (["", "[]"], "class"),
    ],
)
def test_usage_errors(redis_url: str, r: redis.Redis, args: list[str], message: str) -> None:
    code, out = run(*args, "--redis-url", redis_url)
    assert code != 0 and message in out
    assert r.dbsize() == 0


def test_unreachable_redis() -> None:
    port = free_port()
    code, out = run("W", "--redis-url", f"redis://:pw123456@127.0.0.1:{port}/0")
    assert code == 1
    assert f"127.0.0.1:{port}" in out and "pw123456" not in out


def test_console_script(redis_url: str, r: redis.Redis) -> None:
    script = Path(sys.executable).with_name("verk-compat")
    if not script.exists():
        pytest.skip("verk-compat console script not installed in this environment")
    proc = subprocess.run(
        [str(script), "enqueue", "W", "[1]"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "REDIS_URL": redis_url},
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(r.lindex("queue:default", 0) or b"")["jid"] == proc.stdout.strip()


DEEP = "[" * 5000 + "]" * 5000
ODD: list[tuple[list[str], str]] = [
    (["W", "[1]", "--at", "nan"], "--at 'nan' is not a time"),
    (["W", "[1]", "--at", "inf"], "--at 'inf' is not a time"),
    (["W", "[1]", "--at", "1e20"], "--at '1e20' is not a time"),
    (["W", "[1]", "--in", "inf"], "--in inf is not a time"),
    (["W", "[1]", "--in", "nan"], "--in nan is not a time"),
    (["W", "[1]", "--in", "-1e400"], "--in -inf is not a time"),
    (["W", f"[{DEEP}]"], "ARGS_JSON is nested too deep"),
    (["W", "[" * 995 + "]" * 995], "nested too deep"),
    (["W", "[1" + "0" * 5000 + "]"], "ARGS_JSON is not valid JSON"),
    (["W", "[1e400]"], "args[0]: float inf is not JSON"),
    (["W", "[1]", "-o", f"x={DEEP}"], "--option x is nested too deep"),
    (["W", "[1]", "-o", "args="], "args is the ARGS_JSON argument"),
    (["W", "[1]", "-o", "args=[2]"], "args is the ARGS_JSON argument"),
    (["W", "[1]", "-o", "class=X"], "class is the CLASS argument"),
    (["W", "[1]", "-o", "queue="], "queue:"),
    (["W", "[1]", "-o", "jid=5"], "jid:"),
    (["W", "[1]", "-o", 'retry="often"'], "retry:"),
    (["W", "[1]", "-q", "a", "-o", "queue=b"], "give --queue or -o queue=..., not both"),
    (["W", "[1]", "--retry", "2", "-o", "retry=false"], "give --retry or -o retry=..., not both"),
]


@pytest.mark.parametrize(("args", "message"), ODD, ids=[" ".join(a)[:40] for a, _ in ODD])
def test_odd_input_is_one_clear_error_line(
    redis_url: str, r: redis.Redis, args: list[str], message: str
) -> None:
    # Issue 16 item 7: tracebacks for --at nan, deep args and -o args=; inf scores written.
    result = CliRunner().invoke(main, ["enqueue", *args, "--redis-url", redis_url])
    assert result.exit_code not in (0, None) and isinstance(result.exception, SystemExit)
    assert message in result.output
    assert [line for line in result.output.splitlines() if line.startswith("Error")] != []
    assert "Traceback" not in result.output and r.dbsize() == 0


@pytest.mark.parametrize(
    ("option", "key", "expected"),
    [("retry=false", "retry", False), ("retry=3", "retry", 3), ('jid="abc"', "jid", "abc")],
)
def test_options_with_a_flag_are_honoured(
    redis_url: str, r: redis.Redis, option: str, key: str, expected: object
) -> None:
    # Issue 16 item 7: -o retry=false and -o queue= were silently overridden by the flags' defaults.
    assert run("W", "[1]", "-o", option, "--redis-url", redis_url)[0] == 0
    same(queue_payloads(r)[0][key], expected)


def test_option_queue_is_honoured(redis_url: str, r: redis.Redis) -> None:
    assert run("W", "[1]", "-o", "queue=other", "--redis-url", redis_url)[0] == 0
    assert queue_payloads(r, "queue:other")[0]["queue"] == "other"
    assert r.smembers("queues") == {b"other"}
