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
        #: Why the node this UI started stopped at start: it is not started
        #: again (it would fail again, and again), only connected to.
        self.failed: str | None = None

    async def run(self, app: PantryApp) -> bool:
        """Returns False when the user quit the wizard."""
        if not key_path(self.data_dir).exists():
            from .screens.wizard import HouseholdScreen

            profile = await app.push_screen_wait(HouseholdScreen())
            if profile is None:
                return False
            create_household(self.data_dir, profile["household"], profile.get("area"), profile.get("network"))
        return await self._unlock(app)

    async def _unlock(self, app: PantryApp) -> bool:
        """Ask for the key's passphrase when the key is encrypted, none was
        given and no node runs yet; check it against the key file, asking
        again while it is wrong. False when the user leaves."""
        from meshpantry.keys import KeyFileError, key_is_encrypted, read_key

        if self.passphrase is not None or not key_is_encrypted(self.data_dir):
            return True
        try:
            await (await AsyncControlClient.connect(self.data_dir)).close()
            return True  # a node already runs: it has the key open
        except NodeUnavailable:
            pass
        from .screens.passphrase import PassphraseScreen

        error = None
        while True:
            typed = await app.push_screen_wait(PassphraseScreen(str(key_path(self.data_dir)), error))
            if typed is None:
                return False
            try:
                await asyncio.to_thread(read_key, self.data_dir, typed)
            except KeyFileError as exc:
                error = str(exc)
                continue
            self.passphrase = typed
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
        if self.failed is not None:
            raise NodeWillNotStart(self.failed)
        if self.connected_once and stopped_on_purpose(self.data_dir):
            raise NodeStopped()
        if app is not None:
            app.notify("Starting this household's node…", title="node")
        process = self.process = start_node(self.data_dir, self.node_args, passphrase=self.passphrase)
        started = time.monotonic()

        def progress(waited: float) -> None:
            if app is not None and waited >= 1:
                app.badge.starting(f"starting the node {waited:.0f} s")

        while True:
            # The socket file may be a dead node's until the new one replaces
            # it, so wait for an answer, not for the file.
            waited = time.monotonic() - started
            try:
                await wait_for_socket(self.data_dir, process, timeout=max(NODE_START_TIMEOUT_S - waited, 0.1),
                                      progress=progress)
            except NodeUnavailable as exc:
                if process.poll() is None:
                    raise
                self.failed = (f"{exc}. The UI will not start it again: fix that, then start the node "
                               "('meshpantry node') or open the UI again")
                raise NodeWillNotStart(self.failed) from None
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


class NodeWillNotStart(NodeUnavailable):
    """The node this UI started stopped at once (a key it cannot read, a bad
    setting): starting it again would only fail again."""


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

    from meshpantry.passphrase import read_passphrase

    setup = Setup(Path(args.data_dir), passphrase=read_passphrase(getattr(args, "passphrase_file", None)))
    app = build_app(lambda: setup.connect(app), setup=setup)
    code = app.run()
    return code if isinstance(code, int) else 0
