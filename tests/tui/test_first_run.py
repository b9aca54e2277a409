"""First run: no key, no node. The wizard names the household, the UI starts
the node itself, and the household founds a neighbourhood."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from cli.tui.app import build_app
from cli.tui.launch import Setup
from cli.tui.node_process import stop_node
from cli.tui.screens.wizard import HouseholdScreen, NeighbourhoodScreen
from meshpantry.keys import key_path

from .conftest import until
from .nodes import LOOPBACK_ARGS


@pytest.mark.asyncio
async def test_wizard_creates_household_starts_node_and_founds(tmp_path):
    data_dir = tmp_path / "fresh"
    setup = Setup(data_dir, node_args=LOOPBACK_ARGS)
    app = build_app(lambda: setup.connect(app), setup=setup)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, HouseholdScreen)
                        and getattr(app.focused, "id", None) == "setup-household", what="the household step")
            app.screen.query_one("#setup-household", Input).value = "Elder"
            app.screen.query_one("#setup-area", Input).value = "east side"
            await pilot.click("#submit")
            await until(pilot, lambda: isinstance(app.screen, NeighbourhoodScreen)
                        and getattr(app.focused, "id", None) == "join-code",
                        what="the neighbourhood step (after the node started), mounted")
            assert key_path(data_dir).exists()
            assert (data_dir / "node.sock").exists(), "the UI started the node"
            found = app.screen.query_one("#found-name", Input)
            found.value = "East Lane"
            found.focus()
            await pilot.press("enter")
            await until(pilot, lambda: "Elder · East Lane" in app.badge.who, what="the founded neighbourhood")
            await until(pilot, lambda: app.refreshes > 0, what="the board")
    finally:
        if setup.process is not None:
            stop_node(setup.process)
    assert setup.process is not None


@pytest.mark.asyncio
async def test_setup_replaces_a_dead_nodes_socket(tmp_path):
    """A socket file left by a killed node does not fool the UI: it starts a
    node, which replaces the file, and connects to it."""
    import socket

    from cli.tui.launch import create_household

    data_dir = tmp_path / "ash"
    create_household(data_dir, "Ash", None)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(data_dir / "node.sock"))
    dead.close()
    setup = Setup(data_dir, node_args=LOOPBACK_ARGS)
    try:
        client = await setup.connect()
        assert (await client.call("whoami"))["household_name"] == "Ash"
        await client.close()
    finally:
        if setup.process is not None:
            stop_node(setup.process)
    assert setup.process is not None


class _WizardOnly:
    """A bare app showing only the household step, to read its choice."""

    @staticmethod
    def build(choice):
        from textual.app import App

        class WizardApp(App):
            result = "not dismissed"

            def on_mount(self) -> None:
                def done(value):
                    self.result = value

                self.push_screen(HouseholdScreen(choice), done)

        return WizardApp()


@pytest.mark.asyncio
async def test_wizard_says_which_network_and_lets_the_user_pick():
    """The household step names the LAN address neighbours will dial, and
    the user may pick this computer only instead; at 80x24 it all shows."""
    from textual.widgets import RadioButton

    from meshpantry.node.network import NetworkChoice

    from .screen_text import screen_text

    app = _WizardOnly.build(NetworkChoice(lan=("192.168.1.20",), latched=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, HouseholdScreen), what="the household step")
        await pilot.pause()
        text = screen_text(app)
        assert "This Wi-Fi/LAN" in text and "This computer only" in text
        assert "192.168.1.20" in text, text
        app.screen.query_one("#setup-household", Input).value = "Elder"
        app.screen.query_one("#network-loopback", RadioButton).value = True
        await pilot.pause()
        assert "neighbours cannot reach it" in screen_text(app)
        await pilot.click("#submit")
        await until(pilot, lambda: app.result != "not dismissed", what="the dismissal")
    assert app.result == {"household": "Elder", "area": None, "network": "loopback"}


@pytest.mark.asyncio
async def test_wizard_under_the_loopback_latch_offers_loopback_only(tmp_path):
    """With MESHPANTRY_NETWORK=loopback the LAN choice is disabled and the
    household's node.toml records loopback."""
    from textual.widgets import RadioButton

    from cli.tui.launch import create_household

    app = _WizardOnly.build(None)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, HouseholdScreen), what="the household step")
        assert app.screen.query_one("#network-lan", RadioButton).disabled
        app.screen.query_one("#setup-household", Input).value = "Fir"
        await pilot.click("#submit")
        await until(pilot, lambda: app.result != "not dismissed", what="the dismissal")
    assert app.result["network"] == "loopback"
    create_household(tmp_path / "fir", "Fir", None, app.result["network"])
    assert 'network = "loopback"' in (tmp_path / "fir" / "node.toml").read_text()


@pytest.mark.asyncio
@pytest.mark.parametrize("step", ["household", "neighbourhood"])
async def test_a_wizard_step_closed_as_it_mounts_raises_nothing(step):
    """The app closing just as a wizard step is pushed (the user quits, or
    the node's answer comes as the UI shuts) ends quietly. Each step focused
    its first field with a query in on_mount, which raised NoMatches when
    the step's fields were already gone (seen once in CI)."""
    from textual.app import App

    from meshpantry.node.network import NetworkChoice

    screen = (HouseholdScreen(NetworkChoice(lan=(), latched=True))
              if step == "household" else NeighbourhoodScreen({"household_name": "Elm"}))

    class Bare(App):
        AUTO_FOCUS = None

    app = Bare()
    async with app.run_test(size=(80, 24)):
        app.push_screen(screen)
    assert app.return_code in (None, 0)
