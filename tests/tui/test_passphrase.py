"""A passphrase-protected key: the UI asks for the passphrase, checks it,
hands it to the node it starts through a pipe (never on the command line),
and does not start a failing node again and again."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from cli.tui.app import build_app
from cli.tui.launch import NodeWillNotStart, Setup
from cli.tui.node_process import LOG_NAME, stop_node
from cli.tui.screens.passphrase import PassphraseScreen
from meshpantry.pantry import Pantry

from .conftest import until
from .nodes import LOOPBACK_ARGS
from .screen_text import screen_text

SECRET = "correct horse battery"


@pytest.mark.asyncio
async def test_the_ui_asks_for_the_passphrase_and_hands_it_to_its_node(tmp_path):
    data_dir = tmp_path / "elm"
    pantry = Pantry.create(data_dir, "Elm", passphrase=SECRET)
    pantry.create_neighbourhood("Locked Lane", "Elm")
    pantry.close()
    setup = Setup(data_dir, LOOPBACK_ARGS)
    app = build_app(lambda: setup.connect(app), setup=setup, follow_events=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, PassphraseScreen), what="the passphrase prompt")
            assert setup.process is None, "no node is started without the passphrase"
            app.screen.query_one("#passphrase", Input).value = "wrong"
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, PassphraseScreen) and "wrong passphrase" in
                        screen_text(app), what="the wrong passphrase said so")
            assert setup.process is None
            app.screen.query_one("#passphrase", Input).value = SECRET
            await pilot.press("enter")
            await until(pilot, lambda: app.refreshes > 0, what="the board, from the node started with the key")
            assert "Locked Lane" in screen_text(app)
            assert not any(SECRET in str(arg) for arg in setup.process.args)
    finally:
        if setup.process is not None:
            stop_node(setup.process)


@pytest.mark.asyncio
async def test_a_node_that_stops_at_start_is_not_started_again(tmp_path):
    """The node started by the UI fails at once (here a setting it refuses):
    the UI says why and does not start it again on every reconnect (it did,
    hundreds of times, each failure a line in node.log)."""
    data_dir = tmp_path / "fir"
    Pantry.create(data_dir, "Fir").close()
    setup = Setup(data_dir, (*LOOPBACK_ARGS, "--no-such-setting"))
    with pytest.raises(NodeWillNotStart, match="will not start it again"):
        await setup.connect()
    first = setup.process
    log = (data_dir / LOG_NAME).read_text()
    with pytest.raises(NodeWillNotStart):
        await setup.connect()
    assert setup.process is first
    assert (data_dir / LOG_NAME).read_text() == log
