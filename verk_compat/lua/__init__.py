"""Registry of the versioned Lua scripts beside it (``verk_compat/lua/*.lua``).

Each script starts with a header of ``-- key: value`` lines (name, version, keys, argv,
guarantee), after an optional Redis 7 shebang line (``#!lua flags=allow-oom`` for the scripts
that must run while Redis is at ``maxmemory``: they only move data, or write a small bounded
amount a live process needs, see docs/RELIABILITY.md). The registry computes each script's SHA1
locally, runs it with EVALSHA, and on NOSCRIPT loads it once and retries (Sidekiq's loop). In a
redis-py pipeline, the script is registered with the pipeline so redis-py loads it before the
pipeline runs. The version is part of the API: the tests pin each script's version and SHA1, so
a changed script must get a new version.

Keys touched: whatever each script's ``keys`` header says, always passed through KEYS.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.client import Pipeline as AsyncPipeline
from redis.client import Pipeline
from redis.exceptions import NoScriptError

from verk_compat.errors import ScriptError

__all__ = [
    "DEAD_MAX_JOBS",
    "DEAD_TIMEOUT",
    "Script",
    "dead_trim",
    "lua_dir",
    "parse_header",
    "script",
    "scripts",
]

#: Dead set limits: Sidekiq's ``dead_max_jobs`` and ``dead_timeout_in_seconds`` (180 days).
DEAD_MAX_JOBS = 10_000
DEAD_TIMEOUT = 180 * 24 * 60 * 60

_HEADER = re.compile(r"^--\s*(\w+):\s*(.*?)\s*$")
_REQUIRED = ("name", "version", "keys", "argv", "guarantee")

KeyArg = str | bytes
Arg = str | bytes | int | float


def lua_dir() -> Path:
    """The folder holding the scripts: this package's own folder, in a wheel or a checkout."""
    return Path(str(resources.files("verk_compat.lua")))


def parse_header(source: str) -> dict[str, str]:
    """The ``-- key: value`` lines at the top of a script, up to the first other line."""
    header: dict[str, str] = {}
    lines = source.splitlines()
    if lines and lines[0].startswith("#!"):
        # Redis 7's shebang (``#!lua flags=allow-oom``) must be the very first line.
        header["shebang"] = lines.pop(0)
    for line in lines:
        match = _HEADER.match(line)
        if not match:
            if line.startswith("--"):
                continue
            break
        header[match.group(1)] = match.group(2)
    missing = [k for k in _REQUIRED if k not in header]
    if missing:
        raise ScriptError(f"Lua script header lacks {', '.join(missing)}")
    if not header["version"].isdigit():
        raise ScriptError(f"Lua script {header['name']}: version must be an integer")
    return header


@dataclass(eq=False)
class Script:
    """One Lua script; call it with a client (sync or asyncio) or a pipeline."""

    name: str
    version: int
    source: str
    header: dict[str, str] = field(repr=False)
    _sha: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._sha = hashlib.sha1(self.source.encode()).hexdigest()

    @property
    def sha(self) -> str:
        """SHA1 of the source, computed locally."""
        return self._sha

    @sha.setter
    def sha(self, _loaded: str | bytes) -> None:
        # redis-py's pipeline loader assigns the SHA that SCRIPT LOAD returned: the same value.
        pass

    @property
    def script(self) -> str:
        """The source, under the name redis-py's pipeline loader reads."""
        return self.source

    def __hash__(self) -> int:
        return hash(self.name)

    def __call__(
        self, client: Redis | Pipeline, keys: Sequence[KeyArg], args: Sequence[Arg] = ()
    ) -> Any:
        """Run synchronously (or queue in a pipeline; the pipeline loads the script)."""
        if isinstance(client, Pipeline):
            client.scripts.add(self)  # type: ignore[arg-type]
            return client.evalsha(self.sha, len(keys), *keys, *args)
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            client.script_load(self.source)
            return client.evalsha(self.sha, len(keys), *keys, *args)

    async def acall(
        self, client: AsyncRedis | AsyncPipeline, keys: Sequence[KeyArg], args: Sequence[Arg] = ()
    ) -> Any:
        """Run on a ``redis.asyncio`` client, or queue in an asyncio pipeline."""
        if isinstance(client, AsyncPipeline):
            client.scripts.add(self)  # type: ignore[arg-type]
            return client.evalsha(self.sha, len(keys), *keys, *args)
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await client.script_load(self.source)
            return await client.evalsha(self.sha, len(keys), *keys, *args)


def load(path: Path) -> Script:
    """Read and check one script file."""
    source = path.read_text(encoding="utf-8")
    header = parse_header(source)
    if header["name"] != path.stem:
        raise ScriptError(f"{path.name}: header name {header['name']!r} differs from file name")
    return Script(name=header["name"], version=int(header["version"]), source=source, header=header)


@functools.cache
def scripts() -> dict[str, Script]:
    """Every script in :func:`lua_dir`, by name (the tests pin each one's version and SHA1)."""
    return {p.stem: load(p) for p in sorted(lua_dir().glob("*.lua"))}


def dead_trim(stamp: float) -> list[Arg]:
    """The trim arguments of the scripts that add to ``dead`` (``fail``, ``kill``) at ``stamp``:
    drop members older than Sidekiq's dead timeout, keep at most its dead max jobs."""
    return [stamp - DEAD_TIMEOUT, DEAD_MAX_JOBS]


def script(name: str) -> Script:
    """The script called ``name``."""
    try:
        return scripts()[name]
    except KeyError:
        raise ScriptError(f"no Lua script named {name!r} in {lua_dir()}") from None
