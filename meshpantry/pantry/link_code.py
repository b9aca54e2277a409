"""Link codes: how a household's new device learns which neighbourhood it is in.

``meshpantry device link KEY`` on a device of the household writes the
``device_link`` record that makes the new device (the key its ``whoami``
prints) a device of the household, and prints a link code; ``meshpantry
device adopt CODE`` on the new device sets its neighbourhood from the code.
No invite is used: the new device is a member because of the link record,
which reaches it, and every other node, by sync. Until then what it writes
waits and counts once the link arrives (SPEC 7.4).

A code carries the neighbourhood id and name, the household's name, the
link record's id, the linked device's key (so that a code pasted on the
wrong device is refused) and addresses where the household's node was
reachable. It holds no secret: it lets nobody else in. Format: ``mpl1-``
followed by lowercase base32 (no padding) of canonical msgpack ``[version,
neighbourhood, neighbourhood name, household name, link id, device,
[addresses]]``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from protocol import canonical, limits

from .errors import BadInviteCode
from .invite_code import base32_value

PREFIX = "mpl1-"
CODE_VERSION = 1
#: Addresses in a code: as in an invite code, enough to reach the household's
#: node on one or two interfaces, short enough to paste.
MAX_CODE_ADDRESSES = 8


@dataclass(frozen=True)
class LinkCode:
    neighbourhood: bytes
    name: str
    household_name: str
    link: bytes
    device: bytes
    addresses: tuple[str, ...] = ()

    def encode(self) -> str:
        packed = canonical.encode(
            [CODE_VERSION, self.neighbourhood, self.name, self.household_name, self.link, self.device,
             list(self.addresses[:MAX_CODE_ADDRESSES])]
        )
        return PREFIX + base64.b32encode(packed).decode("ascii").rstrip("=").lower()

    @classmethod
    def decode(cls, text: str) -> "LinkCode":
        """Parse a pasted code, tolerating whitespace and case. Raises
        :class:`BadInviteCode` with a message saying what is wrong."""
        text = "".join(text.split())
        if not text.lower().startswith(PREFIX):
            raise BadInviteCode(
                f"a link code starts with {PREFIX!r} ('meshpantry device link' prints it); check what was pasted"
            )
        value = base32_value(text[len(PREFIX):], "link code", "print it again")
        if (
            type(value) is not list
            or len(value) != 7
            or value[0] != CODE_VERSION
            or type(value[1]) is not bytes or len(value[1]) != limits.ID_BYTES
            or type(value[2]) is not str
            or type(value[3]) is not str
            or type(value[4]) is not bytes or len(value[4]) != limits.ID_BYTES
            or type(value[5]) is not bytes or len(value[5]) != 32
            or type(value[6]) is not list
            or not all(type(a) is str for a in value[6])
        ):
            raise BadInviteCode("the link code is not one meshpantry understands; print a new one")
        return cls(value[1], value[2], value[3], value[4], value[5], tuple(value[6][:MAX_CODE_ADDRESSES]))
