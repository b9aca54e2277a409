"""A counter at 2^63 - 1, sent by a member's node over sync, is refused and
logged, and the receiving household writes on through restarts and a rebuild.

    Birch (member; its log holds a record with c = 2^63 - 1, as an older
    version stored it)  ──sync──▶  Alder: refuses it (LamportTooFarAhead),
                                   keeps Birch's honest records, still writes
"""

from __future__ import annotations

import time
from pathlib import Path

from cli.main import main
from meshpantry.pantry import Pantry
from meshpantry.store import log
from meshpantry.store.database import transaction
from protocol import seal
from protocol.limits import MAX_COUNTER, MAX_LAMPORT_LEAD
from tests.tui.nodes import run_node

SETTLE_S = 30.0


def wait_for(check, what: str):
    deadline = time.monotonic() + SETTLE_S
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def households(root: Path) -> tuple[Path, Path, bytes]:
    """Alder founds; Birch joins and writes an honest offer, then its log takes
    the exhausting record. Returns the two directories and that record's id."""
    alder_dir, birch_dir = root / "alder", root / "birch"
    alder = Pantry.create(alder_dir, "Alder")
    birch = Pantry.create(birch_dir, "Birch")
    try:
        alder.create_neighbourhood("Test Close", "Alder")
        birch.join(alder.create_invite()["code"], "Birch")
        for source, target in ((alder, birch), (birch, alder)):
            target.store.ingest([r.raw for r in source.store.records()], source.clock())
        birch.offer_add("honest pears", 2, "kg")
        head = birch.store.own_head(birch.device)
        poison = seal(
            birch.key.secret, neighbourhood=birch.neighbourhood, seq=head.seq + 1, prev=head.id,
            lamport=MAX_COUNTER, time=birch.clock(), kind="offer",
            body={"item": "poison", "quantity": 1, "unit": "kg"},
        )
        with transaction(birch.store._conn):
            log.insert(birch.store._conn, [poison])
    finally:
        alder.close()
        birch.close()
    return alder_dir, birch_dir, poison.id


def items(node) -> set[str]:
    return {o["item"] for o in node.call("offer_list")}


def test_a_members_exhausting_counter_arrives_by_sync_and_is_refused(tmp_path):
    alder_dir, birch_dir, poison_id = households(tmp_path)
    alder = run_node(alder_dir, None)
    birch = None
    try:
        listen = wait_for(lambda: alder.call("status").get("listen"), "Alder to listen")
        birch = run_node(birch_dir, None, ("--peer", listen[0]))
        wait_for(lambda: "honest pears" in items(alder), "Birch's honest offer at Alder")
        assert "poison" not in items(alder)
        first = alder.call("offer_add", item="apples", quantity=1, unit="kg")
        assert first["item"] == "apples"
    finally:
        alder.stop()
        if birch is not None:
            birch.stop()
    pantry = Pantry.open(alder_dir)
    try:
        assert log.get(pantry.store._conn, poison_id) is None
        counters = [r.lamport for r in pantry.store.records(author=pantry.device)]
        assert max(counters) < MAX_LAMPORT_LEAD
    finally:
        pantry.close()
    assert main(["--data-dir", str(alder_dir), "rebuild"]) == 0
    alder = run_node(alder_dir, None)
    try:
        assert alder.call("offer_add", item="more apples", quantity=1, unit="kg")["item"] == "more apples"
    finally:
        alder.stop()
