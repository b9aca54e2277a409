"""The node side of the control socket (trio).

The socket lives in the data directory with mode 0600 inside a 0700 directory:
only the household's own user can command the node. Each connection is served
by its own task; a client that sends garbage gets an error frame and is
dropped; nothing a client does can stop the node.

Theory of operation: a request frame becomes a typed request
(:func:`.decoding.decode_request`: the only "bad arguments" failure, exit
code 2), its route (:mod:`.routes`) answers it, and the answer is encoded
under the frame limit. A :class:`PantryError` from the handler becomes its
typed error reply; any other exception, a TypeError included, is the node's
own failure ("internal", exit code 1) and is logged. An answer too large for
one frame becomes a ``reply-too-large`` error: the connection stays open.

Each answered request is logged on this module's logger (INFO, so
``node -v`` shows it) with the node-side wall and CPU time from the frame's
arrival to the reply frame ready to send, and the reply's size: what a
request costs the node, apart from the client and the socket.
"""

from __future__ import annotations

import errno
import logging
import os
import socket as _stdsocket
import sqlite3
import time
from pathlib import Path
from typing import Mapping

import trio

from meshpantry.pantry.errors import BadRequest, NoNeighbourhood, PantryError, ReplyTooLarge, UnknownOp
from meshpantry.store.errors import NeighbourhoodUnset

from . import SOCKET_NAME
from .decoding import decode_request
from .events import Event, encode_event
from .frames import HEADER, MAX_CONTROL_FRAME, Frame, FrameTooLarge, Wire, decode_body, encode_frame, frame_length
from .requests import Request, Subscribe
from .routes import Route

log = logging.getLogger("meshpantry.control")
timing = logging.getLogger(__name__)  # meshpantry.control.server

#: A client that stops reading must not make the node buffer without bound:
#: events queue up to this many per subscriber, then that subscriber is dropped.
MAX_PENDING_EVENTS = 1000
#: A request frame should arrive whole promptly once its header has.
FRAME_TIMEOUT_S = 30.0


class ControlServer:
    """Serve the ops of ``routes`` (op name -> :class:`Route`). Frames are at
    most ``max_frame`` bytes both ways (smaller only in tests)."""

    def __init__(self, data_dir: Path, routes: Mapping[str, Route], *, max_frame: int = MAX_CONTROL_FRAME) -> None:
        self.path = Path(data_dir) / SOCKET_NAME
        self.routes = dict(routes)
        self.max_frame = max_frame
        self._subscribers: set[trio.MemorySendChannel[bytes]] = set()

    def publish(self, event: Event) -> None:
        """Push an event to every subscriber; a subscriber that lags is dropped."""
        if not self._subscribers:
            return
        try:
            frame = encode_frame(encode_event(event), self.max_frame)
        except FrameTooLarge:  # pragma: no cover - events are a few hundred bytes
            log.error("event %s too large to send", event.name)
            return
        for channel in list(self._subscribers):
            try:
                channel.send_nowait(frame)
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                self._subscribers.discard(channel)
                channel.close()

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listener = await self._bind()
        try:
            async with listener:
                task_status.started()
                async with trio.open_nursery() as nursery:
                    while True:
                        stream = await listener.accept()
                        nursery.start_soon(self._serve_client, stream)
        finally:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    async def _bind(self) -> trio.SocketListener:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        if self.path.exists():
            # A socket file left by a killed node: remove it if nobody answers.
            probe = _stdsocket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_STREAM)
            try:
                probe.connect(str(self.path))
            except OSError:
                self.path.unlink()
            else:
                probe.close()
                raise OSError(errno.EADDRINUSE, f"a node already serves {self.path}")
        sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            await sock.bind(str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        sock.listen(64)
        return trio.SocketListener(sock)

    async def _serve_client(self, stream: trio.SocketStream) -> None:
        send_lock = trio.Lock()
        subscribed = False
        try:
            async with stream, trio.open_nursery() as nursery:
                buffer = bytearray()
                while True:
                    message, buffer = await _read_message(stream, buffer, self.max_frame)
                    if message is None:
                        break
                    wall, cpu = time.perf_counter(), time.process_time()
                    reply, request = await self._answer(message)
                    timing.info("%s answered in %.1f ms (CPU %.1f ms, %d bytes)", message.get("op"),
                                (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000,
                                len(reply))
                    if isinstance(request, Subscribe) and not subscribed:
                        subscribed = True
                        send, events = trio.open_memory_channel[bytes](MAX_PENDING_EVENTS)
                        self._subscribers.add(send)
                        nursery.start_soon(_forward_events, stream, events, send_lock)
                    async with send_lock:
                        await stream.send_all(reply)
                nursery.cancel_scope.cancel()
        except Exception as exc:  # noqa: BLE001 - one client's trouble never stops the node
            # Trio wraps errors from the client's nursery in an ExceptionGroup.
            log.debug("control client dropped: %r", exc)

    async def _answer(self, message: Frame) -> tuple[bytes, Request | None]:
        """The reply frame to one request frame, and the typed request (None
        when the frame did not make one)."""
        request_id = message.get("id")
        op = message.get("op")
        if request_id is not None and type(request_id) is not int:
            return self._error(None, BadRequest("a request's id must be a whole number")), None
        try:
            request = decode_request(op, message.get("args"))
        except BadRequest as exc:
            return self._error(request_id, exc), None
        if isinstance(request, Subscribe):
            return self._reply(request_id, op, None), request
        route = self.routes.get(request.op)
        if route is None:
            return self._error(request_id, UnknownOp(op)), None
        try:
            result = await route.run(request)
        except PantryError as exc:
            return self._error(request_id, exc), request
        except NeighbourhoodUnset:
            return self._error(request_id, NoNeighbourhood()), request
        except sqlite3.DatabaseError as exc:
            log.error("store failed during %s: %s", op, exc)
            return self._error(request_id, PantryError(
                f"the node's store could not do {op}: {exc}; the change was not written. If the "
                "disk is full, free some space and try again; if the store is damaged, stop the "
                "node and run 'meshpantry repair'"), "store-error"), request
        except Exception as exc:  # noqa: BLE001 - a failed request must not stop the node
            # TypeError included: the request was well formed, so this is ours.
            log.exception("control request %s failed", op)
            return self._error(request_id, PantryError(f"the node failed to do {op}: {exc}"), "internal"), request
        return self._reply(request_id, op, result), request

    def _reply(self, request_id: Wire, op: object, result: Wire) -> bytes:
        """The reply frame, or a typed error frame when it would be too large."""
        try:
            return encode_frame({"id": request_id, "ok": True, "result": result}, self.max_frame)
        except FrameTooLarge as exc:
            log.warning("answer to %s too large: %d bytes", op, exc.size)
            return self._error(request_id, ReplyTooLarge(str(op), exc.size, self.max_frame))
        except TypeError as exc:
            log.error("answer to %s cannot be sent: %s", op, exc)
            return self._error(request_id, PantryError(f"the node failed to do {op}: {exc}"), "internal")

    def _error(self, request_id: Wire, error: PantryError, code: str | None = None) -> bytes:
        frame: Frame = {"id": request_id, "ok": False, "error": {
            "code": code or error.code, "message": str(error)[:4096], "exit_code": int(error.exit_code)}}
        return encode_frame(frame, self.max_frame)


async def _read_message(stream: trio.SocketStream, buffer: bytearray, limit: int) -> tuple[Frame | None, bytearray]:
    while len(buffer) < HEADER.size:
        chunk = await stream.receive_some(65536)
        if not chunk:
            return None, buffer
        buffer += chunk
    length = frame_length(bytes(buffer[: HEADER.size]), limit)
    with trio.fail_after(FRAME_TIMEOUT_S):
        while len(buffer) < HEADER.size + length:
            chunk = await stream.receive_some(max(65536, HEADER.size + length - len(buffer)))
            if not chunk:
                return None, buffer
            buffer += chunk
    body = bytes(buffer[HEADER.size : HEADER.size + length])
    return decode_body(body), buffer[HEADER.size + length :]


async def _forward_events(stream: trio.SocketStream, events: trio.MemoryReceiveChannel[bytes], lock: trio.Lock) -> None:
    async for frame in events:
        async with lock:
            await stream.send_all(frame)
