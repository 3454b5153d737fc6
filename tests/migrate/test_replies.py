"""Reply decoding used by the migration: lenient text, bytes kept."""

from __future__ import annotations

from verk_compat.migrate.replies import as_bytes, key_text, text


def test_text_decodes_bytes_and_replaces_invalid_utf8() -> None:
    assert text(b"1700000000.5") == "1700000000.5"
    assert text("already") == "already"
    assert text(b"\xff") == "\ufffd"


def test_as_bytes_keeps_bytes_and_encodes_the_rest() -> None:
    assert as_bytes(b"\x00raw") == b"\x00raw"
    assert as_bytes(12) == b"12"
    assert as_bytes("é") == "é".encode()


def test_key_text_round_trips_names_that_are_not_utf8() -> None:
    name = key_text(b"queue:\xffodd")
    assert name.startswith("queue:") and name.encode("utf-8", "surrogateescape") == b"queue:\xffodd"
    assert key_text("plain") == "plain"
