"""The exit statuses of the ``meshpantry`` command, in one table.

Scripts rely on these numbers: a code never changes its meaning, and a new
kind of failure gets a new number rather than reusing one. The command line,
the node and the control socket's error replies (``exit_code``) all take
their numbers from here, so a failure reported by a running node exits the
command line with the same status as the same failure met locally.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    #: Done.
    OK = 0
    #: Failed for another reason; the message says why (a store error, a full
    #: disk, the node failing inside a request).
    FAILED = 1
    #: Bad arguments: the command line's own, the node's settings, or a
    #: control request whose arguments do not fit the op.
    USAGE = 2
    #: No identity or no neighbourhood yet, or the key file cannot be read
    #: (run ``meshpantry init``, or join or found a neighbourhood).
    NO_IDENTITY = 3
    #: Unknown or ambiguous id.
    UNKNOWN_ID = 4
    #: The store is in use by another process, or the node is unreachable or
    #: cannot start (its socket or port is taken).
    UNAVAILABLE = 5
    #: Refused: invalid input, not allowed, already done, or an answer too
    #: large for one reply (ask for a smaller page).
    REFUSED = 6
    #: The store's database is damaged (it fails SQLite's check, or is empty
    #: where a store was): restore it from a backup, or ``meshpantry repair``.
    DAMAGED = 7
    #: Interrupted (Ctrl-C): 128 + SIGINT, as shells report it.
    INTERRUPTED = 130


#: Short labels for ``meshpantry --help``; the comments above say more.
SUMMARY = {
    ExitCode.OK: "done",
    ExitCode.FAILED: "failed",
    ExitCode.USAGE: "bad arguments",
    ExitCode.NO_IDENTITY: "no identity/neighbourhood",
    ExitCode.UNKNOWN_ID: "unknown id",
    ExitCode.UNAVAILABLE: "store busy or node unreachable",
    ExitCode.REFUSED: "refused",
    ExitCode.DAMAGED: "store damaged",
    ExitCode.INTERRUPTED: "interrupted",
}


def summary() -> str:
    """Every code with its label: ``0 done, 1 failed, ...``."""
    return ", ".join(f"{int(code)} {SUMMARY[code]}" for code in ExitCode)
