"""The node's store: a crash-safe SQLite record log and what derives from it.

Open one with :meth:`Store.open`; see :mod:`meshpantry.store.store` for the
layout and :mod:`meshpantry.store.ingest` for how peers' records get in.
"""

from .errors import (
    NeighbourhoodUnset,
    OwnRecordRefused,
    ReadOnlyStore,
    SchemaTooNew,
    StoreError,
    StoreLocked,
    StoreDamaged,
    StoreMissing,
)
from .ingest import Fork, IngestReport, Rejection
from .peers import PeerAddress
from .store import NEIGHBOURHOOD, Store

__all__ = [
    "NEIGHBOURHOOD",
    "Fork",
    "IngestReport",
    "NeighbourhoodUnset",
    "OwnRecordRefused",
    "PeerAddress",
    "ReadOnlyStore",
    "Rejection",
    "SchemaTooNew",
    "Store",
    "StoreDamaged",
    "StoreError",
    "StoreLocked",
    "StoreMissing",
]
