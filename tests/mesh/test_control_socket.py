"""The control socket of a real node process: who may use it, what it
answers to nonsense, and the event stream the UI lives on."""

from __future__ import annotations

import socket
import stat
import struct
import threading

import pytest

from cli.main import main as cli_main
from meshpantry.control.client import ControlClient
from meshpantry.control.events import RecordEvent
from meshpantry.control.frames import decode_body, encode_frame
from meshpantry.pantry.errors import InvalidInput, UnknownId
from simulations.processes import make_neighbourhood, start_mesh

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    dirs = make_neighbourhood(tmp_path_factory.mktemp("control"), 1)
    (only,) = start_mesh(dirs)
    yield only
    only.stop()


def test_socket_and_directory_are_owner_only(node):
    path = node.data_dir / "node.sock"
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(node.data_dir.stat().st_mode) == 0o700


def test_errors_come_back_typed(node):
    with ControlClient.connect(node.data_dir) as client:
        with pytest.raises(UnknownId):
            client.call("offer_show", offer_ref="abcdef12")
        with pytest.raises(InvalidInput):
            client.call("offer_add", item="rice", quantity=0, unit="g")
        with pytest.raises(Exception, match="does not know the request"):
            client.call("drop_tables")
        assert client.call("whoami")["household_name"] == "House 0"


def dropped(sock: socket.socket) -> bool:
    """The node hung up on this connection (closed or reset it)."""
    sock.settimeout(5)
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True
    finally:
        sock.close()


def test_garbage_drops_only_that_client(node):
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.connect(str(node.data_dir / "node.sock"))
    raw.sendall(struct.pack(">I", 5) + b"\xc1\xc1\xc1\xc1\xc1")
    assert dropped(raw)
    huge = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    huge.connect(str(node.data_dir / "node.sock"))
    huge.sendall(struct.pack(">I", 2**31))
    assert dropped(huge)
    assert node.call("status")["node_running"] is True


def test_subscribers_see_new_records(node):
    seen: list[RecordEvent] = []
    ready = threading.Event()

    def listen() -> None:
        with ControlClient.connect(node.data_dir) as client:
            events = client.events(["record"])
            ready.set()
            for event in events:
                if isinstance(event, RecordEvent):
                    seen.append(event)
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert ready.wait(10)
    offer = node.call("offer_add", item="quince", quantity=3, unit="items")
    thread.join(10)
    assert any(e.id == offer["id"] and e.own for e in seen)


def test_the_command_line_goes_through_the_running_node(node, capsys):
    """With the node holding the store, commands still work (via the socket)."""
    assert cli_main(["--data-dir", str(node.data_dir), "offer", "add", "plums", "12", "items"]) == 0
    capsys.readouterr()
    assert cli_main(["--data-dir", str(node.data_dir), "--json", "status"]) == 0
    assert '"node_running": true' in capsys.readouterr().out


def test_a_request_frame_round_trips(node):
    """The documented frame format, spoken by hand."""
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.connect(str(node.data_dir / "node.sock"))
    raw.sendall(encode_frame({"id": 7, "op": "whoami", "args": {}}))
    raw.settimeout(5)
    header = raw.recv(4)
    (length,) = struct.unpack(">I", header)
    body = b""
    while len(body) < length:
        body += raw.recv(length - len(body))
    reply = decode_body(body)
    raw.close()
    assert reply["id"] == 7 and reply["ok"] is True and reply["result"]["household_name"] == "House 0"
