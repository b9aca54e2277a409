"""Membership state of a store, kept in step with its record log.

:class:`meshpantry.core.membership.Membership` answers "may this record enter
the log?" from the membership records it has been fed. The store feeds it:

* on open, every membership record of the log (:func:`load`), repeating until
  nothing more is admitted, because the log may hold a device's own records
  that were written before their admission path arrived;
* on every record entering the log (:meth:`Admissions.learn`).

A record enters the log from a peer only once admitted, but a device's own
records always enter (the device writes what it writes); one that is not yet
admissible, such as a join written before its invite arrived, is held in
``unapplied`` and applied as soon as membership grows enough to admit it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from meshpantry.core.membership import ADMISSION_KINDS, Admission, Membership
from protocol import Record

from . import log

#: The log's records that :meth:`Membership.add` learns from, in log order.
_QUERY = (
    "SELECT raw FROM records WHERE kind IN ("
    + ", ".join(f"'{kind}'" for kind in sorted(ADMISSION_KINDS))
    + ") ORDER BY rowid"
)


class Admissions:
    """A :class:`Membership` plus the own records it could not apply yet."""

    def __init__(self, neighbourhood: bytes) -> None:
        self.membership = Membership(neighbourhood)
        self.unapplied: list[Record] = []

    def admits(self, record: Record) -> Admission:
        return self.membership.admits(record)

    def learn(self, record: Record, *, admitted: bool) -> bool:
        """Take in a record that just entered the log.

        ``admitted`` says whether :meth:`admits` returned ADMIT for it (always
        true for peers' records). Returns True if membership grew, so that
        waiting records deserve another look.
        """
        if record.kind not in ADMISSION_KINDS:
            return False
        if not admitted:
            self.unapplied.append(record)
            return False
        grew = self.membership.add(record)
        if grew:
            self._apply_unapplied()
        return grew

    def replay(self, records: Iterable[Record]) -> None:
        """Feed membership records in log order, applying what becomes admissible."""
        self.unapplied.extend(r for r in records if r.kind in ADMISSION_KINDS)
        self._apply_unapplied()

    def _apply_unapplied(self) -> None:
        progress = True
        while progress and self.unapplied:
            progress = False
            still: list[Record] = []
            for record in self.unapplied:
                if self.membership.admits(record) is Admission.ADMIT:
                    self.membership.add(record)
                    progress = True
                else:
                    still.append(record)
            self.unapplied = still


def load(conn: sqlite3.Connection, neighbourhood: bytes) -> Admissions:
    """Admissions rebuilt from the membership records in the log."""
    admissions = Admissions(neighbourhood)
    admissions.replay(log.trusted_decode(raw) for (raw,) in conn.execute(_QUERY))
    return admissions
