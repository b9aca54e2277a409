"""Hostile records over gossip, each from its own key, against ``h0``:

::

    attacker ──gossip──▶ h0 ── h1 ── h2      (h1, h2 also dial h0)

A member turned hostile, a revoked member and an outsider each publish what
an honest node never writes. The node refuses every record, logs why, and
keeps syncing with its honest neighbours (checks: :func:`harness.attack`).
"""

from __future__ import annotations

import pytest

from meshpantry.keys import DeviceKey

from . import records as make
from .harness import GATE, GRACE_S, attack, fixed_on

pytestmark = pytest.mark.timeout(300)

FAMILY = "gossip"

#: What the node logs when it refuses a gossiped record or its sender: the
#: record check's reason, a ban, or (with the membership gate) the gate's.
REFUSED = r"rejected|cutting off|not a member"


def gossip(peer, hood, key: DeviceKey, batches: list[list[bytes]], target: int = 0, linger: float = 1.0) -> dict:
    lines = peer("gossip", hood.nodes[target].address, key.seed, hood.hex, str(linger), payload=batches)
    said = dict(line.split(": ", 1) for line in lines)
    assert said.get("connection") or said, lines
    return said


def member_head(hood, index: int):
    return make.head_of(hood.attacker_dirs[index])


def test_lamport_exhaustion_by_a_member(hood, peer):
    """Finding 1: a member's record with c = 2^63 - 1 is refused; h0 writes on."""
    key, index = hood.attacker(), hood._next_attacker - 1
    poison = make.exhausting(key, hood.id, member_head(hood, index))
    with attack(hood, FAMILY, "Lamport 2^63-1 by a member", reason=r"LamportTooFarAhead|Lamport|lamport") as out:
        said = gossip(peer, hood, key, [[poison.raw]])
        out.numbers["c"] = "2^63-1"
        out.numbers["peer"] = said
    hood.nodes[0].call("offer_add", item="after the poison", quantity=1, unit="items")


def test_lamport_exhaustion_by_a_revoked_member(hood, peer):
    """Finding 1: the same from a device the founder revoked."""
    from simulations.processes import NodeProcess  # noqa: F401

    revoked_dir = hood.root / "r0"
    poison = make.exhausting(hood.revoked, hood.id, make.head_of(revoked_dir))
    with attack(hood, FAMILY, "Lamport 2^63-1 by a revoked member", reason=r"Lamport|lamport|revoked|" + REFUSED):
        gossip(peer, hood, hood.revoked, [[poison.raw]], linger=GRACE_S)
    hood.nodes[0].call("offer_add", item="after the revoked poison", quantity=1, unit="items")


def test_lamport_exhaustion_by_a_replayed_spent_invite(hood, peer):
    """Finding 1: an outsider's join made with a spent invite, c = 2^63 - 1:
    neither the join nor its counter is stored."""
    outsider = DeviceKey.generate()
    join = make.spent_join(hood.spent_code, outsider)
    after = make.chain(outsider, hood.id, (1, join.id, 2), 1)
    with attack(hood, FAMILY, "Lamport 2^63-1 in a spent invite's join", reason=r"Lamport|lamport|" + REFUSED):
        gossip(peer, hood, outsider, [[join.raw, *[r.raw for r in after]]], linger=GRACE_S)
    hood.nodes[0].call("offer_add", item="after the spent invite", quantity=1, unit="items")


def test_forged_signature(hood, peer):
    """A member's record with one bit of its signature flipped."""
    key, index = hood.attacker(), hood._next_attacker - 1
    record = make.chain(key, hood.id, member_head(hood, index), 1)[0]
    with attack(hood, FAMILY, "forged signature", reason=r"[Ss]ignature|" + REFUSED):
        gossip(peer, hood, key, [[make.forged(record)]])


def test_another_neighbourhoods_records(hood, peer):
    """A member publishes a genesis and an offer of a neighbourhood of its own."""
    key = hood.attacker()
    with attack(hood, FAMILY, "another neighbourhood's records", reason=r"[Nn]eighbourhood|" + REFUSED):
        gossip(peer, hood, key, [[r.raw for r in make.other_neighbourhood(key)]])


def test_fork(hood, peer):
    """A member signs two different records at the same place in its chain;
    the first is taken, the second is evidence of a fork, logged."""
    key, index = hood.attacker(), hood._next_attacker - 1
    head = member_head(hood, index)
    first = make.chain(key, hood.id, head, 1, item="left")[0]
    second = make.chain(key, hood.id, head, 1, item="right")[0]
    with attack(hood, FAMILY, "fork (two records, one seq)", reason=r"fork|" + REFUSED, changes_store=True) as out:
        gossip(peer, hood, key, [[first.raw], [second.raw]])
        out.did = "took the first, logged the fork, refused the second"


def test_non_member_gossip_flood(hood, peer):
    """Finding 6: 2,000 validly signed records of an outsider's chain."""
    outsider = DeviceKey.generate()
    flood = make.chain(outsider, hood.id, (0, None, 0), 2000, item="spam")
    batches = [[r.raw for r in flood[i:i + 100]] for i in range(0, len(flood), 100)]
    with attack(hood, FAMILY, "non-member gossip flood (2,000)", reason=REFUSED + r"|wait") as out:
        said = gossip(peer, hood, outsider, batches, linger=GRACE_S)
        out.numbers["published"] = said.get("published")


@fixed_on("trustnet", GATE)
def test_revoked_members_records(hood, peer):
    """Finding 6: a revoked device keeps writing; none of it is stored."""
    revoked_dir = hood.root / "r0"
    head = make.head_of(revoked_dir)
    late = make.chain(hood.revoked, hood.id, (head[0], head[1], head[2]), 50, item="after revocation")
    with attack(hood, FAMILY, "revoked member's records (50)", reason=r"revoked|" + REFUSED):
        gossip(peer, hood, hood.revoked, [[r.raw for r in late]], linger=GRACE_S)
