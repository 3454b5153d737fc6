"""Issue 9 item 11: an ordinary mistake on any command is one ``Error:`` line and a non-zero
exit, never a traceback (bad database index, unknown scheme, unreachable host, bad log level)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click
import pytest
from click.testing import CliRunner

from verk_compat.cli import main
from verk_compat.cli._errors import check_redis, one_line

#: Every command that takes ``--redis-url``, with the arguments it needs besides.
COMMANDS = [
    ["stats"],
    ["queues"],
    ["processes"],
    ["retries", "list"],
    ["dead", "list"],
    ["scheduled", "list"],
    ["cron", "list"],
    ["health"],
    ["enqueue", "HardWorker", "[]"],
    ["worker", "tests.support.worker_app:app", "--burst"],
    ["demo", "--jobs", "1"],
    ["web", "--port", "1"],
]

BAD_URLS: dict[str, Callable[[str], str]] = {
    "db-not-a-number": lambda url: url.rsplit("/", 1)[0] + "/abc",
    "db-out-of-range": lambda url: url.rsplit("/", 1)[0] + "/99",
    "unknown-scheme": lambda url: "http://" + url.split("://", 1)[1],
    "unreachable": lambda url: "redis://127.0.0.1:1/0",
}


def run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, args, env={"REDIS_URL": ""})
    # CliRunner keeps an exception the command let escape (that would be a traceback).
    assert isinstance(result.exception, SystemExit | None), repr(result.exception)
    return result.exit_code, result.output


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(BAD_URLS))
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(c[:2]))
def test_bad_redis_url_is_one_line_and_a_failure(
    command: list[str], case: str, redis_url: str
) -> None:
    code, output = run([*command, "--redis-url", BAD_URLS[case](redis_url)])
    assert code != 0, output
    assert "Traceback" not in output
    problems = [line for line in output.splitlines() if line.startswith(("Error:", "FAIL"))]
    assert len(problems) == 1, output


def test_bad_database_index_is_named(redis_url: str) -> None:
    code, output = run(["stats", "--redis-url", redis_url.rsplit("/", 1)[0] + "/abc"])
    assert code == 2
    assert "the database index must be a number (/0, /1, ...), not 'abc'" in output


def test_refused_database_names_the_server(redis_url: str) -> None:
    code, output = run(["queues", "--redis-url", redis_url.rsplit("/", 1)[0] + "/99"])
    assert code == 1
    assert "DB index is out of range" in output and "127.0.0.1:" in output


def test_bad_log_level_is_a_usage_error(redis_url: str) -> None:
    code, output = run(["worker", "x:app", "--log-level", "loud", "--redis-url", redis_url])
    assert code == 2
    assert "Invalid value for '--log-level': 'loud' is not one of 'debug'" in output


def test_unexpected_exception_becomes_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    # The module, not the command of the same name that verk_compat.cli exports.
    monkeypatch.setattr(sys.modules["verk_compat.cli.stats"], "session", boom)
    code, output = run(["stats"])
    assert code == 1
    assert output == (
        "Error: OSError: [Errno 28] No space left on device (VERK_DEBUG=1 shows the traceback)\n"
    )


def test_check_redis_passes_on_a_live_server(redis_url: str) -> None:
    check_redis(redis_url)


def test_check_redis_refuses_a_bad_scheme() -> None:
    with pytest.raises(click.BadParameter, match="schemes"):
        check_redis("http://localhost/0")


def test_one_line_joins_a_multi_line_message() -> None:
    assert one_line(ValueError("a\n  b")) == "a b"
