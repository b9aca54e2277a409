"""Fixtures for the UI tests: real nodes on loopback, an app bound to one."""

from __future__ import annotations

import time

import pytest

from cli.tui.app import build_app
from meshpantry.control.aclient import AsyncControlClient

from .nodes import RunningNode, run_node

#: Records cross loopback between two nodes in well under a second; allow for
#: a loaded two-core machine.
SETTLE_S = 15.0


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    """Two households on loopback: Alder founded "Test Close"; Birch joins in
    the first test through the UI with an invite code from Alder.

        Alder (node A) ◀──loopback──▶ Birch (node B)
    """
    root = tmp_path_factory.mktemp("mesh")
    alder = run_node(root / "alder", "Alder")
    birch = run_node(root / "birch", "Birch")
    alder.call("create_neighbourhood", name="Test Close", household="Alder", area="north end")
    # Invite codes carry the founder's addresses: wait until its host listens.
    wait_node(lambda: alder.call("status").get("listen"), what="Alder's host to listen")
    yield {"alder": alder, "birch": birch}
    for node in (alder, birch):
        node.stop()


def app_on(node: RunningNode, **kwargs):
    """The app, connected to ``node``'s control socket."""
    return build_app(lambda: AsyncControlClient.connect(node.data_dir), **kwargs)


async def until(pilot, check, timeout: float = SETTLE_S, what: str = "condition"):
    """Let the app run until ``check()`` is truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            from .screen_text import screen_text

            errors = getattr(pilot.app, "errors", [])
            raise AssertionError(f"timed out waiting for {what}; errors shown: {errors}; the screen:\n"
                                 f"{screen_text(pilot.app)}")
        await pilot.pause(0.05)


def wait_node(check, timeout: float = SETTLE_S, what: str = "condition"):
    """Poll ``check()`` (blocking control calls) until truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


async def type_text(pilot, text: str) -> None:
    await pilot.press(*[c if c != " " else "space" for c in text])
