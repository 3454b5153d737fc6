"""The profile table: one row per profile, and the behaviour each column stands for."""

from __future__ import annotations

import random

import pytest

from verk_compat.codec.job import Job
from verk_compat.codec.profiles import PROFILES, RULES, rules
from verk_compat.keys import Keys
from verk_compat.worker.process_info import work_keys
from verk_compat.worker.retry import jitter


def test_every_profile_has_rules_and_nothing_else_does() -> None:
    assert set(RULES) == set(PROFILES)
    for bad in ("sidekiq9", "", None, 8):
        with pytest.raises(ValueError, match="unknown profile"):
            rules(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("profile", PROFILES)
def test_columns_drive_behaviour(profile: str) -> None:
    row = rules(profile)
    payload = Job.new("HardWorker", [1], created_at=1_700_000_000.5).encode(profile)  # type: ignore[arg-type]
    assert (b'"created_at":1700000000500' in payload) is row.ms_timestamps
    widths = {jitter(3, random.Random(seed), profile) for seed in range(400)}  # type: ignore[arg-type]
    assert (max(widths) > 36) is row.wide_jitter  # rand(10)*(4) tops at 36; rand(40) at 39
    names = work_keys(Keys(), "host:1:abc", profile)  # type: ignore[arg-type]
    assert names == tuple(f"host:1:abc:{name}" for name in row.work_hashes)
