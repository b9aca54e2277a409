"""Pictures of the main screens at 80x24 and 120x36, dark and light.

The neighbourhood is built in-process with fixed keys and a stopped clock
(:mod:`tests.tui.local_pantry`) so every run draws the same screen.
"""

from __future__ import annotations

import pytest

from cli.tui.app import build_app

from .local_pantry import NOW_MS, LocalClient, sample_neighbourhood
from .snapshot import assert_snapshot, screen_settled, tabs_settled

ISLAND = {"island": True, "connected": [], "listen": ["/ip4/127.0.0.1/tcp/4747"]}
LIVE = {"island": False, "connected": ["12D3KooWBirch"], "listen": ["/ip4/127.0.0.1/tcp/4747"],
        "peers": [{"peer": "12D3KooWBirchPeer", "connected": True, "last_sync": NOW_MS - 120_000, "behind": 0},
                  {"peer": "12D3KooWCedarPeer", "connected": False, "last_sync": NOW_MS - 7_200_000, "behind": 14}]}


@pytest.fixture(scope="module")
def households(tmp_path_factory):
    alder, birch = sample_neighbourhood(tmp_path_factory.mktemp("snap"))
    yield alder, birch
    alder.close()
    birch.close()


async def _ready(client):
    return client


async def show(app, pilot, keys=()):
    for _ in range(100):
        if app.refreshes:
            break
        await pilot.pause(0.02)
    for key in keys:
        await pilot.press(key)
        await pilot.pause(0.05)
    # The footer redraws its bindings after focus settles.
    await pilot.pause(0.3)
    await pilot.wait_for_scheduled_animations()
    await tabs_settled(app, pilot)
    await screen_settled(app, pilot)


CASES = [
    # name, size, household, status, keys
    ("board-80x24", (80, 24), 1, ISLAND, ()),
    ("board-120x36", (120, 36), 1, LIVE, ()),
    ("offer-form-80x24", (80, 24), 0, LIVE, ("o", "p", "e", "a", "r", "s", "tab", "x")),
    ("swaps-80x24", (80, 24), 0, LIVE, ("2",)),
    ("swaps-120x36", (120, 36), 0, LIVE, ("2",)),
    ("meals-80x24", (80, 24), 0, ISLAND, ("3",)),
    ("meal-form-80x24", (80, 24), 0, LIVE, ("3", "n", "s", "o", "u", "p", "tab", "x")),
    ("recipes-80x24", (80, 24), 0, LIVE, ("4",)),
    ("recipes-120x36", (120, 36), 0, LIVE, ("4",)),
    ("recipe-form-80x24", (80, 24), 0, LIVE, ("4", "n", "t", "e", "a", "tab", "2")),
    ("mesh-80x24", (80, 24), 0, LIVE, ("5",)),
    ("invite-80x24", (80, 24), 0, LIVE, ("6",)),
]


@pytest.mark.asyncio
@pytest.mark.parametrize("name,size,who,status,keys", CASES, ids=[c[0] for c in CASES])
async def test_screen(households, name, size, who, status, keys):
    """The screen looks as committed in snapshots/NAME.svg."""
    client = LocalClient(households[who], status)
    app = build_app(lambda: _ready(client), clock=lambda: NOW_MS, follow_events=False)
    async with app.run_test(size=size) as pilot:
        await show(app, pilot, keys)
        assert_snapshot(app, name)


@pytest.mark.asyncio
async def test_board_light_theme(households):
    """The board reads in the light theme too."""
    client = LocalClient(households[1], LIVE)
    app = build_app(lambda: _ready(client), clock=lambda: NOW_MS, follow_events=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.theme = "textual-light"
        await show(app, pilot)
        assert_snapshot(app, "board-light-80x24")


@pytest.mark.asyncio
async def test_join_step(tmp_path):
    """A household without a neighbourhood is asked to join or found one."""
    from .local_pantry import fixed_pantry

    pantry = fixed_pantry(tmp_path / "newcomer", 3, "Hazel", "west end")
    try:
        client = LocalClient(pantry, ISLAND)
        app = build_app(lambda: _ready(client), clock=lambda: NOW_MS, follow_events=False)
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(100):
                if app.screen.query("#join-code"):
                    break
                await pilot.pause(0.02)
            await pilot.pause(0.3)
            await tabs_settled(app, pilot)
            await screen_settled(app, pilot)
            assert_snapshot(app, "join-80x24")
    finally:
        pantry.close()
