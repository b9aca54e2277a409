"""Peers that are not members of the neighbourhood, against ``h0``: one
that reads the topic, one that fills the waiting room over sync, and a node
of another neighbourhood that dials in.

::

    outsider ──▶ h0 ── h1 ── h2      (h1, h2 also dial h0)
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from meshpantry.keys import DeviceKey
from meshpantry.pantry import Pantry
from meshpantry.store import log
from meshpantry.store.database import transaction
from simulations.processes import eventually, free_port, make_neighbourhood

from . import records as make
from .harness import GATE, GRACE_S, LoggingNode, attack, attacker_env, fixed_on

pytestmark = pytest.mark.timeout(300)

FAMILY = "members"

CLOSED = r"not a member"


def database_bytes(data_dir: Path) -> int:
    return sum(p.stat().st_size for p in data_dir.glob("meshpantry.sqlite3*"))


@fixed_on("trustnet", GATE)
def test_non_member_reads_the_topic(hood):
    """Finding 6: an outsider subscribes to the neighbourhood's topic while
    h1 writes: it receives nothing."""
    outsider = DeviceKey.generate()
    with attack(hood, FAMILY, "non-member reads the topic", reason=CLOSED, changes_store=True) as out:
        reader = subprocess.Popen(
            [sys.executable, "-m", "tests.attacks.peer", "read", hood.nodes[0].address, outsider.seed.hex(),
             hood.hex, str(GRACE_S + 5)], stdout=subprocess.PIPE, text=True, env=attacker_env(),
            cwd=Path(__file__).resolve().parents[2])
        try:
            assert reader.stdout.readline().strip() == "subscribed"
            time.sleep(2.5)  # the mesh forms in a heartbeat or two
            for index in range(5):
                hood.nodes[0].call("offer_add", item=f"secret {index}", quantity=1, unit="items")
            received = int(reader.stdout.readline().strip().split(": ")[1])
        finally:
            reader.wait(30)
        out.numbers["records_read"] = received
        out.did = f"outsider received {received} records"
        assert received == 0


def outsider_store(root: Path, spent_code: str, count: int) -> Path:
    """A household whose join used a spent invite (so it never counts), with
    ``count`` offers of ~2 KB each in its log."""
    data_dir = root / "outsider"
    pantry = Pantry.create(data_dir, "Outsider")
    try:
        pantry.join(spent_code, "Outsider")
        head = pantry.store.own_head(pantry.device)
        offers = make.chain(pantry.key, pantry.neighbourhood, (head.seq, head.id, head.lamport), count,
                            item="waiting", note="x" * 1800)
        with transaction(pantry.store._conn):
            log.insert(pantry.store._conn, offers)
    finally:
        pantry.close()
    return data_dir


@pytest.mark.xfail(strict=False, reason=(
    "open (the outcome varies from run to run, so not strict): a join made with a spent one-use invite is admitted to the log (admission never shrinks; use "
    "counts are a view rule), so the joiner's records are stored though they never count; the gate no longer "
    "calls it a member (the handshake answers 'refused'), but h0 still stores what it sends"))
def test_non_member_sync_fills_the_waiting_room(hood, tmp_path):
    """Finding 6: a non-member node offers 3,000 records of ~2 KB over sync:
    h0 takes none of them into its waiting room (the database grows by less
    than 1 MiB)."""
    outsider_dir = outsider_store(tmp_path, hood.spent_code, 3000)
    h0 = hood.nodes[0]
    before = database_bytes(h0.data_dir)
    with attack(hood, FAMILY, "non-member sync (3,000 x 2 KB)", reason=CLOSED) as out:
        outsider = LoggingNode(outsider_dir, free_port(), peers=[h0.address])
        outsider.start()
        try:
            outsider.wait_ready()
            time.sleep(max(4.0, GRACE_S))
            out.numbers["sample"]()
        finally:
            outsider.stop()
        growth = (database_bytes(h0.data_dir) - before) / (1024 * 1024)
        out.numbers["db_growth_mib"] = round(growth, 1)
        assert growth < 1.0


@fixed_on("trustnet", GATE)
def test_node_of_another_neighbourhood(hood, tmp_path):
    """Finding 6: b0, of another neighbourhood, is told to dial h0: neither
    counts the other as a neighbour, neither remembers or redials the other."""
    (b_dir,) = make_neighbourhood(tmp_path / "b", 1)
    h0 = hood.nodes[0]
    with attack(hood, FAMILY, "foreign neighbourhood's node dials in", reason=None) as out:
        b0 = LoggingNode(b_dir, free_port(), peers=[h0.address])
        b0.start()
        try:
            b0.wait_ready()
            time.sleep(3)
            status = b0.call("status")
            out.numbers["b0_island"] = status["island"]
            out.numbers["b0_connected"] = len(status["connected"])
            remembered = b0.peer_id in {p["peer"] for p in h0.call("status")["peers"]}
            out.did = f"b0 island={status['island']}, h0 remembers b0: {remembered}"
            assert status["island"] is not False and status["connected"] == []
            assert not remembered
            out.logged = next((line.split(": ", 1)[-1] for line in b0.log_text().splitlines()
                               if "member" in line), "(b0 never dialled h0)")[:160]
        finally:
            b0.stop()
