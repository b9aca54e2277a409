"""Stopping a household's node on purpose, and remembering that it was.

``meshpantry stop`` asks the node to stop through its control socket, then
waits until the process has let go of the store (its writer lock is free)
and removed its socket: only then does it say the node has stopped. A reply
lost because the node closed the connection while stopping still counts as
"stopping", never as "no node is running".

A node stopped this way leaves a marker, ``DATA_DIR/node.stopped``, so that a
terminal UI that was open on it does not start it again behind the user's
back (it shows the node as stopped and reconnects when the user starts one).
Any node that starts removes the marker; a node that crashes or is killed
leaves none, so the UI still restarts those.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from meshpantry.store import lock
from meshpantry.store.database import LOCK_FILE

from meshpantry.control.client import NodeUnavailable

MARKER = "node.stopped"


class NodeStopped(NodeUnavailable):
    """No node answers because the user stopped it with ``meshpantry stop``;
    it is not started again until they start it."""

    def __init__(self) -> None:
        super().__init__("the node was stopped with 'meshpantry stop'; start it with 'meshpantry node' "
                         "(or quit and reopen the UI): this window reconnects when it runs")

#: Seconds ``meshpantry stop`` waits for the node to exit: it closes its
#: connections and listeners (5 s at most) and its store (a checkpoint).
STOP_WAIT_S = 20.0
#: Seconds between two looks at the lock and the socket.
POLL_S = 0.05


def mark_stopped(data_dir: Path) -> None:
    """Record that the node of ``data_dir`` was stopped on purpose."""
    (Path(data_dir) / MARKER).write_text(f"{int(time.time())}\n", encoding="ascii")


def clear_stopped(data_dir: Path) -> None:
    """A node is starting: forget any earlier stop."""
    (Path(data_dir) / MARKER).unlink(missing_ok=True)


def stopped_on_purpose(data_dir: Path) -> bool:
    """Whether the last node of ``data_dir`` was stopped with ``meshpantry stop``."""
    return (Path(data_dir) / MARKER).exists()


def node_pid(data_dir: Path) -> int | None:
    """The pid holding the store of ``data_dir`` (0 if unknown), or None."""
    return lock.holder(Path(data_dir) / LOCK_FILE)


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (an exited child not yet reaped,
    a zombie, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                      if ":" in line)
    except OSError:
        return True  # no /proc (macOS): os.kill said it exists
    # A zombie whose other threads still run (the main thread returned first)
    # is still exiting: gone once it is a zombie with no thread left.
    zombie = status.get("State", "").strip().startswith("Z")
    return not (zombie and status.get("Threads", "1").strip() in ("0", "1"))


def wait_until_gone(data_dir: Path, pid: int | None, timeout: float = STOP_WAIT_S) -> bool:
    """Wait until process ``pid`` (the node, when known) has exited, no
    process holds the store of ``data_dir`` and nothing answers on its
    control socket; False if that takes longer than ``timeout`` seconds."""
    from meshpantry.control.client import ControlClient

    deadline = time.monotonic() + timeout
    while True:
        if not (pid and alive(pid)) and node_pid(data_dir) is None:
            try:
                ControlClient.connect(data_dir).close()
            except NodeUnavailable:
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
