"""Membership admission of a store, loaded from its record log.

The rules and the in-memory state are the core's
(:class:`meshpantry.core.admission.Admissions`); a store builds one when it
opens (:func:`load`) and the ingest pipeline keeps it in step with every
record entering the log.
"""

from __future__ import annotations

import sqlite3

from meshpantry.core.admission import ADMISSION_KINDS, Admissions

from . import log

#: The log's records that :meth:`Membership.add` learns from, in log order.
_QUERY = (
    "SELECT raw FROM records WHERE kind IN ("
    + ", ".join(f"'{kind}'" for kind in sorted(ADMISSION_KINDS))
    + ") ORDER BY rowid"
)


def load(conn: sqlite3.Connection, neighbourhood: bytes) -> Admissions:
    """Admissions rebuilt from the membership records in the log."""
    admissions = Admissions(neighbourhood)
    admissions.replay(log.trusted_decode(raw) for (raw,) in conn.execute(_QUERY))
    return admissions
