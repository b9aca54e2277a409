"""What a replica knows of the peers that hold its set
(:mod:`meshpantry.core.sync.agreement`)."""

from __future__ import annotations

from meshpantry.core.sync.agreement import Agreement, settled_on_union


def test_a_peer_agrees_while_this_side_keeps_the_set_they_shared():
    agreement: Agreement[str] = Agreement()
    assert not agreement.still_agrees("p", b"F1")
    agreement.agreed("p", b"F1")
    assert agreement.still_agrees("p", b"F1") and not agreement.still_agrees("p", b"F2")  # this side gained records
    agreement.differs("p")
    assert not agreement.still_agrees("p", b"F1")
    agreement.agreed("q", b"F1")
    agreement.forget("q")
    assert len(agreement) == 0


def test_a_session_settles_both_sides_on_one_set_only_when_nothing_else_arrived():
    """Held 100 when it reconciled, the session brought 7 new records:
    107 held now is the union; 108 means something else arrived (another
    session, gossip, a write), and a session that left a range to gossip
    settled nothing."""
    assert settled_on_union(True, 100, 7, 107)
    assert not settled_on_union(True, 100, 7, 108)
    assert not settled_on_union(False, 100, 7, 107)
