"""The node side of the control socket (trio).

The socket lives in the data directory with mode 0600 inside a 0700 directory:
only the household's own user can command the node. Each connection is served
by its own task; a client that sends garbage gets an error frame and is
dropped; nothing a client does can stop the node.
"""

from __future__ import annotations

import errno
import logging
import os
import socket as _stdsocket
import sqlite3
from pathlib import Path
from typing import Any, Awaitable, Callable

import trio

from meshpantry.pantry.errors import PantryError

from . import SOCKET_NAME
from .frames import HEADER, ControlFrameError, decode_body, encode_frame, frame_length

log = logging.getLogger("meshpantry.control")

#: A client that stops reading must not make the node buffer without bound:
#: events queue up to this many per subscriber, then that subscriber is dropped.
MAX_PENDING_EVENTS = 1000
#: A request frame should arrive whole promptly once its header has.
FRAME_TIMEOUT_S = 30.0

Handler = Callable[..., Awaitable[Any]]


class ControlServer:
    """Serve requests by name. ``handlers`` maps an op name to an async callable
    taking keyword arguments; a :class:`PantryError` becomes an error reply."""

    def __init__(self, data_dir: Path, handlers: dict[str, Handler]) -> None:
        self.path = Path(data_dir) / SOCKET_NAME
        self.handlers = handlers
        self._subscribers: set[trio.MemorySendChannel] = set()

    def publish(self, event: str, data: Any) -> None:
        """Push an event to every subscriber; a subscriber that lags is dropped."""
        for channel in list(self._subscribers):
            try:
                channel.send_nowait({"event": event, "data": data})
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                self._subscribers.discard(channel)
                channel.close()

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
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
        events: trio.MemoryReceiveChannel | None = None
        try:
            async with stream, trio.open_nursery() as nursery:
                buffer = bytearray()
                while True:
                    message, buffer = await _read_message(stream, buffer)
                    if message is None:
                        break
                    reply = await self._answer(message)
                    if message.get("op") == "subscribe" and reply.get("ok"):
                        send, events = trio.open_memory_channel(MAX_PENDING_EVENTS)
                        self._subscribers.add(send)
                        nursery.start_soon(_forward_events, stream, events, send_lock)
                    async with send_lock:
                        await stream.send_all(encode_frame(reply))
                nursery.cancel_scope.cancel()
        except Exception as exc:  # noqa: BLE001 - one client's trouble never stops the node
            # Trio wraps errors from the client's nursery in an ExceptionGroup.
            log.debug("control client dropped: %r", exc)

    async def _answer(self, message: dict[str, Any]) -> dict[str, Any]:
        request_id = message.get("id")
        op = message.get("op")
        if op == "subscribe":
            return {"id": request_id, "ok": True, "result": None}
        handler = self.handlers.get(op) if isinstance(op, str) else None
        if handler is None:
            return _error(request_id, "unknown-op", f"the node does not know the request {op!r}", 2)
        args = message.get("args") or {}
        if not isinstance(args, dict):
            return _error(request_id, "bad-request", "request arguments must be a map", 2)
        positional = args.pop("_args", [])
        try:
            result = await handler(*positional, **args)
        except PantryError as exc:
            return _error(request_id, exc.code, str(exc), exc.exit_code)
        except TypeError as exc:
            return _error(request_id, "bad-request", f"bad arguments for {op}: {exc}", 2)
        except sqlite3.DatabaseError as exc:
            log.error("store failed during %s: %s", op, exc)
            return _error(request_id, "store-error",
                          f"the node's store could not do {op}: {exc}; if the disk is full, free some "
                          "space and try again (nothing acknowledged was lost)", 1)
        except Exception as exc:  # noqa: BLE001 - a failed request must not stop the node
            log.exception("control request %s failed", op)
            return _error(request_id, "internal", f"the node failed to do {op}: {exc}", 1)
        return {"id": request_id, "ok": True, "result": result}


def _error(request_id: Any, code: str, message: str, exit_code: int) -> dict[str, Any]:
    return {"id": request_id, "ok": False, "error": {"code": code, "message": message, "exit_code": exit_code}}


async def _read_message(stream: trio.SocketStream, buffer: bytearray) -> tuple[dict | None, bytearray]:
    while len(buffer) < HEADER.size:
        chunk = await stream.receive_some(65536)
        if not chunk:
            return None, buffer
        buffer += chunk
    length = frame_length(bytes(buffer[: HEADER.size]))
    with trio.fail_after(FRAME_TIMEOUT_S):
        while len(buffer) < HEADER.size + length:
            chunk = await stream.receive_some(max(65536, HEADER.size + length - len(buffer)))
            if not chunk:
                return None, buffer
            buffer += chunk
    body = bytes(buffer[HEADER.size : HEADER.size + length])
    return decode_body(body), buffer[HEADER.size + length :]


async def _forward_events(stream: trio.SocketStream, events: trio.MemoryReceiveChannel, lock: trio.Lock) -> None:
    async for event in events:
        async with lock:
            await stream.send_all(encode_frame(event))
