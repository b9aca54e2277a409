"""The snapshot tests' wait for a screen at rest (tests/tui/settle.py)."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import TextArea

from .settle import steady


class OneArea(App):
    def __init__(self, blink: bool) -> None:
        super().__init__()
        self.blink = blink

    def compose(self) -> ComposeResult:
        yield TextArea("soup", id="area")

    def on_mount(self) -> None:
        area = self.query_one(TextArea)
        area.cursor_blink = self.blink
        area.focus()


async def picture(app, pilot) -> str:
    await pilot.pause()
    return app.export_screenshot()


@pytest.mark.asyncio
async def test_stopped_cursor_shows_after_a_blink():
    """A focused text area stopped in the off half of a blink shows its
    cursor, as one that never blinked does: the picture does not depend on
    when the blinking stopped."""
    never = OneArea(blink=False)
    async with never.run_test(size=(30, 6)) as pilot:
        expected = await picture(never, pilot)
    app = OneArea(blink=True)
    async with app.run_test(size=(30, 6)) as pilot:
        for _ in range(500):  # wait for the off half of a blink to be drawn
            if await picture(app, pilot) != expected:
                break
            await pilot.pause(0.02)
        else:
            pytest.fail("the cursor never blinked off")
        steady(app)
        assert await picture(app, pilot) == expected
