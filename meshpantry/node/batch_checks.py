"""The work a checking process does (:mod:`.checking`): steps 1-4 of the
ingest pipeline for a slice of raw records. Imports only the pure core, so a
worker starts in a tenth of a second."""

from __future__ import annotations

import copyreg
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Sequence

from meshpantry.core.admission import ADMISSION_KINDS
from meshpantry.core.ingest import check_record, is_forgery
from meshpantry.core.record_log import Logged, as_rows, row_fields, row_of_fields
from protocol import Record, verify_record
from protocol.envelope import plain_fields, verify_signed
from protocol.errors import RemoteError
from protocol.limits import MAX_FUTURE_SKEW_MS


_RECORD_FIELDS = attrgetter(*(f.name for f in fields(Record)))


def _record_reduce(record: Record) -> tuple:
    return Record, _RECORD_FIELDS(record)


# A checked membership record goes back to the node pickled as Record(*fields): the
# default pickling of a frozen dataclass with slots looks its fields up again
# for every record, on both sides (7.0 µs to pickle and 8.9 to unpickle a
# record, against 3.7 and 3.2; the node's side holds the GIL its thread
# stores with).
copyreg.pickle(Record, _record_reduce)


@dataclass(frozen=True, slots=True)
class Failure:
    """A record that failed steps 1-4: why, and whether only a forger or a
    broken peer sends it (see :func:`meshpantry.core.ingest.is_forgery`)."""

    reason: str
    forged: bool


#: What a checking process sends back for a slice: the rows of the records
#: that passed as plain tuples (:func:`~meshpantry.core.record_log.row_fields`;
#: an empty tuple where a membership record stands), the membership records
#: with their places, and the failures. :func:`unpacked` makes it the pair
#: :func:`check_slice` returns.
Packed = tuple[list[tuple], list[tuple[int, Record]], list[Failure]]


def check_slice_packed(raws: Sequence[bytes], neighbourhood: bytes, now: int) -> Packed:
    """Steps 1-4 for each raw record, in order (runs in a worker process),
    as :data:`Packed`: a row as a plain tuple pickles in a quarter of a
    :class:`~meshpantry.core.record_log.LogRow`'s time.

    A record is :func:`~meshpantry.core.ingest.check_record`'s: its fields
    are read by the decoder's short path (:func:`protocol.envelope.plain_fields`)
    and, when steps 2-3 pass on them, its signature is checked and its row
    made from them, without a :class:`Record` (building one was a third of
    a decode). Any other record (one the short path does not read, one that
    fails step 2 or 3) goes through ``check_record`` itself, which raises
    the error it always did; the short path's own errors (the body
    schema's, a bad signature) are the ones ``check_record`` raises."""
    rows: list[tuple] = []
    members: list[tuple[int, Record]] = []
    failures: list[Failure] = []
    keep, check, fields_of, verify, row_of = rows.append, check_record, plain_fields, verify_signed, row_of_fields
    latest = now + MAX_FUTURE_SKEW_MS
    for raw in raws:
        try:
            found = fields_of(raw)
            if found is None or found[4] != neighbourhood or found[8] > latest:
                record = check(raw, neighbourhood=neighbourhood, now=now)
                if record.kind in ADMISSION_KINDS:
                    members.append((len(rows), record))
                    keep(())
                else:
                    keep(row_fields(record, neighbourhood))
                continue
            rid, payload, signature, author, _, seq, prev, lamport, time_ms, kind, body = found
            if kind in ADMISSION_KINDS:
                record = Record(raw, *found)
                verify_record(record)
                members.append((len(rows), record))
                keep(())
                continue
            verify(rid, payload, signature, author)
        except RemoteError as error:
            failures.append(Failure(str(error), is_forgery(error)))
            continue
        keep(row_of(neighbourhood, rid, author, seq, prev, lamport, time_ms, kind, body, raw))
    return rows, members, failures


def unpacked(packed: Packed) -> tuple[list[Logged], list[Failure]]:
    """The records that passed (rows, membership records whole) in order,
    and the failures, of a :data:`Packed` slice."""
    rows, members, failures = packed
    records: list[Logged] = as_rows(rows)
    for at, record in members:
        records[at] = record
    return records, failures


def check_slice(raws: Sequence[bytes], neighbourhood: bytes, now: int) -> tuple[list[Logged], list[Failure]]:
    """Steps 1-4 for each raw record, in order. The records that pass come
    back as their log rows (:class:`~meshpantry.core.record_log.LogRow`: a
    sixth of the node's cost to take back), membership records whole
    (admission reads their bodies)."""
    return unpacked(check_slice_packed(raws, neighbourhood, now))
