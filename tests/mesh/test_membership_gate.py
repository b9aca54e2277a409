"""The membership gate between real node processes on loopback: only
members count as neighbours, sync and gossip; a newcomer with an invite joins
through the join handshake; a node of another neighbourhood is never dialled,
never counted and never remembered (an outsider that dials in is closed
after its join grace: tests/mesh/test_node_processes.py); a revoked device is
shut out.

::

    a0 ── a1 ── a2 (newcomer: joins with a0's invite, dials only a1)
     ╲
      b0 (another neighbourhood, dials a0: never a neighbour)
"""

from __future__ import annotations

import json
import time

import pytest

from meshpantry.pantry.errors import WillNotCount
from meshpantry.node.gate import JOIN_GRACE_S
from simulations.processes import NodeProcess, cli, eventually, free_port, make_neighbourhood, start_mesh

pytestmark = pytest.mark.timeout(300)

CLOSING = "not a member of this neighbourhood"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    root = tmp_path_factory.mktemp("gate")
    nodes = start_mesh(make_neighbourhood(root / "a", 2))
    yield nodes
    for node in nodes:
        node.stop()


def whole_log(node: NodeProcess) -> str:
    return (node.data_dir / "node-test.log").read_text(errors="replace")


def ids(node) -> set[str]:
    return set(node.call("dump")["ids"])


def converged(nodes) -> bool:
    return len({n.call("dump", ids=False)["ids_digest"] for n in nodes}) == 1


def test_a_node_of_another_neighbourhood_is_no_neighbour_and_is_not_dialled(mesh, tmp_path):
    """b0 (another neighbourhood) is told to dial a0: a0 is no member of its
    neighbourhood, so it never dials (not once, not again), stays an island,
    and neither remembers the other."""
    a0 = mesh[0]
    eventually(lambda: converged(mesh), 30, "a0 and a1 meet")
    (b_dir,) = make_neighbourhood(tmp_path / "b", 1)
    b0 = NodeProcess(b_dir, free_port(), peers=[a0.address])
    b0.start()
    try:
        b0.wait_ready()
        for _ in range(20):
            status = b0.call("status")
            assert status["island"] is not False and status["connected"] == []
            assert b0.peer_id not in a0.call("status")["connected"]
            time.sleep(0.5)
        assert b0.call("status")["discovery"]["dials"] == 0
        assert b0.peer_id not in {p["peer"] for p in a0.call("status")["peers"]}
        assert a0.call("status")["island"] is False  # a1 still is its neighbour
    finally:
        b0.stop()


def test_a_newcomer_with_an_invite_joins_through_the_handshake(mesh, tmp_path):
    """a2 joins with an invite a0 made, and reaches only a1 (which learnt the
    invite by gossip): a1 takes its join in the handshake, then they sync
    and a2 has the whole neighbourhood."""
    a0, a1 = mesh
    invite = a0.call("create_invite")
    eventually(lambda: invite["invite"] in ids(a1), 15, "a1 learns the invite")
    a2_dir = tmp_path / "a2"
    assert cli(a2_dir, "init", "--household", "House 2") == 0
    assert cli(a2_dir, "join", invite["code"]) == 0
    a2 = NodeProcess(a2_dir, free_port(), peers=[a1.address])
    a2.start()
    mesh.append(a2)
    a2.wait_ready()
    eventually(lambda: converged(mesh), 60, "the newcomer has the neighbourhood")
    eventually(lambda: a2.call("status")["island"] is False, 10, "a2 has a neighbour")
    assert a2.peer_id in a1.call("status")["connected"]
    names = {h["name"] for h in a0.call("neighbourhood_show")["households"]}
    assert "House 2" in names


def test_a_revoked_device_is_shut_out(mesh):
    """a0 (the admin) revokes a1: a0 stops counting it as a neighbour and
    closes its connection; a1's records written afterwards do not reach a0."""
    a0, a1 = mesh[0], mesh[1]
    eventually(lambda: converged(mesh), 30, "a0 holds a1's join")  # also when this test runs alone
    device = a1.call("whoami")["device"]
    a0.call("revoke", member_ref=device)
    eventually(lambda: a1.peer_id not in a0.call("status")["connected"], 15, "a1 no longer a neighbour of a0")
    eventually(lambda: CLOSING in whole_log(a0), JOIN_GRACE_S + 15, "a0 closes a1's connection")
    try:
        late = a1.call("offer_add", item="after revocation", quantity=1, unit="items")
    except WillNotCount as refused:  # a1 learned of its revocation: refused up front
        assert "revoked" in str(refused)
        return
    time.sleep(5)
    assert late["id"] not in ids(a0)
