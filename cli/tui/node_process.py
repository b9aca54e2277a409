"""Starting the household's node as a background process and waiting for its
control socket.

The node outlives the UI (it is detached in its own session), so the mesh
keeps syncing after the window closes; its log goes to ``DATA_DIR/node.log``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from meshpantry.control import SOCKET_NAME
from meshpantry.control.client import NodeUnavailable

#: A node opens its control socket in ~1.5 s on a laptop; a Raspberry Pi with a
#: large store can take several times that to open and check it.
NODE_START_TIMEOUT_S = 30.0
#: How often to look for the socket while waiting.
POLL_S = 0.05
LOG_NAME = "node.log"
#: Lines of the node's log shown when it fails to start.
LOG_TAIL_LINES = 5


def node_command(data_dir: Path, extra: Sequence[str] = ()) -> list[str]:
    """The command line that runs the node of ``data_dir``."""
    return [sys.executable, "-m", "cli.main", "node", "--data-dir", str(data_dir), *extra]


def start_node(
    data_dir: Path, extra: Sequence[str] = (), *, detached: bool = True, passphrase: str | None = None,
) -> subprocess.Popen:
    """Start ``meshpantry node`` for ``data_dir`` in the background.

    Returns the process; its stderr is appended to ``data_dir/node.log``.
    ``detached`` puts it in its own session so it survives the UI. A
    ``passphrase`` for the device key is written into a pipe the node reads
    as its ``--passphrase-file`` (``/dev/fd/N``): it never appears on a
    command line or in the environment, where other users could read it."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / LOG_NAME, "ab")
    read_end = None
    if passphrase is not None:
        read_end, write_end = os.pipe()
        # A passphrase is far smaller than a pipe's buffer: the write never blocks.
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(passphrase.encode("utf-8"))
        extra = (*extra, "--passphrase-file", f"/dev/fd/{read_end}")
    try:
        return subprocess.Popen(
            node_command(data_dir, extra), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=log, start_new_session=detached, cwd=str(Path(__file__).resolve().parents[2]),
            pass_fds=() if read_end is None else (read_end,),
        )
    finally:
        log.close()
        if read_end is not None:
            os.close(read_end)


def log_tail(data_dir: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = (Path(data_dir) / LOG_NAME).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


async def wait_for_socket(
    data_dir: Path, process: subprocess.Popen | None = None, *, timeout: float = NODE_START_TIMEOUT_S,
    progress: Callable[[float], None] | None = None,
) -> None:
    """Wait until ``data_dir``'s control socket exists.

    Raises :class:`NodeUnavailable` if ``process`` exits first (with the end of
    its log) or after ``timeout`` seconds. ``progress`` gets the seconds waited."""
    started = time.monotonic()
    while not _socket_ready(data_dir, process, time.monotonic() - started, timeout):
        if progress is not None:
            progress(time.monotonic() - started)
        await asyncio.sleep(POLL_S)


def wait_for_socket_blocking(data_dir: Path, process: subprocess.Popen | None = None,
                             timeout: float = NODE_START_TIMEOUT_S) -> None:
    """:func:`wait_for_socket` for code outside an event loop."""
    started = time.monotonic()
    while not _socket_ready(data_dir, process, time.monotonic() - started, timeout):
        time.sleep(POLL_S)


def _socket_ready(data_dir: Path, process: subprocess.Popen | None, waited: float, timeout: float) -> bool:
    path = Path(data_dir) / SOCKET_NAME
    if path.exists():
        return True
    if process is not None and process.poll() is not None:
        raise NodeUnavailable(f"the node stopped at start (exit {process.returncode}): {log_tail(data_dir)}")
    if waited > timeout:
        raise NodeUnavailable(f"the node did not open its socket within {timeout:.0f} s; see {path.parent / LOG_NAME}")
    return False


def stop_node(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Ask a node we started to stop (SIGTERM), then kill it if it lingers."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
