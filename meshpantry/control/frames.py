"""Control socket frames.

Every frame is a 4-byte big-endian length followed by a msgpack map. Requests:
``{"id": n, "op": name, "args": {...}}``. Responses: ``{"id": n, "ok": true,
"result": value}`` or ``{"id": n, "ok": false, "error": {"code", "message",
"exit_code"}}``. After a ``subscribe`` request the server also pushes
``{"event": name, "data": value}`` frames on that connection: ``record``
(a new record's summary), ``peer`` (up/down), ``sync`` (progress), ``island``
(state changed).

Values are msgpack: record ids travel as hex text, so results read the same
in ``--json`` output, over this socket and in the UI.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack

#: A frame holds one answer, at most a whole board or a dump of every record id
#: of a large neighbourhood (100k ids in hex is ~7 MiB); 32 MiB bounds a
#: misbehaving client without refusing real answers.
MAX_CONTROL_FRAME = 32 * 1024 * 1024

HEADER = struct.Struct(">I")


class ControlFrameError(Exception):
    """The other end sent bytes that are not a control frame."""


def encode_frame(message: dict[str, Any]) -> bytes:
    body = msgpack.packb(message, use_bin_type=True, default=_default)
    if len(body) > MAX_CONTROL_FRAME:
        raise ControlFrameError(f"control frame of {len(body)} bytes exceeds {MAX_CONTROL_FRAME}")
    return HEADER.pack(len(body)) + body


def _default(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot send {type(value).__name__} over the control socket")


def frame_length(header: bytes) -> int:
    (length,) = HEADER.unpack(header)
    if length > MAX_CONTROL_FRAME:
        raise ControlFrameError(f"control frame of {length} bytes exceeds {MAX_CONTROL_FRAME}")
    return length


def decode_body(body: bytes) -> dict[str, Any]:
    try:
        message = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException) as exc:
        raise ControlFrameError(f"undecodable control frame: {exc}") from None
    if not isinstance(message, dict):
        raise ControlFrameError("a control frame must be a map")
    return message
