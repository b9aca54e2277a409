"""The gossip path decodes each record once and checks its signature once.

    A ──gossip──▶ B (a Node over a real store)

B's topic validator checks every record (decode, neighbourhood, time,
signature, admission) and hands the checked records to the node, which logs
them with ``Store.ingest_verified``: counted here with wrappers around record
construction and around libsodium's signature check.
"""

from __future__ import annotations

from collections import Counter
from contextlib import AsyncExitStack

import nacl.bindings
import pytest

from meshpantry.core.chain import next_record
from meshpantry.keys import DeviceKey
from meshpantry.node.gossip import open_gossip
from meshpantry.node.host import open_host
from protocol import Record
from protocol.envelope import SIGNING_CONTEXT

from .conftest import LOOPBACK_SETTINGS
from .helpers import wait_until
from .test_gossip import link


def member_records(node, count: int) -> list[Record]:
    """``count`` records of the node's own household chain that its store
    does not hold yet (as another device of the mesh would gossip them)."""
    key, store = node.pantry.key, node.store
    head, out = store.own_head(key.public), []
    for index in range(count):
        record = next_record(
            key.secret, head, neighbourhood=store.neighbourhood, kind="household",
            body={"name": f"house {index}"}, now=node.pantry.clock(),
        )
        head = head.after(record)
        out.append(record)
    return out


@pytest.mark.trio
async def test_gossip_decodes_and_verifies_each_record_once(node, monkeypatch):
    records = member_records(node, 20)
    wanted = {r.raw: r for r in records}
    payloads = {r.payload for r in records}
    node.store.admission(records[0])  # load membership before counting
    node.store.waiting_ids()

    decodes: Counter[bytes] = Counter()
    checks: Counter[bytes] = Counter()
    real_init, real_open = Record.__init__, nacl.bindings.crypto_sign_open

    def counting_init(self, raw, *args, **kwargs):
        if raw in wanted:
            decodes[raw] += 1
        real_init(self, raw, *args, **kwargs)

    def counting_open(signed, key):
        payload = signed[64 + len(SIGNING_CONTEXT):]
        if payload in payloads:
            checks[payload] += 1
        return real_open(signed, key)

    monkeypatch.setattr(Record, "__init__", counting_init)
    monkeypatch.setattr(nacl.bindings, "crypto_sign_open", counting_open)

    async def ignore(records, origin, forwarder=None) -> None:
        pass

    hood = node.store.neighbourhood
    async with AsyncExitStack() as stack:
        a_host = await stack.enter_async_context(open_host(LOOPBACK_SETTINGS, DeviceKey.generate()))
        a = await stack.enter_async_context(
            open_gossip(a_host, hood, node._admits, ignore, LOOPBACK_SETTINGS)
        )
        b_host = await stack.enter_async_context(open_host(LOOPBACK_SETTINGS, node.pantry.key))
        b = await stack.enter_async_context(
            open_gossip(b_host, hood, node._admits, node._on_gossip, LOOPBACK_SETTINGS)
        )
        await link(a_host, b_host)
        await wait_until(lambda: a.topic_peers() and b.topic_peers(), 10)
        a.publish(r.raw for r in records[:5])  # one message of five
        for record in records[5:]:
            a.publish([record.raw])  # and single-record messages
        await wait_until(lambda: all(node.store.has(r.id) for r in records), 20)

    assert b.stats.invalid_messages == 0 and b.stats.rechecked_messages == 0
    assert decodes == Counter({raw: 1 for raw in wanted})
    assert checks == Counter({payload: 1 for payload in payloads})


class GapLog:
    """Stands in for the node's sync service: records the gaps it is told of."""

    def __init__(self) -> None:
        self.gaps: list[tuple[str, list[bytes]]] = []

    def is_cut_off(self, peer: str) -> bool:
        return False

    def gap_seen(self, peer: str, missing: list[bytes]) -> None:
        self.gaps.append((peer, missing))


@pytest.mark.trio
async def test_a_gap_is_reported_by_the_record_that_shows_it_not_by_its_copies(node):
    """
        gossip: r2        -> r1 missing: one gap, to the planner
        gossip: r2 again  -> already held: it showed its gap already, none
        gossip: r3        -> follows r2, held: none
    """
    r1, r2, r3 = member_records(node, 3)
    gaps = GapLog()
    node.sync = gaps  # type: ignore[assignment]
    await node._on_gossip([r2], "peer-a")
    assert gaps.gaps == [("peer-a", [r1.id])]
    await node._on_gossip([r2], "peer-b")
    await node._on_gossip([r3], "peer-b")
    assert gaps.gaps == [("peer-a", [r1.id])]


@pytest.mark.trio
async def test_a_gap_goes_to_the_forwarder_and_a_cut_link_to_the_author_does_not_drop_relayed_gossip(node):
    """
        author ⊘ me (link cut)   author ── relay ── me
        gossip of r2 by author, handed over by relay -> taken; r1's gap to relay
    """
    r1, r2 = member_records(node, 2)
    gaps = GapLog()
    node.sync = gaps  # type: ignore[assignment]
    node.denied.add("author")
    await node._on_gossip([r2], "author", "relay")
    assert node.store.has(r2.id)
    assert gaps.gaps == [("relay", [r1.id])]
    node.denied.add("relay")
    r3, = member_records(node, 1)
    await node._on_gossip([r3], "author", "relay")
    assert not node.store.has(r3.id)
