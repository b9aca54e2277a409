"""SVG snapshot comparison for the UI.

``assert_snapshot(app, name)`` renders the app's screen as SVG and compares it
with ``snapshots/NAME.svg``. On a difference it writes ``NAME.actual.svg``
beside it to open in a browser and fails. To accept new pictures after a
deliberate change, run the tests with ``MESHPANTRY_UPDATE_SNAPSHOTS=1`` and
look at the diff before committing.
"""

from __future__ import annotations

import os
from pathlib import Path

from textual.widgets import Input, TextArea

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE_ENV = "MESHPANTRY_UPDATE_SNAPSHOTS"


def steady(app) -> None:
    """Stop what changes with the wall clock: cursor blinking."""
    for screen in app.screen_stack:
        for field in screen.query(Input):
            field.cursor_blink = False
        for area in screen.query(TextArea):  # the recipe and meal forms' many-line fields
            # Set anew each time: a text area shows its stopped cursor only
            # if it had focus when the blinking stopped.
            area.cursor_blink = True
            area.cursor_blink = False


async def tabs_settled(app, pilot, tries: int = 200) -> None:
    """Wait until every tab bar, on every screen, has drawn the underline of
    its active tab (it is placed after the bar knows its size, which takes
    longer on a loaded machine)."""
    from textual.widgets._tabs import Underline

    for _ in range(tries):
        bars = [u for screen in app.screen_stack for u in screen.query(Underline)]
        if all(u.highlight_end > u.highlight_start for u in bars):
            return
        await pilot.pause(0.02)


async def screen_settled(app, pilot, tries: int = 100) -> None:
    """Wait until two pictures of the screen taken 50 ms apart are the same
    (on a loaded machine a screen may still be drawing after a fixed pause)."""
    steady(app)
    before = app.export_screenshot()
    for _ in range(tries):
        await pilot.pause(0.05)
        now = app.export_screenshot()
        if now == before:
            return
        before = now


def assert_snapshot(app, name: str) -> None:
    steady(app)
    actual = app.export_screenshot(title=name)
    expected_path = SNAPSHOTS / f"{name}.svg"
    actual_path = SNAPSHOTS / f"{name}.actual.svg"
    if os.environ.get(UPDATE_ENV) or not expected_path.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        expected_path.write_text(actual, encoding="utf-8")
        actual_path.unlink(missing_ok=True)
        if not os.environ.get(UPDATE_ENV):
            raise AssertionError(f"no snapshot {expected_path.name} yet: wrote it; check it and commit it")
        return
    if actual != expected_path.read_text(encoding="utf-8"):
        actual_path.write_text(actual, encoding="utf-8")
        raise AssertionError(
            f"{name}: the screen differs from {expected_path.name}; see {actual_path} "
            f"(set {UPDATE_ENV}=1 to accept a deliberate change)"
        )
    actual_path.unlink(missing_ok=True)
