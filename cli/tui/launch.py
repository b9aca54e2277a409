"""``meshpantry tui``: open the app on this household's node.

- If no node answers on the data directory's control socket, start one in the
  background (``DATA_DIR/node.log``) and wait for it, showing progress. Once
  connected, a node the user stopped with ``meshpantry stop`` is not started
  again (:mod:`meshpantry.node.stopping`); one that crashed is.
- On first run (no device key) the wizard names the household and creates
  the key, like ``meshpantry init``; then it founds or joins a neighbourhood.
- ``--demo`` runs everything in temporary directories instead: see
  :mod:`cli.tui.demo`.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

from meshpantry.control.aclient import AsyncControlClient
from meshpantry.control.client import NodeUnavailable
from meshpantry.keys import key_path

from meshpantry.node.stopping import NodeStopped, stopped_on_purpose

from .node_process import NODE_START_TIMEOUT_S, POLL_S, log_tail, start_node, wait_for_socket

if TYPE_CHECKING:
    from .app import PantryApp


class Setup:
    """First-run work before the app connects: create the key if there is
    none, then make sure a node runs for ``data_dir``."""

    def __init__(self, data_dir: Path, node_args: tuple[str, ...] = (), passphrase: str | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.node_args = node_args
        self.passphrase = passphrase
        #: The node process this UI started, if it had to start one.
        self.process = None
        #: Whether a node answered once: after that a node the user stopped
        #: ('meshpantry stop') is not started again behind their back.
        self.connected_once = False

    async def run(self, app: PantryApp) -> bool:
        """Returns False when the user quit the wizard."""
        if not key_path(self.data_dir).exists():
            from .screens.wizard import HouseholdScreen

            profile = await app.push_screen_wait(HouseholdScreen())
            if profile is None:
                return False
            create_household(self.data_dir, profile["household"], profile.get("area"), profile.get("network"))
        return True

    async def connect(self, app: PantryApp | None = None) -> AsyncControlClient:
        """Connect to the node, starting one first when none answers."""
        try:
            client = await AsyncControlClient.connect(self.data_dir)
        except NodeUnavailable:
            pass
        else:
            self.connected_once = True
            return client
        if not key_path(self.data_dir).exists():
            raise NodeUnavailable("this device has no identity yet")
        if self.connected_once and stopped_on_purpose(self.data_dir):
            raise NodeStopped()
        if app is not None:
            app.notify("Starting this household's node…", title="node")
        process = self.process = start_node(self.data_dir, self.node_args)
        started = time.monotonic()

        def progress(waited: float) -> None:
            if app is not None and waited >= 1:
                app.badge.starting(f"starting the node {waited:.0f} s")

        while True:
            # The socket file may be a dead node's until the new one replaces
            # it, so wait for an answer, not for the file.
            waited = time.monotonic() - started
            await wait_for_socket(self.data_dir, process, timeout=max(NODE_START_TIMEOUT_S - waited, 0.1),
                                  progress=progress)
            try:
                client = await AsyncControlClient.connect(self.data_dir)
            except NodeUnavailable:
                if process.poll() is not None or waited > NODE_START_TIMEOUT_S:
                    raise NodeUnavailable(f"the node did not start: {log_tail(self.data_dir)}") from None
            else:
                self.connected_once = True
                return client
            progress(waited)
            await asyncio.sleep(POLL_S)


def create_household(data_dir: Path, household: str, area: str | None, network: str | None = None) -> None:
    """What ``meshpantry init`` does: a new device key and the profile
    settings, and the network chosen (``node.toml``) when one was."""
    from meshpantry.pantry import Pantry

    Pantry.create(Path(data_dir), household, area=area).close()
    if network is not None:
        from meshpantry.node.settings_sources import save_network

        save_network(Path(data_dir), network)


def run_tui(args: argparse.Namespace) -> int:
    """Run the UI for ``args.data_dir`` (or the demo); returns the exit code."""
    if getattr(args, "demo", False):
        from .demo import run_demo

        return run_demo(args)
    from .app import build_app

    setup = Setup(Path(args.data_dir))
    app = build_app(lambda: setup.connect(app), setup=setup)
    code = app.run()
    return code if isinstance(code, int) else 0
