"""Payload templates: the codec encodes a job once, the client fills in what changes per job.

A template is the codec's own encoding of a :class:`~verk_compat.codec.job.Job` whose ``args``,
``jid`` and (for single pushes) ``created_at``/``enqueued_at`` are unique marks, cut into pieces
around those marks. Filling it with a job's args (encoded by the codec's Ruby-JSON writer,
after ``strict_args``), jid and time tokens (the codec's timestamp rendering) gives the same
bytes as encoding that job with the codec; ``tests/test_client_plan.py`` checks this byte for
byte over many shapes and both profiles. Any template whose marks are not found exactly once is
refused (``None``), and callers then use the codec job by job.

Keys touched: none (pure).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from verk_compat.codec.timestamps import render

__all__ = [
    "ARGS",
    "ARGS_MARK",
    "CREATED_MARK",
    "ENQUEUED_MARK",
    "JID",
    "JID_MARK",
    "Hole",
    "Template",
    "time_hole",
    "time_token",
]

_encode = msgspec.json.Encoder().encode

ARGS_MARK = f"verk-args-{secrets.token_hex(16)}"
JID_MARK = f"verk-jid-{secrets.token_hex(16)}"
CREATED_MARK = 1_000_000_000 + secrets.randbelow(10**9) / 10**6
ENQUEUED_MARK = CREATED_MARK + 1234.5

#: (name, bytes just before the value, the mark's token)
Hole = tuple[str, bytes, bytes]
ARGS: Hole = ("args", b'"args":', b'["' + ARGS_MARK.encode() + b'"]')
JID: Hole = ("jid", b'"jid":"', JID_MARK.encode())


def time_token(seconds: float, ms: bool) -> bytes:
    """The JSON token the codec writes for a timestamp (float seconds, or integer ms)."""
    return _encode(render(seconds, ms))


def time_hole(name: str, mark: float, ms: bool) -> Hole:
    """The hole of a timestamp key whose value is ``mark``."""
    return (name, f'"{name}":'.encode(), time_token(mark, ms))


@dataclass(frozen=True, slots=True)
class Template:
    """A payload cut around its holes; ``holes`` names them in payload order."""

    pieces: tuple[bytes, ...]
    holes: tuple[str, ...]

    @classmethod
    def cut(cls, payload: bytes, wanted: Sequence[Hole]) -> Template | None:
        """Cut ``payload`` at each wanted hole, or ``None`` if a mark is not there exactly once."""
        found = []
        for name, prefix, token in wanted:
            if payload.count(prefix + token) != 1 or payload.count(token) != 1:
                return None
            found.append((payload.find(prefix + token) + len(prefix), len(token), name))
        found.sort()
        pieces, start = [], 0
        for at, size, _name in found:
            pieces.append(payload[start:at])
            start = at + size
        pieces.append(payload[start:])
        return cls(tuple(pieces), tuple(name for *_, name in found))

    def fill(self, values: dict[str, bytes]) -> bytes:
        """One payload: every hole replaced by ``values[hole]``."""
        out = [self.pieces[0]]
        for hole, piece in zip(self.holes, self.pieces[1:], strict=True):
            out += (values[hole], piece)
        return b"".join(out)

    def fill_many(self, args: Sequence[bytes | msgspec.Raw], jids: Sequence[str]) -> list[bytes]:
        """Payloads of a bulk push (holes ``args`` and, for Sidekiq, ``jid``)."""
        join = b"".join
        if self.holes == ("args", "jid"):
            head, mid, tail = self.pieces
            return [join((head, a, mid, j.encode(), tail)) for a, j in zip(args, jids, strict=True)]
        if self.holes == ("args",):
            head, tail = self.pieces
            return [join((head, a, tail)) for a in args]
        return [
            self.fill({"args": bytes(a), "jid": j.encode()})
            for a, j in zip(args, jids, strict=True)
        ]
