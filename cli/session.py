"""Opening the household's pantry for one command, and turning failures into
messages and exit codes.

If the household's node is running, commands go through its control socket
(the node holds the store); otherwise the command opens the store itself.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
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
    from meshpantry.control.client import RemotePantry
    from meshpantry.pantry import Pantry

#: What a command works on: the household's Pantry, or the running node's
#: through its control socket (the same methods, typed requests).
Household = Union["Pantry", "RemotePantry"]
#: Where each command module adds its subcommands.
Subcommands = argparse._SubParsersAction


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
    from meshpantry.pantry import Pantry

    pantry = Pantry.open(args.data_dir, passphrase=read_passphrase(args))
    try:
        yield pantry
    finally:
        pantry.close()


def run_command(args: argparse.Namespace) -> int:
    from meshpantry.control.client import NodeUnavailable
    from meshpantry.store.errors import StoreDamaged, StoreError

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
