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
