"""The client's payload templates give exactly the codec's bytes (pure; no Redis needed)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.payloads import same
from tests.support.replies import as_bytes
from verk_compat.client.options import OPTION_NAMES
from verk_compat.client.planner import Planner, options_of
from verk_compat.client.template import ARGS, JID, Template
from verk_compat.codec.job import Job, Profile

PROFILES: list[Profile] = ["sidekiq7", "sidekiq8"]
JID_ = "0123456789abcdef01234567"
STAMP = 1795781349.5288923

ARGS_SHAPES: list[list[Any]] = [
    [],
    [1, "two", 3.0],
    ["héllo", "日本語", "😀", "\u2028", '"', "\\", "\x00", "\x7f", "</script>"],
    [0, -1, 2**64, -(2**70), 1e20, -0.0, 1e-7, 1 / 3, 5e-324, 1e16],
    [{"a": {"b": [1, [2, [3, {}]]]}, "z": []}, None, True, False],
    [f"verk-args-{'0' * 32}", "verk-jid-", '"args":["x"]', '"jid":"y"'],
]
OPTIONS: list[dict[str, Any]] = [
    {},
    {"queue": "critical"},
    {"retry": False},
    {"retry": 3},
    {"retry": 1, "backtrace": True},
    {"backtrace": 10, "retry_queue": "low", "dead": False, "retry_for": 60},
    {"custom": "x", "n": 1.0, "z": None, "neg": -0.0},
    {"tags": ["a"], "custom_key": {"x": [1, 2.5]}},  # not templatable: the codec's Job path
]


def planner(profile: Profile = "sidekiq7", **kwargs: Any) -> Planner:
    return Planner.build(profile=profile, **kwargs)


def reference(args: list[Any], options: dict[str, Any], profile: Profile, jid: str) -> bytes:
    job = Job.new("Billing::Charge", args, **{**options, "jid": jid, "created_at": STAMP})
    return job.replace(enqueued_at=STAMP).encode(profile)


def opts(options: dict[str, Any]) -> dict[str, Any]:
    named = {k: v for k, v in options.items() if k in OPTION_NAMES}
    extra = {k: v for k, v in options.items() if k not in {*named, "queue", "retry"}}
    queue, retry = options.get("queue", "default"), options.get("retry", True)
    return options_of(queue, retry, None, named, extra)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "plain")
def test_single_template_is_the_codec_encoding(profile: Profile, options: dict[str, Any]) -> None:
    plan = planner(profile)
    for args in ARGS_SHAPES:
        write = plan.single("Billing::Charge", args, opts(options), JID_, STAMP)
        templatable = "tags" not in options
        assert (write is not None) is templatable
        if write is not None:
            (payload,) = write.args
            assert payload == reference(args, opts(options), profile, JID_)
            assert write.key == f"queue:{options.get('queue', 'default')}"


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "plain")
def test_bulk_template_is_the_codec_encoding(profile: Profile, options: dict[str, Any]) -> None:
    plan = planner(profile, batch_size=4)
    (batch, *rest) = plan.batches("Billing::Charge", ARGS_SHAPES, opts(options))
    assert [len(b.jids) for b in (batch, *rest)] == [4, 2]
    payloads = plan.push_batch("Billing::Charge", batch, opts(options), STAMP).args
    for args, jid, payload in zip(ARGS_SHAPES, batch.jids, payloads, strict=False):
        assert payload == reference(args, opts(options), profile, jid)


def test_resque_bulk_template() -> None:
    plan = planner(target="resque")
    (batch,) = plan.batches("Archive", ARGS_SHAPES, opts({}))
    write = plan.push_batch("Archive", batch, opts({}))
    assert write.command == "RPUSH" and write.key == "resque:queue:default"
    for args, payload in zip(ARGS_SHAPES, write.args, strict=True):
        assert payload == Job.new("Archive", args).encode_resque()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(args=st.lists(json_values, max_size=5), profile=st.sampled_from(PROFILES))
def test_templates_match_codec_for_any_args(args: list[Any], profile: Profile) -> None:
    plan = planner(profile)
    write = plan.single("W", args, opts({}), JID_, STAMP)
    assert write is not None
    expected = Job.new("W", args, jid=JID_, created_at=STAMP).replace(enqueued_at=STAMP)
    assert write.args[0] == expected.encode(profile)
    same(json.loads(write.args[0])["args"], json.loads(json.dumps(args)))
    (batch,) = plan.batches("W", [args, args], opts({}))
    first, second = map(as_bytes, plan.push_batch("W", batch, opts({}), STAMP).args)
    assert first.replace(batch.jids[0].encode(), JID_.encode()) == expected.encode(profile)
    assert second.replace(batch.jids[1].encode(), JID_.encode()) == expected.encode(profile)


def test_cut_refuses_a_mark_seen_twice() -> None:
    _, prefix, token = ARGS
    payload = b"{" + prefix + token + b',"x":' + token + b"}"
    assert Template.cut(payload, [ARGS]) is None
    assert Template.cut(b'{"args":[]}', [ARGS]) is None
    cut = Template.cut(b"{" + prefix + token + b',"jid":"' + JID[2] + b'"}', [JID, ARGS])
    assert cut is not None and cut.holes == ("args", "jid")
    assert cut.fill({"args": b"[1]", "jid": b"j"}) == b'{"args":[1],"jid":"j"}'


def test_template_cache_is_keyed_by_exact_option_values() -> None:
    plan = planner()
    for retry in (True, 1, False, 0):
        write = plan.single("W", [], opts({"retry": retry}), JID_, STAMP)
        assert write is not None
        same(json.loads(write.args[0])["retry"], retry)
    for value in (0.0, -0.0, 0, "0"):
        write = plan.single("W", [], opts({"x": value}), JID_, STAMP)
        assert write is not None
        same(json.loads(write.args[0])["x"], value)


def test_middleware_and_caller_values_use_the_codec_path() -> None:
    assert planner(middleware=[lambda j: j]).single("W", [], opts({}), JID_, STAMP) is None
    assert planner().single("W", [], {**opts({}), "jid": "mine"}, JID_, STAMP) is None
    assert planner().single("W", [], {**opts({}), "created_at": 1.0}, JID_, STAMP) is None
    assert planner(target="resque").single("W", [], opts({}), JID_, STAMP) is None
    jid, write = planner().enqueue_write("W", [1], {**opts({}), "jid": "mine"})
    assert jid == "mine" and json.loads(write.args[0])["jid"] == "mine"


def test_same_tells_types_apart() -> None:
    same([1, 2.0, True, None, {"a": [-0.0]}], [1, 2.0, True, None, {"a": [-0.0]}])
    for a, b in [(1, 1.0), (True, 1), (0.0, -0.0), ({"a": 1, "b": 2}, {"b": 2, "a": 1})]:
        with pytest.raises(AssertionError):
            same(a, b)
