"""The served sync slots on real streams: a peer trickling a frame is cut
off at the frame deadline and banned; each peer gets one session at a time;
the queue for a slot is bounded and its wait too, excess streams are shed at
once with a logged reason; an honest peer syncs while a hostile one holds a
slot.

::

    hostile ──HELLO, 1 byte / 0.2 s──▶ node   (frame deadline 1 s: cut off)
    hostile ══ stream 1 (silent) ════▶ node   holds slot 1
    hostile ══ stream 2 ═════════════▶ node   shed: one per peer
    honest  ══ full sync ════════════▶ node   slot 2: completes
"""

from __future__ import annotations

import logging
import random
from contextlib import asynccontextmanager

import pytest
import trio

from meshpantry.core.sync import SyncSession
from meshpantry.core.sync.planner import Mode, StartSession
from meshpantry.keys import DeviceKey
from meshpantry.node.host import open_host, peer_id_from_author, peer_info_from_multiaddr
from meshpantry.node.sync_driver import now_ms, run_sync
from meshpantry.node.sync_service import SYNC_PROTOCOL, ServeLimits, SyncService, SyncTotals, _channel
from protocol import sync as wire

from tests.sync.replicas import Replica

from .conftest import LOOPBACK_SETTINGS
from .helpers import wait_until

pytestmark = [pytest.mark.trio, pytest.mark.timeout(120)]


class _Liveness:
    def heard(self, peer_id) -> None:
        pass

    async def missed(self, peer_id, why) -> None:
        pass


@asynccontextmanager
async def serving(node, limits: ServeLimits):
    """The node's sync service on a loopback host, serving with ``limits``."""
    async with open_host(LOOPBACK_SETTINGS, DeviceKey.generate()) as host, trio.open_nursery() as nursery:
        service = SyncService(
            me=str(host.peer_id), libp2p=host.libp2p, store=node.store, pantry=node.pantry, liveness=_Liveness(),
            ingest=node.ingest, publish=node.control.publish, denied=set(), rng=random.Random(1),
            horizon=node.horizon, settings=node.settings, progress={}, totals=SyncTotals(), last_sync={},
            limits=limits,
        )
        await nursery.start(service.run)
        yield host, service
        nursery.cancel_scope.cancel()


async def open_sync(peer, host):
    """A sync stream from ``peer`` to ``host``, or None if the node reset it
    before the negotiation finished (how a shed stream may look)."""
    try:
        return await peer.libp2p.new_stream(host.peer_id, [SYNC_PROTOCOL])
    except Exception:  # noqa: BLE001 - StreamFailure: reset while negotiating
        return None


@asynccontextmanager
async def peer_of(host, key: DeviceKey | None = None):
    """Another host (of device ``key``, a new one by default), connected to ``host``."""
    async with open_host(LOOPBACK_SETTINGS, key or DeviceKey.generate()) as other:
        await other.libp2p.connect(peer_info_from_multiaddr(host.dial_addrs()[0]))
        yield other


async def ended(stream, timeout_s: float = 10.0) -> str:
    """Say HELLO, then read until the node ends the stream: 'reset' or 'closed'."""
    with trio.fail_after(timeout_s):
        try:
            if stream is None:
                return "refused"
            await stream.write(wire.encode_frame(wire.Hello()))
            while await stream.read(65536):
                pass
        except Exception:  # noqa: BLE001 - a reset surfaces as an error
            return "reset"
    return "closed"


async def test_a_peer_trickling_a_frame_is_cut_off_at_the_frame_deadline_and_banned(node, caplog):
    """One byte every 0.2 s of a frame that never completes: the session ends
    at the 1 s frame deadline, not the 30 s silence deadline, and the peer
    is cut off; its next sync stream is refused."""
    caplog.set_level(logging.INFO)
    async with serving(node, ServeLimits(frame_ms=1_000)) as (host, service), peer_of(host) as hostile:
        stream = await hostile.libp2p.new_stream(host.peer_id, [SYNC_PROTOCOL])
        await stream.write(wire.encode_frame(wire.Hello()) + wire.encode_varint(5000))
        began = trio.current_time()
        with trio.fail_after(10):
            try:
                while not service.is_cut_off(str(hostile.peer_id)):
                    await stream.write(b"\x01")
                    await trio.sleep(0.2)
            except Exception:  # noqa: BLE001 - the node reset the stream under us
                pass
            await wait_until(lambda: service.is_cut_off(str(hostile.peer_id)), 10)
        held = trio.current_time() - began
        print(f"trickling peer held its slot {held:.1f} s")
        assert held < 10  # the silence deadline alone would allow 30 s a byte
        assert any("cutting off" in r.getMessage() and "not whole" in r.getMessage() for r in caplog.records)
        again = await open_sync(hostile, host)
        assert await ended(again) in ("refused", "reset", "closed")
        assert service.served == {}


async def test_one_session_per_peer_and_an_honest_peer_syncs_beside_a_hostile_one(node, caplog):
    """A hostile peer holds one slot with a silent session; its second stream
    is shed at once; an honest peer's whole sync runs in the other slot."""
    caplog.set_level(logging.INFO)
    key = DeviceKey.generate()
    async with serving(node, ServeLimits(served=2)) as (host, service), \
            peer_of(host, key) as hostile, peer_of(host, key) as hostile_again, peer_of(host) as honest:
        holder = await hostile.libp2p.new_stream(host.peer_id, [SYNC_PROTOCOL])
        await holder.write(wire.encode_frame(wire.Hello()))
        await wait_until(lambda: service.served.get(str(hostile.peer_id)) == 1, 10)
        # The same device from a second connection (a shed stream may take
        # its connection down with it, in the library: not the holder's).
        second = await open_sync(hostile_again, host)
        assert await ended(second, 5) in ("refused", "reset", "closed")
        assert service.shed == 1
        assert any("already has a sync session" in r.getMessage() for r in caplog.records)

        replica = Replica()
        stream = await honest.libp2p.new_stream(host.peer_id, [SYNC_PROTOCOL])
        with trio.fail_after(20):
            result = await run_sync(_channel(stream), SyncSession.initiator(replica, now=now_ms()), replica.ingest)
        assert result.ok, result.error
        assert len(replica.ids) == node.store.count() > 0
        await wait_until(lambda: str(honest.peer_id) not in service.served, 10)
        assert service.served == {str(hostile.peer_id): 1}  # still holding its one slot
        await holder.reset()


async def test_the_queue_for_a_slot_is_bounded_and_so_is_the_wait(node, caplog):
    """One slot, held; one stream may wait, and waits at most 0.5 s; a
    stream beyond the queue is shed at once. Each shed says why."""
    caplog.set_level(logging.INFO)
    limits = ServeLimits(served=1, waiting=1, slot_wait_ms=500)
    async with serving(node, limits) as (host, service), \
            peer_of(host) as a, peer_of(host) as b, peer_of(host) as c:
        holder = await a.libp2p.new_stream(host.peer_id, [SYNC_PROTOCOL])
        await holder.write(wire.encode_frame(wire.Hello()))
        await wait_until(lambda: service.serve_slots.available_tokens == 0, 10)
        waiter = await b.libp2p.new_stream(host.peer_id, [SYNC_PROTOCOL])
        await waiter.write(wire.encode_frame(wire.Hello()))
        await wait_until(lambda: service.waiting == 1, 10)
        extra = await open_sync(c, host)
        assert await ended(extra, 5) in ("refused", "reset", "closed")
        assert await ended(waiter, 5) in ("reset", "closed")
        reasons = [r.getMessage() for r in caplog.records if "shed" in r.getMessage()]
        assert any("1 sync sessions already wait for a slot" in r for r in reasons), reasons
        assert any("no sync slot free within 500 ms" in r for r in reasons), reasons
        assert service.shed == 2 and service.waiting == 0
        assert not service.is_cut_off(str(b.peer_id)) and not service.is_cut_off(str(c.peer_id))
        await holder.reset()


async def test_the_side_that_leads_sheds_a_peers_stream_while_its_own_full_session_with_it_runs(node, caplog):
    """Both sides started a session with the other at once: the one that
    leads (the smaller id) keeps its own and sheds the other's stream, which
    would send every record a second time; the other side serves it."""
    caplog.set_level(logging.INFO)
    async with serving(node, ServeLimits()) as (host, service), peer_of(host) as peer:
        other = str(peer.peer_id)
        service.outgoing[other] = Mode.FULL  # our own session with it runs
        service.planner.leads = lambda p: True  # type: ignore[method-assign]
        stream = await open_sync(peer, host)
        assert await ended(stream, 5) in ("refused", "reset", "closed")
        assert service.shed == 1 and service.served == {}
        assert any("own full sync session with it runs now" in r.getMessage() for r in caplog.records)

        service.planner.leads = lambda p: False  # type: ignore[method-assign]
        replica = Replica()
        stream = await peer.libp2p.new_stream(host.peer_id, [SYNC_PROTOCOL])
        with trio.fail_after(20):
            result = await run_sync(_channel(stream), SyncSession.initiator(replica, now=now_ms()), replica.ingest)
        assert result.ok, result.error
        assert len(replica.ids) == node.store.count() > 0


async def test_a_peer_that_talks_in_a_sync_session_is_heard_while_the_session_runs(node):
    """Every read of a session that brings bytes counts as hearing the peer:
    its pings may queue behind a large sync on the same connection, and the
    liveness check must not close a connection that is busy moving records."""
    heard: list[str] = []

    class Heard(_Liveness):
        def heard(self, peer_id) -> None:
            heard.append(str(peer_id))

    async with serving(node, ServeLimits()) as (host, service), peer_of(host) as peer:
        service.liveness = Heard()
        replica = Replica()
        session = SyncSession.initiator(replica, now=now_ms())
        stream = await peer.libp2p.new_stream(host.peer_id, [SYNC_PROTOCOL])
        await stream.write(session.data_to_send())  # HELLO and the opening, then nothing more
        await wait_until(lambda: heard, 10)
        assert set(heard) == {str(peer.peer_id)}
        assert str(peer.peer_id) in service.served  # the session is still running
        await stream.reset()


async def test_a_session_of_ours_waits_for_those_peers_started_with_us(node):
    """While a peer's session with the node runs, the records it brings
    would be asked of another peer a second time: the node's own session
    opens its stream only once the served one ended."""

    opened: list[str] = []

    class Recording:
        def __init__(self, libp2p) -> None:
            self.libp2p = libp2p

        def set_stream_handler(self, protocol, handler) -> None:
            self.libp2p.set_stream_handler(protocol, handler)

        async def new_stream(self, peer_id, protocols):
            opened.append(str(peer_id))
            raise ConnectionError("not in this test")

    other = str(peer_id_from_author(DeviceKey.generate().public))
    async with serving(node, ServeLimits()) as (host, service), peer_of(host) as holder:
        service.libp2p = Recording(host.libp2p)
        session = SyncSession.initiator(Replica(), now=now_ms())
        stream = await holder.libp2p.new_stream(host.peer_id, [SYNC_PROTOCOL])
        await stream.write(session.data_to_send())  # HELLO and the opening, then nothing more
        await wait_until(lambda: str(holder.peer_id) in service.served, 10)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(service._session, StartSession(other, Mode.FULL))
            await trio.sleep(1.0)
            assert opened == []  # still waiting for the served session
            await stream.reset()
            await wait_until(lambda: opened == [other], 10)
        assert service.served == {}


async def test_a_peer_with_a_larger_id_is_served_once_our_own_session_ended(node):
    """The records of a session this node runs would be sent again by a peer
    whose session reconciled at the same time: a session a peer with a
    larger id starts is answered once ours ended (one with a smaller id is
    not held: waits go towards smaller ids, so they never form a cycle)."""
    async with serving(node, ServeLimits()) as (host, service), peer_of(host) as target:
        held = trio.Event()
        streams = []

        async def hold(stream) -> None:  # the target takes our session and says nothing
            streams.append(stream)
            held.set()
            await trio.sleep_forever()

        target.libp2p.set_stream_handler(SYNC_PROTOCOL, hold)
        larger = DeviceKey.generate()
        while str(peer_id_from_author(larger.public)) < str(host.peer_id):
            larger = DeviceKey.generate()
        async with peer_of(host, larger) as peer, trio.open_nursery() as nursery:
            nursery.start_soon(service._session, StartSession(str(target.peer_id), Mode.FULL))
            with trio.fail_after(10):
                await held.wait()
            # not answered while ours runs, served once ours ends
            replica = await _answered_only_after(peer, host, streams[0].reset)
            assert len(replica.ids) == node.store.count()


async def test_a_peer_is_served_once_the_sessions_of_smaller_ids_ended(node):
    """Two peers' sessions reconciled at once would send the node the same
    records twice: the one whose initiator has the larger id is answered
    once the other's session ended."""
    async with serving(node, ServeLimits()) as (host, service):
        keys = sorted((DeviceKey.generate() for _ in range(2)), key=lambda k: str(peer_id_from_author(k.public)))
        async with peer_of(host, keys[0]) as smaller, peer_of(host, keys[1]) as larger:
            held = await smaller.libp2p.new_stream(host.peer_id, [SYNC_PROTOCOL])
            await held.write(SyncSession.initiator(Replica(), now=now_ms()).data_to_send())
            with trio.fail_after(10):
                assert await held.read(1)  # answered: its session runs
            # not answered while the smaller one runs, served once it ended
            replica = await _answered_only_after(larger, host, held.reset)
            assert len(replica.ids) == node.store.count()


async def _answered_only_after(peer, host, release) -> Replica:
    """A sync session ``peer`` starts with ``host`` gets no answer for a
    second; after ``release()`` it runs to a good end. Returns the replica it
    filled."""
    replica, results = Replica(), []

    async def sync() -> None:
        stream = await peer.libp2p.new_stream(host.peer_id, [SYNC_PROTOCOL])
        session = SyncSession.initiator(replica, now=now_ms())
        results.append(await run_sync(_channel(stream), session, replica.ingest))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sync)
        await trio.sleep(1.0)
        assert results == [] and replica.ids == set()
        await release()
        await wait_until(lambda: results, 15)
    assert results[0].ok, results[0].error
    return replica
