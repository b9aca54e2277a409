"""The node's store: a crash-safe SQLite record log and what derives from it.

Open one with :meth:`Store.open`; see :mod:`meshpantry.store.store` for the
layout and :mod:`meshpantry.store.ingest` for how peers' records get in.
"""

from .errors import (
    FromTheFuture,
    NeighbourhoodMismatch,
    NeighbourhoodUnset,
    NotAdmitted,
    PrevMismatch,
    ReadOnlyStore,
    SchemaTooNew,
    SeqNotNext,
    StoreError,
    StoreLocked,
    StoreMissing,
)
from .ingest import Fork, IngestReport, Rejection
from .peers import PeerAddress
from .store import NEIGHBOURHOOD, Store

__all__ = [
    "NEIGHBOURHOOD",
    "Fork",
    "FromTheFuture",
    "IngestReport",
    "NeighbourhoodMismatch",
    "NeighbourhoodUnset",
    "NotAdmitted",
    "PeerAddress",
    "PrevMismatch",
    "ReadOnlyStore",
    "Rejection",
    "SchemaTooNew",
    "SeqNotNext",
    "Store",
    "StoreError",
    "StoreLocked",
    "StoreMissing",
]
