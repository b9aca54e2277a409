"""The trio driver over memory streams: clean syncs and hostile peers."""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing

from meshpantry.core.sync import ConnectionLost, PeerAborted, Stalled, SyncSession
from meshpantry.core.sync.deadlines import PEER_SILENCE_MS
from meshpantry.node.sync_driver import TrioStream, now_ms, run_sync
from protocol import sync as wire
from protocol.errors import DecodeError, TooLarge

from .replicas import Replica, chains

#: What "promptly" means for a session that ends on an error, not a deadline.
TIMEOUT_S = 2.0


def _replicas(total: int = 3_000, share: float = 0.6, seed: int = 4) -> tuple[Replica, Replica]:
    rng = random.Random(seed)
    raws = [r + bytes(250) for r in chains(total // 20, 20, rng)]
    return Replica(r for r in raws if rng.random() < share), Replica(r for r in raws if rng.random() < share)


@pytest.mark.trio
async def test_two_drivers_converge_over_memory_streams():
    a, b = _replicas()
    union = a.ids | b.ids
    left, right = trio.testing.memory_stream_pair()
    results = {}

    async def side(name, stream, session, replica):
        results[name] = await run_sync(TrioStream(stream), session, replica.ingest)

    async def async_ingest(raws):
        await trio.sleep(0)
        b.ingest(raws)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(side, "a", left, SyncSession.initiator(a, now=now_ms()), a)
        results["b"] = None

        async def responder():
            results["b"] = await run_sync(
                TrioStream(right), SyncSession.responder(b, now=now_ms()), async_ingest
            )

        nursery.start_soon(responder)
    assert results["a"].ok and results["b"].ok, results
    assert a.ids == b.ids == union
    assert results["a"].stats.bytes_sent == results["b"].stats.bytes_received


async def _against(peer_behaviour, *, session=None):
    """Run our driver as responder against a scripted peer on the other end."""
    ours, theirs = trio.testing.memory_stream_pair()
    session = session or SyncSession.responder(Replica(chains(5, 10, random.Random(1))), now=now_ms())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer_behaviour, theirs)
        with trio.fail_after(2 * PEER_SILENCE_MS / 1000):
            result = await run_sync(TrioStream(ours), session, lambda raws: None)
        nursery.cancel_scope.cancel()
    return result


async def _drain(stream):
    try:
        while await stream.receive_some(65536):
            pass
    except trio.BrokenResourceError:
        pass


@pytest.mark.trio
async def test_garbage_from_the_peer_fails_cleanly_and_is_told_why():
    seen = []

    async def garbage(stream):
        await stream.send_all(b"\x04\xee\xee\xee\xee")
        seen.append(await stream.receive_some(65536))

    result = await _against(garbage)
    assert not result.ok and isinstance(result.error, DecodeError)
    frames = [wire.decode_frame(body) for body in wire.FrameReader().feed(seen[0])]
    assert isinstance(frames[-1], wire.Abort) and frames[-1].code == wire.ABORT_DECODE


@pytest.mark.trio
async def test_an_oversized_frame_is_refused_before_its_body():
    async def oversized(stream):
        await stream.send_all(wire.encode_varint(wire.MAX_FRAME_BYTES + 1))
        await _drain(stream)

    result = await _against(oversized)
    assert isinstance(result.error, TooLarge)


@pytest.mark.trio
async def test_a_truncated_frame_then_close_is_a_lost_connection():
    async def truncated(stream):
        frame = wire.encode_frame(wire.Hello())
        await stream.send_all(frame + wire.encode_frame(wire.Ack(0))[:1])
        await stream.aclose()

    result = await _against(truncated)
    assert isinstance(result.error, ConnectionLost) and result.error.buffered == 1


@pytest.mark.trio
async def test_a_stalling_peer_is_dropped_at_the_silence_deadline(autojump_clock):
    heard = bytearray()

    async def stall(stream):
        await stream.send_all(wire.encode_frame(wire.Hello()))
        while chunk := await stream.receive_some(65536):
            heard.extend(chunk)

    started = trio.current_time()
    result = await _against(stall)
    assert isinstance(result.error, Stalled)
    assert (trio.current_time() - started) * 1000 == pytest.approx(PEER_SILENCE_MS, abs=1)
    frames = [wire.decode_frame(body) for body in wire.FrameReader().feed(bytes(heard))]
    assert frames[-1].code == wire.ABORT_TIMEOUT


@pytest.mark.trio
async def test_an_abort_from_the_peer_ends_the_session():
    async def aborting(stream):
        await stream.send_all(wire.encode_frame(wire.Hello()) + wire.encode_frame(wire.Abort(5, "too slow")))
        await _drain(stream)

    result = await _against(aborting)
    assert isinstance(result.error, PeerAborted) and result.error.code == 5


@pytest.mark.trio
async def test_an_ingest_that_raises_fails_the_session_not_the_caller():
    a, b = _replicas(600, share=0.3)
    left, right = trio.testing.memory_stream_pair()

    def broken_ingest(raws):
        raise RuntimeError("disk full")

    results = {}

    async def run(name, stream, session, ingest):
        results[name] = await run_sync(TrioStream(stream), session, ingest)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run, "a", left, SyncSession.initiator(a, now=now_ms()), broken_ingest)
        nursery.start_soon(run, "b", right, SyncSession.responder(b, now=now_ms()), b.ingest)
    assert isinstance(results["a"].error, RuntimeError)
    assert isinstance(results["b"].error, PeerAborted) and results["b"].error.code == wire.ABORT_INTERNAL, results["b"]


class _FailingStore(Replica):
    """A store whose reads fail once records have to be sent."""

    def raws_in_chain_order(self, ids):
        raise OSError("disk gone")


@pytest.mark.trio
async def test_a_failing_store_ends_both_sides_promptly():
    a = Replica()
    b = _FailingStore(chains(5, 10, random.Random(2)))
    left, right = trio.testing.memory_stream_pair()
    results = {}

    async def run(name, stream, session, replica):
        results[name] = await run_sync(TrioStream(stream), session, replica.ingest)

    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run, "a", left, SyncSession.initiator(a, now=now_ms()), a)
        nursery.start_soon(run, "b", right, SyncSession.responder(b, now=now_ms()), b)
    assert trio.current_time() - started < TIMEOUT_S / 2
    assert not results["b"].ok and isinstance(results["b"].error.cause, OSError)
    assert isinstance(results["a"].error, PeerAborted) and results["a"].error.code == wire.ABORT_INTERNAL


@pytest.mark.trio
async def test_the_stream_is_read_while_the_host_ingests_and_the_next_ingest_takes_all_that_came(autojump_clock):
    """
    responder ──a window of ~10 RECORDS frames──▶ initiator, whose first
    ingest takes a second
    every frame sent meanwhile was read, and the second ingest gets all of
    them in one call (read one muxer window at a time, it got one frame)
    """
    rng = random.Random(7)
    raws = [r + bytes(290) for r in chains(400, 20, rng)]
    empty, full = Replica(), Replica(raws)
    calls: list[int] = []

    async def slow_ingest(batch):
        calls.append(len(batch))
        if len(calls) == 1:
            await trio.sleep(1)
        empty.ingest(batch)

    left, right = trio.testing.memory_stream_pair()
    results = {}
    async with trio.open_nursery() as nursery:

        async def responder():
            results["full"] = await run_sync(TrioStream(right), SyncSession.responder(full, now=now_ms()), full.ingest)

        nursery.start_soon(responder)
        results["empty"] = await run_sync(TrioStream(left), SyncSession.initiator(empty, now=now_ms()), slow_ingest)
    assert results["empty"].ok and results["full"].ok
    assert empty.ids == full.ids
    assert results["empty"].stats.records_received == len(raws) > 8 * calls[0]
    assert len(calls) == 2 and sum(calls) == len(raws)


@pytest.mark.trio
async def test_a_session_is_done_only_once_settled_and_a_failing_settle_fails_it():
    """An ingest that only takes the records in: the session is reported
    done after ``settle()`` stored them; a ``settle()`` that raises makes it
    our own failure."""
    for fails in (False, True):
        empty, full = Replica(), Replica(chains(10, 10, random.Random(5)))
        taken: list[bytes] = []

        async def settle():
            if fails:
                raise OSError("disk full")
            empty.ingest(taken)

        left, right = trio.testing.memory_stream_pair()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_sync, TrioStream(right), SyncSession.responder(full, now=now_ms()), full.ingest)
            result = await run_sync(TrioStream(left), SyncSession.initiator(empty, now=now_ms()), taken.extend,
                                    settle=settle)
        if fails:
            assert not result.ok and isinstance(result.error, OSError)
        else:
            assert result.ok and empty.ids == full.ids


async def _read_frames_until_closed(stream) -> list[wire.Frame]:
    reader, frames = wire.FrameReader(), []
    while data := await stream.receive_some(65536):
        frames += [wire.decode_frame(body) for body in reader.feed(data)]
    return frames


@pytest.mark.trio
async def test_a_session_cancelled_while_it_listens_is_withdrawn_with_abort_8(autojump_clock):
    """An initiator cancelled while it waits for its peer's first answer (it
    gives way to another session) ends with ABORT 8 after its opening, a
    frame of its own, then closes: the peer reads HELLO, the opening, ABORT 8."""
    from meshpantry.node.sync_driver import Writing, withdraw

    a, _ = _replicas(400)
    ours, theirs = trio.testing.memory_stream_pair()
    session, writing = SyncSession.initiator(a, now=now_ms()), Writing()
    with trio.move_on_after(1):  # the peer never answers
        await run_sync(TrioStream(ours), session, a.ingest, writing=writing)
    assert not writing.mid_frame
    await withdraw(TrioStream(ours), session, writing, "gives way")
    hello, opening, abort = await _read_frames_until_closed(theirs)
    assert isinstance(hello, wire.Hello) and isinstance(opening, wire.Reconcile)
    assert abort == wire.Abort(wire.ABORT_WITHDRAWN, "gives way")


class _StuckHalfway(TrioStream):
    """A stream whose first write sends half its bytes and then never ends,
    as a write the peer stops taking does; later writes go through."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self.first_half = None

    async def write(self, data: bytes) -> None:
        if self.first_half is None:
            self.first_half = data[: len(data) // 2]
            await super().write(self.first_half)
            await trio.sleep_forever()
        await super().write(data)


@pytest.mark.trio
async def test_a_session_cancelled_mid_write_is_closed_without_an_abort(autojump_clock):
    """Cancelled while its opening is half written, the session sends no
    ABORT: after a half-written frame its bytes would read as a malformed
    frame (cause to cut this node off). The stream is only closed."""
    from meshpantry.node.sync_driver import Writing, withdraw

    a, _ = _replicas(400)
    ours, theirs = trio.testing.memory_stream_pair()
    stream = _StuckHalfway(ours)
    session, writing = SyncSession.initiator(a, now=now_ms()), Writing()
    with trio.move_on_after(1):
        await run_sync(stream, session, a.ingest, writing=writing)
    assert writing.mid_frame
    await withdraw(stream, session, writing, "gives way")
    received = b""
    while data := await theirs.receive_some(65536):
        received += data
    assert received == stream.first_half


@pytest.mark.trio
async def test_a_session_withdrawn_before_it_wrote_anything_sends_abort_8_alone(autojump_clock):
    """Given way before its loop ran (its stream just opened), the session
    sends ABORT 8 alone, not its opening first (which the peer would answer
    for nothing), and a responder reads it as a withdrawal, not a fault."""
    from meshpantry.node.sync_driver import Writing, withdraw

    a, b = _replicas(400)
    ours, theirs = trio.testing.memory_stream_pair()
    await withdraw(TrioStream(ours), SyncSession.initiator(a, now=now_ms()), Writing(), "gives way")
    frames = await _read_frames_until_closed(theirs)
    assert frames == [wire.Abort(wire.ABORT_WITHDRAWN, "gives way")]
    responder = SyncSession.responder(b, now=now_ms())
    responder.receive_data(wire.encode_frame(frames[0]), now_ms())
    (failed,) = responder.events()
    assert isinstance(failed.error, PeerAborted) and failed.error.withdrawn
    assert responder.data_to_send() == b""
