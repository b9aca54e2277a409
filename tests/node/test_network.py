"""The network mode: LAN for households, loopback for every test, demo and
benchmark, and nothing outside 127.0.0.0/8 under loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import multiaddr
import pytest
import trio

from cli.main import main
from meshpantry.control import requests as rq
from meshpantry.keys import DeviceKey
from meshpantry.node.config import NodeSettings, SettingsError
from meshpantry.node.host import RunningHost, open_host
from meshpantry.node.network import (
    Interface,
    NetworkRefused,
    advertised_addrs,
    invite_addrs,
    lan_addresses,
    network_mode,
    plan_addresses,
    resolve,
)
from meshpantry.pantry.errors import NotAllowed

ROOT = Path(__file__).resolve().parents[2]

#: A laptop on Wi-Fi with Docker installed and a link-local leftover.
LAPTOP = [
    Interface("lo", "127.0.0.1"),
    Interface("docker0", "172.17.0.1"),
    Interface("eth0", "169.254.10.3"),
    Interface("wlp2s0", "192.168.1.20"),
    Interface("lo", "127.0.0.1"),
]
LAN = {}  # an environment without the loopback latch
PEER = "12D3KooWByPEXsSr5k5JeCPSSjV9rATVNyYix32tbAHb1tDfsLC9"
LATCHED = {"MESHPANTRY_NETWORK": "loopback"}


def test_lan_addresses_are_what_a_neighbour_can_dial():
    """Loopback, link-local and container bridges are left out; private ranges come first."""
    assert lan_addresses(LAPTOP) == ("192.168.1.20",)
    assert lan_addresses([Interface("eth1", "81.2.69.160"), Interface("wlan0", "10.0.0.5")]) == ("10.0.0.5", "81.2.69.160")
    assert lan_addresses([Interface("lo", "127.0.0.1")]) == ()


def test_lan_mode_listens_everywhere_and_announces_and_invites_the_lan_addresses():
    """
    interfaces: lo 127.0.0.1, docker0 172.17.0.1, eth0 169.254.10.3, wlp2s0 192.168.1.20
         listen 0.0.0.0 (all)   mDNS on 192.168.1.20   invites/announce 192.168.1.20
    """
    plan = plan_addresses(NodeSettings(), LAPTOP, LAN)
    assert (plan.mode, plan.listen_host) == ("lan", "0.0.0.0")
    assert plan.mdns_interfaces == ("192.168.1.20",) and plan.advertise == ("192.168.1.20",)
    assert advertised_addrs(["/ip4/0.0.0.0/tcp/4747"], plan.advertise) == ["/ip4/192.168.1.20/tcp/4747"]


def test_lan_mode_keeps_explicit_addresses():
    """A named listen address is what is announced; named mDNS interfaces and advertised addresses win."""
    plan = plan_addresses(NodeSettings(listen_host="192.168.1.20"), LAPTOP, LAN)
    assert plan.listen_host == "192.168.1.20" and plan.advertise == ("192.168.1.20",)
    assert plan.mdns_interfaces == ("192.168.1.20",)
    plan = plan_addresses(NodeSettings(mdns_interfaces=("all",), advertise=("10.1.1.1",)), LAPTOP, LAN)
    assert plan.mdns_interfaces == ("all",) and plan.advertise == ("10.1.1.1",)


def test_lan_mode_without_a_lan_says_loopback_but_invites_carry_no_loopback():
    """No Wi-Fi yet: the node still starts and shows loopback in status, but
    an invite never points a newcomer at 127.0.0.1 (their own machine)."""
    plan = plan_addresses(NodeSettings(), [Interface("lo", "127.0.0.1")], LAN)
    assert plan.listen_host == "0.0.0.0" and plan.advertise == ("127.0.0.1",)
    mine = [f"/ip4/127.0.0.1/tcp/4747/p2p/{PEER}", f"/ip4/192.168.1.20/tcp/4747/p2p/{PEER}"]
    assert invite_addrs("lan", mine) == mine[1:]
    assert invite_addrs("loopback", mine[:1]) == mine[:1]
    with pytest.raises(NetworkRefused):
        invite_addrs("loopback", mine)


def test_loopback_mode_stays_on_loopback():
    """Loopback mode, asked or latched, chooses 127.0.0.1 for everything."""
    for settings, environ in ((NodeSettings(network="loopback"), LAN), (NodeSettings(), LATCHED)):
        plan = plan_addresses(settings, LAPTOP, environ)
        assert (plan.mode, plan.listen_host, plan.mdns_interfaces, plan.advertise) == (
            "loopback", "127.0.0.1", ("127.0.0.1",), ("127.0.0.1",))
    assert plan_addresses(NodeSettings(listen_host="127.0.0.2"), [], LATCHED).advertise == ("127.0.0.2",)


@pytest.mark.parametrize(
    "settings, what",
    [
        (NodeSettings(listen_host="0.0.0.0"), "listen address"),
        (NodeSettings(listen_host="192.168.1.20"), "listen address"),
        (NodeSettings(mdns_interfaces=("all",)), "mDNS interface"),
        (NodeSettings(mdns_interfaces=("192.168.1.20",)), "mDNS interface"),
        (NodeSettings(advertise=("192.168.1.20",)), "advertised address"),
        (NodeSettings(static_peers=("/ip4/192.168.1.7/tcp/4747/p2p/12D3KooWx",)), "static peer"),
        (NodeSettings(network="lan"), "network"),
    ],
)
def test_loopback_mode_refuses_anything_else(settings, what):
    """Under MESHPANTRY_NETWORK=loopback every address outside 127.0.0.0/8 is
    refused with a message saying which, and no flag can ask for the LAN."""
    with pytest.raises(NetworkRefused) as refused:
        plan_addresses(settings, LAPTOP, LATCHED)
    assert refused.value.what == what and "loopback" in str(refused.value)


def test_the_latch_reads_only_known_words():
    """An unknown MESHPANTRY_NETWORK is an error, not a silent LAN."""
    assert network_mode("", {}) == "lan" and network_mode("", LATCHED) == "loopback"
    with pytest.raises(SettingsError):
        network_mode("", {"MESHPANTRY_NETWORK": "lookback"})


def test_every_test_and_child_runs_latched():
    """The suite's autouse setting reaches this process and the processes it starts."""
    assert os.environ["MESHPANTRY_NETWORK"] == "loopback"
    child = subprocess.run([sys.executable, "-c", "import os; print(os.environ['MESHPANTRY_NETWORK'])"],
                           capture_output=True, text=True, check=True)
    assert child.stdout.strip() == "loopback"


def test_open_host_refuses_before_any_socket(monkeypatch):
    """Asking to listen on 0.0.0.0 under loopback fails before a host (or a socket) exists."""
    import meshpantry.node.host as host_module

    def no_host(*args, **kwargs):
        raise AssertionError("a host was built")

    monkeypatch.setattr(host_module, "build_host", no_host)
    monkeypatch.setattr(trio.socket, "socket", no_host)

    async def attempt():
        async with open_host(NodeSettings(listen_host="0.0.0.0", listen_port=0), DeviceKey.generate()):
            raise AssertionError("listening")

    with pytest.raises(NetworkRefused):
        trio.run(attempt)


@pytest.mark.parametrize("argv", [("--listen", "0.0.0.0:0"), ("--listen", "192.168.1.20:0"),
                                  ("--network", "lan"), ("--mdns-interface", "all")])
def test_node_command_refuses_and_says_why(tmp_path, capsys, argv):
    """`meshpantry node` under loopback mode exits 2 before opening anything."""
    code = main(["--data-dir", str(tmp_path / "house"), "node", *argv])
    err = capsys.readouterr().err
    assert code == 2 and "network = loopback" in err
    assert not (tmp_path / "house" / "node.sock").exists()


def test_mdns_refuses_lan_interfaces_under_loopback():
    """mDNS asked for every interface under loopback is refused before zeroconf runs."""
    from meshpantry.node.mdns import Mdns

    with pytest.raises(NetworkRefused):
        Mdns(None, NodeSettings(mdns_interfaces=("all",)), lambda peer, addrs: None)  # type: ignore[arg-type]


def test_invites_refuse_lan_addresses_under_loopback(node):
    """An invite asked to carry a LAN address under loopback is refused (NotAllowed)."""
    from meshpantry.node.control_ops import NodeOps

    ops = NodeOps(node)
    request = rq.CreateInvite(addresses=("/ip4/192.168.1.7/tcp/4747/p2p/12D3KooWx",))
    with pytest.raises(NotAllowed):
        trio.run(ops.create_invite, request)
    answer = trio.run(ops.create_invite, rq.CreateInvite(addresses=("/ip4/127.0.0.1/tcp/4747/p2p/12D3KooWx",)))
    assert answer["code"]


class _BoundHost:
    """Just enough of a py-libp2p host for :class:`RunningHost`'s addresses."""

    def get_transport_addrs(self):
        return [multiaddr.Multiaddr("/ip4/0.0.0.0/tcp/4747")]


def test_invite_addresses_in_lan_mode_are_the_lan_ones():
    """What a LAN node puts in invites: its LAN address, never loopback."""
    from meshpantry.node.host import peer_id_from_author

    key = DeviceKey.generate()
    settings = resolve(NodeSettings(), environ=LAN, interfaces=lambda: LAPTOP)
    host = RunningHost(_BoundHost(), peer_id_from_author(key.public), key.public, settings.advertise)  # type: ignore[arg-type]
    assert host.dial_addrs() == [f"/ip4/192.168.1.20/tcp/4747/p2p/{host.peer_id}"]


def test_make_targets_that_start_nodes_are_latched():
    """make test/demo/soak/bench keep nodes on loopback, and .ci/run is make
    test and nothing else; make run is the LAN."""
    database = subprocess.run(["make", "-pn", "-C", str(ROOT), "test"], capture_output=True, text=True).stdout
    for target in ("test", "demo", "soak", "bench"):
        assert f"{target}: MESHPANTRY_NETWORK := loopback" in database
    assert "run: MESHPANTRY_NETWORK" not in database
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == "exec make test"
    assert not any(word in line for line in ci for word in ("MESHPANTRY_NETWORK", "pip ", "apt-get"))


def test_saving_the_network_keeps_other_settings(tmp_path):
    """The wizard's choice replaces the network line of node.toml and keeps the rest."""
    import tomllib

    from meshpantry.node.settings_sources import save_network

    path = tmp_path / "node.toml"
    path.write_text('network = "lan"\nlisten_port = 5000\n\n[extra]\nx = 1\n')
    save_network(tmp_path, "loopback")
    assert tomllib.loads(path.read_text()) == {"network": "loopback", "listen_port": 5000, "extra": {"x": 1}}
    with pytest.raises(SettingsError):
        save_network(tmp_path, "wifi")
