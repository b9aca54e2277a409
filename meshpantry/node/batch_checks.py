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
from meshpantry.core.record_log import Logged, log_row
from protocol import Record
from protocol.errors import RemoteError


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


def check_slice(raws: Sequence[bytes], neighbourhood: bytes, now: int) -> tuple[list[Logged], list[Failure]]:
    """Steps 1-4 for each raw record, in order (runs in a worker process).
    The records that pass go back as their log rows
    (:class:`~meshpantry.core.record_log.LogRow`: a sixth of the node's cost
    to take back), membership records whole (admission reads their
    bodies)."""
    records: list[Logged] = []
    failures: list[Failure] = []
    keep, check, row = records.append, check_record, log_row  # looked up once a slice
    for raw in raws:
        try:
            record = check(raw, neighbourhood=neighbourhood, now=now)
        except RemoteError as error:
            failures.append(Failure(str(error), is_forgery(error)))
            continue
        keep(record if record.kind in ADMISSION_KINDS else row(record, neighbourhood))
    return records, failures
