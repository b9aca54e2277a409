"""`meshpantry stop` is reliable, and the UI does not start again a node the
user stopped (it does restart one that died)."""

from __future__ import annotations

import asyncio
import signal

import pytest

from cli.main import main
from cli.tui.launch import Setup, create_household
from cli.tui.node_process import stop_node
from meshpantry.control.aclient import AsyncControlClient
from meshpantry.control.client import NodeUnavailable
from meshpantry.node.stopping import NodeStopped, stopped_on_purpose

from .nodes import LOOPBACK_ARGS


async def _refused(data_dir, within_s: float = 5.0) -> None:
    """Wait until the socket of a killed node refuses connections. Once, in
    a full parallel run of the suite, it still accepted one right after the
    node was reaped, and the UI took it, as it should, for a running node.
    What held the socket was not found: the node's fork server and resource
    tracker do not hold it. Accepting for longer than ``within_s`` fails."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        try:
            client = await AsyncControlClient.connect(data_dir, timeout=1.0)
        except NodeUnavailable:
            return
        await client.close()
        assert asyncio.get_running_loop().time() < deadline, "the killed node's socket still accepts"
        await asyncio.sleep(0.05)


@pytest.mark.asyncio
async def test_stop_waits_for_the_exit_and_the_ui_leaves_it_stopped(tmp_path, capsys):
    """
        UI starts node ── stop ──▶ "has stopped" (process gone), marker
        UI reconnects   ──▶ refused with NODE_STOPPED, nothing started
        node killed     ──▶ UI starts a new one
    """
    data_dir = tmp_path / "hazel"
    create_household(data_dir, "Hazel", None)
    setup = Setup(data_dir, node_args=LOOPBACK_ARGS)
    processes = []
    try:
        for _ in range(2):  # stop is reliable, not lucky
            client = await setup.connect()
            processes.append(setup.process)
            await client.close()
            assert main(["--data-dir", str(data_dir), "stop"]) == 0
            out = capsys.readouterr().out
            assert "has stopped" in out and "No node is running" not in out, out
            assert setup.process.poll() is not None, "stop returned before the node exited"
            assert stopped_on_purpose(data_dir)
            with pytest.raises(NodeStopped, match="stopped with 'meshpantry stop'"):
                await setup.connect()
            assert setup.process is processes[-1], "the UI started the node again"
            setup.connected_once = False  # the user reopens the UI: it starts the node
        assert main(["--data-dir", str(data_dir), "stop"]) == 0
        assert "No node is running" in capsys.readouterr().out
        client = await setup.connect()
        await client.close()
        assert not stopped_on_purpose(data_dir), "a starting node clears the marker"
        crashed = setup.process
        crashed.send_signal(signal.SIGKILL)
        crashed.wait()
        await _refused(data_dir)
        client = await setup.connect()  # a node that died is started again
        await client.close()
        assert setup.process is not crashed and setup.process.poll() is None
    finally:
        for process in [*processes, setup.process]:
            if process is not None:
                stop_node(process)
