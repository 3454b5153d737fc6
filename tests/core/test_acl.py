"""docs/ACL.md's users on a real Redis: each role works as its user, and nothing more is allowed.

Issue 16 item 8. The lines are read from the doc, so the doc cannot drift from what runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.support import acl

PASSWORD = "acl-test-password"
# A command each role must not have (a client reads nothing back; nobody flushes).
OUTSIDE: dict[str, list[tuple[str, ...]]] = {
    "worker": [("FLUSHALL",), ("CONFIG", "GET", "maxmemory"), ("KEYS", "*")],
    "client": [("LRANGE", "queue:default", "0", "-1"), ("DEL", "queue:default"), ("FLUSHALL",)],
    "admin": [("FLUSHALL",), ("KEYS", "*"), ("EVAL", "return 1", "0")],
    "migration": [("FLUSHALL",), ("CONFIG", "GET", "maxmemory"), ("KEYS", "*")],
}


def command(r: redis.Redis, *args: str) -> Any:
    """One raw command (the rules are passed as written in the doc, so no typed helper fits)."""
    return r.execute_command(*args)  # type: ignore[no-untyped-call]


@pytest.fixture
def user(r: redis.Redis, request: pytest.FixtureRequest) -> Iterator[str]:
    """Create the documented user of the role ``request.param``; delete it afterwards."""
    role = request.param
    rules = acl.acl_lines()[role].replace(">CHANGE-ME", f">{PASSWORD}").split()
    name = f"verk-{role}"
    command(r, "ACL", "SETUSER", name, "reset", *rules)
    command(r, "ACL", "LOG", "RESET")
    r.script_flush()  # the role must load its scripts itself
    try:
        yield name
    finally:
        command(r, "ACL", "DELUSER", name)


def denials(r: redis.Redis, name: str) -> list[str]:
    """ACL LOG entries of user ``name``, but ``CLIENT SETINFO``: redis-py sends it at connect
    on Redis 7.2+ and Valkey and ignores a refusal; Redis 7.0 has no such subcommand, so the
    documented lines cannot name it (docs/ACL.md)."""
    entries = command(r, "ACL", "LOG")
    return [
        str(e)
        for e in entries
        if name.encode() in repr(e).encode() and b"client|setinfo" not in repr(e).encode()
    ]


def refused(url: str, role: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        for denied in OUTSIDE[role]:
            with pytest.raises(redis.exceptions.NoPermissionError):
                command(client, *denied)
    finally:
        client.close()


def test_the_doc_has_one_line_per_role() -> None:
    assert sorted(acl.acl_lines()) == sorted(acl.ROLES)


@pytest.mark.parametrize("user", ["worker"], indirect=True)
async def test_worker_role(r: redis.Redis, redis_url: str, user: str) -> None:
    acl.setup_worker(r)
    url = acl.user_url(redis_url, user, PASSWORD)
    await acl.exercise_worker(url, r)
    assert denials(r, user) == []
    refused(url, "worker")


@pytest.mark.parametrize("user", ["client"], indirect=True)
async def test_client_role(r: redis.Redis, redis_url: str, user: str) -> None:
    url = acl.user_url(redis_url, user, PASSWORD)
    await acl.exercise_client(url, r)
    assert denials(r, user) == []
    refused(url, "client")


@pytest.mark.parametrize("user", ["admin"], indirect=True)
def test_admin_role(r: redis.Redis, redis_url: str, user: str) -> None:
    jids = acl.setup_admin(r)
    url = acl.user_url(redis_url, user, PASSWORD)
    acl.exercise_admin(url, jids)
    assert denials(r, user) == []
    refused(url, "admin")


@pytest.mark.parametrize("user", ["migration"], indirect=True)
def test_migration_role(r: redis.Redis, redis_url: str, user: str) -> None:
    acl.setup_migration(r)
    url = acl.user_url(redis_url, user, PASSWORD)
    where = r.connection_pool.connection_kwargs
    other = redis.Redis(host=where["host"], port=where["port"], db=1)
    try:
        acl.exercise_migration(url, acl.user_url(redis_url, user, PASSWORD, 1), other)
        assert denials(r, user) == []
        refused(url, "migration")
    finally:
        other.flushdb()
        other.close()


@pytest.mark.parametrize("user", ["client"], indirect=True)
def test_a_role_without_a_command_is_refused_and_logged(
    r: redis.Redis, redis_url: str, user: str
) -> None:
    # The checks above mean something: the same server does refuse and log what a line lacks.
    client = redis.Redis.from_url(acl.user_url(redis_url, user, PASSWORD))
    try:
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.zrangebyscore("schedule", "-inf", "+inf")
    finally:
        client.close()
    assert denials(r, user) != []
