"""The liveness check: misses counted, a silent peer closed after N, any
answer resets the count (fakes, in virtual time: ``autojump_clock``); and
the real ping over two hosts on loopback."""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest
import trio

from meshpantry.keys import DeviceKey
from meshpantry.node.host import connect_bounded, open_host, peer_id_from_author, peer_info_from_multiaddr
from meshpantry.node.liveness import Liveness, close_peer, live_peers
from meshpantry.node.ping import Pinger, ping, serve_ping

from .conftest import LOOPBACK_SETTINGS
from .helpers import wait_until

INTERVAL, TIMEOUT, MAX_MISSED = 4.0, 4.0, 3


class FakeMesh:
    """Peers that answer or not, as a test says; drops are recorded."""

    def __init__(self, *peers: str) -> None:
        self.connected = set(peers)
        self.silent: set[str] = set()
        self.failing: set[str] = set()
        self.probes: list[tuple[str, float]] = []
        self.dropped: list[tuple[str, float]] = []
        self.dead: list[tuple[str, str]] = []

    def peers(self) -> list[str]:
        return sorted(self.connected)

    async def probe(self, peer: str) -> None:
        self.probes.append((peer, trio.current_time()))
        while peer in self.silent:  # the answer comes once it talks again
            await trio.sleep(0.05)
        if peer in self.failing:
            raise ConnectionResetError("stream reset")
        await trio.sleep(0.01)

    async def drop(self, peer: str) -> None:
        self.dropped.append((peer, trio.current_time()))
        self.connected.discard(peer)

    def on_dead(self, peer: str, reason: str) -> None:
        self.dead.append((peer, reason))

    def check(self) -> Liveness:
        return Liveness(self.peers, self.probe, self.drop, on_dead=self.on_dead,
                        interval_s=INTERVAL, timeout_s=TIMEOUT, max_missed=MAX_MISSED)


@pytest.mark.trio
async def test_silent_peer_is_dropped_after_three_misses_and_others_are_kept(autojump_clock):
    """
    a answers, b goes silent at t=10: b's connection is closed after three
    unanswered probes (12-16 s after it went quiet), a is never touched
    """
    mesh = FakeMesh("a", "b")
    check = mesh.check()
    async with trio.open_nursery() as nursery:
        await nursery.start(check.run)
        await trio.sleep(10)
        mesh.silent.add("b")
        await trio.sleep(30)
        nursery.cancel_scope.cancel()
    assert [peer for peer, _ in mesh.dropped] == ["b"]
    went_quiet_for = mesh.dropped[0][1] - 10
    assert 3 * TIMEOUT <= went_quiet_for <= INTERVAL + 3 * TIMEOUT + 0.5
    assert mesh.dead[0][0] == "b" and "no answer" in mesh.dead[0][1]
    assert check.stats.dropped == 1 and "a" in mesh.connected
    probes_of_a = [t for peer, t in mesh.probes if peer == "a"]
    assert len(probes_of_a) >= 8  # a keeps being probed every interval


@pytest.mark.trio
async def test_an_answer_resets_the_count(autojump_clock):
    """
    b misses two probes, answers one, misses two more: never three in a row,
    never dropped; a failing probe (reset stream) is a miss too
    """
    mesh = FakeMesh("b")
    check = mesh.check()
    async with trio.open_nursery() as nursery:
        await nursery.start(check.run)
        await trio.sleep(INTERVAL + 0.1)  # first probe answered
        mesh.silent.add("b")
        await wait_until(lambda: check.state["b"].missed == 2, 3 * TIMEOUT)
        mesh.silent.discard("b")
        await wait_until(lambda: check.state["b"].missed == 0, TIMEOUT)
        mesh.failing.add("b")
        await wait_until(lambda: check.state["b"].missed == 2, 3 * INTERVAL)
        assert "ConnectionResetError" in check.state["b"].last_error
        mesh.failing.discard("b")
        await wait_until(lambda: check.state["b"].missed == 0, TIMEOUT + 1)
        await trio.sleep(30)
        nursery.cancel_scope.cancel()
    assert mesh.dropped == [] and "b" in mesh.connected


@pytest.mark.trio
async def test_misses_seen_elsewhere_count_and_success_elsewhere_resets(autojump_clock):
    """
    a sync stream that could not be opened is a miss; a completed sync
    (heard) resets; three misses from any source drop the peer
    """
    mesh = FakeMesh("b")
    check = mesh.check()
    async with trio.open_nursery() as nursery:
        await nursery.start(check.run)
        await trio.sleep(0.1)
        await check.missed("b", "sync stream not opened")
        await check.missed("b", "sync stream not opened")
        check.heard("b")
        assert check.state["b"].missed == 0
        await check.missed("b", "sync stream not opened")
        await check.missed("b", "sync stream not opened")
        await check.missed("b", "sync stream not opened")
        assert [peer for peer, _ in mesh.dropped] == ["b"]
        assert mesh.dead == [("b", "sync stream not opened")]
        await check.missed("gone", "not connected")  # an unknown peer is ignored
        nursery.cancel_scope.cancel()
    assert len(mesh.dropped) == 1


@pytest.mark.trio
async def test_a_peer_heard_from_is_not_probed_before_a_whole_interval_passed(autojump_clock):
    """
    b streams a sync session (heard every second from t=1 to t=20): no ping
    to b meanwhile; a, silent on every other stream, is pinged every interval
    """
    mesh = FakeMesh("a", "b")
    check = mesh.check()
    async with trio.open_nursery() as nursery:
        await nursery.start(check.run)
        for _ in range(20):
            await trio.sleep(1.0)
            check.heard("b")
        nursery.cancel_scope.cancel()
    assert [peer for peer, _ in mesh.probes].count("b") == 0
    assert [peer for peer, _ in mesh.probes].count("a") >= 4


@pytest.mark.trio
async def test_a_peer_that_disconnects_on_its_own_is_forgotten(autojump_clock):
    """b disconnects mid-probe: no miss is counted, no drop, no callback."""
    mesh = FakeMesh("b")
    check = mesh.check()
    async with trio.open_nursery() as nursery:
        await nursery.start(check.run)
        await trio.sleep(0.1)
        mesh.silent.add("b")
        await trio.sleep(INTERVAL + 1)  # a probe is in flight
        mesh.connected.discard("b")
        await trio.sleep(3 * TIMEOUT)
        nursery.cancel_scope.cancel()
    assert mesh.dropped == [] and mesh.dead == [] and check.state == {}


@pytest.mark.trio
async def test_real_ping_answers_and_a_frozen_peer_is_closed():
    """
    A --ping--> B over Noise + yamux on loopback: answered. B's ping handler
    then stops answering (its stream handler hangs): A's check misses three
    probes, closes the connection, and reports B dead
    """
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(open_host(LOOPBACK_SETTINGS, DeviceKey.generate()))
        b = await stack.enter_async_context(open_host(LOOPBACK_SETTINGS, DeviceKey.generate()))
        serve_ping(a.libp2p)
        serve_ping(b.libp2p)
        await connect_bounded(a.libp2p, peer_info_from_multiaddr(b.dial_addrs()[0]), 5)
        with trio.fail_after(5):
            rtt = await ping(a.libp2p, b.peer_id)
        assert 0 <= rtt < 1
        assert live_peers(a.libp2p.get_network()) == [b.peer_id]

        async def frozen(stream) -> None:
            await trio.sleep_forever()

        b.libp2p.set_stream_handler("/ipfs/ping/1.0.0", frozen)
        dead: list[tuple[object, str]] = []
        check = Liveness.for_host(a.libp2p, on_dead=lambda peer, why: dead.append((peer, why)),
                                  interval_s=0.2, timeout_s=0.3, max_missed=3)
        nursery = await stack.enter_async_context(trio.open_nursery())
        await nursery.start(check.run)
        await wait_until(lambda: dead, 10)
        assert dead[0][0] == b.peer_id and "no answer" in dead[0][1]
        assert live_peers(a.libp2p.get_network()) == []
        await wait_until(lambda: not live_peers(b.libp2p.get_network()), 10)  # B sees it close
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_real_close_peer_of_an_unknown_peer_is_quiet():
    """Closing a peer with no connection neither raises nor hangs."""
    async with open_host(LOOPBACK_SETTINGS, DeviceKey.generate()) as a:
        with trio.fail_after(2):
            await close_peer(a.libp2p.get_network(), peer_id_from_author(DeviceKey.generate().public))


@pytest.mark.trio
async def test_real_pinger_keeps_one_stream_and_survives_a_reconnect():
    """
    pings reuse one stream; after the connection closes and A reconnects,
    the next ping opens a new stream on the new connection (no false miss);
    a failed ping leaves no stream behind
    """
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(open_host(LOOPBACK_SETTINGS, DeviceKey.generate()))
        b = await stack.enter_async_context(open_host(LOOPBACK_SETTINGS, DeviceKey.generate()))
        serve_ping(b.libp2p)
        info = peer_info_from_multiaddr(b.dial_addrs()[0])
        await connect_bounded(a.libp2p, info, 5)
        pinger = Pinger(a.libp2p)
        with trio.fail_after(5):
            await pinger.ping(b.peer_id)
            first = pinger.streams[b.peer_id]
            for _ in range(3):
                await pinger.ping(b.peer_id)
        assert pinger.streams[b.peer_id] is first

        await close_peer(a.libp2p.get_network(), b.peer_id)
        await connect_bounded(a.libp2p, info, 5)
        with trio.fail_after(5):
            await pinger.ping(b.peer_id)
        assert pinger.streams[b.peer_id] is not first

        async def wrong_echo(stream) -> None:
            await stream.read(32)
            await stream.write(b"x" * 32)
            await trio.sleep(1)

        b.libp2p.set_stream_handler("/ipfs/ping/1.0.0", wrong_echo)
        pinger.forget(b.peer_id)
        with pytest.raises(Exception, match="ping to"), trio.fail_after(5):
            await pinger.ping(b.peer_id)
        assert b.peer_id not in pinger.streams


@pytest.mark.trio
async def test_of_two_peers_checking_each_other_one_pings():
    """
    A and B both run the check over real hosts: a ping B answers counts as
    hearing A, so B's own probe of A keeps being put off while A pings
    """
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(open_host(LOOPBACK_SETTINGS, DeviceKey.generate()))
        b = await stack.enter_async_context(open_host(LOOPBACK_SETTINGS, DeviceKey.generate()))
        check_a = Liveness.for_host(a.libp2p, interval_s=0.3, timeout_s=2.0)
        check_b = Liveness.for_host(b.libp2p, interval_s=0.6, timeout_s=2.0)
        await connect_bounded(a.libp2p, peer_info_from_multiaddr(b.dial_addrs()[0]), 5)
        nursery = await stack.enter_async_context(trio.open_nursery())
        await nursery.start(check_a.run)
        await nursery.start(check_b.run)
        await trio.sleep(3.0)
        nursery.cancel_scope.cancel()
    assert check_a.stats.answered >= 5
    assert check_b.stats.probes <= 1


class _ServedStream:
    """One inbound ping stream of ``peer_id``, fed by the test."""

    def __init__(self, peer_id) -> None:
        self.muxed_conn = type("Conn", (), {"peer_id": peer_id})()
        self.send, self.incoming = trio.open_memory_channel(10)
        self.echoed: list[bytes] = []
        self.reset_done = False

    async def read(self, n: int) -> bytes:
        return await self.incoming.receive()

    async def write(self, data: bytes) -> None:
        self.echoed.append(data)

    async def reset(self) -> None:
        self.reset_done = True


@pytest.mark.trio
async def test_a_served_ping_stream_stays_open_through_long_pauses_between_probes(autojump_clock):
    """
    A prober pauses 30 s between two pings (its probes were put off while a
    sync session showed the peer alive): the stream still answers, so the
    prober keeps it. Only after SERVE_IDLE_S without a ping is it closed. A
    third stream of one peer is reset (the protocol allows two).
    """
    from meshpantry.node.ping import MAX_SERVED_PER_PEER, SERVE_IDLE_S, PingServer

    heard: list = []
    server = PingServer(heard.append)
    streams = [_ServedStream("peer-a") for _ in range(MAX_SERVED_PER_PEER + 1)]
    async with trio.open_nursery() as nursery:
        done = trio.Event()

        async def serve() -> None:
            await server.handle(streams[0])
            done.set()

        nursery.start_soon(serve)
        nursery.start_soon(server.handle, streams[1])
        await trio.sleep(1)
        await server.handle(streams[2])
        assert streams[2].reset_done and not streams[0].reset_done
        for pause in (1, 30, SERVE_IDLE_S - 1):
            await trio.sleep(pause)
            await streams[0].send.send(b"\x07" * 32)
            await trio.sleep(0.1)
        assert streams[0].echoed == [b"\x07" * 32] * 3 and heard == ["peer-a"] * 3
        await trio.sleep(SERVE_IDLE_S + 1)
        assert done.is_set()
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_an_answer_read_in_the_step_that_finds_the_time_up_is_no_miss(mock_clock):
    """
    This node's loop stalls past a probe's deadline while the answer arrives:
    when it runs again, the deadline and the reading of the answer fall in
    one step. The answer counts; the peer is not dropped (one miss would).
    """
    arrived, answer = trio.Event(), trio.Event()
    dropped: list[str] = []

    async def probe(peer: str) -> None:
        await answer.wait()

    async def read_answer() -> None:  # the muxer: reads the bytes, hands them on
        await arrived.wait()
        answer.set()

    async def drop(peer: str) -> None:
        dropped.append(peer)

    check = Liveness(lambda: ["a"], probe, drop, interval_s=INTERVAL, timeout_s=TIMEOUT, max_missed=1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_answer)
        await nursery.start(check.run)
        await trio.testing.wait_all_tasks_blocked()
        mock_clock.jump(INTERVAL)
        await trio.testing.wait_all_tasks_blocked()
        assert check.stats.probes == 1
        mock_clock.jump(TIMEOUT + 1)  # stalled: no step runs until the answer is there too
        arrived.set()
        await trio.testing.wait_all_tasks_blocked()
        assert check.stats.answered == 1 and check.stats.missed == 0 and dropped == []
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_of_two_peers_that_just_connected_only_the_leading_one_probes_first(autojump_clock):
    """
    a and b connect at once and both run the check: a leads the pair (the
    smaller id) and probes an interval later; b's first probe is due half an
    interval after that, and a's ping, answered by b, puts it off. One ping
    crosses the new link, not two at the same moment.
    """
    checks: dict[str, Liveness] = {}
    probes: list[tuple[str, float]] = []

    def prober(me: str):
        async def probe(peer: str) -> None:
            probes.append((me, trio.current_time()))
            checks[peer].heard(me)  # the peer answers the ping, and counts it as hearing us
            await trio.sleep(0.01)

        return probe

    async def drop(peer: str) -> None:
        raise AssertionError("nobody is silent")

    for me, other in (("a", "b"), ("b", "a")):
        checks[me] = Liveness(lambda other=other: [other], prober(me), drop, leads=lambda peer, me=me: me < peer,
                              interval_s=INTERVAL, timeout_s=TIMEOUT, max_missed=MAX_MISSED)
    async with trio.open_nursery() as nursery:
        await nursery.start(checks["a"].run)
        await nursery.start(checks["b"].run)
        await trio.sleep(1.9 * INTERVAL)
        nursery.cancel_scope.cancel()
    assert [me for me, _ in probes] == ["a"]
    assert probes[0][1] == pytest.approx(INTERVAL, abs=0.05)
