"""Session deadlines: one clock passed in, one deadline per thing that can
stall, and a silent peer told ABORT(timeout), never ABORT(internal).

    initiator ──HELLO, RECONCILE──▶ peer
        │        (nothing back)
        ├── PEER_SILENCE_MS later: Stalled, ABORT code 5
        │
    responder ◀── a byte each PEER_SILENCE_MS - 1 ── trickling peer
        ├── FRAME_MS after the frame's first byte: FrameTooSlow, ABORT code 5
        └── MAX_SESSION_MS after the start: SessionTooLong, ABORT code 5
"""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing

from meshpantry.core.sync import FrameTooSlow, Failed, Role, SessionTooLong, Stalled, SyncSession
from meshpantry.core.sync.deadlines import FRAME_MS, MAX_SESSION_MS, PEER_SILENCE_MS
from meshpantry.node.sync_driver import TrioStream, now_ms, run_sync
from protocol import sync as wire

from .replicas import Replica, chains


def _failure(session: SyncSession) -> Exception:
    failed = [e for e in session.events() if isinstance(e, Failed)]
    assert len(failed) == 1
    return failed[0].error


def _frames(data: bytes) -> list[wire.Frame]:
    return [wire.decode_frame(body) for body in wire.FrameReader().feed(data)]


@pytest.mark.parametrize("make", [
    lambda now: SyncSession.initiator(Replica(), now=now),
    lambda now: SyncSession.responder(Replica(), now=now),
    lambda now: SyncSession.fetch_author(Replica(), bytes(32), now=now),
])
def test_a_session_fed_nothing_past_its_deadline_is_stalled_and_says_timeout(make):
    session = make(5_000)
    session.data_to_send()
    assert session.get_timer() == 5_000 + PEER_SILENCE_MS
    session.handle_timer(5_000 + PEER_SILENCE_MS - 1)  # early: nothing happens
    assert not session.finished and session.data_to_send() == b""
    session.handle_timer(5_000 + PEER_SILENCE_MS)
    error = _failure(session)
    assert isinstance(error, Stalled) and error.idle_ms == PEER_SILENCE_MS
    (abort,) = _frames(session.data_to_send())
    assert abort == wire.Abort(wire.ABORT_TIMEOUT, str(error))
    assert session.get_timer() is None


def test_bytes_from_the_peer_push_the_silence_deadline_back():
    session = SyncSession.responder(Replica(), now=0)
    session.receive_data(wire.encode_frame(wire.Hello()), 20_000)
    assert session.get_timer() == 20_000 + PEER_SILENCE_MS
    session.handle_timer(PEER_SILENCE_MS)
    assert not session.finished


def test_a_peer_trickling_bytes_cannot_hold_a_session_past_its_deadline():
    """One byte of a never-ending frame just before each silence deadline
    (the frame deadline lifted: the session deadline still ends it)."""
    session = SyncSession(Replica(), Role.RESPONDER, now=0, frame_timeout_ms=2 * MAX_SESSION_MS)
    session.receive_data(wire.encode_frame(wire.Hello()) + wire.encode_varint(wire.MAX_FRAME_BYTES), 0)
    now = 0
    while not session.finished:
        assert session.get_timer() == min(now + PEER_SILENCE_MS, MAX_SESSION_MS)
        now = min(now + PEER_SILENCE_MS - 1, MAX_SESSION_MS)
        session.handle_timer(now)
        session.receive_data(b"\x00", now)
    error = _failure(session)
    assert isinstance(error, SessionTooLong) and error.limit_ms == MAX_SESSION_MS
    assert now == MAX_SESSION_MS
    assert _frames(session.data_to_send())[-1].code == wire.ABORT_TIMEOUT


def test_a_frame_trickled_a_byte_at_a_time_fails_at_the_frame_deadline_as_trickled():
    """One byte every 4 s of a frame that never completes: ABORT(timeout)
    FRAME_MS after its first byte, long before the silence or session
    deadline, and the failure says the frame was trickled."""
    session = SyncSession.responder(Replica(), now=0)
    session.receive_data(wire.encode_frame(wire.Hello()), 0)
    session.data_to_send()
    now = 1_000
    session.receive_data(wire.encode_varint(5000), now)  # a frame begins
    assert session.get_timer() == now + FRAME_MS
    while not session.finished:
        now += 4_000
        session.handle_timer(now)
        session.receive_data(b"\x01", now)
    error = _failure(session)
    assert isinstance(error, FrameTooSlow) and error.trickled
    assert error.elapsed_ms == FRAME_MS + 1_000 and error.arrivals >= 3
    assert _frames(session.data_to_send())[-1].code == wire.ABORT_TIMEOUT


def test_whole_frames_keep_the_frame_deadline_off_and_a_frame_cut_halfway_is_a_stall():
    """Frames that arrive whole set no frame deadline; a frame whose bytes
    stop halfway (a link that died) fails at the frame deadline, not as
    trickled."""
    session = SyncSession.responder(Replica(), now=0)
    session.receive_data(wire.encode_frame(wire.Hello()), 0)
    assert session.get_timer() == PEER_SILENCE_MS
    frame = wire.encode_frame(wire.Records((b"x" * 3000,)))
    session.receive_data(frame[:2000], 10)
    assert session.get_timer() == 10 + FRAME_MS
    session.handle_timer(10 + FRAME_MS)
    error = _failure(session)
    assert isinstance(error, FrameTooSlow) and not error.trickled and error.buffered == 2000


@pytest.mark.parametrize("silent", ["responder", "initiator"])
def test_a_silent_peer_on_a_real_stream_is_aborted_for_silence(silent):
    """Over trio memory streams on a mock clock: the side facing a silent
    peer fails as Stalled at its deadline and sends ABORT code 5."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    outcome = {}

    async def main():
        ours, theirs = trio.testing.memory_stream_pair()
        replica = Replica(chains(3, 4, random.Random(2)))
        session = (SyncSession.initiator(replica, now=now_ms()) if silent == "responder"
                   else SyncSession.responder(replica, now=now_ms()))
        started = trio.current_time()
        heard = bytearray()

        async def silent_peer():
            try:
                while chunk := await theirs.receive_some(65536):
                    heard.extend(chunk)
            except trio.BrokenResourceError:
                pass

        async with trio.open_nursery() as nursery:
            nursery.start_soon(silent_peer)
            outcome["result"] = await run_sync(TrioStream(ours), session, replica.ingest)
            outcome["elapsed"] = trio.current_time() - started
        outcome["frames"] = _frames(bytes(heard))

    trio.run(main, clock=clock)
    result = outcome["result"]
    assert not result.ok and isinstance(result.error, Stalled)
    assert outcome["elapsed"] * 1000 == pytest.approx(PEER_SILENCE_MS, abs=1)
    abort = outcome["frames"][-1]
    assert isinstance(abort, wire.Abort) and abort.code == wire.ABORT_TIMEOUT


def test_a_peer_that_stops_reading_is_aborted_for_silence_not_our_fault():
    """A peer that takes no bytes (our write blocks) and sends none: the
    silence deadline fires mid-write, and the error is Stalled."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    outcome = {}

    async def main():
        ours, theirs = trio.testing.lockstep_stream_pair()
        replica = Replica(chains(3, 4, random.Random(2)))
        session = SyncSession.initiator(replica, now=now_ms())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.sleep_forever)  # the peer: holds the stream, reads nothing
            outcome["result"] = await run_sync(TrioStream(ours), session, replica.ingest)
            nursery.cancel_scope.cancel()
        del theirs

    trio.run(main, clock=clock)
    assert isinstance(outcome["result"].error, Stalled)
