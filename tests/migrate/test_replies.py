"""Reply decoding used by the migration: lenient text, bytes kept."""

from __future__ import annotations

from verk_compat.migrate.replies import as_bytes, text


def test_text_decodes_bytes_and_replaces_invalid_utf8() -> None:
    assert text(b"1700000000.5") == "1700000000.5"
    assert text("already") == "already"
    assert text(b"\xff") == "\ufffd"


def test_as_bytes_keeps_bytes_and_encodes_the_rest() -> None:
    assert as_bytes(b"\x00raw") == b"\x00raw"
    assert as_bytes(12) == b"12"
    assert as_bytes("é") == "é".encode()
