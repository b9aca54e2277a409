"""Membership admission of a node's log, kept in step with the log.

:class:`meshpantry.core.membership.Membership` answers "may this record enter
the log?" from the membership records it has been fed. :class:`Admissions`
feeds it:

* when a store opens, every membership record of its log
  (:meth:`Admissions.replay`), repeating until nothing more is admitted,
  because the log may hold a device's own records that were written before
  their admission path arrived;
* every record entering the log (:meth:`Admissions.learn`).

A record enters the log from a peer only once admitted, but a device's own
records always enter (the device writes what it writes); one that is not yet
admissible, such as a join written before its invite arrived, is held in
``unapplied`` and applied as soon as membership grows enough to admit it.
"""

from __future__ import annotations

from collections.abc import Iterable

from protocol import Record

from .membership import ADMISSION_KINDS, Admission, Membership

__all__ = ["ADMISSION_KINDS", "LOGGED", "Admissions"]

#: The verdicts that let a record into the log.
LOGGED = frozenset({Admission.ADMIT, Admission.LIMITED})


class Admissions:
    """A :class:`Membership` plus the own records it could not apply yet."""

    def __init__(self, neighbourhood: bytes) -> None:
        self.membership = Membership(neighbourhood)
        self.unapplied: list[Record] = []

    def admits(self, record: Record) -> Admission:
        return self.membership.admits(record)

    def learn(self, record: Record, *, admitted: bool) -> bool:
        """Take in a record that just entered the log.

        ``admitted`` says whether :meth:`admits` returned ADMIT or LIMITED
        for it (always true for peers' records). Returns True if membership grew, so that
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

    def copy(self) -> "Admissions":
        """An independent copy (membership maps copied, records shared)."""
        twin = Admissions(self.membership.neighbourhood)
        twin.membership = self.membership.copy()
        twin.unapplied = list(self.unapplied)
        return twin

    def _apply_unapplied(self) -> None:
        progress = True
        while progress and self.unapplied:
            progress = False
            still: list[Record] = []
            for record in self.unapplied:
                if self.membership.admits(record) in LOGGED:
                    self.membership.add(record)
                    progress = True
                else:
                    still.append(record)
            self.unapplied = still
