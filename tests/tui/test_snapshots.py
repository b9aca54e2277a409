"""Pictures of the main screens at 80x24 and 120x40, dark and light.

Compared by pytest-textual-snapshot's ``snap_compare`` with the SVGs in
``__snapshots__/test_snapshots/``; a difference fails the test and is shown
side by side in ``snapshot_report.html``. After a deliberate change to the UI,
``--snapshot-update`` rewrites the pictures (look at the diff before committing).

The neighbourhood is built in-process with fixed keys and a stopped clock
(:mod:`tests.tui.local_pantry`) so every run draws the same screen.
"""

from __future__ import annotations

import pytest

from cli.tui.app import build_app

from .local_pantry import NOW_MS, LocalClient, fixed_pantry, sample_neighbourhood
from .settle import screen_settled, tabs_settled

ISLAND = {"island": True, "connected": [], "listen": ["/ip4/127.0.0.1/tcp/4747"]}
LIVE = {"island": False, "connected": ["12D3KooWBirch"], "listen": ["/ip4/127.0.0.1/tcp/4747"],
        "peers": [{"peer": "12D3KooWBirchPeer", "connected": True, "last_sync": NOW_MS - 120_000, "behind": 0},
                  {"peer": "12D3KooWCedarPeer", "connected": False, "last_sync": NOW_MS - 7_200_000, "behind": 14}]}

#: The narrowest terminal the UI is laid out for, and a common wide one: the
#: columns adapt between them (tests/tui/test_columns.py).
SIZES = {"80x24": (80, 24), "120x40": (120, 40)}

#: name: (household, node status, keys pressed). Household 0 is Alder, who
#: holds claims and meals; 1 is Birch, whose board shows Alder's offers.
SCREENS = {
    "board": (1, LIVE, ()),
    "offer-detail": (1, LIVE, ("enter",)),
    "offer-form": (0, LIVE, ("o", "p", "e", "a", "r", "s", "tab", "x")),
    "swaps": (0, LIVE, ("2",)),
    "meals": (0, ISLAND, ("3",)),
    "meal-form": (0, LIVE, ("3", "n", "s", "o", "u", "p", "tab", "x")),
    "recipes": (0, LIVE, ("4",)),
    "recipe-form": (0, LIVE, ("4", "n", "t", "e", "a", "tab", "2")),
    "mesh": (0, LIVE, ("5",)),
    "invite": (0, LIVE, ("6",)),
}


@pytest.fixture(scope="module")
def households(tmp_path_factory):
    alder, birch = sample_neighbourhood(tmp_path_factory.mktemp("snap"))
    yield alder, birch
    alder.close()
    birch.close()


def app_for(pantry, status):
    client = LocalClient(pantry, status)

    async def ready():
        return client

    return build_app(ready, clock=lambda: NOW_MS, follow_events=False)


def shown(keys=(), ready=lambda app: bool(app.refreshes), theme: str | None = None, after=None):
    """What to do before the picture: wait for the first data, press the keys,
    call ``after(app)`` if given, then wait until the screen is at rest."""

    async def run_before(pilot) -> None:
        app = pilot.app
        if theme:
            app.theme = theme
        for _ in range(100):
            if ready(app):
                break
            await pilot.pause(0.02)
        for key in keys:
            await pilot.press(key)
            await pilot.pause(0.05)
        if after is not None:
            after(app)
        # The footer redraws its bindings after focus settles.
        await pilot.pause(0.3)
        await pilot.wait_for_scheduled_animations()
        await tabs_settled(pilot)
        await screen_settled(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
@pytest.mark.parametrize("screen", SCREENS, ids=list(SCREENS))
def test_screen(snap_compare, households, screen, size):
    """The screen looks as in its committed picture, at 80 and at 120 columns."""
    who, status, keys = SCREENS[screen]
    app = app_for(households[who], status)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=shown(keys))


def test_board_island(snap_compare, households):
    """A node with no peers says so above the board."""
    app = app_for(households[1], ISLAND)
    assert snap_compare(app, terminal_size=SIZES["80x24"], run_before=shown())


def test_board_light_theme(snap_compare, households):
    """The board reads in the light theme too."""
    app = app_for(households[1], LIVE)
    assert snap_compare(app, terminal_size=SIZES["80x24"], run_before=shown(theme="textual-light"))


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_join_step(snap_compare, tmp_path, size):
    """A household without a neighbourhood is asked to join or found one."""
    pantry = fixed_pantry(tmp_path / "newcomer", 3, "Hazel", "west end")
    try:
        app = app_for(pantry, ISLAND)
        run_before = shown(ready=lambda app: bool(app.screen.query("#join-code")))
        assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)
    finally:
        pantry.close()


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_invite_code(snap_compare, tmp_path, monkeypatch, size):
    """A new invite code fits its box, the whole code in view, with the QR
    code below it. The invite's secret is fixed so the code is the same on
    every run; the neighbourhood is this test's own, as making an invite
    writes a record."""
    import types

    from meshpantry.pantry import household

    monkeypatch.setattr(household, "secrets", types.SimpleNamespace(token_bytes=lambda n: bytes(range(n))))
    alder, birch = sample_neighbourhood(tmp_path)
    try:
        app = app_for(alder, LIVE)
        made = shown(("6", "g"), after=lambda app: app.clear_notifications())
        assert snap_compare(app, terminal_size=SIZES[size], run_before=made)
    finally:
        alder.close()
        birch.close()
