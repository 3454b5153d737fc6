"""Dashboard security: CSRF token decisions, basic auth, the bind policy of `verk-compat web`."""

from __future__ import annotations

import base64

import redis
from click.testing import CliRunner
from starlette.testclient import TestClient

from verk_compat.cli import main
from verk_compat.web import Credentials, create_app, credentials_from_env
from verk_compat.web.security import (
    bind_refusal,
    check_basic,
    csrf_token,
    is_loopback,
    valid_csrf,
)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_csrf_token_is_bound_to_cookie_and_secret() -> None:
    token = csrf_token(b"k1", "cookie")
    assert valid_csrf(b"k1", "cookie", token)
    assert not valid_csrf(b"k2", "cookie", token)
    assert not valid_csrf(b"k1", "other", token)
    assert not valid_csrf(b"k1", None, token) and not valid_csrf(b"k1", "cookie", None)


def test_check_basic() -> None:
    creds = Credentials("admin", "pw:with:colons")
    assert check_basic(basic("admin", "pw:with:colons"), creds)
    assert not check_basic(basic("admin", "wrong"), creds)
    assert not check_basic("Basic !!!notbase64", creds)
    assert not check_basic(None, creds) and not check_basic("Bearer x", creds)
    assert "pw:with" not in repr(creds)


def test_loopback_and_bind_policy() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.3.2.1") and not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1")
    assert bind_refusal("127.0.0.1", None) is None
    refusal = bind_refusal("0.0.0.0", None)
    assert refusal is not None and "VERK_WEB_USER" in refusal
    assert bind_refusal("0.0.0.0", Credentials("a", "b")) is None


def test_credentials_from_env() -> None:
    assert credentials_from_env({}) is None
    assert credentials_from_env({"VERK_WEB_USER": "a"}) is None
    assert credentials_from_env({"VERK_WEB_USER": "a", "VERK_WEB_PASSWORD": "b"}) == Credentials(
        "a", "b"
    )


def test_basic_auth_guards_every_page(redis_url: str, r: redis.Redis) -> None:
    app = create_app(redis_url, credentials=Credentials("admin", "pw"))
    with TestClient(app) as web:
        for path in ("/", "/queues", "/retries"):
            reply = web.get(path)
            assert reply.status_code == 401 and "Basic" in reply.headers["www-authenticate"]
        assert web.get("/", headers={"Authorization": basic("admin", "nope")}).status_code == 401
        assert web.get("/", headers={"Authorization": basic("admin", "pw")}).status_code == 200
        posted = web.post("/queues/default", data={"action": "clear"})
        assert posted.status_code == 401


def test_cli_refuses_a_public_address_without_credentials(redis_url: str) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["web", "--host", "0.0.0.0", "--redis-url", redis_url],
        env={"VERK_WEB_USER": "", "VERK_WEB_PASSWORD": ""},
    )
    assert result.exit_code == 2 and "refusing to bind 0.0.0.0" in result.output
    result = runner.invoke(
        main,
        ["web", "--host", "0.0.0.0", "--read-only", "--redis-url", redis_url],
        env={"VERK_WEB_USER": "", "VERK_WEB_PASSWORD": ""},
    )
    assert result.exit_code == 2 and "refusing" in result.output
