"""Real node processes on loopback: live gossip, catch-up after a power cut,
partitions that heal, and clean shutdown.

::

    h0 ── h1 ── h2        (each also dials h0)
"""

from __future__ import annotations

import pytest

from meshpantry.pantry import Pantry
from meshpantry.store.errors import StoreLocked

from simulations.processes import eventually, make_neighbourhood, start_mesh

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def mesh(tmp_path):
    dirs = make_neighbourhood(tmp_path, 3)
    nodes = start_mesh(dirs)
    yield nodes
    for node in nodes:
        node.stop()


def ids(node) -> set[str]:
    return set(node.call("dump")["ids"])


def converged(nodes) -> bool:
    dumps = [n.call("dump", ids=False) for n in nodes]
    return len({(d["ids_digest"], d.get("state_digest")) for d in dumps}) == 1


def test_members_meet_and_an_offer_reaches_every_node(mesh):
    """Joiners learn the neighbourhood through sync; a new offer then spreads live."""
    eventually(lambda: converged(mesh), 30, "initial sync")
    eventually(lambda: all(n.call("status")["island"] is False for n in mesh), 10, "every node has a neighbour")
    offer = mesh[2].call("offer_add", item="leeks", quantity=4, unit="items")
    for node in mesh:
        eventually(lambda node=node: any(o["id"] == offer["id"] for o in node.call("offer_list")), 10,
                   f"offer on {node.data_dir.name}")
    names = {h["name"] for h in mesh[0].call("neighbourhood_show")["households"]}
    assert names == {"House 0", "House 1", "House 2"}


def test_a_killed_node_catches_up_after_restart(mesh):
    """Power cut on h2: it misses records, then syncs them when it returns."""
    eventually(lambda: converged(mesh), 30, "initial sync")
    mesh[2].kill()
    written = [mesh[0].call("offer_add", item=f"jar {i}", quantity=1, unit="items")["id"] for i in range(20)]
    mesh[2].start()
    mesh[2].wait_ready()
    eventually(lambda: set(written) <= ids(mesh[2]), 30, "catch-up after restart")
    eventually(lambda: converged(mesh), 30, "convergence after restart")


def test_islands_keep_writing_and_converge_after_rejoining(mesh):
    """Cut h0 off from h1 and h2; both sides write; links return; all agree."""
    eventually(lambda: converged(mesh), 30, "initial sync")
    others = [mesh[1].peer_id, mesh[2].peer_id]
    mesh[0].call("deny_peers", peers=others)
    for node in mesh[1:]:
        node.call("deny_peers", peers=[mesh[0].peer_id])
    eventually(lambda: mesh[0].call("status")["island"], 10, "h0 becomes an island")
    lone = [mesh[0].call("offer_add", item=f"lone {i}", quantity=2, unit="g")["id"] for i in range(5)]
    pair = [mesh[1].call("recipe_add", title=f"pair {i}", steps=["mix"])["id"] for i in range(5)]
    eventually(lambda: set(pair) <= ids(mesh[2]), 10, "the pair island shares its records")
    assert not set(pair) & ids(mesh[0]) and not set(lone) & ids(mesh[1])
    for node in mesh:
        node.call("allow_peers")
    eventually(lambda: converged(mesh), 60, "convergence after the partition heals")
    assert set(lone) | set(pair) <= ids(mesh[1])


def test_a_running_node_owns_the_store(mesh):
    """A second writer gets a clear message; commands go through the node."""
    with pytest.raises(StoreLocked, match="another meshpantry process"):
        Pantry.open(mesh[0].data_dir)


def test_sigterm_stops_cleanly_and_keeps_acknowledged_records(mesh):
    offer = mesh[1].call("offer_add", item="bread", quantity=1, unit="loaf")
    assert mesh[1].stop() == 0
    assert not (mesh[1].data_dir / "node.sock").exists()
    pantry = Pantry.open(mesh[1].data_dir)
    try:
        assert pantry.store.has(bytes.fromhex(offer["id"]))
    finally:
        pantry.close()


def test_a_hostile_outsider_is_refused_and_cut_off_while_the_others_keep_syncing(mesh):
    """Garbage, an oversized frame, a truncated frame and forged records on the
    sync protocol, and a forged record on gossip, from a key that is no
    member: the membership gate refuses every stream before a byte is read,
    closes the connection once its join grace is over, accepts none of it,
    and honest members keep exchanging records. (Nothing to ban: it never
    got to speak.)"""
    import subprocess
    import sys

    eventually(lambda: converged(mesh), 30, "initial sync")
    target = mesh[0]
    neighbourhood = target.call("whoami")["neighbourhood"]
    before = ids(target)
    hostile = subprocess.run(
        [sys.executable, "-m", "tests.mesh.hostile", target.address, neighbourhood, "sync"],
        capture_output=True, text=True, timeout=120,
    )
    assert hostile.returncode == 0, hostile.stderr[-2000:]
    lines = dict(line.split(": ", 1) for line in hostile.stdout.splitlines())
    assert set(lines) == {"garbage", "oversized", "truncated", "forged", "after"}
    assert not any(outcome.startswith("open") for outcome in lines.values()), lines
    assert target.call("status")["banned"] == []  # refused before it could send a byte
    assert ids(target) == before, "nothing from the hostile peer was accepted"
    forger = subprocess.run(
        [sys.executable, "-m", "tests.mesh.hostile", mesh[2].address, neighbourhood, "gossip"],
        capture_output=True, text=True, timeout=120,
    )
    assert forger.returncode == 0, forger.stderr[-2000:]
    assert forger.stdout.strip() == "gossip: cut off"
    assert "not a member of this neighbourhood" in mesh[2].log_text()
    assert ids(mesh[2]) <= ids(mesh[0]) | ids(mesh[1])
    assert all(n.call("status")["island"] is False for n in mesh)
    offer = mesh[1].call("offer_add", item="after the storm", quantity=1, unit="items")
    for node in mesh:
        eventually(lambda node=node: offer["id"] in ids(node), 15, "honest records still flow")


def test_stop_command_stops_the_node(mesh):
    """'meshpantry stop' asks the node to shut down cleanly through its socket."""
    from cli.main import main as cli_main

    assert cli_main(["--data-dir", str(mesh[2].data_dir), "stop"]) == 0
    assert mesh[2].process.wait(20) == 0
    assert not (mesh[2].data_dir / "node.sock").exists()
    assert cli_main(["--data-dir", str(mesh[2].data_dir), "stop"]) == 0


@pytest.mark.slow
def test_a_gossipsub_peer_offering_1_2_first_trades_gossip_with_a_node_process(mesh):
    """A peer set up as go or js would be (``/meshsub/1.2.0`` offered first,
    SHA-256 message ids, StrictSign) meshes with a node on 1.2, gets the
    records the node gossips, and the node takes in what it publishes."""
    import subprocess
    import sys

    eventually(lambda: converged(mesh), 30, "initial sync")
    neighbourhood = mesh[0].call("whoami")["neighbourhood"]
    mesh[2].stop()  # the peer writes in its household's store
    peer = subprocess.Popen(
        [sys.executable, "-m", "tests.mesh.foreign", mesh[0].address, neighbourhood, str(mesh[2].data_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert peer.stdout.readline().strip() == "protocol: /meshsub/1.2.0"
        offer = mesh[1].call("offer_add", item="onions", quantity=2, unit="items")
        assert peer.stdout.readline().strip() == f"received: {offer['id']}"
        peer.stdin.write("publish\n")
        peer.stdin.flush()
        published = peer.stdout.readline().strip().removeprefix("published: ")
        eventually(lambda: published in ids(mesh[0]) and published in ids(mesh[1]), 15,
                   "the peer's record on the node and onward")
        assert not mesh[0].call("status")["banned"], "nobody was cut off"
    finally:
        peer.stdin.close()
        peer.wait(20)
