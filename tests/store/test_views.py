"""Everything derived from the log can be rebuilt from it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from meshpantry.core.state import build_state
from meshpantry.store import Store
from meshpantry.store.database import DB_FILE
from tests.core.records import TestNeighbourhood, fork_of


def busy_neighbourhood() -> TestNeighbourhood:
    nb = TestNeighbourhood()
    bea = nb.join(2, name="Bea")
    offer = nb.offer(nb.founder, "tomatoes", 5, "kg")
    claim = nb.claim(bea, offer, 2)
    nb.accept(nb.founder, claim, 2)
    meal = nb.meal(bea, "soup", needs=[("leeks", 3, "items")])
    nb.pledge(nb.founder, meal, "leeks", 2, "items")
    nb.recipe(bea, "stone soup", steps=["boil water"])
    return nb


def test_state_is_build_state_of_the_log_and_cached(store: Store):
    nb = busy_neighbourhood()
    store.set_setting("neighbourhood", nb.id)
    store.ingest([r.raw for r in nb.records], now=nb.clock)
    state = store.state()
    assert state == build_state(nb.records, nb.id)
    assert store.state() is state  # nothing changed: cached
    nb.offer(nb.devices[2], "kale")
    store.ingest([nb.records[-1].raw], now=nb.clock)
    assert store.state() is not state
    assert store.state() == build_state(nb.records, nb.id)


def test_rebuilding_views_from_the_log_gives_the_same_views(tmp_path: Path):
    """forks table wiped -> rebuild_views -> same forks, same state, same sync items"""
    nb = busy_neighbourhood()
    bea = nb.devices[2]
    first = nb.offer(bea, "leeks")
    twins = [fork_of(bea, first, {"item": f"twin {i}", "quantity": 1, "unit": "kg"}) for i in range(2)]
    with Store.open(tmp_path) as store:
        store.set_setting("neighbourhood", nb.id)
        store.ingest([r.raw for r in nb.records], now=nb.clock)
        store.ingest([twins[0].raw], now=nb.clock)
        store.ingest([twins[1].raw], now=nb.clock)
        forks, state, items = store.forks(), store.state(), store.sync_items()
        assert len(forks) == 3  # every pair of the three records at that seq
    conn = sqlite3.connect(tmp_path / DB_FILE, isolation_level=None)
    conn.execute("DELETE FROM forks")
    conn.close()
    with Store.open(tmp_path) as store:
        assert store.forks() == []
        store.rebuild_views()
        assert store.forks() == forks
        assert store.state() == state
        assert store.sync_items() == items
        # Membership rebuilt from the log admits Bea's next record directly.
        nb.offer(bea, "after rebuild")
        assert store.ingest([nb.records[-1].raw], now=nb.clock).added == [nb.records[-1].id]
