"""The work a reconcile message may ask of its receiver is bounded, and a
peer that asks for more is refused before anything is solved."""

from __future__ import annotations

import random

import pytest

from meshpantry.core.sync import Failed, ProtocolViolation, SyncSession
from meshpantry.core.sync.items import ItemIndex
from meshpantry.core.sync.reconcile import respond
from meshpantry.core.sync.work import (
    MAX_MESSAGE_WORK,
    MAX_PEER_WORK,
    MAX_SESSION_WORK,
    PEER_WORK_WINDOW_MS,
    SEND_WORK,
    TooMuchWork,
    WorkLedger,
    check_message,
    entry_work,
    message_work,
)
from protocol import sync as wire

from .replicas import Link, Replica, chains


def _hostile_sums_message(index: ItemIndex, entries: int, k: int = wire.MAX_SUMS) -> wire.Reconcile:
    """Many small ranges, each SUMS with k sums and a count the receiver can
    solve against (the shape of a 1 MiB message of 1,963 such entries)."""
    step = len(index) // entries
    rng = random.Random(1)
    out = []
    for number in range(1, entries):
        bound = index.bound_before(number * step)
        sums = tuple(rng.randrange(wire.SUMS_PRIME) for _ in range(k))
        out.append(wire.Entry(bound, wire.Sums(step, bytes(16), sums)))
    out.append(wire.Entry(wire.INF, wire.Sums(len(index) - (entries - 1) * step, bytes(16), (1,) * k)))
    return wire.Reconcile(tuple(out))


def _replica(count: int) -> Replica:
    return Replica(chains(count // 20, 20, random.Random(5)))


def test_a_sums_entry_the_receiver_cannot_solve_costs_nothing():
    """k sums solve fewer than k differences; with counts further apart the
    receiver does not try, so the entry asks for no work."""
    entry = wire.Entry(wire.INF, wire.Sums(1_000, bytes(16), (1,) * 8))
    assert entry_work(entry, 1_008) == 0
    assert entry_work(entry, 1_007) > 0


def test_a_message_over_the_work_bound_is_refused_before_solving():
    index = ItemIndex(_replica(20_000).sync_items())
    message = _hostile_sums_message(index, 1_900)
    counts = [len(index) // 1_900] * 1_900
    try:
        check_message(message.entries, counts)
    except TooMuchWork as error:
        assert error.work > MAX_MESSAGE_WORK == error.limit
    else:
        raise AssertionError("the message was accepted")


def test_the_session_aborts_a_peer_that_asks_too_much_as_a_protocol_violation():
    """ABORT code 2 goes to the peer; the failure is a ProtocolViolation,
    which the node's sync service bans."""
    replica = _replica(20_000)
    index = ItemIndex(replica.sync_items())
    session = SyncSession.responder(replica, now=0)
    attack = wire.encode_frame(wire.Hello()) + wire.encode_frame(_hostile_sums_message(index, 1_900))
    assert len(attack) > 128 * 1024
    session.receive_data(attack, now=0)
    failures = [event for event in session.events() if isinstance(event, Failed)]
    assert len(failures) == 1 and isinstance(failures[0].error, TooMuchWork)
    assert isinstance(failures[0].error, ProtocolViolation)
    (abort,) = [wire.decode_frame(body) for body in wire.FrameReader().feed(session.data_to_send())]
    assert isinstance(abort, wire.Abort) and abort.code == wire.ABORT_PROTOCOL


def test_respond_refuses_before_any_reply_is_built():
    index = ItemIndex(_replica(20_000).sync_items())
    try:
        respond(index, _hostile_sums_message(index, 1_900))
    except TooMuchWork:
        pass
    else:
        raise AssertionError("the message was answered")


@pytest.mark.parametrize(
    ("total", "differences", "two_sided"),
    [
        pytest.param(22_000, 2_000, True, id="two-sided 2,000 in 22,000"),
        pytest.param(60_000, 3_000, False, id="one-sided 3,000 spread over 60,000", marks=pytest.mark.slow),
    ],
)
def test_honest_messages_stay_under_the_senders_share_of_the_bound(total, differences, two_sided):
    """Every reconcile message either side sends asks the other for at most
    SEND_WORK (sparse one-sided differences make many large parts, each of
    which a peer must sum and solve)."""
    raws = chains(total // 20, 20, random.Random(9))
    rng = random.Random(2)
    spread = rng.sample(range(len(raws)), differences)
    half = differences // 2 if two_sided else differences
    a = Replica(r for i, r in enumerate(raws) if i not in set(spread[:half]))
    b = Replica(r for i, r in enumerate(raws) if i not in set(spread[half:]))
    link = Link(a, b)
    indexes = (ItemIndex(b.sync_items()), ItemIndex(a.sync_items()))  # what each message's receiver holds
    works = []
    totals = [0, 0]  # units each side's messages asked of the other, in all
    side = 0
    while not link.finished:
        for body in wire.FrameReader().feed(bytes(link.queues[side])):
            frame = wire.decode_frame(body)
            if isinstance(frame, wire.Reconcile):
                index = indexes[side]
                uppers = [index.locate(entry.upper) for entry in frame.entries]
                works.append(check_message(frame.entries, [hi - lo for lo, hi in zip([0, *uppers], uppers)]))
                totals[side] += works[-1]
        link.deliver(side)
        side = 1 - side
    assert a.ids == b.ids
    assert max(works) <= SEND_WORK
    assert max(totals) <= MAX_SESSION_WORK // 2  # a session's budget leaves room twice over


def test_the_node_bans_a_peer_whose_message_asks_too_much():
    """The node's sync service reports a session failed this way as hostile,
    and the planner bans hostile peers."""
    from meshpantry.node.sync_service import HOSTILE_ERRORS

    assert isinstance(TooMuchWork(MAX_MESSAGE_WORK + 1, MAX_MESSAGE_WORK), HOSTILE_ERRORS)


def _moderate_sums_message(index: ItemIndex) -> wire.Reconcile:
    """SUMS entries a receiver can solve, well under one message's bound."""
    return _hostile_sums_message(index, 40, k=8)


def test_a_session_refuses_the_message_that_takes_its_total_over_its_budget():
    """Each message alone is under MAX_MESSAGE_WORK; the session adds them
    up and refuses, before solving, the one that passes its budget: a
    ProtocolViolation (ABORT 2), which the node bans."""
    replica = _replica(20_000)
    index = ItemIndex(replica.sync_items())
    message = _moderate_sums_message(index)
    one = message_work(index, message.entries)
    assert 0 < one < MAX_MESSAGE_WORK
    session = SyncSession.responder(replica, now=0, work_budget=one + one // 2)
    session.receive_data(wire.encode_frame(wire.Hello()) + wire.encode_frame(message), now=0)
    assert not [e for e in session.events() if isinstance(e, Failed)]
    session.data_to_send()
    session.receive_data(wire.encode_frame(message), now=0)
    (failed,) = [e for e in session.events() if isinstance(e, Failed)]
    assert isinstance(failed.error, TooMuchWork) and isinstance(failed.error, ProtocolViolation)
    assert failed.error.work == 2 * one and "session" in str(failed.error)
    (abort,) = [wire.decode_frame(body) for body in wire.FrameReader().feed(session.data_to_send())]
    assert isinstance(abort, wire.Abort) and abort.code == wire.ABORT_PROTOCOL
    assert session.stats.work == 2 * one


def test_a_peers_sessions_share_one_budget_per_window():
    """The ledger gives each new session what is left of the peer's
    MAX_PEER_WORK over the last PEER_WORK_WINDOW_MS, at most MAX_SESSION_WORK."""
    ledger = WorkLedger()
    assert ledger.allowance("p", 0) == MAX_SESSION_WORK
    ledger.charge("p", MAX_PEER_WORK - MAX_SESSION_WORK // 4, now=1_000)
    assert ledger.allowance("p", 2_000) == MAX_SESSION_WORK // 4
    assert ledger.allowance("q", 2_000) == MAX_SESSION_WORK  # another peer's own share
    ledger.charge("p", MAX_PEER_WORK, now=3_000)
    assert ledger.allowance("p", 3_000) == 0
    assert ledger.allowance("p", 1_000 + PEER_WORK_WINDOW_MS) == 0  # the second charge is still in the window
    assert ledger.allowance("p", 3_000 + PEER_WORK_WINDOW_MS) == MAX_SESSION_WORK


def test_a_session_without_budget_left_refuses_the_first_message_that_asks_work():
    replica = _replica(20_000)
    index = ItemIndex(replica.sync_items())
    session = SyncSession.responder(replica, now=0, work_budget=0)
    session.receive_data(wire.encode_frame(wire.Hello()) + wire.encode_frame(_moderate_sums_message(index)), now=0)
    (failed,) = [e for e in session.events() if isinstance(e, Failed)]
    assert isinstance(failed.error, TooMuchWork)
