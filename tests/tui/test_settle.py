"""The snapshot tests' wait for a screen at rest (tests/tui/settle.py)."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import TextArea

from .settle import steady


class OneArea(App):
    def compose(self) -> ComposeResult:
        yield TextArea("soup", id="area")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()


@pytest.mark.asyncio
async def test_stopped_cursor_shows_after_a_blink():
    """A focused text area stopped in the off half of a blink shows its
    cursor, as it does when stopped in the on half: the picture does not
    depend on when the blinking stopped."""
    app = OneArea()
    async with app.run_test(size=(30, 6)) as pilot:
        await pilot.pause()
        shown = app.export_screenshot()  # focus starts a blink with the cursor on
        for _ in range(200):  # wait for the off half of a blink to be drawn
            await pilot.pause(0.02)
            if app.export_screenshot() != shown:
                break
        else:
            pytest.fail("the cursor never blinked off")
        steady(app)
        await pilot.pause()
        assert app.export_screenshot() == shown
