"""Errors of the store.

:class:`StoreError` and its subclasses are *local*: this process misused the
store or the data directory is in a state it cannot use. Their messages say
what to do next.

A peer's record that fails a check is a *remote* error: the ingest report
carries it per record (the error types of :mod:`meshpantry.core.validation`,
one per check of :mod:`meshpantry.core.ingest`), and it is never raised out of
:meth:`Store.ingest`.
"""

from __future__ import annotations

from pathlib import Path

from meshpantry.core.validation import ValidationError


class StoreError(Exception):
    """The store cannot do what this process asked."""


class StoreLocked(StoreError):
    """Another process holds the writer lock of the data directory."""

    def __init__(self, directory: Path, pid: int | None, *, node: bool = False) -> None:
        holder = f"pid {pid}" if pid is not None else "pid unknown"
        if node:
            message = (f"a meshpantry node ({holder}) is already running for {directory}; "
                       "'meshpantry stop' stops it")
        else:
            message = (f"another meshpantry process ({holder}) is using {directory}; "
                       "stop it or talk to it through its node")
        super().__init__(message)
        self.directory, self.pid, self.node = directory, pid, node


class StoreMissing(StoreError):
    """A reader asked for a database that does not exist yet."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"no meshpantry database at {path}; run 'meshpantry init' first")
        self.path = path


class StoreDamaged(StoreError):
    """The database file is damaged: SQLite's own check of it failed, it
    cannot be read as a database, or it is empty where a store was. Nothing
    is written to it; the message names the file and what to do."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            f"the store {path} is damaged ({detail}). Nothing was changed. Restore the file "
            "from a backup (with the node stopped), or run 'meshpantry repair', which keeps "
            "every record whose signature verifies, sets the damaged file aside, and lets "
            "the node fetch the rest from its neighbours"
        )
        self.path, self.detail = path, detail


class ReadOnlyStore(StoreError):
    """A write was attempted through a store opened with ``writer=False``."""

    def __init__(self, operation: str) -> None:
        super().__init__(f"{operation} needs the store opened as the writer")
        self.operation = operation


class ViewsBehind(StoreError):
    """A read-only store found the view tables behind the log (its writer
    has not read them since a sync): only the whole state can be built."""

    def __init__(self) -> None:
        super().__init__("the views are behind the log; ask the node, or open the store as the writer")


class SchemaTooNew(StoreError):
    """The database has migrations this version of meshpantry does not know."""

    def __init__(self, unknown: list[str]) -> None:
        super().__init__(
            f"the database was written by a newer meshpantry (migrations {', '.join(unknown)}); "
            "upgrade meshpantry to open it"
        )
        self.unknown = unknown


class OwnRecordRefused(StoreError):
    """This device asked to append an own record that breaks a rule of the chain
    or the neighbourhood; nothing was written.

    ``reason`` is the check that failed, with its data: the same error type
    (from :mod:`meshpantry.core.validation`) that check gives a peer's record:
    ``SeqNotIncremental`` or ``PrevMismatch`` when the record does not follow
    the durable head of its chain, ``WrongNeighbourhood`` for a record of
    another neighbourhood or a second genesis. So each check keeps one error
    type; this one adds only whose fault it is: ours (appending it would fork
    the device's chain, or keep a record no peer accepts).
    """

    def __init__(self, record_id: bytes, reason: ValidationError) -> None:
        super().__init__(
            f"own record {record_id.hex()[:12]} refused: {reason}; build it from own_head()"
        )
        self.record_id, self.reason = record_id, reason


class NeighbourhoodUnset(StoreError):
    """Records cannot be admitted before the store knows its neighbourhood."""

    def __init__(self) -> None:
        super().__init__(
            "the store has no neighbourhood yet; create one or join one before syncing records"
        )
