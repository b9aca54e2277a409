"""Records an attacker signs: each is valid as bytes (or broken in exactly
one way) so the node's checks, not its decoder, have to refuse it."""

from __future__ import annotations

import time

import nacl.bindings

from meshpantry.core.membership import join_message
from meshpantry.keys import DeviceKey
from meshpantry.pantry import Pantry
from meshpantry.pantry.invite_code import InviteCode
from protocol import Record, seal
from protocol.limits import MAX_COUNTER


def now_ms() -> int:
    return int(time.time() * 1000)


def head_of(data_dir) -> tuple[int, bytes, int]:
    """(seq, id, lamport) of the last record of the household in ``data_dir``
    (a stopped household)."""
    pantry = Pantry.open(data_dir)
    try:
        head = pantry.store.own_head(pantry.device)
        return head.seq, head.id, head.lamport
    finally:
        pantry.close()


def chain(key: DeviceKey, neighbourhood: bytes, after: tuple[int, bytes | None, int], count: int, *,
          lamport: int | None = None, item: str = "jam", note: str | None = None) -> list[Record]:
    """``count`` offers continuing the chain whose head is ``after``;
    ``lamport`` fixes the counter of the first (the attack), else each is one
    above the last; ``note`` pads each body."""
    seq, prev, counter = after
    out = []
    for index in range(count):
        counter = lamport if (lamport is not None and index == 0) else counter + 1
        record = seal(key.secret, neighbourhood=neighbourhood, seq=seq + 1, prev=prev, lamport=counter,
                      time=now_ms(), kind="offer",
                      body={"item": f"{item} {index}", "quantity": 1, "unit": "jar", **({"note": note} if note else {})})
        out.append(record)
        seq, prev = record.seq, record.id
    return out


def exhausting(key: DeviceKey, neighbourhood: bytes, after: tuple[int, bytes | None, int]) -> Record:
    """The next record of a chain with the counter at 2^63 - 1."""
    return chain(key, neighbourhood, after, 1, lamport=MAX_COUNTER, item="poison")[0]


def forged(record: Record) -> bytes:
    """``record``'s bytes with its signature's last bit flipped."""
    raw = bytearray(record.raw)
    raw[-1] ^= 0x01
    return bytes(raw)


def spent_join(code: str, outsider: DeviceKey, lamport: int = MAX_COUNTER) -> Record:
    """A join an outsider makes with an invite whose one use is spent, by
    default with the counter at 2^63 - 1 (finding 1's third path)."""
    invite = InviteCode.decode(code)
    _, invite_secret = nacl.bindings.crypto_sign_seed_keypair(invite.seed)
    proof = nacl.bindings.crypto_sign(join_message(invite.neighbourhood, outsider.public), invite_secret)[:64]
    return seal(outsider.secret, neighbourhood=invite.neighbourhood, seq=1, prev=None, lamport=lamport,
                time=now_ms(), kind="join", body={"invite": invite.invite, "proof": proof})


def other_neighbourhood(key: DeviceKey) -> list[Record]:
    """A genesis of a neighbourhood of its own and an offer in it."""
    genesis = seal(key.secret, neighbourhood=b"", seq=1, prev=None, lamport=1, time=now_ms(),
                   kind="neighbourhood", body={"name": "Elsewhere"})
    return [genesis, *chain(key, genesis.id, (1, genesis.id, 1), 1, item="foreign")]
