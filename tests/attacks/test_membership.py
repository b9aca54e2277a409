"""Peers that are not members of the neighbourhood, against ``h0``: one
that reads the topic, one whose join used a spent invite and whose records a
hostile member relays over sync, and a node of another neighbourhood that
dials in.

::

    outsider ──▶ h0 ── h1 ── h2      (h1, h2 also dial h0)
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from meshpantry.core.membership import MAX_UNCOUNTED_SEQS
from meshpantry.keys import DeviceKey
from meshpantry.pantry import Pantry
from meshpantry.store import log
from meshpantry.store.database import transaction
from simulations.processes import eventually, free_port, make_neighbourhood

from . import records as make
from .harness import GATE, GRACE_S, LoggingNode, attack, attacker_env, converged, fixed_on

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


def spent_invite_records(hood, count: int) -> tuple[DeviceKey, list]:
    """An outsider's join with the spent invite, made after the join that
    spent it (a higher counter: the use stays with the first joiner), and
    ``count`` offers of ~2 KB each after it."""
    outsider = DeviceKey.generate()
    spender = make.head_of(hood.attacker_dirs[-1])  # the member whose join spent the invite
    join = make.spent_join(hood.spent_code, outsider, lamport=spender[2] + 1)
    offers = make.chain(outsider, hood.id, (join.seq, join.id, join.lamport), count, item="waiting",
                        note="x" * 1800)
    return outsider, [join, *offers]


def planted(data_dir: Path, records: list) -> None:
    """Put ``records`` into the stopped store in ``data_dir`` as they are."""
    pantry = Pantry.open(data_dir)
    try:
        with transaction(pantry.store._conn):
            log.insert(pantry.store._conn, records)
    finally:
        pantry.close()


def relayed_over_sync(hood, records: list, out) -> int:
    """A hostile member (a fresh attacker key) that holds ``records`` syncs
    with h0; returns how many records h0 kept. Checks that h0's database
    grew by less than 1 MiB, and that h1 and h2 end with the same records."""
    relay_index = hood._next_attacker
    hood.attacker()
    relay_dir = hood.attacker_dirs[relay_index]
    planted(relay_dir, records)
    h0 = hood.nodes[0]
    before_bytes = database_bytes(h0.data_dir)
    before_count = h0.call("dump", ids=False)["count"]
    relay = LoggingNode(relay_dir, free_port(), peers=[h0.address])
    relay.start()
    try:
        relay.wait_ready()
        eventually(lambda: h0.call("dump", ids=False)["count"] > before_count, 30,
                   "h0 takes what the relay's sync brings")
        time.sleep(3.0)  # further sessions bring nothing more
        out.numbers["sample"]()
    finally:
        relay.stop()
    kept = h0.call("dump", ids=False)["count"] - before_count
    growth = (database_bytes(h0.data_dir) - before_bytes) / (1024 * 1024)
    out.numbers["kept"] = kept
    out.numbers["db_growth_mib"] = round(growth, 2)
    out.did = f"kept {kept} of {len(records)} records; refused the rest"
    assert growth < 1.0
    # h1 and h2 take the same records from h0 (and refuse the same)
    eventually(lambda: converged(hood.nodes), 30, "h1 and h2 keep the same records")
    return kept


def test_spent_invite_joiners_records_over_sync(hood):
    """Finding 6: an outsider whose join used a spent one-use invite has
    3,000 records of ~2 KB, and a hostile member that holds them all syncs
    with h0 (the outsider's own node would not get past the gate): h0 keeps
    the join and at most MAX_UNCOUNTED_SEQS of the records, refusing the
    rest because the joiner does not count."""
    _, records = spent_invite_records(hood, 3000)
    with attack(hood, FAMILY, "spent invite's joiner's 3,000 x 2 KB, relayed by sync", reason=r"does not count",
                changes_store=True) as out:
        kept = relayed_over_sync(hood, records, out)
        assert kept <= 1 + MAX_UNCOUNTED_SEQS


def test_revoked_members_records_relayed_over_sync(hood):
    """Finding 6: a member that has not learned of r0's revocation holds
    300 records r0 wrote after it, and syncs with h0: h0 keeps at most
    MAX_UNCOUNTED_SEQS of them (the budget past ``after_seq``)."""
    late = make.chain(hood.revoked, hood.id, make.head_of(hood.root / "r0"), 300, item="after revocation",
                      note="x" * 1800)
    with attack(hood, FAMILY, "revoked member's 300 records, relayed by sync", reason=r"does not count",
                changes_store=True) as out:
        kept = relayed_over_sync(hood, late, out)
        assert kept <= MAX_UNCOUNTED_SEQS


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
