"""Errors of the store.

Two families, as everywhere in meshpantry:

* :class:`StoreError` and its subclasses are *local*: this process misused the
  store or the data directory is in a state it cannot use. Their messages say
  what to do next.
* :class:`FromTheFuture` and :class:`NotAdmitted` are *remote*
  (:class:`protocol.errors.RemoteError`): a peer's record broke a rule that only
  the store can check. The ingest report carries them per record; they are never
  raised out of :meth:`Store.ingest`.
"""

from __future__ import annotations

from pathlib import Path

from protocol.errors import RemoteError


class StoreError(Exception):
    """The store cannot do what this process asked."""


class StoreLocked(StoreError):
    """Another process holds the writer lock of the data directory."""

    def __init__(self, directory: Path, pid: int | None) -> None:
        holder = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(
            f"another meshpantry process ({holder}) is using {directory}; "
            "stop it or talk to it through its node"
        )
        self.directory, self.pid = directory, pid


class StoreMissing(StoreError):
    """A reader asked for a database that does not exist yet."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"no meshpantry database at {path}; run 'meshpantry init' first")
        self.path = path


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


class SeqNotNext(StoreError):
    """An own record does not follow the durable head of its chain.

    Signing it would fork the device's chain (or leave a gap), so it is refused.
    """

    def __init__(self, author: bytes, expected_seq: int, found_seq: int) -> None:
        super().__init__(
            f"own record for {author.hex()[:12]} has seq {found_seq}, the chain needs {expected_seq}; "
            "build it from own_head()"
        )
        self.author, self.expected_seq, self.found_seq = author, expected_seq, found_seq


class PrevMismatch(StoreError):
    """An own record names a previous record other than the chain's head."""

    def __init__(self, author: bytes, expected: bytes | None, found: bytes | None) -> None:
        def show(value: bytes | None) -> str:
            return value.hex()[:12] if value else "nothing"

        super().__init__(
            f"own record for {author.hex()[:12]} follows {show(found)}, the head is {show(expected)}"
        )
        self.author, self.expected, self.found = author, expected, found


class NeighbourhoodUnset(StoreError):
    """Records cannot be admitted before the store knows its neighbourhood."""

    def __init__(self) -> None:
        super().__init__(
            "the store has no neighbourhood yet; create one or join one before syncing records"
        )


class NeighbourhoodMismatch(StoreError):
    """A second genesis, or a neighbourhood setting that contradicts the log."""

    def __init__(self, current: bytes, other: bytes) -> None:
        super().__init__(
            f"this store belongs to neighbourhood {current.hex()[:12]}, not {other.hex()[:12]}"
        )
        self.current, self.other = current, other


class FromTheFuture(RemoteError):
    """A record's advisory time lies too far ahead of the receiver's clock."""

    def __init__(self, record_id: bytes, time: int, now: int, limit: int) -> None:
        super().__init__(
            f"record {record_id.hex()[:16]} is dated {time - now} ms ahead of this clock "
            f"(limit {limit} ms)"
        )
        self.record_id, self.time, self.now, self.limit = record_id, time, now, limit


class NotAdmitted(RemoteError):
    """Membership says this record can never count in this neighbourhood."""

    def __init__(self, record_id: bytes, author: bytes, kind: str, neighbourhood: bytes) -> None:
        super().__init__(
            f"record {record_id.hex()[:16]} ({kind} by {author.hex()[:12]}) cannot be admitted "
            f"to neighbourhood {neighbourhood.hex()[:12]}"
        )
        self.record_id, self.author, self.kind = record_id, author, kind
        self.neighbourhood = neighbourhood
