"""What a replica concludes from one gossip message: whether to take it in
and pass it on, whom to blame, and which chain gaps it shows.

The node's topic validator (:class:`meshpantry.node.gossip.BatchValidator`)
and the simulator's gossip (:mod:`simulations.sim.gossip`) both decide with
:func:`decide`, and both look for gaps with :func:`missing_before`.

A message carries one or more records. Each goes through steps 1-4 of the
ingest pipeline (:mod:`.ingest`: decode, neighbourhood, time bound,
signature), step 5b (the Lamport bound against the reach of the replica's
log, grown by the message's earlier records as ingest grows it), then step 6
(membership admission). The message is judged as a whole, by its first
failing record:

* **ACCEPT**: every record passed and the log admits every one now. The
  records are taken in (:func:`.ingest.ingest_checked`) and the message is
  forwarded. Only an accepted message is ever forwarded.
* **IGNORE**: a record failed a check whose answer depends on the receiver
  (a time bound on its own clock; a counter beyond its log's reach;
  membership that has not reached it yet).
  Dropped, not forwarded; nobody is blamed. Sync brings such records later
  with what admits them.
* **REJECT**: a record failed a check every member runs before it forwards
  anything and that gives the same answer everywhere (:func:`.ingest.is_forgery`:
  decoding, signature, neighbourhood). Dropped, not forwarded, and the peer
  that forwarded the message is faulty or hostile: the replica's sync
  planner cuts it off (:meth:`.sync.planner.SyncPlanner.hostile`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from operator import attrgetter

from protocol import Record
from protocol.errors import RemoteError
from protocol.limits import MAX_LAMPORT_LEAD

from .ingest import check_decoded, is_forgery
from .membership import Admission
from .validation import LamportTooFarAhead, NotAdmitted

#: Gossiped records a replica looks at for chain gaps, per message: the first
#: of a batch are enough to tell that a stretch is missing, and a backlog
#: batch of hundreds is what sync is for.
GAP_LOOKUP_RECORDS = 64

#: Membership admission of a record by the replica's log (pipeline step 6).
Admits = Callable[[Record], Admission]


class Verdict(enum.Enum):
    ACCEPT = "accept"  #: take the records in and forward the message
    IGNORE = "ignore"  #: drop it, blame nobody
    REJECT = "reject"  #: drop it and blame the peer that forwarded it


@dataclass(frozen=True, slots=True)
class GossipDecision:
    """The decision for one message (see the module docstring)."""

    verdict: Verdict
    records: Sequence[Record]  #: the checked records, to take in (empty unless ACCEPT)
    error: RemoteError | None = None  #: the first failure (None when ACCEPT)

    @property
    def forward(self) -> bool:
        """Whether the message is delivered and passed on."""
        return self.verdict is _ACCEPT

    @property
    def blame(self) -> bool:
        """Whether the forwarder is to be cut off."""
        return self.verdict is Verdict.REJECT


_ADMIT, _ACCEPT = Admission.ADMIT, Verdict.ACCEPT  #: read once: enum attributes cost a lookup each
_LAMPORT = attrgetter("lamport")


def _refused(error: RemoteError) -> GossipDecision:
    return GossipDecision(Verdict.REJECT if is_forgery(error) else Verdict.IGNORE, (), error)


def decide(checked: Sequence[Record] | RemoteError, admits: Admits, reach: int | None = None) -> GossipDecision:
    """The decision for a message whose records went through steps 1-4.

    ``checked`` is either the message's records, each past steps 1-4 (the
    node runs :func:`.ingest.check_record` on them, on a worker thread; the
    simulator :func:`check_shared`), or the first failure of those steps.
    Step 5b runs here when ``reach`` (the Lamport reach of the replica's log,
    :mod:`.lamport`) is given, and step 6 on every record, with ``admits``.
    """
    if isinstance(checked, RemoteError):
        return _refused(checked)
    if reach is not None:
        limit = reach + MAX_LAMPORT_LEAD
        if max(map(_LAMPORT, checked), default=0) > limit:  # rare: walk the message as ingest does
            for record in checked:
                if record.lamport > limit:
                    return _refused(LamportTooFarAhead(record.lamport, limit - MAX_LAMPORT_LEAD, MAX_LAMPORT_LEAD))
                limit = max(limit, record.lamport + MAX_LAMPORT_LEAD)
    verdicts = list(map(admits, checked))  # no Python step per record
    if verdicts.count(_ADMIT) < len(verdicts):  # the first record not admitted decides
        index = next(i for i, verdict in enumerate(verdicts) if verdict is not _ADMIT)
        record = checked[index]
        return _refused(NotAdmitted(record.author, record.kind, verdicts[index] is Admission.WAIT))
    return GossipDecision(_ACCEPT, checked)


def check_shared(
    decoded: Record | RemoteError,
    signature_error: RemoteError | None,
    *,
    neighbourhood: bytes,
    now: int,
) -> Record:
    """Steps 1-4 for a record whose decoding and signature check were made
    once for many receivers (same bytes, same answer): ``decoded`` is the
    record or its decoding error, ``signature_error`` the signature check's
    failure (None when it passed). Raises what
    :func:`.ingest.check_record` would raise first on the same bytes, in the
    same order (decode, neighbourhood, time bound, signature)."""
    if not isinstance(decoded, Record):
        raise decoded
    check_decoded(decoded, neighbourhood=neighbourhood, now=now)
    if signature_error is not None:
        raise signature_error
    return decoded


def missing_before(records: Iterable[Record], holds: Callable[[bytes], bool]) -> list[bytes]:
    """The chain gap a gossip message shows: the ids of the records that its
    first :data:`GAP_LOOKUP_RECORDS` records follow in their authors' chains
    (``prev``) and that the replica does not hold (``holds(id)`` False), in
    message order. Asked after the message's records were taken in, so a
    predecessor carried by the same message is held. The sync planner gets
    them (:meth:`.sync.planner.SyncPlanner.gap_seen`)."""
    missing: list[bytes] = []
    for index, record in enumerate(records):
        if index == GAP_LOOKUP_RECORDS:
            break
        prev = record.prev
        if prev is not None and not holds(prev):
            missing.append(prev)
    return missing
