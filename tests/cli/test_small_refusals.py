"""Small refusals: a best-before already past, blocking one's own household,
and a handover confirmed twice by the same side."""

from __future__ import annotations

from .conftest import exchange


def test_offer_add_refuses_a_best_before_in_the_past(founded):
    """An offer that is already past its best-before is refused (exit 6), and nothing is written."""
    before = len(founded.records())
    code, _, err = founded.run("offer", "add", "milk", "1", "l", "--best-before", "2020-01-01")
    assert code == 6 and "best_before" in err and "already past" in err
    assert len(founded.records()) == before
    assert founded.run("offer", "add", "milk", "1", "l", "--best-before", "+2d")[0] == 0


def test_blocking_your_own_household_is_refused(founded):
    """Blocking yourself would hide your own offers: refused, by name or by id."""
    own = founded.json("whoami")["household"]
    for ref in (own[:8], "The Okafors"):
        code, _, err = founded.run("block", ref)
        assert code == 6 and "your own household" in err, ref


def test_a_second_handover_confirm_writes_nothing(pair):
    """Each side confirms once; a repeat is refused (exit 6) without a duplicate record."""
    okafors, zhengs = pair
    offer = okafors.json("offer", "add", "flour", "1000", "g")
    exchange(okafors, zhengs)
    claim = zhengs.json("claim", "add", offer["id"][:10], "600")
    exchange(okafors, zhengs)
    okafors.json("claim", "accept", claim["id"][:10])
    okafors.json("handover", "confirm", claim["id"][:10])
    handovers = [r for r in okafors.json("log", "--kind", "handover")["records"]]
    code, _, err = okafors.run("handover", "confirm", claim["id"][:10])
    assert code == 6 and "already confirmed" in err
    assert okafors.json("log", "--kind", "handover")["records"] == handovers
    exchange(okafors, zhengs)
    assert zhengs.json("handover", "confirm", claim["id"][:10])["completed"] is True
