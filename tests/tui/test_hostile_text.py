"""Text another household wrote cannot act on this terminal or on the UI.

Birch names an offer with a terminal escape (clear screen), Textual markup
and a right-to-left override; Alder's board shows the characters as visible
escapes and the markup as the text it is.
"""

from __future__ import annotations

import pytest

from cli.tui.app import build_app

from .conftest import until
from .local_pantry import NOW_MS, LocalClient, exchange, fixed_pantry
from .screen_text import screen_text

HOSTILE = "\x1b[2J[b]x\u202eab"


async def _ready(client):
    return client


@pytest.mark.asyncio
async def test_a_hostile_item_name_is_shown_inert(tmp_path):
    alder = fixed_pantry(tmp_path / "alder", 1, "Alder")
    birch = fixed_pantry(tmp_path / "birch", 2, "Birch\x07")
    try:
        alder.create_neighbourhood("Test Close", "Alder")
        birch.join(alder.create_invite()["code"], "Birch\x07")
        exchange(alder, birch)
        birch.offer_add(HOSTILE, 1, "kg")
        exchange(alder, birch)
        app = build_app(lambda: _ready(LocalClient(alder)), clock=lambda: NOW_MS, follow_events=False)
        async with app.run_test(size=(120, 24)) as pilot:
            await until(pilot, lambda: app.pane("board").offers, what="the board")
            (offer,) = app.pane("board").offers
            assert offer["item"] == "\\x1b[2J[b]x\\u202eab"
            shown = screen_text(app)
            assert "\\x1b[2J[b]x\\u202eab" in shown  # the markup is text, not bold
            assert "Birch\\x07" in shown
            assert "\x1b" not in shown and "\u202e" not in shown and "\x07" not in shown
    finally:
        alder.close()
        birch.close()
