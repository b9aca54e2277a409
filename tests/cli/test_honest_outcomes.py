"""Honest outcomes: a write the neighbourhood will not count is refused up
front with the reason and what to do; a record of one's own that turns out
not to count is reported by ``status``; an offer never shrinks below what
it has accepted, and a concurrent shrink shows as a conflict to settle."""

from __future__ import annotations

import shutil

from .conftest import exchange


def _join(founded, household, name: str, code: str):
    h = household(name)
    assert h.run("init", "--household", name)[0] == 0
    assert h.run("join", code)[0] == 0
    return h


def test_a_revoked_device_is_refused_with_the_reason(pair):
    okafors, zhengs = pair
    assert okafors.run("revoke", "The Zhengs")[0] == 0
    exchange(okafors, zhengs)
    code, out, err = zhengs.run("offer", "add", "rice", "500", "g")
    assert code == 6, out
    assert "revoked" in err and "admin" in err
    assert zhengs.run("offer", "list", "--json")[0] == 0


def test_the_loser_of_a_single_use_invite_is_refused_and_told_to_ask_for_a_new_one(founded, household):
    """Two households use one single-use invite; the one whose join does not
    count learns so at its next write, and can join again with a new code."""
    code = founded.json("invite", "create")["code"]
    first = _join(founded, household, "first", code)
    second = _join(founded, household, "second", code)
    exchange(founded, first)
    exchange(founded, second)
    exchange(founded, first)
    results = {h: h.run("offer", "add", "rice", "500", "g") for h in (first, second)}
    refused = [h for h, (rc, _, _) in results.items() if rc != 0]
    assert len(refused) == 1
    loser = refused[0]
    rc, _, err = results[loser]
    assert rc == 6 and "invite" in err and "meshpantry join" in err
    new_code = founded.json("invite", "create")["code"]
    assert loser.run("join", new_code)[0] == 0
    exchange(founded, loser)
    assert loser.run("offer", "add", "rice", "500", "g")[0] == 0
    exchange(founded, loser)
    assert any(o["item"] == "rice" and o["household_name"] == loser.data_dir.name
               for o in founded.json("offer", "list")["offers"])


def test_a_forked_device_is_refused_and_told_to_make_a_new_identity(pair, household):
    """A data directory copied to a second machine: both copies write seq N,
    and once they meet the device's chain has forked."""
    okafors, zhengs = pair
    copy = household("zhengs-copy")
    shutil.copytree(zhengs.data_dir, copy.data_dir)
    assert zhengs.run("offer", "add", "rice", "500", "g")[0] == 0
    assert copy.run("offer", "add", "beans", "300", "g")[0] == 0
    exchange(zhengs, copy)
    code, _, err = zhengs.run("offer", "add", "oats", "1", "kg")
    assert code == 6
    assert "forked" in err and "device link" in err


def test_status_reports_own_records_that_will_not_count(pair):
    """The admin revokes before seeing an offer: the offer never counts, and
    its author's status says so."""
    okafors, zhengs = pair
    assert okafors.run("revoke", "The Zhengs")[0] == 0
    offer = zhengs.json("offer", "add", "rice", "500", "g")
    assert zhengs.json("status")["not_counting"] == []
    exchange(okafors, zhengs)
    status = zhengs.json("status")
    assert status["standing"]["counts"] is False
    assert "revoked" in status["standing"]["reason"]
    assert [r["id"] for r in status["not_counting"]] == [offer["id"]]
    code, out, _ = zhengs.run("status")
    assert code == 0 and "will not count" in out and "revoked" in out


def test_an_offer_cannot_shrink_below_what_it_accepted(pair):
    okafors, zhengs = pair
    offer = okafors.json("offer", "add", "apples", "10", "items")
    exchange(okafors, zhengs)
    eight = zhengs.json("claim", "add", offer["id"], "8")
    two = zhengs.json("claim", "add", offer["id"], "2")
    exchange(okafors, zhengs)
    okafors.json("claim", "accept", eight["id"])
    okafors.json("claim", "accept", two["id"])
    code, _, err = okafors.run("offer", "update", offer["id"], "--quantity", "5")
    assert code == 6
    assert "10 items are accepted" in err
    assert okafors.json("offer", "show", offer["id"])["quantity"] == 10
    assert okafors.run("offer", "update", offer["id"], "--quantity", "12")[0] == 0
def test_a_concurrent_shrink_shows_both_sides_a_conflict(pair, household):
    """One device of the offering household accepts 8 of 10 while another,
    not yet having seen it, shrinks the offer to 5: the accepted claim no
    longer fits. Both households are shown the conflict and how to settle it."""
    okafors, zhengs = pair
    phone = household("okafors-phone")
    assert phone.run("init", "--household", "The Okafors")[0] == 0
    offer = okafors.json("offer", "add", "apples", "10", "items")
    exchange(okafors, zhengs)
    claim = zhengs.json("claim", "add", offer["id"], "8")
    exchange(okafors, zhengs)
    _adopt(phone, okafors)
    okafors.json("claim", "accept", claim["id"])
    assert phone.run("offer", "update", offer["id"], "--quantity", "5")[0] == 0
    exchange(okafors, phone)
    exchange(okafors, zhengs)
    for side in (okafors, zhengs):
        shown = side.json("claim", "show", claim["id"])
        assert shown["status"] == "refused"
        assert shown["conflict"] and "5" in shown["conflict"]
        status = side.json("status")
        assert [c["claim"] for c in status["conflicts"]] == [claim["id"]]
    assert okafors.json("offer", "show", offer["id"])["conflicts"][0]["claim"] == claim["id"]
    # settled: the offer grows back and the claim is accepted again
    assert okafors.run("offer", "update", offer["id"], "--quantity", "10")[0] == 0
    assert okafors.json("claim", "show", claim["id"])["status"] == "accepted"
    assert okafors.json("status")["conflicts"] == []


def _adopt(phone, home) -> None:
    """The new device takes the household's neighbourhood from a link code."""
    link = home.json("device", "link", phone.json("whoami")["device"])
    assert phone.run("device", "adopt", link["code"])[0] == 0
    exchange(home, phone)
