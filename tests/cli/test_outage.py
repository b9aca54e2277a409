"""The board in an outage: the caller's own area, and the hours the power
has been out beside a perishable offer's best-before."""

from __future__ import annotations

from meshpantry.core.outage import OutageClock
from meshpantry.pantry import Pantry
from meshpantry.pantry.outage_info import save_clock


def begin_outage(h, began: int) -> None:
    pantry = Pantry.open(h.data_dir)
    try:
        save_clock(pantry.store, OutageClock(), OutageClock(began=began))
    finally:
        pantry.close()


def test_the_board_filters_to_the_callers_own_area(pair):
    okafors, zhengs = pair  # the Okafors live in "Elm St north"
    assert okafors.run("offer", "add", "leeks", "4", "pc", "--area", "elm st NORTH")[0] == 0
    assert okafors.run("offer", "add", "kale", "1", "kg", "--area", "Oak Road")[0] == 0
    items = [o["item"] for o in okafors.json("offer", "list", "--my-area")["offers"]]
    assert items == ["leeks"]
    assert [o["item"] for o in okafors.json("offer", "list", "--area", "oak road")["offers"]] == ["kale"]
    code, _, err = zhengs.run("offer", "list", "--my-area")  # the Zhengs named no area
    assert code == 6 and "--area" in err


def test_perishables_show_the_outage_hours_beside_best_before(pair):
    okafors, _ = pair
    assert okafors.run("offer", "add", "milk", "2", "l", "--best-before", "+2d")[0] == 0
    assert okafors.run("offer", "add", "tins", "6", "pc")[0] == 0
    assert "outage_hours" not in okafors.json("offer", "list")["offers"][0]  # no outage: nothing beside
    pantry = Pantry.open(okafors.data_dir)
    now = pantry.clock()
    pantry.close()
    begin_outage(okafors, now - 5 * 3_600_000)
    offers = {o["item"]: o for o in okafors.json("offer", "list")["offers"]}
    assert offers["milk"]["outage_hours"] == 5.0 and "outage_hours" not in offers["tins"]
    code, out, _ = okafors.run("offer", "list")
    assert "(5.0 h outage)" in out
    code, out, _ = okafors.run("status")
    assert "ISLAND since" in out and "5.0 h without the mesh" in out


def test_an_offer_saved_before_membership_arrived_prints_plainly(founded, household):
    """A newcomer's first offer waits for its membership; the command says so."""
    code = founded.json("invite", "create")["code"]
    newcomer = household("newcomer")
    newcomer.run("init", "--household", "New")
    newcomer.run("join", code)
    code, out, err = newcomer.run("offer", "add", "soup", "2", "l")
    assert code == 0 and "saved" in out, err


def test_the_catch_up_summary_counts_what_arrives_after_the_reunion(pair):
    """
    outage ended (mark) -> the Zhengs' offer and recipe arrive in two syncs:
    status counts both, the second poll adding only the newer records.
    """
    okafors, zhengs = pair
    pantry = Pantry.open(okafors.data_dir)
    try:
        began = OutageClock(began=pantry.clock() - 7_200_000)
        save_clock(pantry.store, OutageClock(), began)
        save_clock(pantry.store, began, began.observe(pantry.clock(), True))
    finally:
        pantry.close()
    assert okafors.json("status")["outage"]["arrived"] == {"total": 0}
    zhengs.run("offer", "add", "bread", "2", "pc")
    okafors.receive(zhengs.records())
    assert okafors.json("status")["outage"]["arrived"] == {"offers": 1, "total": 1}
    zhengs.run("recipe", "add", "Outage stew", "--step", "Simmer")
    okafors.run("offer", "add", "own news", "1", "pc")  # our own records are not news
    okafors.receive(zhengs.records())
    outage = okafors.json("status")["outage"]
    assert outage["arrived"] == {"offers": 1, "recipes": 1, "total": 2}
    assert not outage["in_outage"] and outage["hours"] == 2.0
    assert "while apart   1 offer, 1 recipe" in okafors.run("status")[1]
