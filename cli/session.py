"""Opening the household's pantry for one command, and turning failures into
messages and exit codes.

If the household's node is running, commands go through its control socket
(the node holds the store); otherwise the command opens the store itself:
as a reader when it only reads (``read_only`` in its parser's defaults), so it
never takes the writer lock a starting node needs; as the writer otherwise,
waiting a bounded time (:data:`LOCK_WAIT_S`, saying so) for a node that is
starting, or another command, to let go of it.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Union

import platformdirs

from meshpantry.exit_codes import ExitCode
from meshpantry.keys import KeyFileError
from meshpantry.pantry.errors import PantryError
from meshpantry.passphrase import read_passphrase as _read_passphrase

from .terminal_text import terminal_safe

if TYPE_CHECKING:  # pragma: no cover
    from meshpantry.control.client import ControlClient, RemotePantry
    from meshpantry.pantry import Pantry

#: What a command works on: the household's Pantry, or the running node's
#: through its control socket (the same methods, typed requests).
Household = Union["Pantry", "RemotePantry"]
#: Where each command module adds its subcommands.
Subcommands = argparse._SubParsersAction


#: Seconds a command waits for the store's writer lock: a starting node holds
#: it a second or two before its control socket answers (longer on a Pi with
#: a large store), another short command well under a second.
LOCK_WAIT_S = 20.0
#: Seconds between two looks at the lock and the node's socket.
LOCK_POLL_S = 0.1


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("meshpantry", appauthor=False))


def read_passphrase(args: argparse.Namespace) -> str | None:
    """The key passphrase from ``--passphrase-file`` or the environment."""
    return _read_passphrase(args.passphrase_file or None)


@contextmanager
def open_pantry(args: argparse.Namespace) -> Iterator[Household]:
    """Yield a Pantry, or a proxy to the running node's, with the same methods."""
    from meshpantry.control.client import ControlClient, NodeUnavailable, RemotePantry

    try:
        client = ControlClient.connect(args.data_dir)
    except NodeUnavailable:
        client = None
    if client is not None:
        with client:
            yield RemotePantry(client)
        return
    if getattr(args, "read_only", False):
        pantry = _open_reader(args)
        if pantry is not None:
            try:
                yield pantry
            finally:
                pantry.close()
            return
    opened = _open_writer(args)
    if isinstance(opened, ControlClient):  # the node came up while we waited
        with opened:
            yield RemotePantry(opened)
        return
    try:
        yield opened
    finally:
        opened.close()


def _open_reader(args: argparse.Namespace) -> "Pantry | None":
    """The store as a reader (no writer lock), or None when only the writer
    can open it (no database yet, or migrations to apply)."""
    from meshpantry.pantry import Pantry
    from meshpantry.store.errors import StoreMissing

    try:
        pantry = Pantry.open(args.data_dir, passphrase=read_passphrase(args), writer=False)
    except StoreMissing:
        return None
    if pantry.store.migrations_pending():
        pantry.close()
        return None
    return pantry


def _open_writer(args: argparse.Namespace) -> "Pantry | ControlClient":
    """The store as the writer; while another process holds the lock, wait up
    to :data:`LOCK_WAIT_S` for it to let go, or for a starting node's control
    socket to answer (then the node does the work). Raises
    :class:`~meshpantry.store.errors.StoreLocked` when the wait runs out."""
    from meshpantry.control.client import ControlClient, NodeUnavailable
    from meshpantry.pantry import Pantry
    from meshpantry.store.errors import StoreLocked

    deadline = time.monotonic() + LOCK_WAIT_S
    said = False
    while True:
        try:
            return Pantry.open(args.data_dir, passphrase=read_passphrase(args))
        except StoreLocked as locked:
            if time.monotonic() >= deadline:
                raise
            if not said:
                _error(f"waiting up to {LOCK_WAIT_S:.0f} s for pid {locked.pid or '?'} (a node starting, or "
                       f"another meshpantry command) to finish with {args.data_dir}…")
                said = True
        time.sleep(LOCK_POLL_S)
        try:
            return ControlClient.connect(args.data_dir)
        except NodeUnavailable:
            pass


def run_command(args: argparse.Namespace) -> int:
    from meshpantry.control.client import NodeUnavailable
    from meshpantry.pantry.errors import NoNeighbourhood
    from meshpantry.store.errors import NeighbourhoodUnset, StoreDamaged, StoreError, ViewsBehind

    try:
        if getattr(args, "needs_pantry", True):
            with open_pantry(args) as pantry:
                code = args.handler(args, pantry)
        else:
            code = args.handler(args)
        return code or 0
    except PantryError as exc:
        _error(str(exc))
        return int(exc.exit_code)
    except KeyFileError as exc:
        _error(str(exc))
        return ExitCode.NO_IDENTITY
    except NeighbourhoodUnset:
        _error(str(NoNeighbourhood()))
        return ExitCode.NO_IDENTITY
    except ViewsBehind:
        if not getattr(args, "read_only", False):
            raise
        # The writer left the views behind its log (a stop right after a large
        # sync, a repair, a rebuild): only the writer can bring them up to date.
        args.read_only = False
        return run_command(args)
    except StoreDamaged as exc:
        _error(str(exc))
        return ExitCode.DAMAGED
    except StoreError as exc:
        _error(str(exc))
        return ExitCode.UNAVAILABLE
    except NodeUnavailable as exc:
        _error(str(exc))
        return ExitCode.UNAVAILABLE
    except sqlite3.DatabaseError as exc:
        _error(_database_failed(args.data_dir, exc))
        return ExitCode.DAMAGED if _damaged(exc) else ExitCode.FAILED
    except BrokenPipeError:  # output piped into a program that stopped reading
        return ExitCode.FAILED
    except OSError as exc:
        _error(f"{exc.strerror or exc} ({exc.filename or args.data_dir}); check the disk and permissions")
        return ExitCode.FAILED
    except KeyboardInterrupt:
        _error("interrupted")
        return ExitCode.INTERRUPTED


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    """Whether SQLite says the file itself is damaged (rather than full,
    read-only or busy)."""
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


def _database_failed(data_dir: Path, exc: sqlite3.DatabaseError) -> str:
    """What to tell the user when SQLite failed mid-command. Only a failed
    write is rolled back whole; whether anything else was lost is not known
    here, so the message does not claim it."""
    if _damaged(exc):
        return (f"the store in {data_dir} is damaged ({exc}); stop the node, then restore the "
                "database from a backup or run 'meshpantry repair'")
    return (f"the store in {data_dir} could not be used: {exc}; this command's change was "
            "not written. If the disk is full, free some space and try again")


def _error(message: str) -> None:
    print(f"meshpantry: {terminal_safe(message, newlines=True)}", file=sys.stderr)
