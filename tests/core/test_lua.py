"""The Lua script registry: headers, pinned versions, EVALSHA/NOSCRIPT, pipelines, the wheel.

Every ``lua/*.lua`` must appear in :data:`PINS` with its version and the SHA1 of its source,
so a script edited without a version bump (or a new script nobody pinned) fails here.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import redis
import redis.asyncio

from verk_compat.errors import ScriptError
from verk_compat.lua import lua_dir, parse_header, script, scripts

#: name -> (version, sha1 of the source). Bump the version when a script changes, then re-pin.
PINS: dict[str, tuple[int, str]] = {
    "ack": (1, "a215150bf64d067628d5779fb60f986bc55a8b7a"),
    "cron_enqueue": (1, "5ba26d21ca99b19ae2039226d933fdb67a71f779"),
    "delayed_tidy": (1, "03fec1bf6efceb09a63572a03e4ee2c26828ccd5"),
    "enqueue_due": (1, "4b99534353a046bf139f67cce20c2d8e25901246"),
    "fail": (1, "ed9214d22719d36f46a4cb06ea19a6fa8a25dbf1"),
    "fetch_ack": (3, "297f61ac5bae6fac612b76fef1ca49b70d88fdea"),
    "fetch_many": (2, "f317c4ab48e34583eb443a3313e5abb630fb3122"),
    "hand_back": (1, "64d9076d006d3402dfd55fd9e8c88036f544d489"),
    "heartbeat": (1, "a125a5d5afae85109c9b12d70c0e7db1bd1e0da0"),
    "kill": (1, "ce6805778008d54c80ae65d597465797d6f10780"),
    "migrate_apply": (1, "f6dd11446f53bcc792c74ade8c28bd8cec4b6706"),
    "migrate_finish": (1, "6a982df663c822e8079c4acebc8204dd15f445fb"),
    "migrate_mark": (1, "763b526ea7ddc1ccd8204a09698c70f22168b2d6"),
    "migrate_move": (1, "4fe67aa8bf29f657cab6d61f732ef7e905e727c8"),
    "noop_probe": (1, "6efe843a1e5f29dcae6a634425b6033b6688765a"),
    "reconcile": (1, "7302453de5bfadee8867ba8cf3f75388e27842ea"),
    "requeue": (3, "aa7636df9800de5378b67769fd5c2dfc3e9417dc"),
    "stats": (1, "beb4434eb07812e8f8324a8bd072b1366d7499ea"),
}

LUA_FILES = sorted(lua_dir().glob("*.lua"))
ROOT = Path(__file__).resolve().parents[2]


def sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def test_lua_dir_has_scripts() -> None:
    assert LUA_FILES, f"no scripts in {lua_dir()}"


@pytest.mark.parametrize("path", LUA_FILES, ids=lambda p: p.stem)
def test_script_is_pinned(path: Path) -> None:
    header = parse_header(path.read_text(encoding="utf-8"))
    assert path.stem in PINS, f"{path.name} is not pinned in tests/core/test_lua.py PINS"
    version, digest = PINS[path.stem]
    assert int(header["version"]) == version, f"{path.name}: version changed; update PINS"
    assert sha1(path) == digest, f"{path.name} changed without a version bump"


def test_no_stale_pins() -> None:
    assert set(PINS) == {p.stem for p in LUA_FILES}


@pytest.mark.parametrize("path", LUA_FILES, ids=lambda p: p.stem)
def test_header_parses(path: Path) -> None:
    header = parse_header(path.read_text(encoding="utf-8"))
    assert header["name"] == path.stem
    assert header["version"].isdigit()
    for field in ("keys", "argv", "guarantee"):
        assert header[field], f"{path.name}: empty {field}"
    loaded = script(path.stem)
    assert loaded.version == int(header["version"])
    assert loaded.sha == sha1(path)


@pytest.mark.parametrize("path", LUA_FILES, ids=lambda p: p.stem)
def test_script_loads_on_server(r: redis.Redis, path: Path) -> None:
    assert r.script_load(path.read_text(encoding="utf-8")) == sha1(path)


_CALL = re.compile(r"redis\.p?call\(\s*['\"](\w+)['\"]\s*(?:,\s*([^,)]+))?")
_KEYLESS = {"TIME", "PING", "ECHO"}


@pytest.mark.parametrize("path", LUA_FILES, ids=lambda p: p.stem)
def test_every_key_comes_through_keys(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    for command, first in _CALL.findall(source):
        if command.upper() in _KEYLESS:
            continue
        first = first.strip()
        assert first.startswith(("KEYS[", "unpack(KEYS")), f"{path.name}: {command} on {first!r}"


@pytest.mark.parametrize("path", LUA_FILES, ids=lambda p: p.stem)
def test_scripts_never_touch_json(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert "cjson" not in source and "cmsgpack" not in source, path.name


def test_registry_knows_every_file() -> None:
    assert set(scripts()) == {p.stem for p in LUA_FILES}


@pytest.mark.parametrize(
    "source",
    [
        "-- name: x\n-- version: 1\n-- keys: none\n-- argv: none\nreturn 1",
        "-- name: x\n-- version: one\n-- keys: a\n-- argv: b\n-- guarantee: c\nreturn 1",
        "return 1\n-- name: x\n-- version: 1\n-- keys: a\n-- argv: b\n-- guarantee: c",
    ],
    ids=["missing-guarantee", "non-integer-version", "header-not-at-top"],
)
def test_bad_headers_are_refused(source: str) -> None:
    with pytest.raises(ScriptError):
        parse_header(source)


def test_unknown_script_name() -> None:
    with pytest.raises(ScriptError, match="no Lua script"):
        script("does_not_exist")


def test_noscript_reloads_once(r: redis.Redis) -> None:
    probe = script("noop_probe")
    r.script_flush()
    assert r.script_exists(probe.sha) == [False]
    assert probe(r, [], ["héllo"]) == "héllo".encode()
    assert r.script_exists(probe.sha) == [True]
    assert probe(r, [], [b"\x00raw"]) == b"\x00raw"


@pytest.mark.parametrize("transaction", [True, False])
def test_sync_pipeline_loads_script(r: redis.Redis, transaction: bool) -> None:
    probe = script("noop_probe")
    r.script_flush()
    pipe = r.pipeline(transaction=transaction)
    probe(pipe, [], ["a"])
    pipe.set("k", "v")
    probe(pipe, [], ["b"])
    assert pipe.execute() == [b"a", True, b"b"]


async def test_async_noscript_reloads(ar: redis.asyncio.Redis) -> None:
    probe = script("noop_probe")
    await ar.script_flush()
    assert await probe.acall(ar, [], ["x"]) == b"x"
    assert await ar.script_exists(probe.sha) == [True]


@pytest.mark.parametrize("transaction", [True, False])
async def test_async_pipeline_loads_script(ar: redis.asyncio.Redis, transaction: bool) -> None:
    probe = script("noop_probe")
    await ar.script_flush()
    pipe = ar.pipeline(transaction=transaction)
    await probe.acall(pipe, [], ["a"])
    pipe.set("k", "v")
    await probe.acall(pipe, [], ["b"])
    assert await pipe.execute() == [b"a", True, b"b"]


def test_wheel_contains_lua(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path)]
    subprocess.run([*cmd, str(ROOT)], check=True, capture_output=True, timeout=120)
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"verk_compat/lua/{p.name}" for p in sorted((ROOT / "verk_compat" / "lua").glob("*.lua"))
    }
    assert expected, "no lua/*.lua in the source tree"
    assert expected <= names
