"""The work a checking process does (:mod:`.checking`): steps 1-4 of the
ingest pipeline for a slice of raw records. Imports only the pure core, so a
worker starts in a tenth of a second."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from meshpantry.core.ingest import check_record, is_forgery
from protocol import Record
from protocol.errors import RemoteError


@dataclass(frozen=True, slots=True)
class Failure:
    """A record that failed steps 1-4: why, and whether only a forger or a
    broken peer sends it (see :func:`meshpantry.core.ingest.is_forgery`)."""

    reason: str
    forged: bool


def check_slice(raws: Sequence[bytes], neighbourhood: bytes, now: int) -> tuple[list[Record], list[Failure]]:
    """Steps 1-4 for each raw record, in order (runs in a worker process)."""
    records: list[Record] = []
    failures: list[Failure] = []
    for raw in raws:
        try:
            records.append(check_record(raw, neighbourhood=neighbourhood, now=now))
        except RemoteError as error:
            failures.append(Failure(str(error), is_forgery(error)))
    return records, failures
