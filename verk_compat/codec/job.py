"""The Sidekiq job payload codec: strict decode, byte-faithful re-encode.

One msgspec pass decodes a payload into typed known fields (``args`` elements stay raw JSON until
first access). Unknown keys, key order and original number tokens are recovered lazily from
``raw`` only when an encode needs them, so decoding stays cheap. An unchanged job encodes to its
exact input bytes; a changed one keeps its key order, original tokens for untouched keys, and puts
new keys at the end (the order Sidekiq's ``JobRetry`` uses).

Decisions:
    * Duplicate keys: the last one wins, as in Ruby's ``JSON.parse``.
    * ``retry`` as a JSON float (``5.0``): accepted, read as ``True`` (Sidekiq: truthy and not an
      Integer, so the default maximum); the token is kept on re-encode. A string is refused.
    * ``null`` for an optional key is read as absent (and kept on re-encode while unchanged).
    * ``"args":{}`` / ``"tags":{}`` (Verk's Lua re-encoding an empty array with cjson) read as
      ``[]``; ``raw`` keeps the stored bytes, :meth:`Job.encode` writes ``[]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import isfinite as _isfinite
from time import time as _time
from typing import TYPE_CHECKING, Any

import msgspec

from verk_compat.codec._encode import encode_decoded, encode_new
from verk_compat.codec._fields import (
    as_bytes,
    check_field,
    check_utf8,
    field_property,
    split_options,
)
from verk_compat.codec._schema import KEY_TO_NAME, NAME_TO_KEY, Wire, invalid, unreadable
from verk_compat.codec.jid import JID_POOL as _JIDS
from verk_compat.codec.jid import new_jid
from verk_compat.codec.profiles import PROFILES, Profile, rules
from verk_compat.codec.resque import encode_resque
from verk_compat.codec.ruby_json import ENCODER, check_args, rubify
from verk_compat.codec.timestamps import now
from verk_compat.codec.verk import normalize_cjson
from verk_compat.errors import InvalidJob

if TYPE_CHECKING:
    from verk_compat.codec._fields import Field

__all__ = ["PROFILES", "Job", "Profile", "check_args", "now"]


_WIRE_DEC = msgspec.json.Decoder(Wire)
_TOKENS_DEC = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ANY_DEC = msgspec.json.Decoder()
_encode = ENCODER.encode
_replace = msgspec.structs.replace
_Raw = msgspec.Raw
_PLAIN = frozenset((str, int, bool, type(None)))


class Job:
    """One Sidekiq job payload.

    Attributes are the known Sidekiq keys (``class`` is ``class_name``); all timestamps read as
    float epoch seconds. ``extra`` maps every other key to its untouched JSON bytes, in order.
    ``raw`` is the exact payload the job was decoded from (``None`` for new or replaced jobs).
    Assigning an attribute validates it; :meth:`encode` then writes it.
    """

    __slots__ = (
        "_args",
        "_args_enc",
        "_args_out",
        "_dirty",
        "_extra",
        "_order",
        "_snap",
        "_src",
        "_w",
        "raw",
    )

    if TYPE_CHECKING:
        class_name: Field[str]
        jid: Field[str | None]
        queue: Field[str | None]
        retry: Field[bool | int | None]
        retry_count: Field[int | None]
        created_at: Field[float | None]
        enqueued_at: Field[float | None]
        failed_at: Field[float | None]
        retried_at: Field[float | None]
        error_message: Field[str | None]
        error_class: Field[str | None]
        error_backtrace: Field[str | None]
        backtrace: Field[bool | int | None]
        retry_queue: Field[str | None]
        dead: Field[bool | None]
        retry_for: Field[int | None]
        tags: Field[list[Any] | None]
        wrapped: Field[str | None]
        bid: Field[str | None]

    _w: Wire
    _dirty: dict[str, None] | None
    _args_enc: bytes | None
    _args_out: msgspec.Raw | None
    _args: list[Any] | None
    _extra: dict[str, msgspec.Raw] | None
    _snap: dict[str, msgspec.Raw] | None
    _order: tuple[str, ...] | None
    _src: bytes | None
    raw: bytes | None

    def __init__(
        self,
        class_name: str,
        args: Sequence[Any] = (),
        *,
        extra: dict[str, msgspec.Raw] | None = None,
        **fields: Any,
    ) -> None:
        """Build a job from field values (validated; no defaults are added, see :meth:`new`).

        Args:
            class_name: The ``class`` key.
            args: The job arguments (JSON-native values only).
            extra: Unknown keys mapped to their JSON bytes (``msgspec.Raw``).
            **fields: Any other known field (``jid``, ``queue``, ``retry``, ...).

        Raises:
            InvalidJob: on any value Sidekiq would not accept.
            TypeError: on an unknown field name.
        """
        self._w = Wire(class_name=check_field("class_name", class_name), args=[])
        self._dirty = self._order = self._src = self.raw = None
        self._set_args(list(args))
        self._set_extra({} if extra is None else extra)
        for name, value in fields.items():
            self._set(name, value)

    # -- decoding -------------------------------------------------------------------------------

    @classmethod
    def decode(cls, raw: bytes | str) -> Job:
        """Decode a Sidekiq 6.x/7.x/8.x payload.

        Args:
            raw: The payload bytes (or text) as stored in Redis.

        Returns:
            The job; ``job.raw`` holds the exact input bytes.

        Raises:
            InvalidJob: the payload is not a valid job (the message names the field); every
            other failure (nesting too deep, a number out of range, ...) is one too.
        """
        data = as_bytes(raw)
        if not data.isascii():
            check_utf8(data)
        try:
            wire = _WIRE_DEC.decode(data)
        except msgspec.DecodeError as exc:
            # Verk's Lua re-encodes moved jobs with cjson, which writes an empty array as {}.
            try:
                fixed = normalize_cjson(data)
            except Exception as inner:  # nesting too deep even to look: a bad job
                raise unreadable(inner, data) from None
            if fixed is None:
                raise invalid(exc, data) from None
            job = cls.decode(fixed)
            job.raw = data  # the stored bytes; encode() writes the [] form
            return job
        except Exception as exc:  # RecursionError (deep nesting), MemoryError, ...: still a bad job
            raise unreadable(exc, data) from None
        job = cls.__new__(cls)
        job._w = wire
        job._src = job.raw = data
        job._args = job._extra = job._snap = job._order = job._dirty = None
        job._args_enc = job._args_out = None
        return job

    @classmethod
    def decode_resque(cls, raw: bytes | str) -> Job:
        """Decode a Resque payload ``{"class": .., "args": [..]}``; other keys go to ``extra``.

        Sidekiq-named keys a Resque payload might carry are read (and checked) as fields.

        Args:
            raw: The payload bytes (or text).

        Returns:
            The job, with no jid/queue/retry/timestamps unless the payload had them.

        Raises:
            InvalidJob: the payload is not a valid Resque job.
        """
        return cls.decode(raw)  # the format's rules live in codec/resque.py

    @classmethod
    def decode_verk1(cls, raw: bytes | str) -> Job:
        """Decode a Verk 1.x payload (see :mod:`verk_compat.codec.verk`).

        Args:
            raw: The payload bytes (or text).

        Returns:
            The job in Sidekiq terms; ``job.raw`` keeps the Verk bytes, encode writes Sidekiq.

        Raises:
            InvalidJob: the payload is not a valid Verk job.
        """
        from verk_compat.codec.verk import decode_verk1

        data = as_bytes(raw)
        try:
            return decode_verk1(cls, data)
        except InvalidJob:
            raise
        except Exception as exc:  # RecursionError, OverflowError, ...: still a bad job
            raise unreadable(exc, data) from None

    # -- field access ---------------------------------------------------------------------------

    def _set(self, name: str, value: Any) -> None:
        if name == "args":
            self._set_args(value)
            return
        if name == "extra":
            self._set_extra(value)
            return
        if name not in NAME_TO_KEY:
            raise TypeError(f"Job has no field {name!r}")
        value = check_field(name, value)
        setattr(self._w, name, value)
        dirty = self._dirty
        if dirty is None:
            self._dirty = {name: None}
        else:
            dirty[name] = None

    def _set_args(self, value: Any) -> None:
        check_args(value)
        self._args = value
        self._args_enc = encoded = _encode(value)
        self._args_out = _Raw(rubify(encoded))

    def _set_extra(self, value: Any) -> None:
        if type(value) is not dict or not all(
            type(k) is str and type(v) is _Raw for k, v in value.items()
        ):
            raise InvalidJob("extra: must be a dict of str -> msgspec.Raw", field="extra")
        self._extra = value
        self._snap = None

    @property
    def args(self) -> list[Any]:
        """The job arguments, decoded on first access.

        Raises:
            InvalidJob: an argument :meth:`decode` skipped over cannot be read in Python (a
                number out of range such as ``1e400``, an integer of thousands of digits).
        """
        args = self._args
        if args is None:
            try:
                args = _ANY_DEC.decode(_encode(self._w.args))
            except Exception as exc:
                raise unreadable(exc, self._src, "args") from None
            self._args = args
            self._args_enc = self._args_out = None
        return args

    @args.setter
    def args(self, value: list[Any]) -> None:
        self._set_args(value)

    @property
    def extra(self) -> dict[str, msgspec.Raw]:
        """Every unknown key mapped to its untouched JSON bytes, in payload order."""
        extra = self._extra
        if extra is None:
            extra = {}
            if self._src is not None:
                tokens = _TOKENS_DEC.decode(self._src)
                extra = {k: v for k, v in tokens.items() if k not in KEY_TO_NAME}
            self._extra = extra
            self._snap = dict(extra)
        return extra

    @extra.setter
    def extra(self, value: dict[str, msgspec.Raw]) -> None:
        self._set_extra(value)

    # -- encoding -------------------------------------------------------------------------------

    def encode(self, profile: Profile = "sidekiq7") -> bytes:
        """Encode as compact, Ruby-style JSON for ``profile``.

        Args:
            profile: ``sidekiq6``/``sidekiq7`` write float seconds, ``sidekiq8`` integer ms.

        Returns:
            The payload bytes; the exact input bytes when nothing changed.

        Raises:
            ValueError: unknown profile.
            InvalidJob: args that were changed in place are no longer JSON-native.
        """
        ms = rules(profile).ms_timestamps
        src = self._src
        if src is None:
            return encode_new(self, ms)
        return encode_decoded(self, src, ms)

    def encode_resque(self) -> bytes:
        """Encode as a Resque payload ``{"class":..,"args":..}`` (nothing else).

        Returns:
            The compact JSON bytes.
        """
        return encode_resque(self)

    # -- copies and construction ----------------------------------------------------------------

    def replace(self, **changes: Any) -> Job:
        """Return a copy with ``changes`` applied (validated); the copy's ``raw`` is ``None``.

        Unchanged keys keep their order and original tokens when the copy is encoded.

        Args:
            **changes: Field names (``args``, ``extra`` included) mapped to new values.

        Returns:
            The new job.

        Raises:
            InvalidJob: a changed value is not valid.
            TypeError: an unknown field name.
        """
        job = Job.__new__(Job)
        job._w = _replace(self._w)
        job._src, job._order, job.raw = self._src, self._order, None
        job._dirty = None if self._dirty is None else dict(self._dirty)
        job._args = None if self._args is None else list(self._args)
        job._args_enc, job._args_out = self._args_enc, self._args_out
        job._extra = None if self._extra is None else dict(self._extra)
        job._snap = self._snap
        for name, value in changes.items():
            job._set(name, value)
        return job

    @classmethod
    def new(
        cls,
        class_name: str,
        args: Sequence[Any] = (),
        /,
        *,
        queue: str = "default",
        retry: bool | int = True,
        jid: str | None = None,
        created_at: float | None = None,
        **options: Any,
    ) -> Job:
        """Create a job the way Sidekiq's client does (defaults, jid, ``created_at``, checks).

        Args:
            class_name: The worker class name (``class``).
            args: JSON-native arguments (Sidekiq ``strict_args``).
            queue: A non-empty queue name.
            retry: ``True``/``False`` or the maximum number of retries.
            jid: The job id; 24 lowercase hex characters when ``None``.
            created_at: Float epoch seconds; now when ``None``.
            **options: Known fields (``backtrace``, ``retry_queue``, ``dead``, ``tags``,
                ``retry_for``, ``wrapped``, ``bid``, ...) or extra keys (JSON-native values).

        Returns:
            The new job (``raw`` is ``None``).

        Raises:
            InvalidJob: before anything is returned, on any value Sidekiq would refuse.
        """
        job = cls.__new__(cls)
        job._src = job.raw = job._dirty = job._snap = None
        if options:
            job._order, known, job._extra = split_options(options)
        else:  # no options: encode takes its fast lane while no field is assigned (_dirty)
            job._order, known, job._extra = None, None, {}
        if type(class_name) is not str or not class_name:
            class_name = check_field("class_name", class_name)
        args = list(args)
        if _PLAIN.issuperset(map(type, args)):  # no floats: msgspec writes what Ruby writes
            job._args = job._args_enc = None  # nothing shared can change: decoded when read
            job._args_out = _Raw(_encode(args))
        else:
            job._set_args(args)
        if type(queue) is not str or not queue or type(retry) not in (bool, int):
            queue, retry = check_field("queue", queue), check_field("retry", retry)
        if jid is None:
            try:
                jid = _JIDS.pop()
            except IndexError:
                jid = new_jid()
        elif type(jid) is not str:
            jid = check_field("jid", jid)
        if created_at is None:
            created_at = _time()  # = now()
        elif type(created_at) is not float or not _isfinite(created_at):
            created_at = check_field("created_at", created_at)
        job._w = Wire(
            retry=retry,
            queue=queue,
            class_name=class_name,
            args=job._args_out,  # type: ignore[arg-type]  # a new job's struct holds encoded args
            jid=jid,
            created_at=created_at,
        )
        if known:
            for name, value in known.items():
                setattr(job._w, name, check_field(name, value))
        return job

    def __repr__(self) -> str:
        return f"Job(class_name={self.class_name!r}, jid={self.jid!r}, queue={self.queue!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Job):
            return NotImplemented
        return self.encode() == other.encode()

    __hash__ = None  # type: ignore[assignment]


for _name in NAME_TO_KEY:
    if _name != "args":
        setattr(Job, _name, field_property(_name))
del _name
