"""Waiting for a screen at rest before its picture is taken.

On a loaded machine a screen may still be drawing after a fixed pause, and a
blinking cursor changes with the wall clock: both would make a snapshot differ
from run to run.
"""

from __future__ import annotations

from textual.widgets import Input, TextArea


def steady(app) -> None:
    """Stop what changes with the wall clock: cursor blinking."""
    for screen in app.screen_stack:
        for field in screen.query(Input):
            field.cursor_blink = False
        for area in screen.query(TextArea):  # the recipe and meal forms' many-line fields
            area.cursor_blink = False
            # A text area keeps drawn lines in a cache that does not tell a
            # stopped cursor from one blinked off: a line drawn in the off
            # half of a blink would be shown without its cursor. Drawing
            # anew after the stop shows the cursor wherever the area has focus.
            area.notify_style_update()
            area.refresh()


async def tabs_settled(pilot, tries: int = 200) -> None:
    """Wait until every tab bar, on every screen, has drawn the underline of
    its active tab (it is placed after the bar knows its size, which takes
    longer on a loaded machine). The underline is found by its widget type's
    name, as a stylesheet would select it."""
    app = pilot.app
    for _ in range(tries):
        bars = [u for screen in app.screen_stack for u in screen.query("Underline")]
        if all(u.highlight_end > u.highlight_start for u in bars):
            return
        await pilot.pause(0.02)


async def screen_settled(pilot, tries: int = 100) -> None:
    """Wait until two pictures of the screen taken 50 ms apart are the same."""
    app = pilot.app
    steady(app)
    before = app.export_screenshot()
    for _ in range(tries):
        await pilot.pause(0.05)
        steady(app)
        now = app.export_screenshot()
        if now == before:
            return
        before = now
