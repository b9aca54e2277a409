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

Bounds per client: one subscription per connection, at most
:data:`MAX_PENDING_EVENT_BYTES` of events queued for it, a frame that has
begun arriving must be whole within :data:`FRAME_TIMEOUT_S`, and a frame the
node writes must be taken within :data:`SEND_TIMEOUT_S`; at most
:data:`MAX_CLIENTS` connections at once. A client that breaks a bound is
dropped with a logged reason (``control client dropped: ...``), and
everything it held (its queue, its task, its subscription) is freed when it
leaves, whichever way it leaves.

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
from collections import deque
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

#: Connections served at once. The household's own programs use one or two
#: (the UI's event stream and a command); further ones are closed at once, so
#: a runaway script cannot make the node hold a task and buffers per
#: connection without end.
MAX_CLIENTS = 64
#: Event bytes queued for one subscriber that has not read them yet. Events
#: are a few hundred bytes; 1 MiB is thousands of them, more than a busy
#: minute of a large neighbourhood. A subscriber that falls further behind is
#: dropped (with a logged reason) rather than making the node buffer for it.
MAX_PENDING_EVENT_BYTES = 1024 * 1024
#: Seconds a frame may take to arrive whole once its first byte has (its
#: header included): a client sends a request in one write.
FRAME_TIMEOUT_S = 30.0
#: Seconds one reply or event frame may take to be written: a client that
#: stops reading while the node answers is dropped, and the frame freed.
SEND_TIMEOUT_S = 30.0


class ClientDropped(Exception):
    """The node hung up on one control client; the message says why."""


class _Subscriber:
    """One connection's subscription: event frames queued in order, counted
    in bytes, and the cancel scope that drops the whole connection."""

    def __init__(self, scope: trio.CancelScope, budget: int) -> None:
        self.scope, self.budget = scope, budget
        self.frames: deque[bytes] = deque()
        self.queued = 0
        self.ready = trio.Event()
        self.dropped: str | None = None

    def offer(self, frame: bytes) -> None:
        """Queue ``frame``, or drop the client when it would exceed its budget."""
        if self.dropped is not None:
            return
        if self.queued + len(frame) > self.budget:
            self.drop(f"{self.queued} bytes of events unread (at most {self.budget})")
            return
        self.frames.append(frame)
        self.queued += len(frame)
        self.ready.set()

    def drop(self, reason: str) -> None:
        self.dropped = reason
        self.frames.clear()
        self.queued = 0
        self.scope.cancel()

    async def forward(self, stream: trio.SocketStream, lock: trio.Lock, send_timeout_s: float) -> None:
        while True:
            await self.ready.wait()
            self.ready = trio.Event()
            while self.frames:
                frame = self.frames.popleft()
                self.queued -= len(frame)
                await _send(stream, frame, lock, send_timeout_s)


class ControlServer:
    """Serve the ops of ``routes`` (op name -> :class:`Route`). Frames are at
    most ``max_frame`` bytes both ways (smaller only in tests); the other
    bounds default to this module's constants (smaller only in tests)."""

    def __init__(self, data_dir: Path, routes: Mapping[str, Route], *, max_frame: int = MAX_CONTROL_FRAME,
                 max_clients: int = MAX_CLIENTS, max_pending_event_bytes: int = MAX_PENDING_EVENT_BYTES,
                 frame_timeout_s: float = FRAME_TIMEOUT_S, send_timeout_s: float = SEND_TIMEOUT_S) -> None:
        self.path = Path(data_dir) / SOCKET_NAME
        self.routes = dict(routes)
        self.max_frame = max_frame
        self.max_clients = max_clients
        self.max_pending_event_bytes = max_pending_event_bytes
        self.frame_timeout_s = frame_timeout_s
        self.send_timeout_s = send_timeout_s
        self.clients = 0  #: connections served now
        self.subscriptions = 0  #: subscriptions made since the server started
        self._subscribers: set[_Subscriber] = set()

    @property
    def subscribers(self) -> int:
        """Connections subscribed to events now."""
        return len(self._subscribers)

    @property
    def pending_event_bytes(self) -> int:
        """Event bytes queued for every subscriber together."""
        return sum(sub.queued for sub in self._subscribers)

    def publish(self, event: Event) -> None:
        """Push an event to every subscriber; a subscriber that lags is dropped."""
        if not self._subscribers:
            return
        try:
            frame = encode_frame(encode_event(event), self.max_frame)
        except FrameTooLarge:  # pragma: no cover - events are a few hundred bytes
            log.error("event %s too large to send", event.name)
            return
        for subscriber in list(self._subscribers):
            subscriber.offer(frame)
            if subscriber.dropped is not None:
                self._subscribers.discard(subscriber)

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listener = await self._bind()
        try:
            async with listener:
                task_status.started()
                async with trio.open_nursery() as nursery:
                    while True:
                        stream = await listener.accept()
                        if self.clients >= self.max_clients:
                            log.warning("control client refused: %d clients already connected", self.clients)
                            await stream.aclose()
                            continue
                        self.clients += 1
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
        # Bound and listening under a temporary name, then renamed into
        # place: whoever sees the socket file (a UI waiting for its node,
        # ``wait_for_socket``) can connect at once. Bound under its own name,
        # the file was there before listen(): a client that connected in
        # between was refused (seen as "does not answer" on a busy machine).
        staging = self.path.with_name(self.path.name + ".new")
        staging.unlink(missing_ok=True)  # left by a node killed right here
        sock = _stdsocket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_STREAM)
        try:
            old = os.umask(0o177)
            try:
                sock.bind(str(staging))
            finally:
                os.umask(old)
            os.chmod(staging, 0o600)
            sock.listen(64)
            os.replace(staging, self.path)
        except BaseException:
            sock.close()
            staging.unlink(missing_ok=True)
            raise
        return trio.SocketListener(trio.socket.from_stdlib_socket(sock))

    async def _serve_client(self, stream: trio.SocketStream) -> None:
        """Answer one connection's requests in order until it closes, breaks a
        bound, or the node stops; everything it held is freed on the way out."""
        send_lock = trio.Lock()
        subscriber: _Subscriber | None = None
        try:
            async with stream, trio.open_nursery() as nursery:
                buffer = bytearray()
                while True:
                    message, buffer = await _read_message(stream, buffer, self.max_frame, self.frame_timeout_s)
                    if message is None:
                        break
                    wall, cpu = time.perf_counter(), time.process_time()
                    reply, request = await self._answer(message)
                    timing.info("%s answered in %.1f ms (CPU %.1f ms, %d bytes)", message.get("op"),
                                (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000,
                                len(reply))
                    if isinstance(request, Subscribe) and subscriber is None:
                        # One subscription per connection: a repeated
                        # subscribe is acknowledged and changes nothing.
                        subscriber = _Subscriber(nursery.cancel_scope, self.max_pending_event_bytes)
                        self._subscribers.add(subscriber)
                        self.subscriptions += 1
                        nursery.start_soon(subscriber.forward, stream, send_lock, self.send_timeout_s)
                    await _send(stream, reply, send_lock, self.send_timeout_s)
                nursery.cancel_scope.cancel()
            if subscriber is not None and subscriber.dropped is not None:
                raise ClientDropped(subscriber.dropped)
        except ClientDropped as exc:
            log.warning("control client dropped: %s", exc)
        except Exception as exc:  # noqa: BLE001 - one client's trouble never stops the node
            # Trio wraps errors from the client's nursery in an ExceptionGroup.
            dropped = _dropped_reason(exc)
            if dropped is not None:
                log.warning("control client dropped: %s", dropped)
            else:
                log.debug("control client dropped: %r", exc)
        finally:
            self.clients -= 1
            if subscriber is not None:
                self._subscribers.discard(subscriber)
                subscriber.frames.clear()
                subscriber.queued = 0

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


def _dropped_reason(exc: BaseException) -> str | None:
    """The reason of a :class:`ClientDropped` in ``exc`` (possibly inside an
    exception group), or None."""
    if isinstance(exc, ClientDropped):
        return str(exc)
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            reason = _dropped_reason(inner)
            if reason is not None:
                return reason
    return None


async def _read_message(stream: trio.SocketStream, buffer: bytearray, limit: int,
                        timeout_s: float = FRAME_TIMEOUT_S) -> tuple[Frame | None, bytearray]:
    """The next request frame (None once the client closed), and what
    followed it. Waiting for a frame to begin has no deadline (a client may
    stay connected and quiet); once its first byte is in, the rest, header
    included, must arrive within ``timeout_s`` or :class:`ClientDropped`."""
    while not buffer:
        chunk = await stream.receive_some(65536)
        if not chunk:
            return None, buffer
        buffer += chunk
    try:
        with trio.fail_after(timeout_s):
            while len(buffer) < HEADER.size:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    return None, buffer
                buffer += chunk
            length = frame_length(bytes(buffer[: HEADER.size]), limit)
            while len(buffer) < HEADER.size + length:
                chunk = await stream.receive_some(min(1024 * 1024, max(65536, HEADER.size + length - len(buffer))))
                if not chunk:
                    return None, buffer
                buffer += chunk
    except trio.TooSlowError:
        raise ClientDropped(f"a frame begun {timeout_s:g} s ago has not arrived whole "
                            f"({len(buffer)} bytes so far)") from None
    body = bytes(buffer[HEADER.size : HEADER.size + length])
    return decode_body(body), buffer[HEADER.size + length :]


async def _send(stream: trio.SocketStream, frame: bytes, lock: trio.Lock, timeout_s: float) -> None:
    """Write one whole frame, or :class:`ClientDropped` if the client does not
    take it within ``timeout_s`` (it stopped reading)."""
    async with lock:
        try:
            with trio.fail_after(timeout_s):
                await stream.send_all(frame)
        except trio.TooSlowError:
            raise ClientDropped(f"a frame of {len(frame)} bytes was not taken within {timeout_s:g} s "
                                "(the client stopped reading)") from None
