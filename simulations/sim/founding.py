"""The neighbourhood as it stands before a run starts: keys, households, and
the signed membership records every node already holds.

Node ``0`` founds the neighbourhood. Households are numbered in node order;
the first ``second_devices`` households also own a second device, the last
nodes, linked by a ``device_link`` (a household with two devices may end up
on two islands and decide claims on both). Every other household's first
device joins through an invite (one invite admits up to
:data:`INVITE_USES` joins, the protocol's limit) with a valid proof, and
publishes a household profile.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import nacl.bindings

from meshpantry.core.chain import ChainHead, next_record
from meshpantry.core.membership import join_message
from protocol import Record

from .clock import EPOCH_MS

#: Joins one invite admits: the largest ``uses`` the invite schema allows.
INVITE_USES = 1000

#: The founding records are dated the day before the run (ms).
FOUNDED_BEFORE_MS = 24 * 60 * 60 * 1000

HOUSEHOLD_NAMES = (
    "Ada", "Bea", "Cy", "Dee", "Eli", "Fay", "Gus", "Hal", "Ida", "Jo", "Kit", "Lu",
    "Mo", "Nia", "Oz", "Pip", "Quin", "Ria", "Sol", "Tam", "Uma", "Vic", "Wren", "Xan",
)
AREAS = ("north end", "mill lane", "the flats", "canal side", "school road", "old market")


def device_keys(number: int) -> tuple[bytes, bytes]:
    """(public key, 64-byte secret key) of simulated device ``number``."""
    seed = hashlib.sha256(b"meshpantry-sim/device/%d" % number).digest()
    return nacl.bindings.crypto_sign_seed_keypair(seed)


def outsider_keys(number: int) -> tuple[bytes, bytes]:
    """Keys of a device that never joined (a hostile outsider)."""
    seed = hashlib.sha256(b"meshpantry-sim/outsider/%d" % number).digest()
    return nacl.bindings.crypto_sign_seed_keypair(seed)


@dataclass(frozen=True)
class Founding:
    """``records``: (author node, record) in signing order; ``household_of``:
    node -> household id; ``heads``: node -> chain head after founding."""

    neighbourhood: bytes
    records: list[tuple[int, Record]]
    household_of: list[bytes]
    heads: list[ChainHead]
    keys: list[tuple[bytes, bytes]]


def found(nodes: int, second_devices: int, name: str = "Elm Street") -> Founding:
    """Sign the founding records of a neighbourhood of ``nodes`` devices, the
    last ``second_devices`` of them second devices of the first households."""
    assert 1 <= nodes and 0 <= second_devices < nodes
    keys = [device_keys(n) for n in range(nodes)]
    heads = [ChainHead() for _ in range(nodes)]
    lamport = 0
    clock = EPOCH_MS - FOUNDED_BEFORE_MS
    records: list[tuple[int, Record]] = []

    def sign(node: int, kind: str, body: dict, neighbourhood: bytes) -> Record:
        nonlocal lamport, clock
        clock += 1
        head = heads[node].observe(lamport)
        record = next_record(keys[node][1], head, neighbourhood=neighbourhood, kind=kind, body=body, now=clock)
        heads[node] = head.after(record)
        lamport = max(lamport, record.lamport)
        records.append((node, record))
        return record

    genesis = sign(0, "neighbourhood", {"name": name}, b"")
    nid = genesis.id
    firsts = nodes - second_devices
    household_of = [keys[n][0] for n in range(firsts)]
    household_of += [keys[n - firsts][0] for n in range(firsts, nodes)]
    invite_secret = b""
    invite: Record | None = None
    for node in range(1, firsts):
        if (node - 1) % INVITE_USES == 0:
            seed = hashlib.sha256(b"meshpantry-sim/invite/%d" % node).digest()
            invite_public, invite_secret = nacl.bindings.crypto_sign_seed_keypair(seed)
            uses = min(INVITE_USES, firsts - node)
            invite = sign(0, "invite", {"key": invite_public, "expires": EPOCH_MS + 365 * FOUNDED_BEFORE_MS, "uses": uses}, nid)
        assert invite is not None
        proof = nacl.bindings.crypto_sign(join_message(nid, keys[node][0]), invite_secret)[:64]
        sign(node, "join", {"invite": invite.id, "proof": proof}, nid)
    for node in range(firsts, nodes):
        sign(node - firsts, "device_link", {"device": keys[node][0], "name": "second device"}, nid)
    for node in range(firsts):
        name_ = HOUSEHOLD_NAMES[node % len(HOUSEHOLD_NAMES)] + ("" if node < len(HOUSEHOLD_NAMES) else f" {node}")
        sign(node, "household", {"name": name_, "area": AREAS[node % len(AREAS)]}, nid)
    return Founding(nid, records, household_of, heads, keys)
