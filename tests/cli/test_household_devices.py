"""A household is its devices: any of them decides the household's claims,
changes its offers and cancels its claims. A new device is linked with
``device link`` and ``device adopt``, using no invite."""

from __future__ import annotations

from .conftest import exchange


def _second_device(household, home, name: str):
    phone = household(name)
    assert phone.run("init", "--household", "ignored")[0] == 0
    link = home.json("device", "link", phone.json("whoami")["device"], "--name", "phone")
    assert link["code"].startswith("mpl1-")
    adopted = phone.json("device", "adopt", link["code"])
    assert adopted["neighbourhood"] == home.json("whoami")["neighbourhood"]
    exchange(home, phone)
    return phone


def test_a_linked_device_writes_for_the_household_without_an_invite(founded, household):
    phone = _second_device(household, founded, "phone")
    who = phone.json("whoami")
    assert who["household"] == founded.json("whoami")["household"]
    assert who["household_name"] == "The Okafors"
    offer = phone.json("offer", "add", "bread", "2", "items")
    exchange(founded, phone)
    assert [o["id"] for o in founded.json("offer", "list", "--mine")["offers"]] == [offer["id"]]
    # the household's single invite is still there for a neighbour
    code = founded.json("invite", "create", "--uses", "1")["code"]
    neighbour = household("zhengs")
    assert neighbour.run("init", "--household", "The Zhengs")[0] == 0
    assert neighbour.run("join", code)[0] == 0
    exchange(founded, neighbour)
    assert neighbour.run("offer", "add", "rice", "1", "kg")[0] == 0


def test_a_link_code_for_another_device_is_refused(founded, household):
    phone = household("phone")
    other = household("other")
    for h in (phone, other):
        assert h.run("init", "--household", "x")[0] == 0
    link = founded.json("device", "link", phone.json("whoami")["device"])
    code, _, err = other.run("device", "adopt", link["code"])
    assert code == 6 and "link this device's key" in err
    code, _, err = other.run("device", "adopt", "mpl1-zzzz")
    assert code == 6 and "damaged" in err


def test_any_device_of_the_offering_household_decides_its_claims(pair, household):
    okafors, zhengs = pair
    phone = _second_device(household, okafors, "okafors-phone")
    offer = okafors.json("offer", "add", "flour", "1000", "g")
    exchange(okafors, zhengs)
    first = zhengs.json("claim", "add", offer["id"], "300")
    second = zhengs.json("claim", "add", offer["id"], "300")
    exchange(okafors, zhengs)
    exchange(okafors, phone)
    assert phone.json("claim", "accept", first["id"])["status"] == "accepted"
    assert phone.json("claim", "decline", second["id"])["status"] == "declined"
    assert phone.json("offer", "update", offer["id"], "--quantity", "900")["quantity"] == 900
    received = phone.json("claim", "list")["received"]
    assert {c["id"] for c in received} == {first["id"], second["id"]}
    exchange(okafors, phone)
    assert okafors.json("claim", "show", first["id"])["status"] == "accepted"
    code, _, err = zhengs.run("claim", "accept", second["id"])
    assert code == 6 and "only the household that made the offer" in err


def test_any_device_of_the_claiming_household_cancels_its_claim(pair, household):
    okafors, zhengs = pair
    tablet = _second_device(household, zhengs, "zhengs-tablet")
    offer = okafors.json("offer", "add", "eggs", "6", "items")
    exchange(okafors, zhengs)
    claim = zhengs.json("claim", "add", offer["id"], "2")
    exchange(zhengs, tablet)
    assert tablet.json("claim", "cancel", claim["id"])["status"] == "cancelled"
