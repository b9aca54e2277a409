"""Whose session reconciles next at one replica (:mod:`meshpantry.core.sync.turns`):
sessions that would ask for the same records wait, and the waits never
form a cycle."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from meshpantry.core.sync.turns import Phase, TurnBook


def test_our_session_waits_for_those_peers_started_with_us_running_or_waiting():
    book = TurnBook("m")
    served = book.opened("p")
    ours = book.opened("m")
    assert not book.may_go(ours)  # rule 1, the served one still waits
    book.started(served)
    assert not book.may_go(ours)
    book.ended(served)
    assert book.may_go(ours)


def test_a_served_session_waits_for_running_sessions_of_smaller_initiators_only():
    """Rule 2: towards smaller ids, this replica's own under its id."""
    book = TurnBook("m")
    ours = book.opened("m")
    larger, smaller = book.opened("z"), book.opened("a")
    assert book.may_go(larger) and book.may_go(smaller)  # ours only waits: nobody waits for it
    book.started(ours)
    book.reconciled(ours)  # (rule 4 aside)
    assert not book.may_go(larger) and book.may_go(smaller)
    book.started(smaller)
    book.reconciled(smaller)
    assert not book.may_go(larger)
    book.ended(ours)
    book.ended(smaller)
    assert book.may_go(larger)


def test_every_session_waits_while_another_one_is_receiving_records():
    """Rule 3: what a session whose reconciliation is over still expects is
    on its way here; a peer with a smaller id, whom rule 2 lets through, and
    our own session, would both ask for it again."""
    book = TurnBook("m")
    running = book.opened("z")
    book.started(running)
    book.reconciled(running)  # (rule 4 aside)
    smaller, ours = book.opened("a"), book.opened("m")
    assert book.may_go(smaller)
    book.receiving(running, True)
    assert book.phases()[Phase.RECEIVING] == 1
    assert not book.may_go(smaller) and not book.may_go(ours)
    book.receiving(running, False)  # everything it brought is stored; it only sends now
    assert book.may_go(smaller)


def test_every_session_waits_while_another_one_still_reconciles():
    """Rule 4: a session reconciling here finds missing what another
    reconciling at the same time finds too, before either is receiving: a
    peer with a smaller id (whom rule 2 lets through) and our own session
    wait until its reconciliation is over, patient or not (a session a peer
    started runs at that peer past its wait: no cycle)."""
    book = TurnBook("m")
    running = book.opened("z")
    book.started(running)
    smaller, ours = book.opened("a"), book.opened("m")
    assert not book.may_go(smaller) and not book.may_go(ours)
    assert not book.may_go(smaller, patient=False)
    book.reconciled(running)  # nothing more to find: it sends, or receives (rule 3)
    assert book.may_go(smaller)
    book.receiving(running, True)
    assert not book.may_go(smaller)  # rule 3


def test_a_served_session_waits_for_our_own_reconciling_only_while_patient():
    """Rule 4's one exception: such waits, of each replica's served session
    for its own, could close a cycle across replicas."""
    book = TurnBook("m")
    ours = book.opened("m")
    book.started(ours)
    smaller = book.opened("a")
    assert not book.may_go(smaller) and book.may_go(smaller, patient=False)  # rule 2 lets "a" through
    book.reconciled(ours)
    assert book.may_go(smaller)


def test_our_sessions_reconcile_one_at_a_time():
    """Rule 4 among this replica's own sessions (started at once on connect,
    or asked to sync now): none has a stream open while it waits, so it
    waits however long."""
    book = TurnBook("m")
    first, second = book.opened("m"), book.opened("m")
    book.started(first)
    assert not book.may_go(second) and not book.may_go(second, patient=False)
    book.reconciled(first)
    assert book.may_go(second)


def test_a_waiting_session_reconciles_nothing_and_holds_no_one_up_by_rule_4():
    book = TurnBook("m")
    waiting, other = book.opened("z"), book.opened("a")
    assert book.may_go(other) and book.may_go(waiting)
    book.reconciled(waiting)  # reported before it ran: still only waiting
    assert book.may_go(other)


def test_a_waiting_session_is_never_counted_as_receiving():
    book = TurnBook("m")
    waiting, other = book.opened("z"), book.opened("a")
    book.receiving(waiting, True)
    assert book.may_go(other) and book.phases()[Phase.WAITING] == 2


def test_no_cycle_of_waits_among_replicas():
    """Three replicas, each running its own session with the next and
    serving the one before: each served session has a larger or a smaller
    initiator; at least one may go at every replica where one waits."""
    ids = ["a", "b", "c"]
    books = {i: TurnBook(i) for i in ids}
    served = {}
    for n, me in enumerate(ids):
        ours = books[me].opened(me)
        books[me].started(ours)
        before = ids[n - 1]
        served[me] = books[me].opened(before)
    # Rule 4 (each replica's own session still reconciling) holds all three
    # while the hosts are patient: the cycle that patience running out breaks.
    assert not any(books[me].may_go(served[me]) for me in ids)
    # Then a's served session (from c) waits for a's own (a < c); b's (from a) and c's (from b) go
    assert not books["a"].may_go(served["a"], patient=False)
    assert books["b"].may_go(served["b"], patient=False) and books["c"].may_go(served["c"], patient=False)


def test_an_unanswered_session_of_ours_gives_way_once_patience_runs_out():
    """Rule 5: our session waiting at its peer (unanswered) would ask for
    what the served one brings; once the served one's patience for it ran
    out, ours gives way and the served one waits only until it has left."""
    book = TurnBook("m")
    ours = book.opened("m", peer="y")
    book.started(ours)
    served = book.opened("a")
    assert not book.may_go(served) and book.giving_way(ours) == []
    assert book.giving_way(served) == [ours]
    assert not book.may_go(served, patient=False)  # until it has left
    book.ended(ours)
    assert book.may_go(served, patient=False) and book.may_go(served)


def test_an_answered_session_of_ours_does_not_give_way_and_holds_a_served_one_past_patience():
    """Answered, our session waits for nothing at its peer any more (the
    peer answers once its own wait is over): a served session waits for its
    reconciliation however long it takes, as a going on beside it would
    find missing what ours is bringing."""
    book = TurnBook("m")
    ours = book.opened("m", peer="y")
    book.started(ours)
    served = book.opened("a")
    book.answered(ours)
    assert book.giving_way(served) == []
    assert not book.may_go(served) and not book.may_go(served, patient=False)
    book.reconciled(ours)
    book.receiving(ours, True)
    assert not book.may_go(served, patient=False)  # rule 3: its records are on their way
    book.receiving(ours, False)
    assert book.may_go(served, patient=False) and book.may_go(served)


def test_our_session_gives_way_only_to_an_initiator_smaller_than_its_peer():
    book = TurnBook("m")
    ours = book.opened("m", peer="b")
    book.started(ours)
    served = book.opened("c")
    assert book.giving_way(served) == []
    assert book.may_go(served, patient=False)


@given(st.lists(st.text(alphabet="abcdefgh", min_size=1, max_size=3), min_size=3, max_size=7, unique=True))
def test_a_cycle_of_waits_never_ends_every_session_in_it(ids):
    """Each replica runs its own session with the next (unanswered: the
    next one holds it as a served session) and serves the one before. Once
    every host's patience ran out, not every own session gives way, and
    once those that do have left, some served session goes on: the cycle
    moves. (Two replicas never form one: a pair has one session at a time.)"""
    books = {i: TurnBook(i) for i in ids}
    ours, served = {}, {}
    for n, me in enumerate(ids):
        ours[me] = books[me].opened(me, peer=ids[(n + 1) % len(ids)])
        books[me].started(ours[me])
        served[me] = books[me].opened(ids[n - 1])
    giving = {me for me in ids if books[me].giving_way(served[me]) == [ours[me]]}
    assert giving != set(ids)
    for me in giving:
        books[me].ended(ours[me])
    assert any(books[me].may_go(served[me], patient=False) for me in ids)
