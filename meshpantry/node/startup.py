"""Starting the node process: waiting briefly for a store a short command
holds, and turning what stopped a start into one message and exit code.

* A short command (``meshpantry offer add``) holds the store's writer lock
  for well under a second. A node started meanwhile waits for it, bounded by
  :data:`LOCK_WAIT_S` and saying so once, instead of exiting. A lock held by
  another *node* (its control socket answers) is not waited for: two nodes on
  one data directory is a mistake to report at once.
* The node's failures arrive grouped by trio's nurseries;
  :func:`start_failure` finds the one that explains the start (a port in use,
  an untested py-libp2p) and its exit code.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from meshpantry.pantry import Pantry

from . import libp2p_compat

#: Seconds a starting node waits for the store's writer lock held by a short
#: command (``meshpantry offer add`` holds it well under a second; a large
#: ``rebuild`` a few seconds). A lock held by another *node* is not waited for.
LOCK_WAIT_S = 15.0
#: Seconds between two attempts at the lock.
LOCK_POLL_S = 0.1


def open_when_free(data_dir: Any, passphrase: str | None, *, wait_s: float = LOCK_WAIT_S) -> Pantry:
    """Open the household's pantry as the writer. While a short command holds
    the writer lock, wait for it (at most ``wait_s``, saying so once on
    stderr); when another node holds it, give up at once.

    Raises :class:`~meshpantry.store.errors.StoreLocked` (the last refusal)
    when the wait runs out or a node answers on the control socket, and the
    errors of :meth:`Pantry.open` otherwise."""
    from meshpantry.control.client import ControlClient, NodeUnavailable
    from meshpantry.store.errors import StoreLocked

    deadline = time.monotonic() + wait_s
    said = False
    while True:
        try:
            return Pantry.open(data_dir, passphrase=passphrase)
        except StoreLocked as locked:
            try:
                ControlClient.connect(data_dir).close()
            except NodeUnavailable:
                pass
            else:
                raise StoreLocked(locked.directory, locked.pid, node=True) from None
            if time.monotonic() >= deadline:
                raise
            if not said:
                print(f"meshpantry: waiting up to {wait_s:.0f} s for pid {locked.pid or '?'} (a meshpantry "
                      f"command) to finish with {data_dir}…", file=sys.stderr, flush=True)
                said = True
        time.sleep(LOCK_POLL_S)


def start_failure(error: BaseException) -> tuple[str, int] | None:
    """The message and exit code for a node that could not run, found in
    ``error`` or among the exceptions a nursery grouped; None for anything
    else (a bug, or KeyboardInterrupt), which is raised on."""
    from meshpantry.exit_codes import ExitCode

    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = start_failure(inner)
            if found is not None:
                return found
        return None
    if isinstance(error, libp2p_compat.Libp2pVersionMismatch):
        return str(error), ExitCode.FAILED
    if isinstance(error, OSError):
        return f"cannot start the node: {error}", ExitCode.UNAVAILABLE
    return None
