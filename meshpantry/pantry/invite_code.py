"""Invite codes: what a member gives a newcomer, as text to paste or read out.

A code carries the neighbourhood id and name, the invite record's id, the
invite's one-time secret seed (whose public key the invite record published),
and addresses where members were last reachable. Format: ``mp1-`` followed by
lowercase base32 (no padding) of canonical msgpack ``[version, neighbourhood,
name, invite id, invite lamport, seed, [addresses]]``. The invite's Lamport
counter lets the joiner's first record come causally after the invite it
names, before the joiner has seen any record. Anyone holding the code can join once,
so it is shown only to the member who made it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from protocol import canonical, limits
from protocol.errors import DecodeError

from .errors import BadInviteCode

PREFIX = "mp1-"
CODE_VERSION = 1
#: Addresses in a code: enough to reach a few members, short enough to paste.
MAX_CODE_ADDRESSES = 8
MAX_CODE_BYTES = 2048


@dataclass(frozen=True)
class InviteCode:
    neighbourhood: bytes
    name: str
    invite: bytes
    lamport: int
    seed: bytes
    addresses: tuple[str, ...] = ()

    def encode(self) -> str:
        packed = canonical.encode(
            [CODE_VERSION, self.neighbourhood, self.name, self.invite, self.lamport, self.seed,
             list(self.addresses[:MAX_CODE_ADDRESSES])]
        )
        return PREFIX + base64.b32encode(packed).decode("ascii").rstrip("=").lower()

    @classmethod
    def decode(cls, text: str) -> "InviteCode":
        """Parse a pasted code, tolerating whitespace and case.

        Raises :class:`BadInviteCode` with a message saying what is wrong."""
        text = "".join(text.split())
        if not text.lower().startswith(PREFIX):
            raise BadInviteCode(f"an invite code starts with {PREFIX!r}; check what was pasted")
        body = text[len(PREFIX):].upper()
        body += "=" * (-len(body) % 8)
        try:
            packed = base64.b32decode(body)
            value = canonical.decode(packed, what="invite code", max_bytes=MAX_CODE_BYTES)
        except (ValueError, DecodeError):
            raise BadInviteCode("the invite code is damaged or incomplete; ask for it again") from None
        if (
            type(value) is not list
            or len(value) != 7
            or value[0] != CODE_VERSION
            or type(value[1]) is not bytes or len(value[1]) != limits.ID_BYTES
            or type(value[2]) is not str
            or type(value[3]) is not bytes or len(value[3]) != limits.ID_BYTES
            or type(value[4]) is not int or not 1 <= value[4] <= limits.MAX_COUNTER
            or type(value[5]) is not bytes or len(value[5]) != 32
            or type(value[6]) is not list
            or not all(type(a) is str for a in value[6])
        ):
            raise BadInviteCode("the invite code is not one meshpantry understands; ask for a new one")
        return cls(value[1], value[2], value[3], value[4], value[5], tuple(value[6][:MAX_CODE_ADDRESSES]))
