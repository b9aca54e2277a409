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
import time
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


class Served:
    """A running in-process server and a way to call into its trio thread."""

    def __init__(self, server: ControlServer, token) -> None:
        self.server, self.token = server, token

    def run_sync(self, fn, *args):
        return trio.from_thread.run_sync(fn, *args, trio_token=self.token)


@contextmanager
def serving(data_dir, table, max_frame: int = MAX_CONTROL_FRAME, **bounds):
    """A ControlServer for ``table`` on ``data_dir``'s socket, in a thread;
    yields a :class:`Served`."""
    started = threading.Event()
    box: dict = {}

    def run() -> None:
        async def main() -> None:
            server = box["server"] = ControlServer(data_dir, table, max_frame=max_frame, **bounds)
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
        yield Served(box["server"], box["token"])
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


# -- bounds per client ----------------------------------------------------------------


def raw_client(data_dir) -> socket.socket:
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.connect(str(data_dir / "node.sock"))
    return raw


def wait_for(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def dropped_reasons(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("control client dropped:")]


def test_a_half_sent_header_is_dropped_at_the_frame_deadline_a_quiet_client_is_not(big_board, caplog):
    """Two bytes of a four-byte header, then silence: dropped with a reason
    once the frame deadline passes. A client that sent nothing stays."""
    data_dir, pantry = big_board
    with serving(data_dir, routes(*pantry_routes(pantry)), frame_timeout_s=0.5) as served:
        quiet, half = raw_client(data_dir), raw_client(data_dir)
        half.sendall(b"\x00\x00")
        assert dropped(half)
        wait_for(lambda: any("has not arrived whole (2 bytes so far)" in r for r in dropped_reasons(caplog)))
        wait_for(lambda: served.server.clients == 1)  # the quiet one
        quiet.sendall(encode_frame({"id": 1, "op": "whoami", "args": {}}))
        quiet.settimeout(5)
        assert quiet.recv(4)  # still served
        quiet.close()
    pantry.close()


def test_a_subscriber_that_never_reads_is_dropped_at_its_byte_budget(big_board, caplog):
    """Events pile up for a subscriber that never reads: the node keeps at
    most its budget queued, then drops it with a reason and frees the queue."""
    data_dir, pantry = big_board
    budget = 64 * 1024
    with serving(data_dir, routes(*pantry_routes(pantry)), max_pending_event_bytes=budget,
                 send_timeout_s=600) as served:
        raw = raw_client(data_dir)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.sendall(encode_frame({"id": 1, "op": "subscribe", "args": {}}))
        wait_for(lambda: served.server.subscribers == 1)
        event = RecordEvent(id="ab" * 32, kind="offer", author="cd" * 32, seq=1, time=1, own=False)
        most = 0
        for _ in range(5000):  # ~1 MB of events, far more than the socket holds
            served.run_sync(served.server.publish, event)
            most = max(most, served.run_sync(lambda: served.server.pending_event_bytes))
            if served.server.subscribers == 0:
                break
        assert most <= budget
        wait_for(lambda: served.server.clients == 0)
        assert served.server.subscribers == 0 and served.server.pending_event_bytes == 0
        wait_for(lambda: any("bytes of events unread" in r for r in dropped_reasons(caplog)))
        raw.close()
    pantry.close()


def test_thousands_of_subscribe_requests_on_one_connection_make_one_subscription(big_board, caplog):
    """20,000 subscribe requests on one connection that never reads its
    replies (more than the socket buffers hold): one subscription; the
    connection is dropped once a reply waits past the send deadline, and
    nothing of it stays."""
    data_dir, pantry = big_board
    with serving(data_dir, routes(*pantry_routes(pantry)), send_timeout_s=0.5) as served:
        raw = raw_client(data_dir)
        frames = encode_frame({"id": 1, "op": "subscribe", "args": {}}) * 20_000

        def flood() -> None:
            try:
                raw.sendall(frames)
            except OSError:
                pass  # the node hung up

        threading.Thread(target=flood, daemon=True).start()
        wait_for(lambda: served.server.subscriptions >= 1)
        wait_for(lambda: served.server.clients == 0)
        assert served.server.subscriptions == 1
        assert served.server.subscribers == 0
        wait_for(lambda: any("the client stopped reading" in r for r in dropped_reasons(caplog)))
        raw.close()
    pantry.close()


def test_a_subscriber_that_leaves_is_forgotten_at_once(big_board):
    """Closing the connection frees the subscription without waiting for an event."""
    data_dir, pantry = big_board
    with serving(data_dir, routes(*pantry_routes(pantry))) as served:
        with ControlClient.connect(data_dir) as client:
            client.call("subscribe")
            assert served.server.subscribers == 1
        wait_for(lambda: served.server.clients == 0)
        assert served.server.subscribers == 0
    pantry.close()


def test_connections_beyond_the_limit_are_closed_at_once(big_board, caplog):
    data_dir, pantry = big_board
    with serving(data_dir, routes(*pantry_routes(pantry)), max_clients=3) as served:
        held = [raw_client(data_dir) for _ in range(3)]
        wait_for(lambda: served.server.clients == 3)
        extra = raw_client(data_dir)
        assert dropped(extra)
        assert any("3 clients already connected" in r.getMessage() for r in caplog.records)
        held.pop().close()
        wait_for(lambda: served.server.clients == 2)
        assert ask_raw(data_dir, {"id": 1, "op": "whoami", "args": {}})["ok"] is True
        for raw in held:
            raw.close()
    pantry.close()



@pytest.mark.trio
async def test_the_socket_file_appears_only_once_it_answers(tmp_path):
    """A UI waits for its node by watching for the socket file, then
    connects. The file used to appear at bind(), before listen(): a client
    that came in between was refused. A watcher that connects the moment it
    sees the file is never refused now, start after start."""
    refused = 0

    async def watch(path, seen: trio.Event) -> None:
        nonlocal refused
        while not path.exists():
            await trio.sleep(0)
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except ConnectionRefusedError:
            refused += 1
        finally:
            probe.close()
            seen.set()

    for attempt in range(40):
        server = ControlServer(tmp_path / f"n{attempt}", routes())
        seen = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch, server.path, seen)
            await nursery.start(server.serve)
            await seen.wait()
            nursery.cancel_scope.cancel()
    assert refused == 0
