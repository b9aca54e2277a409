"""The corrections to py-libp2p: one install, idempotent, for one version only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from libp2p.network.auto_connector import AutoConnector
from libp2p.pubsub import pubsub as pubsub_module
from libp2p.stream_muxer.yamux.yamux import YamuxStream

from meshpantry.node import libp2p_compat
from meshpantry.node.libp2p_compat import LIBP2P_VERSION, Libp2pVersionMismatch

ROOT = Path(__file__).resolve().parents[2]


def _current() -> list[object]:
    return [getattr(libp2p_compat._resolve(row.owner), row.attribute) for row in libp2p_compat.corrections()]


def test_install_twice_changes_nothing_the_second_time():
    """A second install leaves every replacement in place, and the library's
    own values (which replacements call) are still the library's."""
    libp2p_compat.install()
    first = _current()
    library_write = libp2p_compat.library_value(libp2p_compat._YAMUX_STREAM, "write")
    libp2p_compat.install()
    assert _current() == first == [row.replacement for row in libp2p_compat.corrections()]
    assert libp2p_compat.installed()
    # The whole-write wrapper calls the library's write, never itself.
    assert libp2p_compat.library_value(libp2p_compat._YAMUX_STREAM, "write") is library_write
    assert library_write is not YamuxStream.write
    assert library_write.__module__ == "libp2p.stream_muxer.yamux.yamux"


def test_install_covers_every_correction_named_in_the_table():
    libp2p_compat.install()
    assert YamuxStream.write is libp2p_compat._whole_write
    assert AutoConnector.maybe_connect is libp2p_compat._never_connect
    assert pubsub_module.maybe_consume_signed_record is libp2p_compat._check_record_once
    assert pubsub_module.RpcQueue().__class__.__name__ == "RoomyRpcQueue"
    names = [row.name for row in libp2p_compat.corrections()]
    assert len(names) == len(set(names))


def test_uninstall_restores_the_library_then_install_again():
    libp2p_compat.install()
    try:
        libp2p_compat.uninstall({"auto-connector-off"})
        assert AutoConnector.maybe_connect is not libp2p_compat._never_connect
        assert not libp2p_compat.installed()
        assert libp2p_compat.installed({"yamux-whole-writes"})
    finally:
        libp2p_compat.install()
    assert libp2p_compat.installed()


def test_another_libp2p_version_is_refused_before_anything_changes(monkeypatch):
    libp2p_compat.uninstall()
    try:
        monkeypatch.setattr(libp2p_compat, "library_version", lambda: "0.9.0")
        with pytest.raises(Libp2pVersionMismatch) as raised:
            libp2p_compat.install()
        assert raised.value.found == "0.9.0" and raised.value.expected == LIBP2P_VERSION
        message = str(raised.value)
        assert f"libp2p=={LIBP2P_VERSION}" in message and "LIBP2P.md" in message
        assert YamuxStream.write is not libp2p_compat._whole_write  # nothing was applied
    finally:
        monkeypatch.undo()
        libp2p_compat.install()


def test_the_installed_library_is_the_version_the_project_pins():
    assert libp2p_compat.library_version() == LIBP2P_VERSION
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'"libp2p=={LIBP2P_VERSION}"' in pyproject


def test_every_correction_points_to_a_section_of_the_notes():
    notes = (ROOT / libp2p_compat.NOTES).read_text()
    headings = set(re.findall(r"^#+ (.+?)\s*$", notes, flags=re.M))
    missing = {row.section for row in libp2p_compat.corrections()} - headings
    assert not missing, f"sections missing from {libp2p_compat.NOTES}: {missing}"


def test_a_built_host_runs_with_every_correction(monkeypatch):
    """Building a host goes through install(): the node's and the tests' path."""
    from meshpantry.keys import DeviceKey
    from meshpantry.node.host import build_host

    from .conftest import LOOPBACK_SETTINGS

    libp2p_compat.uninstall()
    build_host(LOOPBACK_SETTINGS, DeviceKey.generate())
    assert libp2p_compat.installed()


def test_trim_delivery_log_keeps_the_last_minute_and_ignores_other_routers():
    class Router:
        recent_message_deliveries = {"topic": [10.0, 50.0, 100.0]}

    router = Router()
    assert libp2p_compat.trim_delivery_log(router, now=100.0) == 1
    assert router.recent_message_deliveries["topic"] == [50.0, 100.0]
    assert libp2p_compat.trim_delivery_log(object(), now=100.0) == 0


def test_a_node_is_refused_on_another_libp2p_version(tmp_path, monkeypatch):
    """The node installs the corrections at start: on an untested py-libp2p it
    does not start at all."""
    from meshpantry.node.runner import Node
    from meshpantry.pantry import Pantry

    from .conftest import LOOPBACK_SETTINGS

    pantry = Pantry.create(tmp_path, "House 1")
    try:
        monkeypatch.setattr(libp2p_compat, "library_version", lambda: "1.0.0")
        with pytest.raises(Libp2pVersionMismatch):
            Node(pantry, LOOPBACK_SETTINGS)
        monkeypatch.undo()
        libp2p_compat.uninstall()
        Node(pantry, LOOPBACK_SETTINGS)
        assert libp2p_compat.installed()
    finally:
        pantry.close()


def _listen_twice_on_one_port() -> None:
    """Open the library's TCP listeners twice on one loopback port."""
    import trio
    from libp2p.transport.tcp import tcp

    async def twice() -> None:
        first = await tcp._open_reuseport_listeners("127.0.0.1", 0)
        port = first[0].socket.getsockname()[1]
        try:
            second = await tcp._open_reuseport_listeners("127.0.0.1", port)
            for listener in second:
                await listener.aclose()
        finally:
            for listener in first:
                await listener.aclose()

    trio.run(twice)


def test_a_listen_port_is_not_shared_with_another_listener():
    """
    The library's listeners set SO_REUSEPORT, so a second one binds a port
    already served (connections are then split between them); with the
    correction the second bind fails.
    """
    from libp2p.transport.exceptions import OpenConnectionError

    libp2p_compat.install()
    try:
        libp2p_compat.uninstall({"tcp-port-not-shared"})
        _listen_twice_on_one_port()  # the trap: no error
    finally:
        libp2p_compat.install()
    with pytest.raises(OpenConnectionError, match="in use"):
        _listen_twice_on_one_port()


def test_open_host_refuses_a_port_in_use_and_says_so():
    """A port held by another socket (here a plain listener) gives PortInUse
    naming the port and what to do, before the swarm swallows the error."""
    import socket

    import trio

    from meshpantry.keys import DeviceKey
    from meshpantry.node.config import NodeSettings
    from meshpantry.node.host import PortInUse, open_host

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]

    async def attempt() -> None:
        async with open_host(NodeSettings(listen_host="127.0.0.1", listen_port=port, mdns_enabled=False),
                             DeviceKey.generate()):
            raise AssertionError("listening on a used port")

    try:
        with pytest.raises(PortInUse) as refused:
            trio.run(attempt)
    finally:
        holder.close()
    assert f"TCP port {port} on 127.0.0.1 is already in use" in str(refused.value)
    assert "--listen 127.0.0.1:PORT" in str(refused.value)
