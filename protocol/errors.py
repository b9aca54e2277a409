"""Typed errors of the wire format.

Every failed check is its own type and carries the data that failed, so a caller
can say exactly what was wrong with a peer's bytes. All of them are
:class:`RemoteError`: they describe bad input from outside, never our own misuse.
"""

from __future__ import annotations


class RemoteError(Exception):
    """Bad input that came from outside this process (a peer, a file, a user)."""


class DecodeError(RemoteError):
    """The bytes are not a well-formed record or frame."""


class TooLarge(DecodeError):
    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(f"{what} is {size} bytes, limit {limit}")
        self.what, self.size, self.limit = what, size, limit


class Malformed(DecodeError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"malformed msgpack: {reason}")
        self.reason = reason


class NonCanonical(DecodeError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} does not re-encode to the same bytes")
        self.what = what


class WrongType(DecodeError):
    def __init__(self, field: str, expected: str, found: str) -> None:
        super().__init__(f"{field}: expected {expected}, found {found}")
        self.field, self.expected, self.found = field, expected, found


class MissingField(DecodeError):
    def __init__(self, field: str) -> None:
        super().__init__(f"missing field {field}")
        self.field = field


class UnknownField(DecodeError):
    def __init__(self, field: str) -> None:
        super().__init__(f"unknown envelope field {field}")
        self.field = field


class BadLength(DecodeError):
    def __init__(self, field: str, expected: int, found: int) -> None:
        super().__init__(f"{field} must be {expected} bytes, found {found}")
        self.field, self.expected, self.found = field, expected, found


class OutOfRange(DecodeError):
    def __init__(self, field: str, value: object, low: object, high: object) -> None:
        super().__init__(f"{field}={value!r} outside [{low}, {high}]")
        self.field, self.value, self.low, self.high = field, value, low, high


class UnsupportedVersion(DecodeError):
    def __init__(self, version: int) -> None:
        super().__init__(f"record format version {version} is not supported")
        self.version = version


class BadSignature(RemoteError):
    def __init__(self, record_id: bytes) -> None:
        super().__init__(f"signature of record {record_id.hex()[:16]} does not verify")
        self.record_id = record_id


class InvalidBody(DecodeError):
    """A known kind's body breaks its schema."""

    def __init__(self, kind: str, field: str, reason: str) -> None:
        super().__init__(f"{kind}.{field}: {reason}")
        self.kind, self.field, self.reason = kind, field, reason
