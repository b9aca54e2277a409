"""Two node processes asked for one TCP port: the second is refused with a
clear message instead of sharing the port (py-libp2p's SO_REUSEPORT)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from simulations.processes import free_port, make_neighbourhood, start_mesh

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]


def test_a_second_node_on_a_used_port_exits_5_and_says_why(tmp_path):
    """
        node A ── listens 127.0.0.1:P
        node B ── --listen 127.0.0.1:P ──▶ exit 5, "TCP port P ... already in use"
    """
    first, second = make_neighbourhood(tmp_path, 2)
    [node] = start_mesh([first])
    try:
        port = node.port
        argv = [sys.executable, "-m", "cli.main", "--data-dir", str(second), "node", "--network", "loopback",
                "--listen", f"127.0.0.1:{port}", "--no-mdns"]
        refused = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=90)
        assert refused.returncode == 5, refused.stderr
        assert f"TCP port {port} on 127.0.0.1 is already in use" in refused.stderr
        assert node.call("status")["peer_id"], "the first node still serves"
    finally:
        node.stop()
    assert free_port() > 0


def test_ports_for_nodes_are_drawn_where_outgoing_connections_never_land():
    """A listen port from the kernel's ephemeral range can be taken by another
    node's outgoing connection before its node listens: twenty nodes started
    at once, each dialling the others, made one exit 5 now and then. The
    ports handed out lie below that range, and each is free."""
    import socket

    first = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(200)]
    assert all(1024 < port < first for port in ports)
    assert len(set(ports)) > 150  # drawn at random, not one port again and again
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", ports[-1]))


def test_a_mesh_whose_port_was_taken_before_its_node_started_starts_again(tmp_path, monkeypatch):
    """The port is free when drawn; another process binds it before the node
    starts: the node exits 5 and the whole mesh starts again on new ports."""
    import socket

    import simulations.processes as processes

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    draws = iter([taken.getsockname()[1]])
    real = processes.free_port
    monkeypatch.setattr(processes, "free_port", lambda: next(draws, None) or real())
    try:
        [node] = processes.start_mesh(make_neighbourhood(tmp_path, 1))
        try:
            assert node.port != taken.getsockname()[1] and node.call("status")["peer_id"]
        finally:
            node.stop()
    finally:
        taken.close()
