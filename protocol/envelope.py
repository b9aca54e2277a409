"""The signed record envelope.

A record on the wire is the canonical msgpack array ``[payload, signature]``:

* ``payload`` (bin) is the canonical msgpack map of the envelope fields below;
* ``signature`` (bin, 64 bytes) is Ed25519 by ``author`` over
  ``SIGNING_CONTEXT + payload``;
* the record id is ``SHA-256(payload)``.

Payload fields (keys are single letters to keep records small):

====  ============  ===========================================================
key   name          value
====  ============  ===========================================================
a     author        Ed25519 public key of the device, 32 bytes
b     body          map, interpreted according to ``k``
c     lamport       Lamport counter, 1..2^63-1
k     kind          text, 1..32 bytes
n     neighbourhood id of the neighbourhood's genesis record (32 bytes); empty
                    bytes in the genesis record itself
p     prev          id of the author's previous record, or nil when ``s == 1``
s     seq           position in the author's chain, 1..2^63-1
t     time          advisory wall-clock time, ms since the Unix epoch
v     version       envelope format version, currently 1
====  ============  ===========================================================

Decoding (:func:`decode_record`) checks, in this order: total size, outer array
shape and canonical form, payload canonical form and limits, the version, the
set of envelope fields, every envelope field's type and range, and the body's
schema when the kind is known (SPEC.md section 3 lists the exact order). A
record that passes every check is read on a short path (few Python
operations); any other goes through :func:`decode_record_checked`, which
names the failure, so both paths give the same record or the same error. The
signature is checked separately (:func:`verify_record`) so that batches can be
verified on several cores.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from collections.abc import Iterable
from typing import Any

import msgpack
import nacl.bindings
import nacl.exceptions

from . import canonical, kinds, limits
from .errors import (
    BadLength,
    BadSignature,
    Malformed,
    MissingField,
    OutOfRange,
    UnknownField,
    UnsupportedVersion,
    WrongType,
)

FORMAT_VERSION = 1
SIGNING_CONTEXT = b"meshpantry/record/v1\x00"
ENVELOPE_FIELDS = frozenset("abcknpstv")
GENESIS_KIND = "neighbourhood"


@dataclass(frozen=True, slots=True)
class Record:
    """A decoded record. ``raw`` is the exact bytes received; never re-encode."""

    raw: bytes
    id: bytes  #: SHA-256 of ``payload``
    payload: bytes
    signature: bytes
    author: bytes  #: 32-byte Ed25519 public key
    neighbourhood: bytes  #: 32-byte genesis id, or b"" in the genesis record
    seq: int  #: >= 1
    prev: bytes | None  #: None exactly when seq == 1
    lamport: int  #: >= 1
    time: int  #: advisory, ms since epoch
    kind: str
    body: dict[str, Any] = field(hash=False, compare=False)

    @property
    def known_kind(self) -> bool:
        return self.kind in kinds.SCHEMAS

    def short(self) -> str:
        return self.id.hex()[:12]


def record_id(payload: bytes) -> bytes:
    return hashlib.sha256(payload).digest()


def _check_int(payload: dict, key: str, name: str, low: int, high: int) -> int:
    value = payload[key]
    if type(value) is not int:
        raise WrongType(name, "int", type(value).__name__)
    if not low <= value <= high:
        raise OutOfRange(name, value, low, high)
    return value


def _check_bytes(payload: dict, key: str, name: str, sizes: tuple[int, ...]) -> bytes:
    value = payload[key]
    if type(value) is not bytes:
        raise WrongType(name, "bytes", type(value).__name__)
    if len(value) not in sizes:
        raise BadLength(name, sizes[-1], len(value))
    return value


def decode_record(raw: bytes) -> Record:
    """Parse and check a record's bytes, without verifying the signature.

    Raises a :class:`~protocol.errors.DecodeError` subclass naming the failed check.
    """
    fields = plain_fields(raw)
    if fields is None:
        return decode_record_checked(raw)
    return Record(raw, *fields)


#: The payload's keys in canonical order: a payload holds exactly these.
_PAYLOAD_KEYS = sorted(ENVELOPE_FIELDS)
#: The outer array's tail: the signature's bin header, shortest form.
_SIGNATURE_HEADER = bytes((0xC4, limits.SIGNATURE_BYTES))
#: The fewest bytes the outer array takes: headers and signature, empty payload.
_SHORTEST_RECORD = 3 + len(_SIGNATURE_HEADER) + limits.SIGNATURE_BYTES
_PLAIN_SCALARS = frozenset((bool, int, str, bytes, type(None)))
# Module names for what the short path reads once a record: a global read
# is cheaper than an attribute of a module.
_SIGNATURE_TAIL = len(_SIGNATURE_HEADER) + limits.SIGNATURE_BYTES
_MAX_RECORD, _MAX_LIST_ITEMS, _MAX_MAP_KEYS = limits.MAX_RECORD_BYTES, limits.MAX_LIST_ITEMS, limits.MAX_MAP_KEYS
_KEY_BYTES, _ID_BYTES, _MAX_KIND_BYTES = limits.KEY_BYTES, limits.ID_BYTES, limits.MAX_KIND_BYTES
_MAX_COUNTER, _MAX_TIME_MS, _MAX_DEPTH = limits.MAX_COUNTER, limits.MAX_TIME_MS, limits.MAX_DEPTH
_refuse_ext, _check_body, _packb, _sha256 = canonical.refuse_ext, kinds.check_body, msgpack.packb, hashlib.sha256
_Packer = msgpack.Packer
#: Packers the short path packs a payload again with, each used by one call
#: at a time (taken off the list and put back: both atomic, so threads that
#: decode at once never share one). A kept packer packs a payload in a third
#: of ``msgpack.packb``'s time, which builds and frees a packer a call
#: (0.9 against 2.7 µs an offer's payload).
_PACKERS: list[msgpack.Packer] = []


def plain_fields(raw: bytes) -> tuple | None:
    """The fields of the record in ``raw`` after ``raw`` itself (id,
    payload, signature, author, neighbourhood, seq, prev, lamport, time,
    kind, body: ``Record(raw, *fields)`` is the record) when it passes every
    check of :func:`decode_record_checked` but the body schema's, else None.
    Raises the body schema's error, as :func:`decode_record` does. A caller
    that needs a few fields of many records (the node's checking processes)
    skips building the :class:`Record`, a third of a decode's time; None
    sends it to :func:`decode_record`.

    The path a valid record takes, in as few Python operations as the rules
    allow (a checking process decodes every record a new device takes in):
    the outer array is read by its bytes, the payload unpacked without a
    Python hook per map, and each check is one comparison that passes only
    where the checked decoder passes. It proves nothing wrong: None sends
    the bytes to :func:`decode_record_checked`, which names the failure, so
    every rejection is that decoder's. The body schema is checked last by
    both, on the same kind and body, so its error is the same too.
    """
    # [payload, signature]: 0x92, the payload's bin header in its shortest
    # form (bin8 below 256 bytes, else bin16: a record is under 64 KiB),
    # the payload, then bin8 of 64 bytes and the signature.
    if type(raw) is not bytes or not _SHORTEST_RECORD <= len(raw) <= _MAX_RECORD or raw[0] != 0x92:
        return None
    header = raw[1]
    if header == 0xC4:
        start = 3
        end = start + raw[2]
    elif header == 0xC5:
        start = 4
        end = start + int.from_bytes(raw[2:4], "big")
        if end < 4 + 256:
            return None
    else:
        return None
    if len(raw) != end + _SIGNATURE_TAIL or raw[end : end + 2] != _SIGNATURE_HEADER:
        return None
    payload_bytes = raw[start:end]
    try:
        payload = msgpack.unpackb(
            payload_bytes,
            raw=False,
            strict_map_key=False,
            max_str_len=_MAX_RECORD,
            max_bin_len=_MAX_RECORD,
            max_array_len=_MAX_LIST_ITEMS,
            max_map_len=_MAX_MAP_KEYS,
            max_ext_len=0,
            ext_hook=_refuse_ext,
        )
    except Exception:  # the checked decoder names it
        return None
    if type(payload) is not dict or list(payload) != _PAYLOAD_KEYS:
        return None
    author, body, lamport, kind, neighbourhood, prev, seq, time_ms, version = payload.values()
    if (
        type(version) is not int or version != FORMAT_VERSION
        or type(author) is not bytes or len(author) != _KEY_BYTES
        or type(kind) is not str or type(neighbourhood) is not bytes
        or type(seq) is not int or type(lamport) is not int or type(time_ms) is not int
        or not 1 <= seq <= lamport <= _MAX_COUNTER or not 0 <= time_ms <= _MAX_TIME_MS
        or type(body) is not dict
    ):
        return None
    if not 1 <= len(kind.encode("utf-8")) <= _MAX_KIND_BYTES:
        return None
    if len(neighbourhood) != (0 if kind == GENESIS_KIND else _ID_BYTES):
        return None
    if seq == 1:
        if prev is not None:
            return None
    elif type(prev) is not bytes or len(prev) != _ID_BYTES:
        return None
    # The body's maps sorted and of canonical types, then the whole payload
    # packed again to its very bytes: shortest forms, no repeated keys (a
    # repeat leaves the map shorter).
    if not _plain_map(body, 2):
        return None
    packer = _PACKERS.pop() if _PACKERS else _Packer(use_bin_type=True)
    # A packer that raised is dropped: its buffer may hold part of a payload.
    packed = packer.pack(payload)
    _PACKERS.append(packer)
    if packed != payload_bytes:
        return None
    _check_body(kind, body)
    # In field order after raw (id, payload, signature, author,
    # neighbourhood, seq, prev, lamport, time, kind, body): positional
    # arguments of a Record, cheaper than keywords.
    return (
        _sha256(payload_bytes).digest(), payload_bytes, raw[end + 2 :], author,
        neighbourhood, seq, prev, lamport, time_ms, kind, body,
    )


def _plain_map(value: dict, depth: int) -> bool:
    """Whether the map ``value``, whose items are at ``depth``, has text keys
    in canonical order and only values with a canonical form, within
    ``MAX_DEPTH``."""
    keys = list(value)
    for key in keys:
        if type(key) is not str:
            return False
    return keys == sorted(keys) and _plain_items(value.values(), bool(value), depth)


def _plain_items(items: Iterable[Any], any_items: bool, depth: int) -> bool:
    """Whether every one of ``items`` (the values of a map or a list, at
    ``depth``; ``any_items``: there is at least one) has a canonical form,
    within ``MAX_DEPTH``."""
    if depth > _MAX_DEPTH and any_items:
        return False
    for item in items:
        kind = type(item)
        if kind in _PLAIN_SCALARS:
            continue
        if kind is dict:
            if not _plain_map(item, depth + 1):
                return False
        elif kind is not list or not _plain_items(item, bool(item), depth + 1):
            return False
    return True


def decode_record_checked(raw: bytes) -> Record:
    """:func:`decode_record` check by check, in the order SPEC.md gives: the
    one definition of which error a malformed record gets."""
    outer = canonical.decode(raw, what="record", max_bytes=limits.MAX_RECORD_BYTES)
    if type(outer) is not list or len(outer) != 2:
        raise Malformed("record must be a 2-element array [payload, signature]")
    payload_bytes, signature = outer
    if type(payload_bytes) is not bytes:
        raise WrongType("payload", "bytes", type(payload_bytes).__name__)
    if type(signature) is not bytes:
        raise WrongType("signature", "bytes", type(signature).__name__)
    if len(signature) != limits.SIGNATURE_BYTES:
        raise BadLength("signature", limits.SIGNATURE_BYTES, len(signature))
    payload = canonical.decode(payload_bytes, what="payload", max_bytes=limits.MAX_RECORD_BYTES)
    if type(payload) is not dict:
        raise WrongType("payload", "map", type(payload).__name__)
    # The version comes first: a later version may add or drop envelope
    # fields, and an older node must say "unsupported version", not
    # "unknown field", about such a record.
    if "v" not in payload:
        raise MissingField("v")
    version = payload["v"]
    if type(version) is not int:
        raise WrongType("version", "int", type(version).__name__)
    if version != FORMAT_VERSION:
        raise UnsupportedVersion(version)
    for key in payload:
        if key not in ENVELOPE_FIELDS:
            raise UnknownField(key)
    for key in sorted(ENVELOPE_FIELDS):
        if key not in payload:
            raise MissingField(key)
    author = _check_bytes(payload, "a", "author", (limits.KEY_BYTES,))
    kind = payload["k"]
    if type(kind) is not str:
        raise WrongType("kind", "str", type(kind).__name__)
    kind_len = len(kind.encode("utf-8"))
    if not 1 <= kind_len <= limits.MAX_KIND_BYTES:
        raise OutOfRange("kind length", kind_len, 1, limits.MAX_KIND_BYTES)
    if kind == GENESIS_KIND:
        neighbourhood = _check_bytes(payload, "n", "neighbourhood", (0,))
    else:
        neighbourhood = _check_bytes(payload, "n", "neighbourhood", (limits.ID_BYTES,))
    seq = _check_int(payload, "s", "seq", 1, limits.MAX_COUNTER)
    lamport = _check_int(payload, "c", "lamport", 1, limits.MAX_COUNTER)
    time_ms = _check_int(payload, "t", "time", 0, limits.MAX_TIME_MS)
    if seq == 1:
        if payload["p"] is not None:
            raise WrongType("prev", "nil when seq is 1", type(payload["p"]).__name__)
        prev = None
    else:
        prev = _check_bytes(payload, "p", "prev", (limits.ID_BYTES,))
    if lamport < seq:
        # A chain's own records each raise the counter, so it is at least seq.
        raise OutOfRange("lamport", lamport, seq, limits.MAX_COUNTER)
    body = payload["b"]
    if type(body) is not dict:
        raise WrongType("body", "map", type(body).__name__)
    kinds.check_body(kind, body)
    return Record(
        raw=raw,
        id=record_id(payload_bytes),
        payload=payload_bytes,
        signature=signature,
        author=author,
        neighbourhood=neighbourhood,
        seq=seq,
        prev=prev,
        lamport=lamport,
        time=time_ms,
        kind=kind,
        body=body,
    )


def verify_record(record: Record) -> None:
    """Check the Ed25519 signature. Raises :class:`BadSignature`.

    libsodium rejects non-canonical signatures and small-order keys, so a valid
    signature is unique to (key, payload).
    """
    verify_signed(record.id, record.payload, record.signature, record.author)


def verify_signed(rid: bytes, payload: bytes, signature: bytes, author: bytes) -> None:
    """:func:`verify_record` of the record ``rid`` with these fields."""
    try:
        nacl.bindings.crypto_sign_open(signature + SIGNING_CONTEXT + payload, author)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        raise BadSignature(rid) from None


def decode_and_verify(raw: bytes) -> Record:
    record = decode_record(raw)
    verify_record(record)
    return record


def encode_payload(
    *,
    author: bytes,
    neighbourhood: bytes,
    seq: int,
    prev: bytes | None,
    lamport: int,
    time: int,
    kind: str,
    body: dict[str, Any],
) -> bytes:
    """The canonical payload bytes for these fields (the bytes that are signed)."""
    return canonical.encode(
        {
            "a": author,
            "b": body,
            "c": lamport,
            "k": kind,
            "n": neighbourhood,
            "p": prev,
            "s": seq,
            "t": time,
            "v": FORMAT_VERSION,
        }
    )


def sign_payload(secret_key: bytes, payload: bytes) -> bytes:
    """Ed25519 signature over ``SIGNING_CONTEXT + payload``.

    ``secret_key`` is libsodium's 64-byte form (seed followed by public key).
    """
    signed = nacl.bindings.crypto_sign(SIGNING_CONTEXT + payload, secret_key)
    return signed[: limits.SIGNATURE_BYTES]


def assemble(payload: bytes, signature: bytes) -> bytes:
    return msgpack.packb([payload, signature], use_bin_type=True)


def seal(
    secret_key: bytes,
    *,
    neighbourhood: bytes,
    seq: int,
    prev: bytes | None,
    lamport: int,
    time: int,
    kind: str,
    body: dict[str, Any],
) -> Record:
    """Encode, sign and decode a new record, checking it as a peer would.

    Raises the same errors as :func:`decode_record` if the fields break a rule,
    so nothing invalid is ever signed and published.
    """
    author = secret_key[32:]
    payload = encode_payload(
        author=author,
        neighbourhood=neighbourhood,
        seq=seq,
        prev=prev,
        lamport=lamport,
        time=time,
        kind=kind,
        body=body,
    )
    raw = assemble(payload, sign_payload(secret_key, payload))
    return decode_record(raw)
