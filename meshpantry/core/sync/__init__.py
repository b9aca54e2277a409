"""Anti-entropy sync: reconcile two replicas' record sets, then move exactly
the missing records, in chain order, in bounded batches. Pure: no IO, no clock.

Run two peers with no network (the loop a host runs, minus the stream)::

    a = SyncSession.initiator(store_a, now=0)
    b = SyncSession.responder(store_b, now=0)
    while not (a.finished and b.finished):
        b.receive_data(a.data_to_send(), now=0)
        a.receive_data(b.data_to_send(), now=0)
        for side, store in ((a, store_a), (b, store_b)):
            for event in side.events():
                if isinstance(event, RecordsReceived):
                    store.ingest(event.raws)

The protocol is specified in ``protocol/SYNC.md``; the session's rules are in
:mod:`.session` and :mod:`.reconcile`.
"""

from .errors import (
    ConnectionLost,
    FrameTooSlow,
    PeerAborted,
    ProtocolViolation,
    SessionTooLong,
    Stalled,
    StoreFailed,
    TooManyRecords,
    TooManyRounds,
    UnsupportedSyncVersion,
    Withdrawn,
)
from .events import Done, Event, Failed, Progress, RecordsReceived, SyncStats
from .items import ItemIndex, SyncItems
from .outbox import author_of
from .session import MAX_ROUNDS, MAX_SESSION_RECORDS, WINDOW, Role, State, SyncSession

__all__ = [
    "MAX_ROUNDS",
    "MAX_SESSION_RECORDS",
    "WINDOW",
    "ConnectionLost",
    "Done",
    "Event",
    "Failed",
    "FrameTooSlow",
    "ItemIndex",
    "PeerAborted",
    "Progress",
    "ProtocolViolation",
    "RecordsReceived",
    "Role",
    "SessionTooLong",
    "Stalled",
    "State",
    "StoreFailed",
    "SyncItems",
    "SyncSession",
    "SyncStats",
    "TooManyRecords",
    "TooManyRounds",
    "UnsupportedSyncVersion",
    "Withdrawn",
    "author_of",
]
