"""Node settings: safe defaults, typed values from TOML or the environment."""

from __future__ import annotations

import pytest

from meshpantry.node.config import DEFAULT_PORT, NodeSettings, SettingsError


def test_defaults_leave_addresses_to_the_network_mode():
    """Out of the box the addresses are empty: the network mode (LAN unless
    loopback is latched) chooses them (tests/node/test_network.py)."""
    settings = NodeSettings()
    assert (settings.network, settings.listen_host, settings.listen_port) == ("", "", DEFAULT_PORT)
    assert settings.mdns_enabled and settings.mdns_interfaces == () and settings.advertise == ()
    assert settings.sync_interval_s == 30.0 and 0 < settings.sync_jitter < 1


def test_from_mapping_coerces_strings_and_lists():
    """Environment strings and TOML lists become typed fields over a base."""
    base = NodeSettings(listen_port=5000)
    settings = NodeSettings.from_mapping(
        {
            "mdns_enabled": "off",
            "static_peers": "/ip4/127.0.0.1/tcp/1/p2p/x, /ip4/127.0.0.1/tcp/2/p2p/y",
            "sync_interval_s": "12.5",
            "mdns_interfaces": ["127.0.0.1"],
        },
        base,
    )
    assert settings.listen_port == 5000 and settings.mdns_enabled is False
    assert settings.static_peers == ("/ip4/127.0.0.1/tcp/1/p2p/x", "/ip4/127.0.0.1/tcp/2/p2p/y")
    assert settings.sync_interval_s == 12.5


@pytest.mark.parametrize(
    "values, name",
    [
        ({"listen_prot": 1}, "listen_prot"),
        ({"listen_port": "many"}, "listen_port"),
        ({"listen_port": 70000}, "listen_port"),
        ({"mdns_enabled": "perhaps"}, "mdns_enabled"),
        ({"network": "wifi"}, "network"),
        ({"sync_jitter": 1.5}, "sync_jitter"),
        ({"redial_max_s": 0.1}, "redial_max_s"),
        ({"listen_port": True}, "listen_port"),
        ({"join_grace_s": 0}, "join_grace_s"),
        ({"control_frame_s": -1}, "control_frame_s"),
        ({"sync_frame_s": "0"}, "sync_frame_s"),
    ],
)
def test_bad_values_name_the_setting(values, name):
    """Every refusal says which setting was wrong."""
    with pytest.raises(SettingsError) as caught:
        NodeSettings.from_mapping(values)
    assert caught.value.name == name


def test_connection_watermarks_are_checked():
    """Low at least 1 and at most high; a negative grace is refused."""
    assert NodeSettings.from_mapping({"connections_low": "3", "connections_high": "3"}).connections_low == 3
    for values in ({"connections_low": 0}, {"connections_low": 11, "connections_high": 10},
                   {"connection_grace_s": -1}):
        with pytest.raises(SettingsError):
            NodeSettings.from_mapping(values)


def test_stall_deadlines_default_to_the_modules_constants():
    """The join grace, the control frame deadline and the served sync frame
    deadline are settings (tests shorten them) whose defaults are the
    constants their modules document."""
    from meshpantry.control.server import FRAME_TIMEOUT_S
    from meshpantry.core.sync.deadlines import FRAME_MS
    from meshpantry.node.gate import JOIN_GRACE_S

    settings = NodeSettings()
    assert settings.join_grace_s == JOIN_GRACE_S
    assert settings.control_frame_s == FRAME_TIMEOUT_S
    assert settings.sync_frame_s * 1000 == FRAME_MS


def test_the_node_takes_its_stall_deadlines_from_its_settings(tmp_path):
    from meshpantry.node.runner import Node
    from meshpantry.pantry import Pantry

    pantry = Pantry.create(tmp_path / "p", "Alder")
    try:
        pantry.create_neighbourhood("Test Close", "Alder")
        node = Node(pantry, NodeSettings(network="loopback", join_grace_s=2.5, control_frame_s=4.0))
        assert node.control.frame_timeout_s == 4.0
        assert node.gatekeeper.outsiders.grace_s == 2.5
    finally:
        pantry.close()
