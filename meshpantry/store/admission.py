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
from .view_schema import MEMBERSHIP_IN, membership_where

# The condition of the partial index ``records_membership_kinds``, written
# exactly as the index names it: SQLite reads a partial index only for a
# query whose WHERE repeats the index's own term (the same kinds in another
# order made every open read the whole log).
assert set(MEMBERSHIP_IN.strip("()").replace("'", "").replace(" ", "").split(",")) == ADMISSION_KINDS

#: The log's records that :meth:`Membership.add` learns from, in log order.
QUERY = f"SELECT raw FROM records WHERE {membership_where()} ORDER BY rowid"


def load(conn: sqlite3.Connection, neighbourhood: bytes) -> Admissions:
    """Admissions rebuilt from the membership records in the log."""
    admissions = Admissions(neighbourhood)
    admissions.replay(log.trusted_decode(raw) for (raw,) in conn.execute(QUERY))
    return admissions
