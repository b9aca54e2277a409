"""Control socket frames.

Every frame is a 4-byte big-endian length followed by a msgpack map. Requests:
``{"id": n, "op": name, "args": {...}}`` (the op's typed request,
:mod:`.requests`). Responses: ``{"id": n, "ok": true, "result": value}`` or
``{"id": n, "ok": false, "error": {"code", "message", "exit_code"}}``. After a
``subscribe`` request the server also pushes ``{"event": name, "data":
value}`` frames on that connection (:mod:`.events`): ``record`` (a new
record's summary), ``peer`` (up/down), ``sync`` (progress), ``island`` (state
changed), ``fork`` (forked chains seen).

No frame is larger than :data:`MAX_CONTROL_FRAME`: the node never sends one
(an answer that would be larger becomes a ``reply-too-large`` error telling
the user to ask for a smaller page), and a reader refuses a header that
announces one.

Values are msgpack: record ids travel as hex text, so results read the same
in ``--json`` output, over this socket and in the UI.
"""

from __future__ import annotations

import struct
from typing import Union

import msgpack

#: A frame holds one answer: a page of a listing (a few MB at most), a status,
#: or a dump of every record id of a large neighbourhood (100k ids in hex is
#: ~7 MiB); 32 MiB bounds a misbehaving client without refusing real answers.
MAX_CONTROL_FRAME = 32 * 1024 * 1024

HEADER = struct.Struct(">I")

#: A value on the control socket: msgpack's types as Python reads them.
Wire = Union[None, bool, int, str, bytes, list["Wire"], tuple["Wire", ...], dict[str, "Wire"]]
#: A frame: a map of values.
Frame = dict[str, Wire]


class ControlFrameError(Exception):
    """The other end sent bytes that are not a control frame."""


class FrameTooLarge(ControlFrameError):
    """A frame would exceed the limit; ``size`` is what it would have been."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"control frame of {size} bytes exceeds {limit}")
        self.size, self.limit = size, limit


def encode_frame(message: Frame, limit: int = MAX_CONTROL_FRAME) -> bytes:
    """The frame of ``message``. Raises :class:`FrameTooLarge` over ``limit``
    bytes, TypeError for a value msgpack cannot carry."""
    body = msgpack.packb(message, use_bin_type=True, default=_default)
    if len(body) > limit:
        raise FrameTooLarge(len(body), limit)
    return HEADER.pack(len(body)) + body


def _default(value: object) -> Wire:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot send {type(value).__name__} over the control socket")


def frame_length(header: bytes, limit: int = MAX_CONTROL_FRAME) -> int:
    (length,) = HEADER.unpack(header)
    if length > limit:
        raise FrameTooLarge(length, limit)
    return length


def decode_body(body: bytes) -> Frame:
    try:
        message = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException) as exc:
        raise ControlFrameError(f"undecodable control frame: {exc}") from None
    if not isinstance(message, dict):
        raise ControlFrameError("a control frame must be a map")
    return message
