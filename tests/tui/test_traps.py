"""Keyboard and reading traps of the terminal UI, each pinned by a Pilot run
over the in-process sample neighbourhood (:mod:`tests.tui.local_pantry`)."""

from __future__ import annotations

import pytest
from textual.widgets import TabbedContent

from cli.tui.app import build_app

from .local_pantry import NOW_MS, LocalClient, sample_neighbourhood
from .screen_text import screen_text

LIVE = {"island": False, "connected": ["12D3KooWBirch"], "listen": ["/ip4/127.0.0.1/tcp/4747"], "peers": []}


@pytest.fixture(scope="module")
def households(tmp_path_factory):
    alder, birch = sample_neighbourhood(tmp_path_factory.mktemp("traps"))
    yield alder, birch
    alder.close()
    birch.close()


async def _ready(client):
    return client


def _app(pantry, status=LIVE):
    client = LocalClient(pantry, status)
    return build_app(lambda: _ready(client), clock=lambda: NOW_MS, follow_events=False)


async def _loaded(app, pilot):
    for _ in range(200):
        if app.refreshes:
            return
        await pilot.pause(0.02)
    raise AssertionError("the app never loaded")


def _active(app) -> str:
    return app.main.query_one(TabbedContent).active


async def _settled_on(app, pilot, tab: str) -> bool:
    for _ in range(40):
        await pilot.pause(0.05)
        if _active(app) == tab and app.focused is not None and app.main.query_one(f"#{tab}") in app.focused.ancestors:
            return True
    return False


@pytest.mark.asyncio
@pytest.mark.parametrize("first", ["3", "4", "6", "f3", "f4", "f6"])
async def test_tab_keys_keep_working_after_any_tab(households, first):
    """A tab key pressed at once after another (3 then 1) is obeyed, and the
    tab keys and F1-F6 go on working: a tab left before it finished loading
    does not come back when its table takes focus."""
    app = _app(households[0])
    async with app.run_test(size=(80, 24)) as pilot:
        await _loaded(app, pilot)
        await pilot.press(first, "1" if not first.startswith("f") else "f1")
        assert await _settled_on(app, pilot, "tab-board"), f"after {first} then 1:\n{screen_text(app)}"
        for key, tab in (("2", "tab-swaps"), ("f5", "tab-mesh"), ("f1", "tab-board"), ("4", "tab-recipes")):
            await pilot.press(key)
            assert await _settled_on(app, pilot, tab), f"after {first}, 1, then {key}:\n{screen_text(app)}"


@pytest.mark.asyncio
async def test_enter_on_an_offer_opens_its_detail_and_c_claims_from_there(households):
    """Enter shows the offer in full (it opened the claim dialog); c claims."""
    from cli.tui.screens.dialogs import ClaimDialog
    from cli.tui.screens.offer_detail import OfferDetailScreen

    app = _app(households[1])  # Birch: the plums are Alder's
    async with app.run_test(size=(80, 24)) as pilot:
        await _loaded(app, pilot)
        board = app.pane("board")
        row = next(i for i, o in enumerate(board.offers) if o["item"] == "plums")
        board.table.move_cursor(row=row)
        await pilot.press("enter")
        for _ in range(40):
            await pilot.pause(0.05)
            if isinstance(app.screen, OfferDetailScreen) and "from the tree" in screen_text(app):
                break
        assert isinstance(app.screen, OfferDetailScreen), screen_text(app)
        text = screen_text(app)
        assert "plums" in text and "left of 4 kg" in text and "from Alder" in text and "from the tree" in text
        assert "allergens: none listed" in text
        await pilot.press("c")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ClaimDialog)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert isinstance(app.screen, OfferDetailScreen)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.screen is app.main


@pytest.mark.asyncio
@pytest.mark.parametrize("width, wants", [
    (80, ["north end", "Alder", "The Riverside Nguyens"[:12]]),
    (120, ["The Riverside Nguyens", "Elm St south end"]),
])
async def test_board_columns_fit_80_and_120_columns(tmp_path, width, wants):
    """Area and household keep 12 cells at 80 columns ("Elm St sou", "The
    Nguyen" before); at 120 they show whole."""
    from .local_pantry import exchange, fixed_pantry

    alder = fixed_pantry(tmp_path / "alder", 1, "Alder", "north end")
    nguyens = fixed_pantry(tmp_path / "nguyens", 3, "The Riverside Nguyens", "Elm St south end")
    alder.create_neighbourhood("Test Close", "Alder", "north end")
    nguyens.join(alder.create_invite()["code"], "The Riverside Nguyens", "Elm St south end")
    exchange(alder, nguyens)
    nguyens.offer_add("rice", 5, "kg", area="Elm St south end")
    alder.offer_add("plums", 4, "kg", area="north end")
    exchange(alder, nguyens)
    app = _app(alder)
    try:
        async with app.run_test(size=(width, 24)) as pilot:
            await _loaded(app, pilot)
            await pilot.pause(0.2)
            text = screen_text(app)
            for want in wants:
                assert want in text, text
            if width == 80:
                assert "Elm St south" in text and "Elm St sou " not in text
    finally:
        alder.close()
        nguyens.close()


@pytest.mark.asyncio
async def test_the_offer_form_is_a_checked_form_like_the_meal_and_recipe_forms(tmp_path):
    """o opens the offer form on the shared CheckedForm: each field's message
    under it, Offer off until right, ctrl+s offers."""
    from textual.widgets import Button, Input

    from cli.tui.screens.checked_form import CheckedForm
    from cli.tui.screens.offer_form import OfferForm

    from .local_pantry import fixed_pantry

    alder = fixed_pantry(tmp_path / "alder", 1, "Alder")
    alder.create_neighbourhood("Test Close", "Alder")
    app = _app(alder)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await _loaded(app, pilot)
            await pilot.press("o")
            await pilot.pause(0.2)
            form = app.screen
            assert isinstance(form, OfferForm) and isinstance(form, CheckedForm)
            form.query_one("#form-item", Input).value = "quince"
            form.query_one("#form-quantity", Input).value = "x"
            await pilot.pause(0.1)
            assert "a whole number of at least 1" in screen_text(app)
            assert form.query_one("#submit", Button).disabled
            form.query_one("#form-quantity", Input).value = "2"
            form.query_one("#form-unit", Input).value = "kg"
            await pilot.pause(0.1)
            assert not form.query_one("#submit", Button).disabled
            await pilot.press("ctrl+s")
            for _ in range(40):
                await pilot.pause(0.05)
                if app.screen is app.main:
                    break
            assert app.screen is app.main
        assert [o["item"] for o in alder.offer_list()] == ["quince"]
    finally:
        alder.close()
