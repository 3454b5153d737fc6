"""The recorded Verk 1.7.3 Redis states (fixtures/verk-1.7.3/): load them into the test Redis."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent.parent / "fixtures" / "verk-1.7.3"


def dump(name: str) -> dict[str, Any]:
    """One dump file (``03-after-run.json``, ``migrate/01-verk-state-before.json``, ...)."""
    data: dict[str, Any] = json.loads((ROOT / name).read_text())
    return {key: value for key, value in data.items() if not key.startswith("_")}


def _b(element: dict[str, Any]) -> bytes:
    return base64.b64decode(element["b64"])


def load(r: redis.Redis, name: str) -> dict[str, Any]:
    """Write every key of the dump into ``r`` with its exact bytes (TTLs dropped); return it."""
    data = dump(name)
    for key, entry in data.items():
        kind = entry["type"]
        if kind == "list":
            r.rpush(key, *[_b(e) for e in entry["items"]])
        elif kind == "set":
            r.sadd(key, *[_b(e) for e in entry["members"]])
        elif kind == "zset":
            r.zadd(key, {_b(e): float(e["score_raw"]) for e in entry["members"]})
        elif kind == "string":
            r.set(key, _b(entry["value"]))
        elif kind == "hash":
            continue  # process hashes of the recording host: not Verk data
    return data


def members(data: dict[str, Any], key: str) -> list[bytes]:
    """The exact bytes of a list's items or a set's members in the dump."""
    entry = data.get(key)
    if entry is None:
        return []
    return [_b(e) for e in entry.get("items", entry.get("members", []))]


def payloads() -> list[tuple[list[str], bytes]]:
    """Every distinct recorded payload: ``(where it was seen, exact bytes)``."""
    out = []
    for line in filter(None, (ROOT / "payloads.jsonl").read_text().split("\n")):
        entry = json.loads(line)
        out.append((entry["where"], base64.b64decode(entry["b64"])))
    return out


def performed() -> list[dict[str, Any]]:
    """What the Elixir workers received (args after Verk's own decode, retry_count)."""
    lines = (ROOT / "performed-record.jsonl").read_text().split("\n")
    return [json.loads(line) for line in lines if line]
