"""Real node processes on loopback: a record missed while a relay was down is
repaired from the relay, although its author is out of reach.

::

    A ── R ── B        A and B never connect (each denies the other)
"""

from __future__ import annotations

import io
import json
import time
from contextlib import redirect_stdout

import pytest

from simulations.processes import cli, eventually, make_neighbourhood, start_mesh

pytestmark = pytest.mark.timeout(240)


def ids(node) -> set[str]:
    return set(node.call("dump")["ids"])


def agreed(nodes) -> bool:
    """Every node holds the same set; if not, each syncs with its peers (no
    routine sync runs here: the joiners' records cross the relay this way)."""
    if len({n.call("dump", ids=False, state=False)["ids_digest"] for n in nodes}) == 1:
        return True
    for node in nodes:
        node.call("sync_now")
    time.sleep(1.0)
    return False


def test_a_gap_is_repaired_from_the_relay_when_the_author_is_out_of_reach(tmp_path):
    """
    1. A is down and writes r1 offline: nobody else holds it, nothing gossips it.
    2. A comes back: its on-connect sync with R gives R r1; B, behind R,
       lacks it (no routine sync for an hour, and sync does not re-gossip).
    3. A writes r2: gossip A → R → B. B sees r1 missing; A is out of its
       reach, R (the forwarder) holds r1: B repairs the gap from R.
    """
    dirs = make_neighbourhood(tmp_path, 3)
    a, r, b = nodes = start_mesh(dirs, lambda i: [i - 1] if i else [], sync_interval=3600)
    try:
        a.call("deny_peers", peers=[b.peer_id])
        b.call("deny_peers", peers=[a.peer_id])
        eventually(lambda: agreed(nodes), 60, "initial sync through the relay")

        a.stop()
        out = io.StringIO()
        with redirect_stdout(out):
            assert cli(a.data_dir, "--json", "offer", "add", "r1", "1", "items") == 0
        r1 = json.loads(out.getvalue())["id"]
        a.start()
        a.wait_ready()
        a.call("deny_peers", peers=[b.peer_id])
        eventually(lambda: r1 in ids(r), 30, "R syncs r1 from A")
        assert r1 not in ids(b)

        r2 = a.call("offer_add", item="r2", quantity=1, unit="items")["id"]
        eventually(lambda: {r1, r2} <= ids(b), 30, "B holds r2 and repaired r1 from R")
    finally:
        for node in nodes:
            node.stop()
