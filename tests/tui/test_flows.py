"""Every flow of the UI against real nodes on loopback.

The tests run in order on one pair of nodes (starting a node costs ~1.5 s):
Birch joins Alder's neighbourhood by code, then they offer, claim, accept,
hand over, pledge and cook together through the UI.
"""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input

from cli.tui.screens.dialogs import AcceptDialog, ClaimDialog, DeclineDialog, PledgeDialog
from cli.tui.screens.offer_form import OfferForm
from cli.tui.screens.wizard import NeighbourhoodScreen

from .conftest import app_on, type_text, until, wait_node
from .screen_text import screen_text

pytestmark = pytest.mark.asyncio(loop_scope="function")


def shown(app, screen_type) -> bool:
    """``screen_type`` is on top and mounted (it has focused its first field)."""
    return (isinstance(app.screen, screen_type) and isinstance(app.focused, Input)
            and app.focused.screen is app.screen)


def rows(app, table_id: str) -> list[list[str]]:
    table = app.query_one(f"#{table_id}", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def test_join_by_code(mesh):
    """A household with no neighbourhood is asked for a code; pasting Alder's
    joins, and Alder's node soon counts Birch as a member."""
    alder, birch = mesh["alder"], mesh["birch"]
    code = alder.call("create_invite", uses=1, note="for Birch")["code"]
    app = app_on(birch)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: shown(app, NeighbourhoodScreen), what="the join step")
        app.screen.query_one("#join-code", Input).value = code
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, NeighbourhoodScreen), what="joining")
        await until(pilot, lambda: "Test Close" in screen_text(app), what="the badge to name the neighbourhood")
    assert birch.call("whoami")["neighbourhood_name"] == "Test Close"
    wait_node(lambda: any(h["name"] == "Birch" for h in alder.call("neighbourhood_show")["households"]),
              what="Alder to see Birch's household")


async def test_create_offer_with_inline_validation(mesh):
    """The offer form flags a bad field as it is typed, keeps the Offer button
    off until the form is right, and the new offer shows on the board; an own
    offer is withdrawn from the board with w."""
    alder = mesh["alder"]
    app = app_on(alder)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.refreshes > 0, what="the first load")
        await pilot.press("o")
        await until(pilot, lambda: shown(app, OfferForm), what="the offer form")
        form = app.screen
        await type_text(pilot, "plums")
        await pilot.press("enter")
        await type_text(pilot, "x")
        await pilot.pause()
        assert "a whole number of at least 1" in screen_text(app)
        assert form.query_one("#submit").disabled
        await pilot.press("backspace")
        await type_text(pilot, "4")
        await pilot.press("enter")
        await type_text(pilot, "kg")
        await pilot.press("tab")
        await type_text(pilot, "+3d")
        form.query_one("#form-tags", Input).value = "fruit, demo-free"
        await pilot.pause()
        assert not form.query_one("#submit").disabled
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, OfferForm), what="the form to close")
        await until(pilot, lambda: any(r[0] == "plums" for r in rows(app, "offers")), what="plums on the board")
        alder.call("offer_add", item="stale buns", quantity=3, unit="bun")
        await until(pilot, lambda: any(r[0] == "stale buns" for r in rows(app, "offers")), what="the buns")
        table = app.query_one("#offers", DataTable)
        table.move_cursor(row=next(i for i, r in enumerate(rows(app, "offers")) if r[0] == "stale buns"))
        await pilot.press("w")
        await until(pilot, lambda: all(r[0] != "stale buns" for r in rows(app, "offers")), what="the buns withdrawn")
    offers = alder.call("offer_list")
    plums = next(o for o in offers if o["item"] == "plums")
    assert (plums["quantity"], plums["unit"], plums["tags"]) == (4, "kg", ["demo-free", "fruit"])
    assert plums["best_before"] is not None


async def test_board_filters_sort_and_claim(mesh):
    """Birch's board shows Alder's offers as they arrive, narrows by text, tag
    and allergen, and claims from the board."""
    alder, birch = mesh["alder"], mesh["birch"]
    alder.call("offer_add", item="oat loaf", quantity=2, unit="loaf", tags=["bread"], allergens=["gluten"])
    alder.call("offer_add", item="rice", quantity=5, unit="kg", tags=["dry"])
    app = app_on(birch)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: len(rows(app, "offers")) >= 3, what="Alder's offers on Birch's board")
        board = app.pane("board")
        board.query_one("#filter-free", Input).value = "gluten"
        await until(pilot, lambda: "free of gluten" in screen_text(app), what="the allergen filter")
        assert "oat loaf" not in [r[0] for r in rows(app, "offers")]
        board.query_one("#filter-free", Input).value = ""
        board.query_one("#filter-tag", Input).value = "bread"
        await until(pilot, lambda: [r[0] for r in rows(app, "offers")] == ["oat loaf"], what="the tag filter")
        board.query_one("#filter-tag", Input).value = ""
        board.query_one("#filter-text", Input).value = "plu"
        await until(pilot, lambda: [r[0] for r in rows(app, "offers")] == ["plums"], what="the text filter")
        board.query_one("#offers").focus()
        await pilot.press("c")
        await until(pilot, lambda: shown(app, ClaimDialog), what="the claim dialog")
        app.screen.query_one("#field-quantity", Input).value = "9"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.errors, what="the refusal")
        assert "the offer is for 4 kg" in app.errors[-1]
        assert isinstance(app.screen, ClaimDialog), "a refused claim keeps the dialog open"
        assert app.screen.query_one("#field-quantity", Input).value == "9", "and what was typed"
        app.screen.query_one("#field-quantity", Input).value = "3"
        app.screen.query_one("#field-message", Input).value = "after six?"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, ClaimDialog), what="the claim to be made")
        await pilot.press("s")
        await until(pilot, lambda: "newest first" in screen_text(app), what="sorting by newest")
    made = birch.call("swaps")["made"]
    assert [(c["offer_item"], c["quantity"], c["message"]) for c in made] == [("plums", 3, "after six?")]


async def test_accept_with_fair_share_then_handover(mesh):
    """Alder sees Birch's claims arrive; when they ask for more than remains the
    fair share is suggested; Alder accepts with a quantity and a pickup note
    only Birch can read, declines another with a reason; both sides confirm
    the handover."""
    alder, birch = mesh["alder"], mesh["birch"]
    rice = next(o for o in birch.call("offer_list") if o["item"] == "rice")
    birch.call("claim_add", offer_ref=rice["id"], quantity=4)
    birch.call("claim_add", offer_ref=rice["id"], quantity=4, message="for the school")
    app = app_on(alder)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.refreshes > 0, what="the first load")
        await pilot.press("2")
        await until(pilot, lambda: sum(r[1] == "rice" for r in rows(app, "claims")) == 2
                    and any(r[1] == "plums" for r in rows(app, "claims")), what="Birch's claims")
        swaps = app.pane("swaps")
        table = swaps.table
        rice_row = next(i for i, r in enumerate(rows(app, "claims")) if r[1] == "rice")
        table.move_cursor(row=rice_row)
        await pilot.pause()
        assert "fair share suggestion" in screen_text(app)
        plums_row = next(i for i, r in enumerate(rows(app, "claims")) if r[1] == "plums")
        table.move_cursor(row=plums_row)
        await pilot.press("a")
        await until(pilot, lambda: shown(app, AcceptDialog), what="the accept dialog")
        app.screen.query_one("#field-quantity", Input).value = "2"
        app.screen.query_one("#field-pickup", Input).value = "blue door, 6pm"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, AcceptDialog), what="accepting")
        await until(pilot, lambda: any(r[1] == "plums" and r[4] == "accepted" for r in rows(app, "claims")),
                    what="the claim shown accepted")
        table.move_cursor(row=next(i for i, r in enumerate(rows(app, "claims")) if r[1] == "plums"))
        await pilot.press("h")
        await until(pilot, lambda: any(r[1] == "plums" and r[5] == "offerer ✓" for r in rows(app, "claims")),
                    what="Alder's side confirmed")
        table.move_cursor(row=next(i for i, r in enumerate(rows(app, "claims")) if r[1] == "rice"))
        await pilot.press("d")
        await until(pilot, lambda: shown(app, DeclineDialog), what="the decline dialog")
        app.screen.query_one("#field-reason", Input).value = "only enough for one"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: sorted(r[4] for r in rows(app, "claims") if r[1] == "rice") == ["declined", "pending"],
                    what="one rice claim declined")
        claim_id = next(c["id"] for c in alder.call("swaps")["received"] if c["offer_item"] == "plums")
        assert alder.call("claim_show", claim_ref=claim_id)["pickup"] == "(sealed to the claimant)"
        wait_node(lambda: birch.call("claim_show", claim_ref=claim_id)["status"] == "accepted",
                  what="Birch to learn of the acceptance")
        assert birch.call("claim_show", claim_ref=claim_id)["pickup"] == "blue door, 6pm"
        birch.call("handover_confirm", claim_ref=claim_id)
        await until(pilot, lambda: any(r[1] == "plums" and r[5] == "done" for r in rows(app, "claims")),
                    what="the handover done on Alder's screen, without a refresh")


async def test_claimant_sees_pickup_and_confirms(mesh):
    """Birch's Swaps tab shows the pickup details to Birch, the accepted claimant."""
    birch = mesh["birch"]
    app = app_on(birch)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.refreshes > 0, what="the first load")
        await pilot.press("2")
        await until(pilot, lambda: any(r[1] == "plums" for r in rows(app, "claims")), what="Birch's claims")
        swaps = app.pane("swaps")
        swaps.table.move_cursor(row=next(i for i, r in enumerate(rows(app, "claims")) if r[1] == "plums"))
        await pilot.pause()
        assert "pickup (only you can read this): blue door, 6pm" in screen_text(app)


async def test_pledge_to_meal(mesh):
    """A meal's needs show with coverage bars; pledging fills the bar (one of two lines: 50%)."""
    alder, birch = mesh["alder"], mesh["birch"]
    meal = alder.call("meal_add", dish="Soup night", time=alder.call("status")["uptime_s"] * 0 + 4_000_000_000_000,
                      place="the hall", needs=[{"item": "leeks", "quantity": 4, "unit": "pc"},
                                               {"item": "stock", "quantity": 2, "unit": "l"}])
    app = app_on(birch)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.refreshes > 0, what="the first load")
        await pilot.press("3")
        await until(pilot, lambda: any(r[0] == "Soup night" for r in rows(app, "meals-table")), what="the meal")
        assert "0%" in rows(app, "meals-table")[0][3]
        await pilot.press("p")
        await until(pilot, lambda: shown(app, PledgeDialog), what="the pledge dialog")
        assert app.screen.query_one("#field-item", Input).value == "leeks"
        assert app.screen.query_one("#field-quantity", Input).value == "4"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, PledgeDialog), what="pledging")
        await until(pilot, lambda: "50%" in rows(app, "meals-table")[0][3], what="the coverage bar to grow")
        assert "+ Birch" in screen_text(app)
    assert alder.call("meal_show", meal_ref=meal["id"])["pledges"] or wait_node(
        lambda: alder.call("meal_show", meal_ref=meal["id"])["pledges"], what="Alder to see the pledge")


async def test_recipe_step_story_and_variation(mesh):
    """Search finds a recipe; t adds a step, y a story, v a variation with lineage."""
    alder = mesh["alder"]
    alder.call("recipe_add", title="Leek soup", ingredients=[{"item": "leeks", "amount": "4", "unit": "pc"}],
               steps=["Sweat the leeks"], tags=["soup"], serves=4)
    alder.call("recipe_add", title="Plum crumble", steps=["Stone the plums"])
    app = app_on(alder)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.refreshes > 0, what="the first load")
        await pilot.press("4")
        await until(pilot, lambda: len(rows(app, "recipes-table")) == 2, what="the recipes")
        app.pane("recipes").query_one("#recipe-search", Input).value = "leek"
        await until(pilot, lambda: [r[0] for r in rows(app, "recipes-table")] == ["Leek soup"], what="search")
        app.pane("recipes").table.focus()
        await pilot.press("t")
        await pilot.pause()
        app.screen.query_one("#field-text", Input).value = "Add stock, simmer 20 minutes"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "2. Add stock, simmer 20 minutes" in screen_text(app), what="the new step")
        await pilot.press("y")
        await pilot.pause()
        app.screen.query_one("#field-title", Input).value = "Grandad's pot"
        app.screen.query_one("#field-text", Input).value = "He made it every Friday."
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "He made it every Friday." in screen_text(app), what="the story")
        await pilot.press("v")
        await pilot.pause()
        app.screen.query_one("#field-title", Input).value = "Leek and potato soup"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "variations: Leek and potato soup" in screen_text(app), what="the lineage")
    soup = next(r for r in alder.call("recipe_page")["recipes"] if r["title"] == "Leek soup")
    assert [s["text"] for s in soup["steps"]] == ["Sweat the leeks", "Add stock, simmer 20 minutes"]
    assert soup["stories"][0]["title"] == "Grandad's pot"
    variation = next(r for r in alder.call("recipe_page")["recipes"] if r["title"] == "Leek and potato soup")
    assert variation["adapted_from"]["title"] == "Leek soup"
    assert [s["text"] for s in variation["steps"]] == [s["text"] for s in soup["steps"]]


async def test_invite_code_as_text(mesh):
    """The Invite tab makes a code, shows all of it as text at 80x24, and a QR code."""
    app = app_on(mesh["alder"])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.refreshes > 0, what="the first load")
        await pilot.press("6")
        await pilot.pause()
        await pilot.press("g")
        await until(pilot, lambda: getattr(app.pane("invite"), "code", None), what="the code")
        assert app.pane("invite").code.startswith("mp2-")
        assert "".join(app.query_one("#invite-code").text.split()) == app.pane("invite").code
        await pilot.pause()
        from .screen_text import screen_text

        shown = "".join("".join(c for c in line if c.isalnum() or c == "-") for line in screen_text(app).splitlines())
        assert app.pane("invite").code in shown, "the code box shows the whole code at 80x24"
        assert "▀" in app.query_one("#invite-qr").render().plain, "a QR code beside the text"
