"""The control socket of a real node process: who may use it, what it
answers to nonsense, and the event stream the UI lives on."""

from __future__ import annotations

import json
import logging
import re
import socket
import stat
import struct
import threading
from contextlib import contextmanager

import pytest
import trio

from cli.main import main as cli_main
from meshpantry.control import requests as rq
from meshpantry.control.client import ControlClient
from meshpantry.control.events import RecordEvent
from meshpantry.control.frames import MAX_CONTROL_FRAME, decode_body, encode_frame
from meshpantry.control.routes import Route, pantry_routes, routes
from meshpantry.control.server import ControlServer
from meshpantry.exit_codes import ExitCode
from meshpantry.pantry import Pantry
from meshpantry.pantry.errors import InvalidInput, ReplyTooLarge, UnknownId
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


def ask_raw(data_dir, frame: dict) -> dict:
    """Send one hand-made request frame and read the reply."""
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.connect(str(data_dir / "node.sock"))
    raw.settimeout(10)
    try:
        raw.sendall(encode_frame(frame))
        header = b""
        while len(header) < 4:
            header += raw.recv(4 - len(header))
        (length,) = struct.unpack(">I", header)
        body = b""
        while len(body) < length:
            body += raw.recv(length - len(body))
        return decode_body(body)
    finally:
        raw.close()


def test_arguments_that_do_not_fit_the_op_are_bad_requests(node):
    """Checked against the op's request type before anything runs: exit 2."""
    reply = ask_raw(node.data_dir, {"id": 1, "op": "offer_add", "args": {"item": "rice", "quantity": "3", "unit": "g"}})
    assert reply["ok"] is False
    assert reply["error"]["code"] == "bad-request" and reply["error"]["exit_code"] == 2
    assert "quantity" in reply["error"]["message"]
    reply = ask_raw(node.data_dir, {"id": 2, "op": "drop_tables", "args": {}})
    assert reply["error"]["code"] == "unknown-op" and reply["error"]["exit_code"] == 2


# -- an in-process server: a small frame limit, and a handler that breaks ------------


@contextmanager
def serving(data_dir, table, max_frame: int = MAX_CONTROL_FRAME):
    """A ControlServer for ``table`` on ``data_dir``'s socket, in a thread."""
    started = threading.Event()
    box: dict = {}

    def run() -> None:
        async def main() -> None:
            server = ControlServer(data_dir, table, max_frame=max_frame)
            async with trio.open_nursery() as nursery:
                box["token"] = trio.lowlevel.current_trio_token()
                box["cancel"] = nursery.cancel_scope.cancel
                await nursery.start(server.serve)
                started.set()

        trio.run(main)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield
    finally:
        trio.from_thread.run_sync(box["cancel"], trio_token=box["token"])
        thread.join(10)


#: Small enough that 60 offers (~600 bytes each) do not fit in one reply.
SMALL_FRAME = 16 * 1024


@pytest.fixture
def big_board(tmp_path):
    """A household with more open offers than one small frame carries."""
    data_dir = tmp_path / "big"
    assert cli_main(["--data-dir", str(data_dir), "init", "--household", "Big"]) == 0
    assert cli_main(["--data-dir", str(data_dir), "neighbourhood", "create", "Long Road"]) == 0
    pantry = Pantry.open(data_dir)
    for n in range(60):
        pantry.offer_add(f"jar {n:02d}", 1, "jar", note="a note " * 20)
    return data_dir, pantry


def test_a_reply_too_large_for_a_frame_is_a_typed_error_not_a_closed_connection(big_board, capsys):
    data_dir, pantry = big_board
    with serving(data_dir, routes(*pantry_routes(pantry)), max_frame=SMALL_FRAME):
        with ControlClient.connect(data_dir) as client:
            with pytest.raises(ReplyTooLarge, match="--limit") as caught:
                client.call("offer_list")
            assert caught.value.exit_code == ExitCode.REFUSED
            # The same connection still answers: the node sent an error, not a cut.
            assert len(client.call("offer_page", limit=10)["offers"]) == 10
        capsys.readouterr()
        # Every page, each under the limit, gives the whole board.
        assert cli_main(["--data-dir", str(data_dir), "--json", "offer", "list", "--limit", "10", "--all-pages"]) == 0
        listed = json.loads(capsys.readouterr().out)["offers"]
        assert sorted(o["item"] for o in listed) == [f"jar {n:02d}" for n in range(60)]  # each once
        # Too large a page says what to do, and exits 6.
        assert cli_main(["--data-dir", str(data_dir), "offer", "list", "--limit", "60"]) == ExitCode.REFUSED
        assert "ask for less" in capsys.readouterr().err
    pantry.close()


def test_a_type_error_inside_the_application_is_not_bad_arguments(big_board):
    """The request was well formed: the failure is the node's (exit 1), logged."""
    data_dir, pantry = big_board

    async def broken(request: rq.Whoami) -> None:
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    with serving(data_dir, routes(Route(rq.Whoami, broken), *pantry_routes(pantry, without=[rq.Whoami]))):
        reply = ask_raw(data_dir, {"id": 1, "op": "whoami", "args": {}})
        assert reply["error"]["code"] == "internal" and reply["error"]["exit_code"] == 1
        assert "bad arguments" not in reply["error"]["message"]
        reply = ask_raw(data_dir, {"id": 2, "op": "whoami", "args": {"surprise": 1}})
        assert reply["error"]["code"] == "bad-request" and reply["error"]["exit_code"] == 2
    pantry.close()


def test_each_answer_logs_what_it_cost_the_node(big_board, caplog):
    """``node -v`` shows each request's node-side time: the benchmarks read it."""
    data_dir, pantry = big_board
    caplog.set_level(logging.INFO, logger="meshpantry.control.server")
    with serving(data_dir, routes(*pantry_routes(pantry))):
        with ControlClient.connect(data_dir) as client:
            client.call("offer_page", limit=5)
            with pytest.raises(UnknownId):
                client.call("offer_show", offer_ref="abcdef12")
    lines = [r.getMessage() for r in caplog.records if r.name == "meshpantry.control.server"]
    assert [line.split()[0] for line in lines] == ["offer_page", "offer_show"]
    assert all(re.fullmatch(r"\w+ answered in [\d.]+ ms \(CPU [\d.]+ ms, \d+ bytes\)", line) for line in lines)
    pantry.close()


def test_a_link_code_from_the_node_carries_its_addresses(node, tmp_path):
    """device link through the node: the code names where the household's
    node listens, and the new device adopts the neighbourhood from it."""
    from meshpantry.pantry.link_code import LinkCode

    phone = Pantry.create(tmp_path / "phone", "ignored")
    try:
        with ControlClient.connect(node.data_dir) as client:
            link = client.call("link_device", device_hex=phone.device.hex())
            listen = client.call("status")["listen"]
        code = LinkCode.decode(link["code"])
        assert code.device == phone.device and code.addresses == tuple(listen) and listen
        adopted = phone.adopt_link(link["code"])
        assert adopted["neighbourhood_name"] and adopted["addresses"] == listen
    finally:
        phone.close()
