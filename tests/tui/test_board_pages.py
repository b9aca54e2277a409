"""The board reads the node a page at a time: a cursor page on open, the next
page when the cursor reaches the last row or on ``m``, and a refresh keeps
what was scrolled to."""

from __future__ import annotations

import pytest

from cli.tui.app import build_app
from cli.tui.screens import board as board_screen

from .local_pantry import HOUR_MS, NOW_MS, LocalClient, fixed_pantry
from .screen_text import screen_text

#: A page as small as this test needs: 12 offers are three pages.
PAGE = 5


class CountingClient(LocalClient):
    """Records the ops the app asks of the node."""

    def __init__(self, pantry, status=None) -> None:
        super().__init__(pantry, status)
        self.asked: list[tuple[str, dict]] = []

    async def call(self, op, **args):
        self.asked.append((op, dict(args)))
        return await super().call(op, **args)


@pytest.fixture
def long_board(tmp_path):
    pantry = fixed_pantry(tmp_path / "alder", 1, "Alder", "north end")
    pantry.create_neighbourhood("Test Close", "Alder", "north end")
    for n in range(12):
        pantry.offer_add(f"jar {n:02d}", 1, "jar", best_before=NOW_MS + (n + 1) * HOUR_MS)
    yield pantry
    pantry.close()


async def _ready(client):
    return client


async def settle(pilot, check, tries: int = 200):
    for _ in range(tries):
        if check():
            return
        await pilot.pause(0.02)
    raise AssertionError("the board did not settle")


@pytest.mark.asyncio
async def test_the_board_loads_page_after_page(long_board, monkeypatch):
    monkeypatch.setattr(board_screen, "BOARD_PAGE", PAGE)
    client = CountingClient(long_board, {"island": False, "connected": []})
    app = build_app(lambda: _ready(client), clock=lambda: NOW_MS, follow_events=False)
    async with app.run_test(size=(100, 30)) as pilot:
        board = app.pane("board")
        await settle(pilot, lambda: board.loads >= 1)
        assert [o["item"] for o in board.offers] == [f"jar {n:02d}" for n in range(PAGE)]
        await pilot.pause(0.1)
        assert f"first {PAGE} open offers (m or scroll down for more)" in screen_text(app)
        assert board.next is not None
        assert [op for op, _ in client.asked if op.startswith("offer_")] == ["offer_page"]
        # The key loads the next page after the cursor.
        board.table.focus()
        await pilot.press("m")
        await settle(pilot, lambda: len(board.offers) == 2 * PAGE)
        assert client.asked[-1][1]["after"] is not None
        # Moving the cursor onto the last row loads the last page.
        for _ in range(2 * PAGE):
            await pilot.press("down")
        await settle(pilot, lambda: board.next is None)
        assert [o["item"] for o in board.offers] == [f"jar {n:02d}" for n in range(12)]
        assert board.table.row_count == 12
        await pilot.pause(0.1)
        assert "12 open offers ·" in screen_text(app)
        # A refresh reads from the top as many rows as were shown.
        await app.reload()
        assert len(board.offers) == 12 and client.asked[-1][1]["limit"] >= 12
        # Nothing asked for the whole board at once.
        assert all(op != "offer_list" for op, _ in client.asked)


@pytest.mark.asyncio
async def test_a_refresh_that_changes_nothing_shown_leaves_the_table_alone(long_board, monkeypatch):
    """Records that change no row shown cost no redraw (clearing the table
    repaints every visible cell); a change to a row shown redraws it."""
    client = CountingClient(long_board, {"island": False, "connected": []})
    app = build_app(lambda: _ready(client), clock=lambda: NOW_MS, follow_events=False)
    async with app.run_test(size=(100, 30)) as pilot:
        board = app.pane("board")
        await settle(pilot, lambda: board.loads >= 1)
        cleared = []
        monkeypatch.setattr(board.table, "clear", lambda *a, clear=board.table.clear, **k: (cleared.append(1), clear(*a, **k))[1])
        await app.reload()
        assert board.loads == 2 and cleared == []
        long_board.offer_add("jar of honey", 1, "jar", best_before=NOW_MS + 30 * 60_000)
        await app.reload()
        assert cleared == [1]
        assert board.offers[0]["item"] == "jar of honey"
        assert board.table.get_row_at(0)[0].plain == "⚠ jar of honey"
