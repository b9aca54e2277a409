"""Real-node drills: processes behind cut links (per-node deny lists on
loopback, or network namespaces on a private virtual LAN), a power cut, then
agreement measured from the nodes' own dumps."""

import os
import subprocess
import sys

import pytest

from simulations import netns
from simulations.drill import run_drill

#: A TCP server that greets every client, in one node's namespace.
GREETER = (
    "import socket, sys\n"
    "server = socket.create_server((sys.argv[1], 5000))\n"
    "print('listening', flush=True)\n"
    "while True:\n"
    "    client, _ = server.accept()\n"
    "    client.sendall(b'hello')\n"
    "    client.close()\n"
)
#: A TCP client that prints the greeting or the name of the error.
CALLER = (
    "import socket, sys\n"
    "try:\n"
    "    print(socket.create_connection((sys.argv[1], 5000), timeout=1).recv(5).decode())\n"
    "except OSError as error:\n"
    "    print(type(error).__name__)\n"
)


def needs_namespaces() -> None:
    if not netns.available():
        pytest.skip(f"this machine refuses network namespaces to the drill: {netns.unavailable_reason()}")


def test_four_node_drill_converges_and_keeps_every_invariant(tmp_path):
    """
    islands {a, b} | {c, d} cut by deny lists on loopback; one node SIGKILLed;
    islands write; power returns
    """
    phases: list[str] = []
    outcome = run_drill(nodes=4, islands=2, kill=0.25, writes=2, seed=1, root=tmp_path, links="deny",
                        progress=phases.append)
    assert outcome.links == "deny"
    assert phases[0].startswith("starting 4 node processes") and phases[-1] == "checking the invariants"
    assert any(p.startswith("power and links back") for p in phases)
    assert outcome.violations == []
    assert outcome.converge_s is not None and outcome.converge_s < 60
    assert len(outcome.killed) == 1 and outcome.records > outcome.acknowledged > 0


def test_virtual_lan_joins_cuts_and_repairs_tcp():
    """
    n0 --tcp--> n1   joined: greeting; cut into {n0} | {n1}: silence (a
    timeout, not a refusal); a cut that keeps them together: greeting;
    repaired: greeting; closed: every keeper gone
    """
    needs_namespaces()
    with netns.VirtualLan(3) as lan:
        greeter = subprocess.Popen([*lan.launcher(1), sys.executable, "-c", GREETER, lan.address(1)],
                                   stdout=subprocess.PIPE, text=True)
        try:
            assert greeter.stdout.readline().strip() == "listening"

            def call() -> str:
                argv = [*lan.launcher(0), sys.executable, "-c", CALLER, lan.address(1)]
                return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout.strip()

            assert call() == "hello"
            lan.cut([[0, 2], [1]])
            assert lan.islands == [[0, 2], [1]]
            assert call() == "TimeoutError"
            lan.cut([[0, 1], [2]])
            assert call() == "hello"
            lan.repair()
            assert lan.islands == [[0, 1, 2]]
            assert call() == "hello"
        finally:
            greeter.kill()
            greeter.wait()
        keepers = [lan.switch.pid] + [keeper.pid for keeper in lan.nodes]
    assert not any(os.path.exists(f"/proc/{pid}") for pid in keepers)


def test_four_node_drill_over_network_namespaces(tmp_path):
    """
    four nodes on a virtual LAN; islands {a, b} | {c, d} on separate bridges
    for at least 8 s (connections between islands stall, no reset); one node
    SIGKILLed; islands write; power returns, bridges rejoin
    """
    needs_namespaces()
    outcome = run_drill(nodes=4, islands=2, kill=0.25, writes=2, seed=1, root=tmp_path, links="netns", outage=8)
    assert outcome.links == "netns" and outcome.outage_s >= 8
    assert outcome.violations == []
    assert outcome.converge_s is not None and outcome.converge_s < 60
    assert len(outcome.killed) == 1 and outcome.records > outcome.acknowledged > 0


def test_silent_cut_is_noticed_and_heals_within_seconds(tmp_path):
    """
    four nodes on a virtual LAN, no power cut; islands {a, b} | {c, d} cut
    for 30 s: the connections between islands stall with no reset. Each node
    drops its silent peers (liveness) and keeps redialling them; after the
    repair the first redial that gets through makes the others redial at
    once: identical within HEAL_BOUND_S. Without this the stalled connections
    came back only at TCP's next retransmission, often 10-20 s after the repair
    """
    needs_namespaces()
    outcome = run_drill(nodes=4, islands=2, kill=0, writes=2, seed=1, root=tmp_path, links="netns", outage=30)
    assert outcome.links == "netns" and outcome.outage_s >= 30 and outcome.killed == []
    assert outcome.violations == []
    assert outcome.silent_drops >= 4  # each of the 4 cross-island links, by one side at least
    assert outcome.converge_s is not None and outcome.converge_s < HEAL_BOUND_S, outcome.timeline


#: Seconds from the repair of a 30 s silent cut to four identical nodes.
#: Measured on this drill (seed 1): 0.7 s with the liveness check and fast
#: redial; 11.6 s before them (20.7 s with a node killed as well).
HEAL_BOUND_S = 10.0


def test_auto_links_follow_what_the_machine_offers():
    from simulations.drill import choose_links

    assert choose_links("auto") == ("netns" if netns.available() else "deny")
    assert choose_links("deny") == "deny"
    with pytest.raises(ValueError):
        choose_links("carrier-pigeon")


@pytest.mark.slow
def test_twelve_node_drill(tmp_path):
    outcome = run_drill(nodes=12, islands=3, kill=0.25, writes=3, seed=2, root=tmp_path)
    assert outcome.violations == [] and outcome.converge_s is not None
