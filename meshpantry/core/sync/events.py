"""What a sync session tells its host, as small immutable values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True, slots=True)
class SyncStats:
    """Counters of one session, from this side's point of view."""

    bytes_sent: int = 0
    bytes_received: int = 0
    records_sent: int = 0
    records_received: int = 0
    rounds: int = 0  #: reconcile messages sent and received
    round_trips: int = 0  #: times data arrived after we had sent some
    work: int = 0  #: units of work the peer's reconcile messages asked of us (:mod:`.work`)


@dataclass(frozen=True, slots=True)
class RecordsReceived:
    """Raw records from the peer, in chain order within each author; hand
    them to the store's ingest. Nothing here has been verified."""

    raws: list[bytes]


@dataclass(frozen=True, slots=True)
class Progress:
    """``received`` records so far of about ``expected`` (an estimate from the
    counts exchanged; never below ``received``)."""

    received: int
    expected: int


@dataclass(frozen=True, slots=True)
class Done:
    """Both sides hold the union of what they held; nothing more will flow."""

    stats: SyncStats


@dataclass(frozen=True, slots=True)
class Failed:
    """The session ended early. ``error`` is a RemoteError when the peer is at
    fault, StoreFailed when our store is."""

    error: Exception
    stats: SyncStats


Event = Union[RecordsReceived, Progress, Done, Failed]
