"""How to test code that enqueues jobs (``pytest examples/``): fake, inline, and real Redis.

``verk_fake`` and ``verk_redis_url`` come from verk-compat's pytest plugin (installed with it).
"""

from __future__ import annotations

from typing import Any

import redis

from verk_compat.app import App
from verk_compat.client.client import Client
from verk_compat.devtools.testing import FakeClient

app = App()
sent: list[str] = []


@app.job("WelcomeMailer")
def welcome(email: str) -> None:
    sent.append(email)


def sign_up(email: str, client: Any) -> None:
    """The code under test: takes its client, so a test can hand it a fake one."""
    client.enqueue("WelcomeMailer", [email], queue="mailers")


def test_sign_up_enqueues_a_welcome_mail(verk_fake: FakeClient) -> None:
    sign_up("ada@example.com", verk_fake)
    (job,) = verk_fake.jobs("mailers")
    assert (job.class_name, job.args) == ("WelcomeMailer", ["ada@example.com"])
    verk_fake.drain(app=app)  # runs it as the worker would
    assert sent[-1] == "ada@example.com"


def test_sign_up_inline() -> None:
    sign_up("bob@example.com", FakeClient(app, mode="inline"))
    assert sent[-1] == "bob@example.com"


def test_sign_up_against_real_redis(verk_redis_url: str) -> None:
    with Client(verk_redis_url) as client:
        sign_up("eve@example.com", client)
    with redis.Redis.from_url(verk_redis_url) as r:
        assert r.llen("queue:mailers") == 1
