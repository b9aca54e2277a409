"""The sync session between two in-memory replicas: outcomes and costs."""

from __future__ import annotations

import hashlib
import random

import pytest

from meshpantry.core.sync import (
    Done,
    Failed,
    PeerAborted,
    Progress,
    ProtocolViolation,
    RecordsReceived,
    Stalled,
    SyncSession,
    TooManyRounds,
    UnsupportedSyncVersion,
)
from meshpantry.core.sync.session import IDLE_TIMEOUT_MS, MAX_WINDOW, WINDOW
from protocol import sync as wire
from protocol.errors import DecodeError

from .replicas import Link, Replica, chains, fields, sync_until_quiet


def _pair(total: int, missing_a=(), missing_b=(), seed: int = 7) -> tuple[Replica, Replica, list[bytes]]:
    rng = random.Random(seed)
    raws = chains(max(1, total // 20), 20, rng)[:total]
    missing_a, missing_b = set(missing_a), set(missing_b)
    a = Replica(r for i, r in enumerate(raws) if i not in missing_a)
    b = Replica(r for i, r in enumerate(raws) if i not in missing_b)
    return a, b, raws


def test_equal_sets_finish_in_one_round_trip():
    """initiator --fingerprint--> responder --END(final)--> done, 2 flights."""
    a, b, _ = _pair(5_000)
    link = Link(a, b)
    link.lockstep()
    assert link.flights == 2
    assert all(isinstance(o, Done) for o in link.outcomes)
    assert link.sessions[0].stats.bytes_sent + link.sessions[1].stats.bytes_sent < 100


@pytest.mark.parametrize("side", ["initiator", "responder"])
def test_one_difference_costs_at_most_three_round_trips_and_little(side):
    """One record missing on either side of 20,000: <= 6 flights, < 2 KB in all."""
    missing = {12_345}
    a, b, raws = _pair(20_000, missing if side == "initiator" else (), missing if side == "responder" else ())
    link = Link(a, b)
    link.lockstep()
    assert a.ids == b.ids
    assert link.flights <= 6
    wire_bytes = sum(s.stats.bytes_sent for s in link.sessions)
    assert wire_bytes < 2048
    lacking = a if side == "initiator" else b
    assert lacking.received == [raws[12_345]]


def test_many_missing_cost_within_ten_percent_of_the_records():
    """300 random records missing of 20,000: wire bytes <= 1.10 x their bytes."""
    rng = random.Random(3)
    total = 20_000
    missing = set(rng.sample(range(total), 300))
    raws = [r + bytes(280) for r in chains(total // 20, 20, rng)]  # ~300-byte records
    a = Replica(r for i, r in enumerate(raws) if i not in missing)
    b = Replica(raws)
    link = Link(a, b)
    link.lockstep()
    assert a.ids == b.ids
    missing_bytes = sum(len(raws[i]) for i in missing)
    wire_bytes = sum(s.stats.bytes_sent for s in link.sessions)
    assert wire_bytes <= 1.10 * missing_bytes


def test_one_side_empty_receives_everything_in_chain_order():
    a, b, raws = _pair(3_000, missing_a=range(3_000))
    assert not a.ids
    sync_until_quiet(a, b, max_sessions=1)
    assert len(a.received) == 3_000
    last_seq: dict[int, int] = {}
    for raw in a.received:
        author, seq, _lamport = fields(raw)
        assert seq > last_seq.get(author, 0)
        last_seq[author] = seq


def test_both_sides_end_with_the_union():
    rng = random.Random(5)
    raws = chains(50, 40, rng)
    a = Replica(r for r in raws if rng.random() < 0.7)
    b = Replica(r for r in raws if rng.random() < 0.7)
    union = a.ids | b.ids
    assert a.ids != union and b.ids != union
    sync_until_quiet(a, b, max_sessions=1)
    assert a.ids == b.ids == union


def test_progress_reaches_the_records_received():
    a, b, _ = _pair(2_000, missing_a=range(1_000, 2_000))
    session_a = SyncSession.initiator(a, now=0)
    session_b = SyncSession.responder(b, now=0)
    progress: list[Progress] = []
    for _ in range(20):
        session_b.receive_data(session_a.data_to_send(), 0)
        session_a.receive_data(session_b.data_to_send(), 0)
        for event in session_a.events():
            if isinstance(event, Progress):
                progress.append(event)
            if isinstance(event, RecordsReceived):
                a.ingest(event.raws)
    assert progress and progress[-1].received == 1_000
    assert all(p.expected >= p.received for p in progress)
    assert progress[-1].expected == 1_000


def _large_records(count: int, body_bytes: int = 8_000) -> list[bytes]:
    """Records of ~8 KB: 32 fill a RECORDS frame."""
    return chains(max(1, count // 20), 20, random.Random(3), body_bytes=body_bytes)[:count]


def test_record_batches_wait_for_acknowledgements_and_the_window_grows():
    """The sender has at most WINDOW batches unacknowledged at first; once a
    whole window is acknowledged the window doubles (up to MAX_WINDOW)."""
    b = Replica(_large_records(1_600))  # 50 frames of 32 records
    session_a = SyncSession.initiator(Replica(), now=0)
    session_b = SyncSession.responder(b, now=0)
    session_b.receive_data(session_a.data_to_send(), 0)
    burst = session_b.data_to_send()
    batches = [f for f in wire.FrameReader().feed(burst) if f[0] == wire.RECORDS]
    assert len(batches) == WINDOW
    assert session_b.data_to_send() == b""  # nothing more until acknowledged
    session_a.receive_data(burst, 0)
    session_b.receive_data(session_a.data_to_send(), 0)
    second = [f for f in wire.FrameReader().feed(session_b.data_to_send()) if f[0] == wire.RECORDS]
    assert len(second) == min(2 * WINDOW, MAX_WINDOW)


def _responder_after(frames: list[wire.Frame]) -> SyncSession:
    session = SyncSession.responder(Replica(), now=0)
    session.receive_data(b"".join(wire.encode_frame(f) for f in frames), 0)
    return session


def _failure(session: SyncSession) -> Exception:
    failed = [e for e in session.events() if isinstance(e, Failed)]
    assert len(failed) == 1
    return failed[0].error


def test_garbage_fails_the_session_with_an_abort_frame():
    session = SyncSession.responder(Replica(), now=0)
    session.receive_data(b"\x05\xff\x00\x01\x02\x03", 0)
    assert isinstance(_failure(session), DecodeError)
    (abort,) = [wire.decode_frame(b) for b in wire.FrameReader().feed(session.data_to_send())]
    assert isinstance(abort, wire.Abort) and abort.code == wire.ABORT_DECODE
    session.receive_data(wire.encode_frame(wire.Hello()), 0)  # ignored once failed
    assert session.events() == []


def test_frames_before_hello_are_a_violation():
    session = _responder_after([wire.End()])
    assert isinstance(_failure(session), ProtocolViolation)


def test_unknown_version_is_refused():
    session = _responder_after([wire.Hello(version=99)])
    error = _failure(session)
    assert isinstance(error, UnsupportedSyncVersion) and error.version == 99


def test_records_before_a_request_are_a_violation():
    session = _responder_after([wire.Hello(), wire.Records((b"x",))])
    assert isinstance(_failure(session), ProtocolViolation)


def test_reconcile_out_of_turn_is_a_violation():
    opening = wire.Reconcile((wire.Entry(wire.INF, wire.IdList(())),))
    session = _responder_after([wire.Hello(), opening, opening])
    assert isinstance(_failure(session), ProtocolViolation)


def test_ack_of_batches_never_sent_is_a_violation():
    opening = wire.Reconcile((wire.Entry(wire.INF, wire.IdList(())),))
    session = _responder_after([wire.Hello(), opening, wire.Ack(3)])
    error = _failure(session)
    assert isinstance(error, ProtocolViolation) and "ACK" in error.rule


def test_abort_from_the_peer_is_reported_and_not_answered():
    session = _responder_after([wire.Hello(), wire.Abort(wire.ABORT_TIMEOUT, "bye")])
    error = _failure(session)
    assert isinstance(error, PeerAborted) and error.reason == "bye"
    assert session.data_to_send() == b""


def test_a_silent_peer_times_out():
    session = SyncSession.initiator(Replica(), now=1_000)
    session.data_to_send()
    assert session.get_timer() == 1_000 + IDLE_TIMEOUT_MS
    session.handle_timer(1_000 + IDLE_TIMEOUT_MS - 1)
    assert not session.finished
    session.handle_timer(1_000 + IDLE_TIMEOUT_MS)
    assert isinstance(_failure(session), Stalled)
    assert session.get_timer() is None


def test_a_peer_that_never_settles_hits_the_round_limit():
    """A peer that answers every message with a fresh fingerprint of nothing
    in common fails the session after MAX_ROUNDS."""
    a, _b, _ = _pair(2_000)
    session = SyncSession.initiator(a, now=0)
    session.data_to_send()
    junk = wire.Reconcile((wire.Entry(wire.INF, wire.Fingerprint(2_000, bytes(16))),))
    for _ in range(100):
        session.receive_data(wire.encode_frame(junk), 0)
        session.data_to_send()
        if session.finished:
            break
    assert isinstance(_failure(session), TooManyRounds)


def test_connection_lost_fails_both_sides_and_the_next_session_converges():
    raws = _large_records(1_000)  # 32 frames: more than one window
    a, b = Replica(raws[:200]), Replica(raws)
    link = Link(a, b)
    side = 0
    while not a.received:
        link.deliver(side)
        side = 1 - side
    link.close(0)  # after the first window of batches, before the rest
    assert all(isinstance(o, Failed) for o in link.outcomes)
    assert 0 < len(a.ids) - 200 < 800
    sync_until_quiet(a, b, max_sessions=1)


def test_one_missing_on_each_side_is_found_by_sums_without_listing_ids():
    """Equal counts, different sets, 20,000 items: an estimating split (20
    parts, each with 3 sums and its stratum counts, ~1.3 KB) and a ROOTS
    reply settle it in three round trips, without listing any id."""
    a, b, raws = _pair(20_000, missing_a={100}, missing_b={15_000})
    link = Link(a, b)
    link.lockstep()
    assert a.ids == b.ids
    assert link.flights <= 6
    assert sum(s.stats.bytes_sent for s in link.sessions) < len(raws[100]) + len(raws[15_000]) + 1_500
    assert a.received == [raws[100]] and b.received == [raws[15_000]]


def test_dense_differences_fall_back_to_splitting_and_still_converge():
    rng = random.Random(11)
    raws = chains(100, 30, rng)
    a = Replica(r for r in raws if rng.random() < 0.5)
    b = Replica(r for r in raws if rng.random() < 0.5)
    union = a.ids | b.ids
    sync_until_quiet(a, b, max_sessions=1)
    assert a.ids == b.ids == union


def test_final_end_is_only_accepted_as_the_reply_to_an_idle_message():
    """A responder that has nothing to reconcile yet cannot be told 'final'."""
    opening = wire.Reconcile((wire.Entry(wire.INF, wire.IdList(())),), (), True)
    b = Replica(chains(2, 40, random.Random(1)))
    session = SyncSession.responder(b, now=0)
    session.receive_data(wire.encode_frame(wire.Hello()) + wire.encode_frame(opening), 0)
    session.data_to_send()
    session.receive_data(wire.encode_frame(wire.End(final=True)), 0)
    assert isinstance(_failure(session), ProtocolViolation)


def _frames(data: bytes) -> list[wire.Frame]:
    return [wire.decode_frame(body) for body in wire.FrameReader().feed(data)]


def test_a_reply_of_needed_ids_alone_is_followed_by_its_records_at_once():
    """responder --RECONCILE(SKIP, needs) RECORDS END--> in one flight: the
    peer's answer to an all-SKIP message is all SKIP, so nothing is left to
    wait for (a round trip less)."""
    raws = chains(1, 3, random.Random(2))
    ids = [hashlib.sha256(raw).digest() for raw in raws]
    session = SyncSession.responder(Replica(raws[:2]), now=0)
    listed = wire.Reconcile((wire.Entry(wire.INF, wire.IdList(tuple(sorted([ids[0], ids[2]])))),))
    session.receive_data(wire.encode_frame(wire.Hello()) + wire.encode_frame(listed), 0)
    frames = _frames(session.data_to_send())
    assert [type(frame) for frame in frames] == [wire.Reconcile, wire.Records, wire.End]
    assert frames[0].needs == (ids[2],) and all(isinstance(e.mode, wire.Skip) for e in frames[0].entries)
    assert frames[1].raws == (raws[1],)


def test_a_reconcile_answering_an_all_skip_message_is_out_of_turn():
    raws = chains(1, 3, random.Random(2))
    ids = [hashlib.sha256(raw).digest() for raw in raws]
    session = SyncSession.responder(Replica(raws[:2]), now=0)
    listed = wire.Reconcile((wire.Entry(wire.INF, wire.IdList(tuple(sorted([ids[0], ids[2]])))),))
    again = wire.Reconcile((wire.Entry(wire.INF, wire.Fingerprint(1, bytes(16))),))
    session.receive_data(b"".join(wire.encode_frame(f) for f in (wire.Hello(), listed, again)), 0)
    assert isinstance(_failure(session), ProtocolViolation)


def test_a_session_says_whether_it_reconciled_the_whole_key_space_and_how_much_it_held():
    """Both sides of a full session know, once done, that both hold the
    union of what they held when it reconciled (the replica's agreement
    with its peer, :mod:`meshpantry.core.sync.agreement`); a routine one
    that left the newest records to gossip does not, on either side."""
    a, b, raws = _pair(3_000, missing_a=range(2_990, 3_000), missing_b=range(100, 105))
    link = Link(a, b)
    link.lockstep()
    assert [s.reconciled_whole for s in link.sessions] == [True, True]
    assert [s.held for s in link.sessions] == [2_990, 2_995]
    assert a.ids == b.ids
    below = max(fields(raw)[2] for raw in raws) - 5
    a2, b2, _ = _pair(3_000, missing_a=range(2_990, 3_000))
    routine = Link(a2, b2, below=below)
    routine.lockstep()
    assert [s.reconciled_whole for s in routine.sessions] == [False, False]
    fetch = Link(Replica(), b, fetch_author=b"\x07" * 32)
    fetch.lockstep()
    assert [s.reconciled_whole for s in fetch.sessions] == [False, False] and fetch.sessions[0].held is None


def test_a_side_awaits_records_from_the_end_of_its_reconciliation_to_the_peers_end():
    """What a session still expects is on its way (the replica's other
    sessions wait for it, :mod:`meshpantry.core.sync.turns`): true once the
    side's reconciliation found records to come, false once the peer's END
    came (the stream brings the records in pieces, three batches here)."""
    a, b, _ = _pair(6_000, missing_a=range(1_000, 6_000))
    link = Link(a, b)
    seen = []
    side = 0
    while not link.finished:
        link.deliver(side, 4096)
        seen.append(link.sessions[0].awaiting_records)
        side = 1 - side
    assert seen.count(True) > 5 and seen[-1] is False and a.ids == b.ids


def test_an_initiator_withdraws_its_unanswered_session_with_abort_8_and_the_peer_sees_no_fault():
    """An initiator that gives way to another session tells its peer with
    ABORT 8 after its opening; the responder ends with PeerAborted, read as
    withdrawn (no fault of either side), and answers nothing more."""
    from meshpantry.core.sync import Withdrawn

    a, b, _ = _pair(200, missing_a=range(0, 200, 3))
    initiator = SyncSession.initiator(a, now=0)
    opening = initiator.data_to_send()
    initiator.withdraw("gives way to another session")
    error = _failure(initiator)
    assert isinstance(error, Withdrawn) and str(error) == "gives way to another session"
    (abort,) = _frames(initiator.data_to_send())
    assert abort == wire.Abort(wire.ABORT_WITHDRAWN, "gives way to another session")

    responder = SyncSession.responder(b, now=0)
    responder.receive_data(opening + wire.encode_frame(abort), 0)
    error = _failure(responder)
    assert isinstance(error, PeerAborted) and error.withdrawn
    assert not PeerAborted(wire.ABORT_TIMEOUT, "bye").withdrawn


def test_only_the_initiator_withdraws_a_session():
    with pytest.raises(AssertionError):
        SyncSession.responder(Replica(), now=0).withdraw("no")
