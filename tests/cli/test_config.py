"""Issue 12 item 6: a settings file for every CLI option, overridden by VERK_* environment
variables, themselves overridden by flags; ``verk-compat worker`` reads it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from tests.support.replies import as_bytes
from verk_compat.cli import main
from verk_compat.cli.config import Command, ConfigError, Tree, default_map, envvar, find, read
from verk_compat.keys import Keys

ROOT = Path(__file__).resolve().parents[2]
WORKER = {
    "app_spec": ["MODULE:APP"],
    "queues": ["--queue", "-q"],
    "redis_url": ["--redis-url"],
    "burst": ["--burst"],
}
TREE: Tree = {
    "worker": Command.of(WORKER),
    "stats": Command.of({"redis_url": ["--redis-url"], "namespace": ["--namespace"]}),
    "cron": {"list": Command.of({"redis_url": ["--redis-url"], "as_json": ["--json"]})},
}


def test_top_level_settings_reach_every_command_that_takes_them() -> None:
    table = {
        "redis_url": "redis://h/1",
        "namespace": "ns",
        "worker": {"app": "m:app", "queues": {"default": 25, "critical": 10}, "burst": True},
        "cron": {"list": {"json": True}},
    }
    assert default_map(table, TREE, "f") == {
        "worker": {
            "redis_url": "redis://h/1",
            "app_spec": "m:app",
            "queues": ["default=25", "critical=10"],
            "burst": True,
        },
        "stats": {"redis_url": "redis://h/1", "namespace": "ns"},
        "cron": {"list": {"redis_url": "redis://h/1"} | {"as_json": True}},
    }


def test_dashes_and_singular_names_are_accepted() -> None:
    table = {"worker": {"redis-url": "redis://h", "queue": ["a=1"]}}
    assert default_map(table, TREE, "f")["worker"] == {"redis_url": "redis://h", "queues": ["a=1"]}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"wrkr": {"burst": True}}, r"f: unknown command \[wrkr\]"),
        ({"worker": {"brust": True}}, r"f \[worker\]: no setting 'brust' \(settings: app, burst,"),
        ({"colour": "red"}, "f: no command takes a setting 'colour'"),
        ({"cron": {"lst": {}}}, r"f \[cron\]: unknown command \[lst\]"),
    ],
)
def test_unknown_names_are_refused_by_name(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        default_map(table, TREE, "f")


def test_find_prefers_the_explicit_file_then_its_own_then_pyproject(tmp_path: Path) -> None:
    assert find(None, tmp_path) is None
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find(None, tmp_path) is None  # no [tool.verk-compat]: not ours
    (tmp_path / "pyproject.toml").write_text('[tool.verk-compat]\nnamespace = "p"\n')
    assert find(None, tmp_path) == tmp_path / "pyproject.toml"
    assert read(tmp_path / "pyproject.toml") == {"namespace": "p"}
    (tmp_path / "verk-compat.toml").write_text('namespace = "own"\n')
    assert find(None, tmp_path) == tmp_path / "verk-compat.toml"
    other = tmp_path / "other.toml"
    other.write_text("")
    assert find(str(other), tmp_path) == other
    with pytest.raises(ConfigError, match="does not exist"):
        find(str(tmp_path / "missing.toml"), tmp_path)


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "verk-compat.toml"
    path.write_text("namespace = \n")
    with pytest.raises(ConfigError, match=r"verk-compat\.toml: "):
        read(path)


def queue_names(output: str) -> list[str]:
    return sorted(row["name"] for row in json.loads(output))


def test_flag_beats_environment_beats_file(
    tmp_path: Path, redis_url: str, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    for namespace in ("file", "env", "flag"):
        r.sadd(Keys(namespace).queues, f"q-{namespace}")
    (tmp_path / "verk-compat.toml").write_text(
        f'redis_url = "{redis_url}"\nnamespace = "file"\n[queues]\njson = true\n'
    )
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    env = {"REDIS_URL": ""}
    assert queue_names(runner.invoke(main, ["queues"], env=env).output) == ["q-file"]
    env["VERK_QUEUES_NAMESPACE"] = "env"
    assert queue_names(runner.invoke(main, ["queues"], env=env).output) == ["q-env"]
    flagged = runner.invoke(main, ["queues", "--namespace", "flag"], env=env)
    assert queue_names(flagged.output) == ["q-flag"]


def test_an_unknown_setting_is_one_usage_error(tmp_path: Path) -> None:
    (tmp_path / "x.toml").write_text("[worker]\nconcurrency = 5\n")
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "x.toml"), "stats"])
    assert result.exit_code == 2
    assert "[worker]: no setting 'concurrency'" in result.output


def test_worker_runs_from_its_settings_file(tmp_path: Path, redis_url: str, r: redis.Redis) -> None:
    (tmp_path / "verk-compat.toml").write_text(
        f'redis_url = "{redis_url}"\n'
        "[worker]\n"
        'app = "tests.support.worker_app:app"\n'
        "queues = { default = 3, critical = 2 }\n"
        "burst = true\n"
    )
    r.lpush(Keys().queue("critical"), b'{"class":"HardWorker","args":[1],"jid":"abc"}')
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WORKER_OUT": str(tmp_path / "out.jsonl")}
    env.pop("REDIS_URL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "verk_compat", "worker"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "on queues {'default': 3, 'critical': 2}" in proc.stdout
    assert "done jid=abc" in proc.stdout
    assert r.llen(Keys().queue("critical")) == 0
    assert as_bytes(r.get(Keys().stat_processed)) == b"1"


def test_envvar_names() -> None:
    assert envvar(["worker"], "--shutdown-timeout") == "VERK_WORKER_SHUTDOWN_TIMEOUT"
    assert envvar(["cron", "list"], "--json") == "VERK_CRON_LIST_JSON"
    assert envvar(["dev-server"], "--port") == "VERK_DEV_SERVER_PORT"


def test_options_from_the_environment(redis_url: str, r: redis.Redis) -> None:
    for namespace in ("a", "b"):
        r.sadd(Keys(namespace).queues, f"q-{namespace}")
    env = {"VERK_QUEUES_JSON": "1", "VERK_QUEUES_NAMESPACE": "b", "REDIS_URL": redis_url}
    result = CliRunner().invoke(main, ["queues"], env=env)
    assert queue_names(result.output) == ["q-b"]


def test_config_after_the_command(tmp_path: Path, redis_url: str, r: redis.Redis) -> None:
    r.sadd(Keys("mine").queues, "q-mine")
    path = tmp_path / "prod.toml"
    path.write_text(f'redis_url = "{redis_url}"\n[queues]\nnamespace = "mine"\njson = true\n')
    for args in (["queues", "--config", str(path)], ["--config", str(path), "queues"]):
        result = CliRunner().invoke(main, args, env={"REDIS_URL": ""})
        assert queue_names(result.output) == ["q-mine"], result.output
    bad = CliRunner().invoke(main, ["cron", "list", "--config", str(tmp_path / "none.toml")])
    assert bad.exit_code == 2 and "none.toml does not exist" in bad.output
