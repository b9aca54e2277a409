"""The outage clock kept in the store's settings, and what ``status`` says of it.

The node feeds :class:`meshpantry.core.outage.OutageClock` from its peer
watch and saves it here (:func:`save_clock`); ``status`` reads it back, with
the node running or not (:func:`outage_status`). When an outage ends, the
log's position at that moment is kept, so the records logged since are what
arrived while apart.
"""

from __future__ import annotations

from typing import Any, Collection

from meshpantry.core.outage import OutageClock, arrived_while_apart, hours_since, perishable
from meshpantry.store import Store

BEGAN = "outage_began"
ENDED = "outage_ended"
#: The log's last arrival number when the outage ended.
REUNION_MARK = "outage_reunion_rowid"

#: (database directory, mark) -> (rowid counted up to, summary): status is
#: polled during the catch-up, so each poll folds in only the records that
#: arrived since the last.
_summaries: dict[tuple[str, int], tuple[int, dict[str, int]]] = {}


def load_clock(store: Store) -> OutageClock:
    return OutageClock(began=store.get_setting(BEGAN), ended=store.get_setting(ENDED))


def save_clock(store: Store, old: OutageClock, new: OutageClock) -> None:
    """Persist what changed between ``old`` and ``new``."""
    if new.began != old.began:
        store.set_setting(BEGAN, new.began)
        store.set_setting(ENDED, None)
        store.set_setting(REUNION_MARK, None)
    if new.ended != old.ended and new.ended is not None:
        store.set_setting(ENDED, new.ended)
        store.set_setting(REUNION_MARK, store.last_rowid())


def outage_status(store: Store, now: int, own_devices: Collection[bytes]) -> dict[str, Any]:
    """``{"in_outage", "began", "ended", "hours", "arrived"}``: ``hours`` since
    the outage began (while it lasts) or how long it lasted; ``arrived`` the
    counts of what reached this device since it ended (None during one)."""
    clock = load_clock(store)
    if clock.began is None:
        return {"in_outage": False, "began": None, "ended": None, "hours": None, "arrived": None}
    arrived = None
    mark = store.get_setting(REUNION_MARK)
    if clock.ended is not None and mark is not None:
        key = (str(store.directory), mark)
        upto, arrived = _summaries.get(key, (mark, {}))
        newest = store.last_rowid()
        if newest != upto or key not in _summaries:
            fresh = arrived_while_apart(store.records(since_rowid=upto), set(own_devices))
            arrived = {k: arrived.get(k, 0) + fresh.get(k, 0) for k in sorted(set(arrived) | set(fresh))}
            _summaries[key] = (newest, arrived)
    return {
        "in_outage": clock.in_outage, "began": clock.began, "ended": clock.ended,
        "hours": hours_since(clock.began, clock.ended if clock.ended is not None else now),
        "arrived": arrived,
    }


def annotate_offers(offers: list[dict], store: Store, now: int) -> list[dict]:
    """Beside each perishable offer's best-before, during an outage, the
    hours since it began (``outage_hours``): a fridge without power for a
    day makes yesterday's best-before a guess."""
    clock = load_clock(store)
    if clock.in_outage:
        hours = hours_since(clock.began, now)
        for offer in offers:
            if perishable(offer):
                offer["outage_hours"] = hours
    return offers
