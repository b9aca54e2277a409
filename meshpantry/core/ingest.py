"""The ingest pipeline: the one ordered list of checks for a record arriving at a node.

Every path that takes in a peer's record runs this list: the store's ingest of
raw records (sync, bundles), the gossip validator and the store's ingest of
the records it passed, and the simulator's memory store. Each failed check is
its own error type carrying the data that failed.

A record arriving at a node goes through, in order:

1. **decode** (:func:`protocol.decode_record`, once per arrival): size,
   canonical form, envelope, body schema. Fails with a
   :class:`~protocol.errors.DecodeError` subclass (``TooLarge``,
   ``NonCanonical``, ``Malformed``, ``WrongType``, ...).
2. **neighbourhood** (:func:`check_neighbourhood`): the record belongs to this
   node's neighbourhood. :class:`~.validation.WrongNeighbourhood`.
3. **time bound** (:func:`check_time`): its advisory time is at most
   ``MAX_FUTURE_SKEW_MS`` after the receiver's clock.
   :class:`~.validation.TimeInFuture`.
4. **signature** (:func:`check_signature`, once per arrival): the author
   signed these exact bytes. :class:`~protocol.errors.BadSignature`. Last of
   the stateless checks because it is the dearest.
5. **duplicate**: a record already in the log or the waiting room, or earlier
   in the same batch, is counted and goes no further (not an error). Stores
   skip records they hold by id before step 1 when they can read the id
   cheaply, so most duplicates cost no check at all.
5b. **Lamport bound** (:func:`.lamport.check_lamport`): its Lamport counter
   is at most ``MAX_LAMPORT_LEAD`` above the reach of the log
   (:meth:`~.record_log.RecordLog.lamport_reach`, grown by the records this
   batch logs), so that no record can carry the counter to its limit and
   stop every writer. :class:`~.validation.LamportTooFarAhead`; like step 3
   no proof of forgery (the receiver may lack the records in between).
6. **membership admission** (:meth:`.admission.Admissions.admits`): ADMIT goes
   on to step 8, WAIT to step 7, REJECT fails with
   :class:`~.validation.NotAdmitted`.
7. **waiting room** (:class:`.waiting.WaitingRoom`): the record waits, bounded,
   outside the log; whenever membership grows the room is looked at again
   and what membership now decides about goes on to step 8 or fails with
   :class:`~.validation.NotAdmitted`.
8. **chain**: a record at an (author, seq) the log already holds under
   another id is a **fork**. It is logged all the same, and the pair is kept
   as evidence (:class:`Fork`): refusing either copy would make a replica's
   log depend on which copy arrived first. For the same reason the link to
   the previous record (seq, prev, Lamport) is not a reason to refuse: a
   record after a gap is valid on its own, and the views judge the links
   (:func:`.validation.check_chain_link`, applied by :mod:`.integrity`).
9. **append** (:meth:`.record_log.RecordLog.append`): the record enters the
   log, and membership learns from it (step 7 runs again if it grew).

Steps 1-4 need no state and are thread-safe: :func:`check_record` runs them
in order; :func:`check_unsigned` runs 1-3 (:func:`check_decoded` 2-3) so
that a caller can spread step 4 over worker threads. Steps 5-9
(:class:`Intake`) run over a :class:`~.record_log.RecordLog`, the one
storage interface. Who runs what:

* the store's ingest of raw records (sync, bundles): all of it, step 4 on
  worker threads for large batches;
* gossip: the topic validator runs 1-4 (and 6, to forward only what the log
  admits), and the records it checked go on to :func:`ingest_checked`, which
  runs 2-3 again (cheap, on the clock of the moment) and 5-9, never 1 or 4
  twice;
* the simulator: its table of every record in a run makes 1 and 4 once per
  record for all nodes (same bytes, same answer), and each node's memory
  store runs :func:`ingest_checked`; for a gossip message the node's
  decision accepted, with that decision's step 6 verdicts handed on
  (``admitted``: admission never shrinks, so they hold), and steps 8-9 made
  for the whole message at once (:meth:`Intake.log_admitted`);
* a device's own records: :func:`check_own` (step 2 and the link to the
  durable head), then the store appends them and :func:`learn_own`.

Whose fault: every error above is remote (a peer's record). Those an honest
member never forwards, since it forwards only records that passed them, say
the sender is faulty or hostile (:func:`is_forgery`); a record from the future
(clocks differ) or not admitted yet (membership travels separately) does not.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from protocol import GENESIS_KIND, Record, decode_record, verify_record
from protocol.errors import BadSignature, DecodeError, RemoteError
from protocol.limits import MAX_FUTURE_SKEW_MS, MAX_LAMPORT_LEAD

from .admission import ADMISSION_KINDS, LOGGED, Admissions
from .lamport import check_lamport
from .membership import Admission
from .record_log import Logged, RecordLog
from .validation import (
    PrevMismatch,
    SeqNotIncremental,
    TimeInFuture,
    WrongNeighbourhood,
)
from .waiting import WaitingRoom

# -- steps 1-4: the stateless checks ---------------------------------------------


def check_neighbourhood(record: Record, neighbourhood: bytes) -> None:
    """Step 2. Raise :class:`WrongNeighbourhood` unless ``record`` belongs to
    ``neighbourhood``: the genesis record when its id is ``neighbourhood``, any
    other record when its ``neighbourhood`` field equals it."""
    found = record.id if record.kind == GENESIS_KIND else record.neighbourhood
    if found != neighbourhood:
        raise WrongNeighbourhood(neighbourhood, found)


def check_time(record: Record, now: int) -> None:
    """Step 3. Raise :class:`TimeInFuture` if ``record.time > now + MAX_FUTURE_SKEW_MS``.

    ``now`` is the receiver's wall clock in ms. Times in the past are always
    fine: wall times are advisory and never order anything.
    """
    if record.time > now + MAX_FUTURE_SKEW_MS:
        raise TimeInFuture(record.time, now, MAX_FUTURE_SKEW_MS)


def check_signature(record: Record) -> None:
    """Step 4. Raise :class:`~protocol.errors.BadSignature` unless the author
    signed the record's exact bytes."""
    verify_record(record)


def check_decoded(record: Record, *, neighbourhood: bytes, now: int) -> None:
    """Steps 2-3 (neighbourhood, time bound) of a decoded record."""
    if record.neighbourhood == neighbourhood and record.time <= now + MAX_FUTURE_SKEW_MS:
        return  # passes both (a genesis names no neighbourhood, so never returns here)
    check_neighbourhood(record, neighbourhood)
    check_time(record, now)


def check_decoded_all(records: Iterable[Record], *, neighbourhood: bytes, now: int) -> None:
    """Steps 2-3 of each of ``records``, in order; raises the first failure
    (a message's records, judged together)."""
    latest = now + MAX_FUTURE_SKEW_MS
    for record in records:
        if record.neighbourhood != neighbourhood or record.time > latest:
            check_decoded(record, neighbourhood=neighbourhood, now=now)


def check_unsigned(raw: bytes, *, neighbourhood: bytes, now: int) -> Record:
    """Steps 1-3 (decode, neighbourhood, time bound) of ``raw``; the signature
    is left to :func:`check_signature`. Returns the record or raises the first
    failure."""
    record = decode_record(raw)
    if record.neighbourhood != neighbourhood or record.time > now + MAX_FUTURE_SKEW_MS:
        check_decoded(record, neighbourhood=neighbourhood, now=now)
    return record


def check_record(raw: bytes, *, neighbourhood: bytes, now: int) -> Record:
    """Steps 1-4 of ``raw``: decoded once, signature checked once. Returns the
    record or raises the first failure. Thread-safe."""
    # check_unsigned and check_signature written out: a checking process
    # runs this for every record a new device takes in.
    record = decode_record(raw)
    if record.neighbourhood != neighbourhood or record.time > now + MAX_FUTURE_SKEW_MS:
        check_decoded(record, neighbourhood=neighbourhood, now=now)
    verify_record(record)
    return record


def check_own(record: Record, *, neighbourhood: bytes | None, head: tuple[int, bytes | None]) -> None:
    """The checks a device's own new record gets before it is logged.

    Own records skip the pipeline (the device writes what it writes), but two
    of its rules still apply, with the same error types: step 2 (the record
    belongs to ``neighbourhood``; a genesis only when there is none yet, as it
    founds one) and the chain link against the durable head ``head`` = (seq,
    id) of the author's chain, held records and waiting ones alike: seq one
    above (:class:`~.validation.SeqNotIncremental`: anything else forks the
    chain or leaves a gap) and prev naming it (:class:`~.validation.PrevMismatch`).
    Raises the first failure.
    """
    if neighbourhood is not None:
        check_neighbourhood(record, neighbourhood)
    seq, rid = head
    if record.seq != seq + 1:
        raise SeqNotIncremental(seq + 1, record.seq)
    if record.prev != rid:
        raise PrevMismatch(rid, record.prev)


def is_forgery(error: RemoteError) -> bool:
    """Whether ``error`` marks the peer that sent the record as faulty: it
    failed a check that every member runs before it stores or forwards a
    record, and that gives the same answer everywhere."""
    return isinstance(error, (DecodeError, BadSignature, WrongNeighbourhood))


# -- steps 5-9: the log --------------------------------------------------------------

_ADMIT, _WAIT, _LIMITED = Admission.ADMIT, Admission.WAIT, Admission.LIMITED

# A batch's fields are read with comprehensions and plain loops: in CPython
# 3.11 they beat ``map(attrgetter(...), records)`` (specialised attribute
# reads against a generic getattr per record), 1.5-3x at gossip batch sizes.


@dataclass(frozen=True, slots=True)
class Rejection:
    """One record refused by an ingest, and why."""

    index: int | None  #: position in the batch; None for a record that had been waiting
    record_id: bytes | None  #: None when the bytes did not decode
    error: RemoteError


@dataclass(frozen=True, slots=True)
class Fork:
    """Two records signed by one author at one seq: proof the author forked."""

    author: bytes
    seq: int
    first_id: bytes  #: the one that arrived first
    second_id: bytes


@dataclass(slots=True)
class IngestReport:
    """What one ingest did."""

    added: list[bytes] = field(default_factory=list)  #: ids now in the log, in insertion order
    #: the records of ``added``, same order (or their rows: :class:`.record_log.LogRow`)
    logged: list[Logged] = field(default_factory=list)
    duplicates: int = 0  #: records already held (log, waiting room or earlier in the batch)
    waiting: int = 0  #: records of this batch left in the waiting room
    rejected: list[Rejection] = field(default_factory=list)
    forks: list[Fork] = field(default_factory=list)
    dropped_waiting: int = 0  #: waiting records pushed out by the room's bounds


class Intake:
    """Steps 5-9 for one batch, over a :class:`RecordLog`.

    Feed it with :meth:`take` (a record that passed steps 1-4) and
    :meth:`refuse` (one that failed), in batch order; :meth:`flush` appends
    what was decided so far (a store may write while later records are still
    being checked); :meth:`finish` re-checks the waiting room, appends the
    rest, keeps the fork evidence and returns the report.

    ``admissions`` and ``room`` are changed in memory as the batch goes; a
    caller whose storage then fails must reload both.
    """

    __slots__ = (
        "log", "admissions", "room", "now", "report", "grew",
        "_flushed", "_at_seq", "_unindexed", "_unindexed_keys", "_waiting_from_batch", "_admits",
        "lamport_limit",
    )

    def __init__(
        self, log: RecordLog, admissions: Admissions, room: WaitingRoom, now: int
    ) -> None:
        self.log = log
        self.admissions = admissions
        self.room = room
        self.now = now
        self.report = IngestReport()
        self._flushed = 0  #: records of ``report.logged`` already appended
        #: (author, seq) -> ids at it, in the log before the batch or logged by it
        self._at_seq: dict[tuple[bytes, int], list[bytes]] = {}
        #: (keys, ids) of batches logged by :meth:`log_admitted` without a
        #: fork, one id at each key, not in ``_at_seq`` yet: written there
        #: only if a later record of this intake asks (:meth:`_seqs`)
        self._unindexed: list[tuple[list[tuple[bytes, int]], list[bytes]]] = []
        self._unindexed_keys: set[tuple[bytes, int]] = set()  #: the keys of ``_unindexed``
        self._waiting_from_batch: set[bytes] = set()
        self.grew = False  #: membership grew: the waiting room deserves a look
        self._admits = admissions.membership.admits
        #: step 5b: the highest counter a record may carry (grows as the batch logs)
        self.lamport_limit = log.lamport_reach() + MAX_LAMPORT_LEAD

    def already_held(self, ids: Collection[bytes]) -> set[bytes]:
        """Step 5 before any check: the subset of ``ids`` in the log or the
        waiting room (the caller counts them with :meth:`duplicate`)."""
        waiting = self.room.entries
        held = self.log.present(ids)
        if waiting:
            held.update(rid for rid in ids if rid in waiting)
        return held

    def duplicate(self, count: int = 1) -> None:
        self.report.duplicates += count

    def refuse(self, index: int | None, record_id: bytes | None, error: RemoteError) -> None:
        """A record of the batch failed one of steps 1-4."""
        self.report.rejected.append(Rejection(index, record_id, error))

    def take(self, index: int | None, record: Logged) -> None:
        """Steps 5-9 for ``record``, which passed steps 1-4 (a membership
        record whole; any other may be its row)."""
        waiting = self.room.entries
        if waiting and record.id in waiting:
            self.report.duplicates += 1
            return
        if self.too_far_ahead(index, record):
            return
        self.decided(index, record, self._admits(record))

    def take_all(self, items: Iterable[tuple[int | None, Logged]]) -> None:
        """:meth:`take` for each (index, record) of ``items``, in order. A
        record that passes steps 5-6 plainly (not waiting, within the
        Lamport bound, admitted, no membership record) joins a run that is
        logged at once (:meth:`log_admitted`) before the next record taken
        one by one: the same steps in the same order, for a sync batch's
        usual records, at a fraction of the cost."""
        run: list[Logged] = []
        admits = self._admits
        waiting = self.room.entries
        for index, record in items:
            if (
                record.lamport <= self.lamport_limit and record.kind not in ADMISSION_KINDS
                and not (waiting and record.id in waiting) and admits(record) is _ADMIT
            ):
                run.append(record)
                if record.lamport + MAX_LAMPORT_LEAD > self.lamport_limit:
                    self.lamport_limit = record.lamport + MAX_LAMPORT_LEAD
                continue
            if run:
                self.log_admitted(run)
                run = []
            self.take(index, record)
        if run:
            self.log_admitted(run)

    def too_far_ahead(self, index: int | None, record: Record) -> bool:
        """Step 5b: refuse ``record`` (and say so) if its counter lies beyond
        the bound the log and this batch have reached."""
        if record.lamport <= self.lamport_limit:
            return False
        try:
            check_lamport(record, self.lamport_limit - MAX_LAMPORT_LEAD)
        except RemoteError as error:
            self.refuse(index, record.id, error)
            return True
        return False

    def decided(self, index: int | None, record: Record, verdict: Admission) -> None:
        """Steps 7-9 for ``record``, not held nor waiting, once step 6 gave
        ``verdict`` (the rest of :meth:`take`)."""
        if verdict is _ADMIT:
            if not self._log(record):
                self.report.duplicates += 1  # earlier in the batch
        elif verdict is _WAIT:
            self._wait(record)
        elif verdict is _LIMITED and not self._seq_taken(record):
            self._log(record)
        else:
            self.refuse(index, record.id, self.admissions.membership.refusal(record))

    def _seq_taken(self, record: Record) -> bool:
        """Whether the log or this batch holds a record at ``record``'s
        (author, seq): a device past its cut keeps one record per seq."""
        key = (record.author, record.seq)
        held = self._at_seq.get(key)
        if held is None:
            held = self._at_seq[key] = self.log.ids_at_seq(record.author, record.seq)
        return bool(held)

    def _wait(self, record: Record) -> None:
        self.log.keep_waiting(record, self.now)
        for dropped in self.room.add(record.id, record.author, record.kind, len(record.raw)):
            self.log.forget_waiting(dropped)
            self.report.dropped_waiting += 1
            self._waiting_from_batch.discard(dropped)
        self._waiting_from_batch.add(record.id)

    def _log(self, record: Record) -> bool:
        """Steps 8-9 for an admitted record; False if this batch logged it already."""
        rid, author, seq = record.id, record.author, record.seq
        key = (author, seq)
        at_seq = self._seqs() if key in self._unindexed_keys else self._at_seq
        held = at_seq.get(key)
        report = self.report
        if held is None:
            held = at_seq[key] = self.log.ids_at_seq(author, seq)
        elif rid in held:
            return False
        if held:
            forks = report.forks
            for other in held:
                forks.append(Fork(author, seq, other, rid))
        held.append(rid)
        if record.lamport + MAX_LAMPORT_LEAD > self.lamport_limit:
            self.lamport_limit = record.lamport + MAX_LAMPORT_LEAD
        report.added.append(rid)
        report.logged.append(record)
        if record.kind in ADMISSION_KINDS and self.admissions.learn(record, admitted=True):
            self.grew = True
        return True

    def _seqs(self) -> dict[tuple[bytes, int], list[bytes]]:
        """(author, seq) -> ids at it, in the log before the batch or
        logged by it (what :meth:`log_admitted` left unwritten included)."""
        at_seq = self._at_seq
        for keys, ids in self._unindexed:
            at_seq.update(zip(keys, map(list, zip(ids))))  # [id] at each key, in C
        self._unindexed.clear()
        self._unindexed_keys.clear()
        return at_seq

    def log_admitted(self, records: Sequence[Logged], ids: list[bytes] | None = None) -> None:
        """Steps 8-9 for ``records``, in batch order: each passed steps 1-5
        and step 6 admitted it. The same as :meth:`decided` with ADMIT for
        each, one record after the other; when no two of them share an
        (author, seq), none shares one with a record this intake took
        before, and none is a membership record (a gossip message's usual
        records, a sync batch's runs of admitted records), the lookups are
        made for the whole batch at once: the log's ids at each record's
        seq, and the fork evidence they give.
        ``ids``: the records' ids, when the caller has them already."""
        if not records:
            return
        keys = [(record.author, record.seq) for record in records]
        if (
            len(set(keys)) < len(keys)
            or not ADMISSION_KINDS.isdisjoint([record.kind for record in records])
            or not self._unindexed_keys.isdisjoint(keys)
            or (self._at_seq and not self._at_seq.keys().isdisjoint(keys))
        ):
            report = self.report
            for record in records:
                if not self._log(record):
                    report.duplicates += 1  # earlier in the batch
            return
        if ids is None:
            ids = [record.id for record in records]
        found = self.log.ids_at_seqs(keys)
        if any(found):  # a fork: the log holds another record at a seq
            forks = self.report.forks
            for (author, seq), held, rid in zip(keys, found, ids):
                for other in held:
                    forks.append(Fork(author, seq, other, rid))
                held.append(rid)
            self._at_seq.update(zip(keys, found))
        else:  # the usual case: nothing else at these seqs
            self._unindexed.append((keys, ids))
            self._unindexed_keys.update(keys)
        self.report.added.extend(ids)
        self.report.logged.extend(records)
        top = max([record.lamport for record in records]) + MAX_LAMPORT_LEAD
        if top > self.lamport_limit:
            self.lamport_limit = top

    def drain_waiting(self) -> None:
        """Step 7 again, until membership stops growing."""
        room, log, admissions = self.room, self.log, self.admissions
        while self.grew:
            self.grew = False
            admitted: list[tuple[Record, Admission]] = []
            rejected: list[tuple[Record, Admission]] = []
            for rid in room.candidates(admissions.membership.households):
                record = log.waiting_record(rid)
                verdict = admissions.admits(record)
                if verdict is Admission.WAIT:
                    continue
                room.remove(rid)
                log.forget_waiting(rid)
                (rejected if verdict is Admission.REJECT else admitted).append((record, verdict))
            for record, _ in rejected:
                self._waiting_from_batch.discard(record.id)
                self.refuse(None, record.id, admissions.membership.refusal(record))
            for record, verdict in admitted:
                self._waiting_from_batch.discard(record.id)
                self.decided(None, record, verdict)

    def flush(self) -> None:
        """Step 9 for the records decided since the last flush."""
        logged = self.report.logged
        if len(logged) > self._flushed:
            self.log.append(logged[self._flushed :])
            self._flushed = len(logged)

    def finish(self) -> IngestReport:
        if self.grew:
            self.drain_waiting()
        self.flush()
        report = self.report
        if report.forks:
            self.log.note_forks(report.forks)
        report.waiting = len(self._waiting_from_batch)
        if report.rejected:
            report.rejected.sort(key=lambda r: (r.index is None, r.index or 0))
        return report


def ingest_checked(
    log: RecordLog,
    admissions: Admissions,
    room: WaitingRoom,
    records: Sequence[Logged],
    *,
    neighbourhood: bytes,
    now: int,
    admitted: bool = False,
) -> IngestReport:
    """The pipeline for records already decoded and signature-checked (steps 1
    and 4 done, by the gossip validator through :func:`check_record` or by a
    simulator's table of checked records, or by the node's checking
    processes, which send rows of all but membership records:
    :class:`.record_log.LogRow`): steps 2-3 again (cheap, and on this
    clock), then 5-9. Bad records are reported, never raised.

    ``admitted``: step 6 gave ADMIT for every record already, by the
    membership of ``admissions`` (a gossip decision that accepted them,
    :func:`.gossip.decide`); admission never shrinks, so those verdicts
    still hold and are not asked again."""
    intake = Intake(log, admissions, room, now)
    ids = [record.id for record in records]
    held = intake.already_held(ids)
    latest = now + MAX_FUTURE_SKEW_MS
    if (
        admitted and not held and not room.entries and records
        and _pass_steps_2_3_5b(records, neighbourhood, latest, intake.lamport_limit)
    ):  # steps 2-5b pass for every record (a gossip message's usual case)
        intake.log_admitted(records, ids)
        return intake.finish()
    taken: list[tuple[int | None, Logged]] = []  #: records for steps 5-9, in batch order
    for index, record in enumerate(records):
        if held and record.id in held:
            intake.duplicate()
            continue
        # check_decoded's own first test, which nearly every record passes
        if record.neighbourhood != neighbourhood or record.time > latest:
            try:
                check_decoded(record, neighbourhood=neighbourhood, now=now)
            except RemoteError as error:
                intake.refuse(index, record.id, error)
                continue
        if admitted:
            waiting = room.entries
            if waiting and record.id in waiting:
                intake.duplicate()
            elif not intake.too_far_ahead(index, record):
                intake.decided(index, record, _ADMIT)
            continue
        taken.append((index, record))
    if taken:
        intake.take_all(taken)
    return intake.finish()


def _pass_steps_2_3_5b(records: Sequence[Record], neighbourhood: bytes, latest: int, lamport_limit: int) -> bool:
    """Whether every one of ``records`` passes steps 2, 3 and 5b as they
    stand: its neighbourhood is ``neighbourhood`` (a genesis has none, so
    never passes here), its time at most ``latest``, its Lamport counter at
    most ``lamport_limit``."""
    for record in records:
        if record.time > latest or record.lamport > lamport_limit or record.neighbourhood != neighbourhood:
            return False
    return True


def admit_waiting(log: RecordLog, admissions: Admissions, room: WaitingRoom) -> IngestReport:
    """Steps 7-9 for the waiting records, after membership grew outside an
    ingest (a device's own record, such as the invite a waiting join names)."""
    intake = Intake(log, admissions, room, now=0)
    intake.grew = True
    return intake.finish()


def learn_own(admissions: Admissions, record: Record) -> bool:
    """Let membership learn from this device's own ``record``, just logged.

    Own records skip the pipeline (the device writes what it writes, and the
    store checks it follows the chain); one that membership cannot admit yet
    (a join written before its invite arrived) is applied once it can.
    Returns True when membership grew: then :func:`admit_waiting`.
    """
    admitted = admissions.admits(record) in LOGGED
    return admissions.learn(record, admitted=admitted)
