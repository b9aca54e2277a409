"""Frames of the anti-entropy sync protocol (SYNC.md beside this file).

A sync session is a sequence of frames in each direction over one reliable byte
stream. On the wire every frame is ``varint(length) || type byte || body``; the
length counts the type byte and the body, is at least 1 (an empty frame is never
a marker) and at most :data:`MAX_FRAME_BYTES`.

This module only encodes and decodes: :func:`encode_frame` turns a frame value
into bytes, :class:`FrameReader` cuts a byte stream into frames and
:func:`decode_frame` parses one. Decoders check every count and length against
the named limits below before they allocate, and raise the typed errors of
:mod:`protocol.errors` (plus :class:`Truncated` and :class:`UnknownFrameType`).
What the frames mean, and when each may be sent, is the session's business
(``meshpantry.core.sync``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from . import limits
from .errors import BadLength, DecodeError, Malformed, OutOfRange, TooLarge

#: Version spoken in HELLO and named in the libp2p protocol id
#: (``/meshpantry/sync/3``). Version 2 changed SUMS (stratum counts), the
#: list, batch and message limits and the work bound; version 3 added the
#: SHORT_LIST and WANT_LISTED modes, which a version 2 node refuses. A peer
#: speaking another version is refused with ABORT 6.
SYNC_VERSION = 3

#: Largest frame (type byte and body). A record batch is kept under
#: MAX_BATCH_BYTES (256 KiB) and a reconcile message, needs included, under
#: MAX_RECONCILE_BYTES (512 KiB) plus one entry; 1 MiB bounds the memory a
#: peer can make us buffer for one frame while leaving twice that headroom.
MAX_FRAME_BYTES = 1024 * 1024

#: Records per RECORDS frame. A frame is cut at MAX_BATCH_BYTES first for
#: typical records (~870 of ~300 bytes); 2,048 lets small records (128 bytes)
#: fill a frame too, instead of 500 of them making a 60 KiB frame.
MAX_BATCH_RECORDS = 2048

#: Target size of one RECORDS frame. Writes of 64 KiB or more run at full speed
#: on yamux; a session's window of 16 to 32 such frames is 4 to 8 MiB.
MAX_BATCH_BYTES = 256 * 1024

#: Soft size of one RECONCILE frame. The sender folds whatever does not fit
#: into one fingerprint of the rest, which the next round resolves. 512 KiB
#: holds the sums of ~2,500 small ranges, enough to settle 10,000
#: differences spread over two sides in one message, and half a frame.
MAX_RECONCILE_BYTES = 512 * 1024

#: Entries in one RECONCILE frame: a 512 KiB message of the smallest useful
#: entries (a fingerprint, ~20 bytes, alternating with a skip, ~3 bytes).
MAX_ENTRIES = 48 * 1024

#: Ids a side may list for one range (8 KiB). A sender lists a range of at
#: most 32 items whenever that is cheaper than anything else, and up to this
#: many when the sums of a small range failed: the list settles the range in
#: one step, where more sums or a split would cost another round trip.
MAX_LIST_IDS = 256

#: Bytes of a short id: the first bytes of an item's id, as a SHORT_LIST
#: names its items. 128 bits, as a fingerprint: two ids that share them are
#: a 2^-128 event, and making two records share them is as hard as making
#: two ranges share a fingerprint.
SHORT_ID_BYTES = 16

#: Short ids one SHORT_LIST may carry (256 KiB), and so bits one WANT_LISTED.
#: A side lists a range this way when about as many of its items differ as
#: it holds: the list costs 16 bytes an item and no arithmetic, where power
#: sums cost about 25 bytes and a solve per difference.
MAX_SHORT_IDS = 16 * 1024

#: Stratum counts a SUMS entry may carry (0 or exactly this many). An item's
#: stratum is the low 4 bits of the last byte of its id; the differences of
#: the two sides' stratum counts estimate how many records differ in the
#: range, one-sided or not (see meshpantry.core.sync.estimate).
STRATA = 16

#: Power sums sent for one range, so the number of differences one range can
#: resolve in one step. 64 x 8 bytes per range; the work is count x k.
MAX_SUMS = 64

#: Ids asked for in one RECONCILE frame: at most one per listed id.
MAX_NEEDS = MAX_RECONCILE_BYTES // limits.ID_BYTES

#: Bytes of a range fingerprint. 128 bits: a false match between two
#: different ranges is a 2^-128 event per comparison.
FINGERPRINT_BYTES = 16

#: Power sums live in GF(P), P the largest prime below 2^64, so one sum is
#: 8 bytes and two ids collide on their 64-bit value with chance ~2^-64.
SUMS_PRIME = 2**64 - 59

#: Bytes of one power sum on the wire.
SUM_BYTES = 8

#: Text of an ABORT frame: a short reason for logs, not a document.
MAX_REASON_BYTES = 200

#: A bound's lamport one past every record's: the end of the key space.
INF_LAMPORT = limits.MAX_COUNTER + 1

# Frame types (first byte of every frame).
HELLO = 0x01
RECONCILE = 0x02
RECORDS = 0x03
ACK = 0x04
END = 0x05
WANT_AUTHOR = 0x06
ABORT = 0x07

# Entry modes inside a RECONCILE frame.
SKIP = 0
FINGERPRINT = 1
ID_LIST = 2
WANT_SUMS = 3
SUMS = 4
ROOTS = 5
SHORT_LIST = 6
WANT_LISTED = 7

# ABORT codes: whose fault, in a word.
ABORT_DECODE = 1  #: a frame did not decode
ABORT_PROTOCOL = 2  #: a well-formed frame broke a session rule
ABORT_ROUNDS = 3  #: the session ran past MAX_ROUNDS
ABORT_RECORDS = 4  #: the peer sent more records than a session may carry
ABORT_TIMEOUT = 5  #: the peer went silent
ABORT_VERSION = 6  #: unsupported version
ABORT_INTERNAL = 7  #: our own store failed; not the peer's fault
#: The initiator ends its session before any answer, giving way to another
#: session at its node: no fault of either side.
ABORT_WITHDRAWN = 8


class Truncated(DecodeError):
    """A frame ended before a field it announced."""

    def __init__(self, field: str, needed: int, available: int) -> None:
        super().__init__(f"{field}: needs {needed} more bytes, {available} left")
        self.field, self.needed, self.available = field, needed, available


class UnknownFrameType(DecodeError):
    def __init__(self, what: str, code: int) -> None:
        super().__init__(f"unknown {what} {code}")
        self.what, self.code = what, code


# --- values -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class Bound:
    """A point in the (lamport, id) key space: items below it sort before it.

    ``prefix`` (0..32 bytes) stands for itself padded with zero bytes, so the
    shortest prefix that separates two neighbouring ids is enough.
    """

    lamport: int
    prefix: bytes = b""

    @property
    def key(self) -> tuple[int, bytes]:
        """Comparable with an item ``(lamport, id)``."""
        return (self.lamport, self.prefix.ljust(limits.ID_BYTES, b"\0"))

    @property
    def infinite(self) -> bool:
        return self.lamport == INF_LAMPORT


INF = Bound(INF_LAMPORT)


@dataclass(frozen=True, slots=True)
class Skip:
    """The range is settled; nothing to say."""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    count: int
    fingerprint: bytes


@dataclass(frozen=True, slots=True)
class IdList:
    """Every id the sender holds in the range (at most MAX_LIST_IDS)."""

    ids: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class WantSums:
    """Send me your first ``k`` power sums of this range."""

    k: int


@dataclass(frozen=True, slots=True)
class Sums:
    """The sender's count, fingerprint and power sums p_1..p_k of the range,
    and either no stratum counts or STRATA of them (summing to ``count``)."""

    count: int
    fingerprint: bytes
    sums: tuple[int, ...]
    strata: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Roots:
    """Your extras in this range are the roots of ``z^t + c_1 z^(t-1) + ... +
    c_t`` (``coefficients`` = c_1..c_t); the items we share there have
    fingerprint ``common``."""

    common: bytes
    coefficients: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ShortList:
    """The short ids (the first SHORT_ID_BYTES bytes of the ids) of every
    item the sender holds in the range, in item order (1..MAX_SHORT_IDS)."""

    ids: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class WantListed:
    """The answer to a SHORT_LIST of ``count`` items: bit i of ``bits``
    (byte i // 8, least significant bit first) is set when the sender lacks
    the i-th listed item; the bits past ``count`` are zero."""

    count: int
    bits: bytes

    @classmethod
    def of(cls, count: int, wanted: "list[int] | tuple[int, ...]") -> "WantListed":
        """The bits naming the listed items at positions ``wanted``."""
        value = 0
        for position in wanted:
            value |= 1 << position
        return cls(count, value.to_bytes((count + 7) // 8, "little"))

    def wanted(self) -> list[int]:
        """Positions of the listed items the sender lacks, ascending."""
        value = int.from_bytes(self.bits, "little")
        return [position for position in range(self.count) if value >> position & 1]


Mode = Union[Skip, Fingerprint, IdList, WantSums, Sums, Roots, ShortList, WantListed]


@dataclass(frozen=True, slots=True)
class Entry:
    """One range of a reconcile message: from the previous entry's ``upper``
    (or the start of the key space) up to, not including, ``upper``."""

    upper: Bound
    mode: Mode


@dataclass(frozen=True, slots=True)
class Hello:
    version: int = SYNC_VERSION


@dataclass(frozen=True, slots=True)
class Reconcile:
    """Entries covering the whole key space in order, the last ending at INF;
    ``needs`` are ids the sender asks for; ``idle`` says the sender has no
    records left to send and none unacknowledged."""

    entries: tuple[Entry, ...]
    needs: tuple[bytes, ...] = ()
    idle: bool = False


@dataclass(frozen=True, slots=True)
class Records:
    raws: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Ack:
    """Cumulative count of RECORDS frames received."""

    batches: int


@dataclass(frozen=True, slots=True)
class End:
    """The sender will send no more records. ``final``: and the session is
    over, send nothing back."""

    final: bool = False


@dataclass(frozen=True, slots=True)
class WantAuthor:
    """Send me every record by this author, in chain order."""

    author: bytes


@dataclass(frozen=True, slots=True)
class Abort:
    code: int
    reason: str = ""


Frame = Union[Hello, Reconcile, Records, Ack, End, WantAuthor, Abort]


# --- primitives ---------------------------------------------------------------


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128. ``value`` must be in [0, 2^64)."""
    assert 0 <= value < 2**64, value
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class _Reader:
    """Reads fields from one frame body; every read is bounds-checked."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def left(self) -> int:
        return len(self.data) - self.pos

    def byte(self, field: str) -> int:
        if self.pos >= len(self.data):
            raise Truncated(field, 1, 0)
        value = self.data[self.pos]
        self.pos += 1
        return value

    def fixed(self, size: int, field: str) -> bytes:
        if self.left() < size:
            raise Truncated(field, size, self.left())
        value = self.data[self.pos : self.pos + size]
        self.pos += size
        return value

    def varint(self, field: str, high: int) -> int:
        value, shift = 0, 0
        while True:
            byte = self.byte(field)
            if shift == 63 and byte > 1:
                raise OutOfRange(field, "over 2^64", 0, high)
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                if byte == 0 and shift:
                    raise Malformed(f"{field}: varint not in its shortest form")
                break
            shift += 7
        if value > high:
            raise OutOfRange(field, value, 0, high)
        return value

    def end(self, what: str) -> None:
        if self.left():
            raise Malformed(f"{what}: {self.left()} bytes after the last field")


def read_varint_prefix(data: bytes | bytearray, high: int) -> tuple[int, int] | None:
    """Parse a varint at the start of ``data``: ``(value, bytes used)``, or
    ``None`` if ``data`` ends inside it. Raises TooLarge past ``high``."""
    value, shift = 0, 0
    for used, byte in enumerate(data, start=1):
        value |= (byte & 0x7F) << shift
        if value > high:
            raise TooLarge("sync frame", value, high)
        if not byte & 0x80:
            if byte == 0 and shift:
                raise Malformed("frame length varint not in its shortest form")
            return value, used
        shift += 7
    return None


# --- encoding -----------------------------------------------------------------


def _encode_bound(bound: Bound, prev_lamport: int, out: bytearray) -> None:
    if bound.infinite:
        out += b"\x00"
        return
    assert bound.lamport >= prev_lamport
    out += encode_varint(bound.lamport - prev_lamport + 1)
    out.append(len(bound.prefix))
    out += bound.prefix


def _encode_mode(mode: Mode, out: bytearray) -> None:
    if isinstance(mode, Skip):
        out.append(SKIP)
    elif isinstance(mode, Fingerprint):
        out.append(FINGERPRINT)
        out += encode_varint(mode.count)
        out += mode.fingerprint
    elif isinstance(mode, IdList):
        out.append(ID_LIST)
        out += encode_varint(len(mode.ids))
        for item_id in mode.ids:
            out += item_id
    elif isinstance(mode, WantSums):
        out.append(WANT_SUMS)
        out += encode_varint(mode.k)
    elif isinstance(mode, Sums):
        out.append(SUMS)
        out += encode_varint(mode.count)
        out += mode.fingerprint
        out += encode_varint(len(mode.sums))
        for value in mode.sums:
            out += value.to_bytes(SUM_BYTES, "big")
        out += encode_varint(len(mode.strata))
        for value in mode.strata:
            out += encode_varint(value)
    elif isinstance(mode, ShortList):
        out.append(SHORT_LIST)
        out += encode_varint(len(mode.ids))
        out += b"".join(mode.ids)
    elif isinstance(mode, WantListed):
        out.append(WANT_LISTED)
        out += encode_varint(mode.count)
        out += mode.bits
    else:
        assert isinstance(mode, Roots)
        out.append(ROOTS)
        out += mode.common
        out += encode_varint(len(mode.coefficients))
        for value in mode.coefficients:
            out += value.to_bytes(SUM_BYTES, "big")


def encode_entries(entries: tuple[Entry, ...] | list[Entry]) -> bytes:
    out = bytearray(encode_varint(len(entries)))
    prev = 0
    for entry in entries:
        _encode_bound(entry.upper, prev, out)
        if not entry.upper.infinite:
            prev = entry.upper.lamport
        _encode_mode(entry.mode, out)
    return bytes(out)


def encode_body(frame: Frame) -> bytes:
    """The frame's type byte and body, without the length prefix."""
    if isinstance(frame, Hello):
        return bytes([HELLO]) + encode_varint(frame.version)
    if isinstance(frame, Reconcile):
        out = bytearray([RECONCILE, 1 if frame.idle else 0])
        out += encode_entries(frame.entries)
        out += encode_varint(len(frame.needs))
        for item_id in frame.needs:
            out += item_id
        return bytes(out)
    if isinstance(frame, Records):
        out = bytearray([RECORDS])
        out += encode_varint(len(frame.raws))
        for raw in frame.raws:
            out += encode_varint(len(raw))
            out += raw
        return bytes(out)
    if isinstance(frame, Ack):
        return bytes([ACK]) + encode_varint(frame.batches)
    if isinstance(frame, End):
        return bytes([END, 1 if frame.final else 0])
    if isinstance(frame, WantAuthor):
        return bytes([WANT_AUTHOR]) + frame.author
    assert isinstance(frame, Abort)
    reason = frame.reason.encode("utf-8")[:MAX_REASON_BYTES].decode("utf-8", "ignore")
    data = reason.encode("utf-8")
    return bytes([ABORT]) + encode_varint(frame.code) + encode_varint(len(data)) + data


def encode_frame(frame: Frame) -> bytes:
    """``varint(length) || type || body``. Asserts the frame fits MAX_FRAME_BYTES."""
    body = encode_body(frame)
    assert 0 < len(body) <= MAX_FRAME_BYTES, len(body)
    return encode_varint(len(body)) + body


# --- decoding -----------------------------------------------------------------


def _decode_bound(reader: _Reader, prev_lamport: int) -> Bound:
    code = reader.varint("bound lamport", limits.MAX_COUNTER + 1)
    if code == 0:
        return INF
    lamport = prev_lamport + code - 1
    if lamport > limits.MAX_COUNTER:
        raise OutOfRange("bound lamport", lamport, 0, limits.MAX_COUNTER)
    size = reader.byte("bound prefix length")
    if size > limits.ID_BYTES:
        raise OutOfRange("bound prefix length", size, 0, limits.ID_BYTES)
    prefix = reader.fixed(size, "bound prefix")
    if prefix and prefix[-1] == 0:
        raise Malformed("bound prefix ends with a zero byte (not its shortest form)")
    return Bound(lamport, prefix)


def _decode_mode(reader: _Reader) -> Mode:
    code = reader.byte("entry mode")
    if code == SKIP:
        return Skip()
    if code == FINGERPRINT:
        count = reader.varint("count", limits.MAX_COUNTER)
        return Fingerprint(count, reader.fixed(FINGERPRINT_BYTES, "fingerprint"))
    if code == ID_LIST:
        size = reader.varint("id list length", MAX_LIST_IDS)
        return IdList(tuple(reader.fixed(limits.ID_BYTES, "id") for _ in range(size)))
    if code == WANT_SUMS:
        k = reader.varint("sums wanted", MAX_SUMS)
        if k == 0:
            raise OutOfRange("sums wanted", 0, 1, MAX_SUMS)
        return WantSums(k)
    if code == SUMS:
        count = reader.varint("count", limits.MAX_COUNTER)
        fingerprint = reader.fixed(FINGERPRINT_BYTES, "fingerprint")
        sums = _field_elements(reader, "sum")
        return Sums(count, fingerprint, sums, _strata(reader, count))
    if code == ROOTS:
        common = reader.fixed(FINGERPRINT_BYTES, "fingerprint")
        return Roots(common, _field_elements(reader, "coefficient"))
    if code == SHORT_LIST:
        size = reader.varint("short list length", MAX_SHORT_IDS)
        if size == 0:
            raise OutOfRange("short list length", 0, 1, MAX_SHORT_IDS)
        block = reader.fixed(size * SHORT_ID_BYTES, "short ids")
        return ShortList(tuple(block[at : at + SHORT_ID_BYTES] for at in range(0, len(block), SHORT_ID_BYTES)))
    if code == WANT_LISTED:
        count = reader.varint("listed items", MAX_SHORT_IDS)
        if count == 0:
            raise OutOfRange("listed items", 0, 1, MAX_SHORT_IDS)
        bits = reader.fixed((count + 7) // 8, "wanted bits")
        if int.from_bytes(bits, "little") >> count:
            raise Malformed("want listed: bits set past the listed items")
        return WantListed(count, bits)
    raise UnknownFrameType("entry mode", code)


def _field_elements(reader: _Reader, field: str) -> tuple[int, ...]:
    k = reader.varint(f"{field}s", MAX_SUMS)
    if k == 0:
        raise OutOfRange(f"{field}s", 0, 1, MAX_SUMS)
    values = []
    for _ in range(k):
        value = int.from_bytes(reader.fixed(SUM_BYTES, field), "big")
        if value >= SUMS_PRIME:
            raise OutOfRange(field, value, 0, SUMS_PRIME - 1)
        values.append(value)
    return tuple(values)


def _strata(reader: _Reader, count: int) -> tuple[int, ...]:
    size = reader.varint("strata", STRATA)
    if size not in (0, STRATA):
        raise OutOfRange("strata", size, STRATA, STRATA)
    values = tuple(reader.varint("stratum count", count) for _ in range(size))
    if values and sum(values) != count:
        raise Malformed(f"sums: stratum counts add up to {sum(values)}, not the count {count}")
    return values


def _decode_entries(reader: _Reader) -> tuple[Entry, ...]:
    size = reader.varint("entries", MAX_ENTRIES)
    if size == 0:
        raise Malformed("reconcile: no entries (the last must end at INF)")
    entries = []
    prev_lamport = 0
    prev_key: tuple[int, bytes] | None = None
    for index in range(size):
        bound = _decode_bound(reader, prev_lamport)
        if bound.infinite != (index == size - 1):
            raise Malformed("reconcile: exactly the last entry must end at INF")
        key = bound.key
        if prev_key is not None and key <= prev_key:
            raise Malformed("reconcile: entry bounds must increase")
        prev_key = key
        if not bound.infinite:
            prev_lamport = bound.lamport
        entries.append(Entry(bound, _decode_mode(reader)))
    return tuple(entries)


def decode_frame(body: bytes) -> Frame:
    """Parse one frame (type byte and body, the length prefix removed).

    Raises TooLarge, Truncated, Malformed, OutOfRange, BadLength or
    UnknownFrameType.
    """
    if len(body) > MAX_FRAME_BYTES:
        raise TooLarge("sync frame", len(body), MAX_FRAME_BYTES)
    if not body:
        raise Malformed("empty sync frame")
    reader = _Reader(body, 1)
    kind = body[0]
    frame: Frame
    if kind == HELLO:
        frame = Hello(reader.varint("version", 2**32))
    elif kind == RECONCILE:
        flags = reader.byte("reconcile flags")
        if flags > 1:
            raise OutOfRange("reconcile flags", flags, 0, 1)
        entries = _decode_entries(reader)
        count = reader.varint("needs", MAX_NEEDS)
        needs = tuple(reader.fixed(limits.ID_BYTES, "need") for _ in range(count))
        frame = Reconcile(entries, needs, bool(flags))
    elif kind == RECORDS:
        count = reader.varint("records", MAX_BATCH_RECORDS)
        raws = []
        for _ in range(count):
            size = reader.varint("record length", limits.MAX_RECORD_BYTES)
            if size == 0:
                raise BadLength("record", 1, 0)
            raws.append(reader.fixed(size, "record"))
        frame = Records(tuple(raws))
    elif kind == ACK:
        frame = Ack(reader.varint("acked batches", 2**63 - 1))
    elif kind == END:
        flags = reader.byte("end flags")
        if flags > 1:
            raise OutOfRange("end flags", flags, 0, 1)
        frame = End(bool(flags))
    elif kind == WANT_AUTHOR:
        frame = WantAuthor(reader.fixed(limits.KEY_BYTES, "author"))
    elif kind == ABORT:
        code = reader.varint("abort code", 255)
        size = reader.varint("abort reason length", MAX_REASON_BYTES)
        try:
            reason = reader.fixed(size, "abort reason").decode("utf-8")
        except UnicodeDecodeError:
            raise Malformed("abort reason is not UTF-8") from None
        frame = Abort(code, reason)
    else:
        raise UnknownFrameType("frame type", kind)
    reader.end(type(frame).__name__)
    return frame


class FrameReader:
    """Cuts a byte stream into frame bodies, whatever the chunking.

    :meth:`feed` takes bytes and returns the complete frame bodies now
    available. A length over MAX_FRAME_BYTES raises TooLarge as soon as the
    length is read, before its body is buffered; a zero length raises
    Malformed.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        bodies: list[bytes] = []
        while self._buffer:
            head = read_varint_prefix(self._buffer[:10], MAX_FRAME_BYTES)
            if head is None:
                if len(self._buffer) >= 10:
                    raise Malformed("frame length varint too long")
                break
            size, used = head
            if size == 0:
                raise Malformed("empty sync frame")
            if len(self._buffer) < used + size:
                break
            bodies.append(bytes(self._buffer[used : used + size]))
            del self._buffer[: used + size]
        return bodies
