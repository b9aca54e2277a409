"""Real node processes on loopback for the UI tests: each in a temporary data
directory, listening on 127.0.0.1 with mDNS off."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from cli.tui.launch import create_household
from cli.tui.node_process import start_node, stop_node, wait_for_socket_blocking
from meshpantry.control.client import ControlClient

#: Loopback only; the port is chosen by the OS.
LOOPBACK_ARGS = ("--network", "loopback", "--listen", "127.0.0.1:0", "--no-mdns")


@dataclass
class RunningNode:
    data_dir: Path
    process: subprocess.Popen

    def call(self, op: str, **args):
        """One blocking control call (for setting the scene from a test)."""
        with ControlClient.connect(self.data_dir) as client:
            return client.call(op, **args)

    def stop(self) -> None:
        stop_node(self.process)


def run_node(data_dir: Path, household: str | None, extra: tuple[str, ...] = ()) -> RunningNode:
    """Create the household (when ``household`` is given) and start its node."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if household is not None:
        create_household(data_dir, household, None)
    process = start_node(data_dir, LOOPBACK_ARGS + extra, detached=False)
    wait_for_socket_blocking(data_dir, process)
    return RunningNode(data_dir, process)


