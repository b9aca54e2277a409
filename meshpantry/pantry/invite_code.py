"""Invite codes: what a member gives a newcomer, as text to paste or read out,
or as a QR code to scan.

A code carries what the newcomer's first record needs and where to send it:
the neighbourhood id and name, the invite record's id and Lamport counter
(so the join comes causally after the invite it names, before the joiner has
seen any record), the invite's one-time secret, and where the inviting device
was reachable. Anyone holding the code can join once, so it is shown only to
the member who made it.

Format 2 (``mp2-``, written now): ``mp2-`` then base58 (bitcoin alphabet: no
0/O/I/l to misread) of these bytes, about 190 characters for a code with one
IPv4 address and a short name, against 323 for format 1:

======  =====================================================================
bytes   field
======  =====================================================================
1       format, 2
32      neighbourhood id
32      invite record id
16      invite secret; the invite key's 32-byte Ed25519 seed is
        BLAKE2b-256(secret, person ``mp-invite-seed``) (:func:`seed_of`)
32      the inviting device's key, whose peer id every address below is for
1-9     invite Lamport counter, unsigned LEB128
1 + n   neighbourhood name, UTF-8, at most :data:`MAX_NAME_BYTES`
1 + 6k  ``k`` IPv4 addresses, each 4 bytes of address and 2 of TCP port
4       BLAKE2b-32 of everything before: a mistyped code is refused as
        damaged instead of joining with a wrong secret
======  =====================================================================

A 16-byte secret is 128 bits, far beyond guessing for an invite that lives
days and admits a few joins. Format 1 (``mp1-``, base32 of canonical msgpack
``[1, neighbourhood, name, invite id, lamport, seed, [multiaddrs]]``) is
still read.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from dataclasses import dataclass

import base58

from protocol import canonical, limits
from protocol.errors import DecodeError

from .errors import BadInviteCode

PREFIX = "mp2-"
PREFIX_V1 = "mp1-"
CODE_VERSION = 2
CODE_VERSION_V1 = 1
#: Addresses in a code: enough to reach a few members, short enough to paste.
MAX_CODE_ADDRESSES = 8
MAX_CODE_BYTES = 2048
#: Bytes of the secret in a format-2 code (128 bits).
SECRET_BYTES = 16
#: Bytes of the neighbourhood name kept in a code: it is what the newcomer
#: sees until they meet the neighbours (longer names are cut at a character
#: boundary).
MAX_NAME_BYTES = 48
#: Bytes of the checksum that catches a mistyped code.
CHECK_BYTES = 4
_SEED_PERSON = b"mp-invite-seed"
_CHECK_PERSON = b"mp-invite-code"
#: Bytes of an Ed25519 identity peer id before the key: identity multihash
#: (0x00, length 36) of the protobuf PublicKey {type Ed25519, data: 32 bytes}.
_PEER_ID_PREFIX = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])


def seed_of(secret: bytes) -> bytes:
    """The invite key's Ed25519 seed for a format-2 code's secret."""
    assert len(secret) == SECRET_BYTES
    return hashlib.blake2b(secret, digest_size=32, person=_SEED_PERSON).digest()


def peer_key(peer_id: str) -> bytes | None:
    """The Ed25519 key inside a base58 libp2p peer id, or None."""
    try:
        raw = base58.b58decode(peer_id)
    except ValueError:
        return None
    if len(raw) != len(_PEER_ID_PREFIX) + 32 or not raw.startswith(_PEER_ID_PREFIX):
        return None
    return raw[len(_PEER_ID_PREFIX):]


def peer_id_of(key: bytes) -> str:
    """The base58 libp2p peer id of an Ed25519 device key."""
    return base58.b58encode(_PEER_ID_PREFIX + key).decode("ascii")


def _compact(addresses: tuple[str, ...]) -> tuple[bytes, list[tuple[str, int]]]:
    """The device key and the (IPv4, port) pairs of the ``/ip4/A/tcp/P/p2p/ID``
    addresses in ``addresses`` that name the first usable peer id; others
    (another peer, DNS, IPv6) are left out."""
    key = b""
    out: list[tuple[str, int]] = []
    for address in addresses:
        parts = address.strip("/").split("/")
        if len(parts) != 6 or parts[0] != "ip4" or parts[2] != "tcp" or parts[4] != "p2p":
            continue
        this = peer_key(parts[5])
        try:
            ip, port = ipaddress.IPv4Address(parts[1]), int(parts[3])
        except ValueError:
            continue
        if this is None or not 0 < port < 65536 or (key and this != key):
            continue
        key = this
        if (str(ip), port) not in out:
            out.append((str(ip), port))
    return key, out[:MAX_CODE_ADDRESSES]


def _cut(name: str) -> bytes:
    raw = name.encode("utf-8")[:MAX_NAME_BYTES]
    return raw.decode("utf-8", "ignore").encode("utf-8")


def _leb128(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


@dataclass(frozen=True)
class InviteCode:
    """An invite as the newcomer needs it. ``seed`` is the invite key's
    Ed25519 seed; ``secret`` the 16 bytes it derives from (format 2; None
    for a format-1 code, which carried the seed itself)."""

    neighbourhood: bytes
    name: str
    invite: bytes
    lamport: int
    seed: bytes
    addresses: tuple[str, ...] = ()
    secret: bytes | None = None

    @classmethod
    def new(cls, neighbourhood: bytes, name: str, invite: bytes, lamport: int, secret: bytes,
            addresses: tuple[str, ...] = ()) -> "InviteCode":
        """A format-2 code for ``secret`` (its seed derived)."""
        return cls(neighbourhood, name, invite, lamport, seed_of(secret), tuple(addresses), secret)

    def encode(self) -> str:
        """The code as text (format 2). Only the addresses format 2 can carry
        are kept (see :func:`_compact`)."""
        assert self.secret is not None, "format 2 needs the 16-byte secret"
        key, pairs = _compact(self.addresses)
        name = _cut(self.name)
        body = bytearray([CODE_VERSION])
        body += self.neighbourhood + self.invite + self.secret + (key or bytes(32))
        body += _leb128(self.lamport)
        body += bytes([len(name)]) + name
        body += bytes([len(pairs) if key else 0])
        for ip, port in (pairs if key else []):
            body += ipaddress.IPv4Address(ip).packed + port.to_bytes(2, "big")
        body += _check(bytes(body))
        return PREFIX + base58.b58encode(bytes(body)).decode("ascii")

    @classmethod
    def decode(cls, text: str) -> "InviteCode":
        """Parse a pasted code (format 2 or 1), tolerating whitespace.

        Raises :class:`BadInviteCode` with a message saying what is wrong."""
        text = "".join(text.split())
        if text.lower().startswith(PREFIX_V1):
            return _decode_v1(text)
        if not text.lower().startswith(PREFIX):
            raise BadInviteCode(f"an invite code starts with {PREFIX!r}; check what was pasted")
        try:
            raw = base58.b58decode(text[len(PREFIX):])
        except ValueError:
            raise BadInviteCode("the invite code has a character that is not in codes (check 0/O and l/I)") from None
        if len(raw) > MAX_CODE_BYTES or len(raw) < 1 + 32 * 3 + SECRET_BYTES + 3 + CHECK_BYTES:
            raise BadInviteCode("the invite code is damaged or incomplete; ask for it again")
        body, check = raw[:-CHECK_BYTES], raw[-CHECK_BYTES:]
        if _check(body) != check:
            raise BadInviteCode("the invite code is damaged (a character is wrong or missing); ask for it again")
        if body[0] != CODE_VERSION:
            raise BadInviteCode("the invite code is not one meshpantry understands; ask for a new one")
        try:
            return _read_v2(body)
        except (IndexError, ValueError):
            raise BadInviteCode("the invite code is not one meshpantry understands; ask for a new one") from None


def _check(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=CHECK_BYTES, person=_CHECK_PERSON).digest()


def _read_v2(body: bytes) -> InviteCode:
    """Fields of a checked format-2 body. Raises IndexError or ValueError."""
    at = 1
    neighbourhood, invite = body[at:at + 32], body[at + 32:at + 64]
    secret, key = body[at + 64:at + 80], body[at + 80:at + 112]
    at += 112
    lamport, shift = 0, 0
    while True:
        byte = body[at]
        at += 1
        lamport |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
        if shift > 63:
            raise ValueError("counter too long")
    if not 1 <= lamport <= limits.MAX_COUNTER:
        raise ValueError("counter out of range")
    length = body[at]
    name = body[at + 1:at + 1 + length].decode("utf-8")
    if length > MAX_NAME_BYTES or len(name.encode("utf-8")) != length:
        raise ValueError("name")
    at += 1 + length
    count = body[at]
    at += 1
    if count > MAX_CODE_ADDRESSES or at + 6 * count != len(body):
        raise ValueError("addresses")
    peer = peer_id_of(key) if count else ""
    addresses = []
    for index in range(count):
        chunk = body[at + 6 * index:at + 6 * index + 6]
        ip, port = ipaddress.IPv4Address(chunk[:4]), int.from_bytes(chunk[4:], "big")
        addresses.append(f"/ip4/{ip}/tcp/{port}/p2p/{peer}")
    return InviteCode(neighbourhood, name, invite, lamport, seed_of(secret), tuple(addresses), secret)


def base32_value(body: str, what: str, remedy: str) -> object:
    """The canonical msgpack value a base32 code body carries (any case, its
    padding optional), or :class:`BadInviteCode` naming ``what`` and the
    ``remedy``."""
    body = body.upper()
    body += "=" * (-len(body) % 8)
    try:
        return canonical.decode(base64.b32decode(body), what=what, max_bytes=MAX_CODE_BYTES)
    except (ValueError, DecodeError):
        raise BadInviteCode(f"the {what} is damaged or incomplete; {remedy}") from None


def _decode_v1(text: str) -> InviteCode:
    """A format-1 code (``mp1-``, base32 of msgpack), still accepted."""
    value = base32_value(text[len(PREFIX_V1):], "invite code", "ask for it again")
    if (
        type(value) is not list
        or len(value) != 7
        or value[0] != CODE_VERSION_V1
        or type(value[1]) is not bytes or len(value[1]) != limits.ID_BYTES
        or type(value[2]) is not str
        or type(value[3]) is not bytes or len(value[3]) != limits.ID_BYTES
        or type(value[4]) is not int or not 1 <= value[4] <= limits.MAX_COUNTER
        or type(value[5]) is not bytes or len(value[5]) != 32
        or type(value[6]) is not list
        or not all(type(a) is str for a in value[6])
    ):
        raise BadInviteCode("the invite code is not one meshpantry understands; ask for a new one")
    return InviteCode(value[1], value[2], value[3], value[4], value[5], tuple(value[6][:MAX_CODE_ADDRESSES]))


def encode_v1(code: InviteCode) -> str:
    """``code`` in format 1 (for tests of old codes)."""
    packed = canonical.encode(
        [CODE_VERSION_V1, code.neighbourhood, code.name, code.invite, code.lamport, code.seed,
         list(code.addresses[:MAX_CODE_ADDRESSES])]
    )
    return PREFIX_V1 + base64.b32encode(packed).decode("ascii").rstrip("=").lower()
