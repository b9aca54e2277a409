"""Live updates, throttling, and what happens when the node goes away."""

from __future__ import annotations

import time

import pytest
from textual.widgets import Input

from cli.tui.app import REFRESH_S, build_app
from cli.tui.screens.offer_form import OfferForm
from cli.tui.screens.wizard import NeighbourhoodScreen
from cli.tui.widgets.badge import OFFLINE
from meshpantry.control.aclient import AsyncControlClient

from .conftest import app_on, until
from .nodes import run_node
from .screen_text import screen_text

#: Fewer than the board draws, so every one of them shows.
BURST = 80


@pytest.fixture(scope="module")
def lone_node(tmp_path_factory):
    node = run_node(tmp_path_factory.mktemp("lone") / "cedar", "Cedar")
    node.call("create_neighbourhood", name="Lone Lane", household="Cedar")
    yield node
    node.stop()


@pytest.mark.asyncio
async def test_burst_of_records_shows_without_refresh_and_is_coalesced(lone_node):
    """80 records written behind the UI's back appear on the board by
    themselves, in a handful of refreshes rather than one per record."""
    app = app_on(lone_node)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.refreshes > 0, what="the first load")
        before = app.refreshes
        started = time.monotonic()
        from meshpantry.control.client import ControlClient

        with ControlClient.connect(lone_node.data_dir) as client:
            for index in range(BURST):
                client.call("offer_add", item=f"jar {index}", quantity=1, unit="jar")
        await until(pilot, lambda: len(app.pane("board").offers) == BURST, what="the burst on the board")
        elapsed = time.monotonic() - started
        assert app.events_seen >= BURST
        refreshes = app.refreshes - before
        assert refreshes <= elapsed / REFRESH_S + 2, f"{refreshes} refreshes in {elapsed:.1f} s"
        assert "ISLAND" in screen_text(app), "a node without neighbours says so in the header"


@pytest.mark.asyncio
async def test_node_gone_shows_offline_and_keeps_the_form(tmp_path):
    """When the node stops, the header says OFFLINE, submitting a form tells
    the user and keeps every field as typed; when the node is back the UI
    reconnects by itself and the same form goes through."""
    node = run_node(tmp_path / "dale", "Dale")
    restarted = None
    node.call("create_neighbourhood", name="Short Row", household="Dale")
    app = app_on(node)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.refreshes > 0, what="the first load")
            await pilot.press("o")
            await until(pilot, lambda: isinstance(app.screen, OfferForm) and app.screen.query(Input), what="the form")
            form = app.screen
            form.query_one("#form-item", Input).value = "quince"
            form.query_one("#form-quantity", Input).value = "2"
            form.query_one("#form-unit", Input).value = "kg"
            node.stop()
            await until(pilot, lambda: app.badge.state == OFFLINE, what="the offline badge")
            await pilot.press("ctrl+s")
            await pilot.pause(0.2)
            assert app.screen is form, "the form stays open"
            assert [form.query_one(f"#form-{n}", Input).value for n in ("item", "quantity", "unit")] == \
                ["quince", "2", "kg"]
            assert "OFFLINE" in screen_text(app)
            restarted = run_node(tmp_path / "dale", None)
            await until(pilot, lambda: app.badge.state != OFFLINE, what="reconnecting")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: app.screen is not form, what="the offer to go through")
        assert [o["item"] for o in restarted.call("offer_list")] == ["quince"]
    finally:
        node.stop()
        if restarted is not None:
            restarted.stop()


@pytest.mark.asyncio
async def test_mouse_switches_tabs(lone_node):
    """Clicking a tab shows it."""
    app = app_on(lone_node)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.refreshes > 0, what="the first load")
        await pilot.click("#--content-tab-tab-meals")
        await until(pilot, lambda: app.active_pane.id == "meals", what="the Meals tab")
        await pilot.click("#--content-tab-tab-board")
        await until(pilot, lambda: app.active_pane.id == "board", what="the Board tab")


@pytest.mark.asyncio
async def test_neighbours_text_is_shown_as_written(lone_node):
    """Square brackets in an item or a filter are text, never markup."""
    lone_node.call("offer_add", item="[red]jam[/] [b", quantity=1, unit="jar", note="[/]")
    app = app_on(lone_node)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.refreshes > 0, what="the first load")
        app.pane("board").query_one("#filter-text", Input).value = "[red"
        await until(pilot, lambda: "“[red”" in screen_text(app), what="the filter as written")
        assert "[red]jam[/] [b" in screen_text(app)


@pytest.mark.asyncio
async def test_ui_opened_before_its_node_waits_for_it(tmp_path):
    """Opened while no node answers, the UI says OFFLINE and opens the board
    once the node is up."""
    from cli.tui.launch import create_household

    data_dir = tmp_path / "elm"
    create_household(data_dir, "Elm", None)
    app = build_app(lambda: AsyncControlClient.connect(data_dir))
    node = None
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.badge.state == OFFLINE, what="the offline badge")
            node = run_node(data_dir, None)
            # Shown: mounted, its code field focused (pushed is not yet shown).
            await until(pilot, lambda: isinstance(app.screen, NeighbourhoodScreen)
                        and app.focused is not None and app.focused.id == "join-code", what="the join step")
    finally:
        if node is not None:
            node.stop()
