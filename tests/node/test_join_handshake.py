"""The join handshake on real streams: a newcomer holding a valid invite is
a member after handing over its join; a join whose invite this node does not
know is refused with a reason (and waits, bounded, in the waiting room); a
record other than the peer's own join is refused and reset; a peer that
keeps trying is refused after a few attempts.

::

    newcomer ──[join record]──▶ member: ingest, then {"member": true}
    stranger ──[an offer]─────▶ member: reset (not a join handshake)
"""

from __future__ import annotations

import pytest
import trio

from meshpantry.keys import DeviceKey
from meshpantry.node.gate import JOIN_PROTOCOL, MAX_JOIN_ATTEMPTS, JoinRefused, MembershipGate, request_join, serve_join
from meshpantry.node.host import open_host, peer_info_from_multiaddr
from meshpantry.node.streams import safe_handler
from meshpantry.store import Store
from tests.core.records import TestNeighbourhood

from .conftest import LOOPBACK_SETTINGS

pytestmark = [pytest.mark.trio, pytest.mark.timeout(120)]


async def test_a_newcomer_with_a_valid_invite_becomes_a_member_and_others_are_refused(tmp_path):
    nb = TestNeighbourhood()
    invite, secret = nb.invite(nb.founder)
    join = nb.join_with(7, invite, secret)
    unknown_invite, other_secret = TestNeighbourhood().invite(nb.founder)
    stray = nb.join_with(8, unknown_invite, other_secret)
    offer_by_9 = nb.offer(nb.device(9), "leeks")
    with Store.open(tmp_path / "node") as store:
        store.set_setting("neighbourhood", nb.id)
        store.ingest([r.raw for r in nb.records if r not in (join, stray, offer_by_9)], now=nb.clock)
        gate = MembershipGate(store, nb.founder.public, denied=set())
        admitted: list[str] = []

        async def ingest(raws, origin):
            store.ingest(raws, now=nb.clock)

        async with open_host(LOOPBACK_SETTINGS, DeviceKey.generate()) as member:
            member.libp2p.set_stream_handler(JOIN_PROTOCOL, safe_handler(
                lambda stream: serve_join(stream, gate, ingest, admitted.append), "join"))
            address = peer_info_from_multiaddr(member.dial_addrs()[0])
            for seed, raw, outcome in ((7, join.raw, "member"), (8, stray.raw, "refused"),
                                       (9, offer_by_9.raw, "reset")):
                async with open_host(LOOPBACK_SETTINGS, DeviceKey(bytes([seed]) * 32)) as newcomer:
                    await newcomer.libp2p.connect(address)
                    with trio.fail_after(10):
                        try:
                            await request_join(newcomer.libp2p, member.peer_id, raw)
                            got = "member"
                        except JoinRefused as refused:
                            got = "refused"
                            assert "does not know the invite" in refused.reason
                        except Exception:  # noqa: BLE001 - the stream was reset
                            got = "reset"
                    assert got == outcome, (seed, got)
                    if seed == 8:  # and a stranger that keeps trying is cut short
                        for _ in range(MAX_JOIN_ATTEMPTS - 1):
                            with pytest.raises(JoinRefused):
                                await request_join(newcomer.libp2p, member.peer_id, raw)
                        with pytest.raises(Exception) as cut_short:
                            await request_join(newcomer.libp2p, member.peer_id, raw)
                        assert not isinstance(cut_short.value, JoinRefused)  # reset unread
            assert admitted == [str(_peer(7))]
        assert gate.is_member(str(_peer(7))) and not gate.is_member(str(_peer(8)))
        assert store.has(join.id) and not store.has(offer_by_9.id)
        assert stray.id in store.waiting_ids()  # waits, bounded, for an invite it may never see


def _peer(seed: int):
    from meshpantry.node.host import peer_id_from_author

    return peer_id_from_author(DeviceKey(bytes([seed]) * 32).public)
