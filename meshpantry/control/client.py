"""Blocking control-socket client for the command line.

:class:`RemotePantry` has the same methods as :class:`meshpantry.pantry.Pantry`
(each call becomes the op's typed request, checked here before it is sent),
so every command works the same whether it runs against a node or against
the store directly.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Callable, Iterator

from meshpantry.exit_codes import ExitCode
from meshpantry.pantry import errors as pantry_errors

from . import SOCKET_NAME
from .decoding import decode_request, encode_request, request_from, to_wire
from .events import Event, decode_event
from .frames import HEADER, ControlFrameError, Frame, Wire, decode_body, encode_frame, frame_length
from .requests import Request

#: Connecting to a live local socket takes microseconds; a node that does not
#: answer within this is hung, and the user should hear about it.
CONNECT_TIMEOUT_S = 2.0
#: Most requests answer in milliseconds; a rebuild of 100k records takes seconds.
REQUEST_TIMEOUT_S = 120.0


class NodeUnavailable(Exception):
    """No node answers on this data directory's control socket."""


class ControlClient:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._next_id = 0

    @classmethod
    def connect(cls, data_dir: Path, timeout: float = CONNECT_TIMEOUT_S) -> "ControlClient":
        """Connect to the node of ``data_dir``. Raises :class:`NodeUnavailable`."""
        path = Path(data_dir) / SOCKET_NAME
        if not path.exists():
            raise NodeUnavailable(f"no node is running for {data_dir}")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError:
            sock.close()
            raise NodeUnavailable(
                f"the node socket {path} does not answer; if no node runs, remove the stale file"
            ) from None
        sock.settimeout(REQUEST_TIMEOUT_S)
        return cls(sock)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "ControlClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_exact(self, n: int) -> bytes:
        chunks = []
        while n:
            chunk = self._sock.recv(min(n, 1 << 20))
            if not chunk:
                raise NodeUnavailable("the node closed the connection (did it stop?)")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def read_message(self) -> Frame:
        try:
            header = self._read_exact(HEADER.size)
            return decode_body(self._read_exact(frame_length(header)))
        except (socket.timeout, ConnectionError) as exc:
            raise NodeUnavailable(f"the node stopped answering: {exc}") from None

    def call(self, op: str, **args: object) -> Wire:
        """:meth:`request` with the op's request built from ``args``
        (raises :class:`~meshpantry.pantry.errors.BadRequest` when they do not fit)."""
        return self.request(request_from(op, args))

    def request(self, request: Request) -> Wire:
        """Send one request and wait for its answer. Raises the PantryError
        the node reported, or :class:`NodeUnavailable`."""
        self._next_id += 1
        request_id = self._next_id
        frame = request_frame(request_id, request)
        try:
            self._sock.sendall(frame)
        except OSError as exc:
            raise NodeUnavailable(f"cannot reach the node: {exc}") from None
        while True:
            message = self.read_message()
            if message.get("id") == request_id:
                break
        return answer_of(message)

    def events(self, names: list[str] | None = None) -> Iterator[Event]:
        """Subscribe now, then iterate the node's events until it goes away.
        (Subscribed on the call, not on the first ``next``: no event
        published after this returns is missed.)"""
        self.call("subscribe", events=names or [])
        self._sock.settimeout(None)
        return self._follow()

    def _follow(self) -> Iterator[Event]:
        while True:
            message = self.read_message()
            if "event" in message:
                event = decode_event(message)
                if event is not None:
                    yield event


def request_frame(request_id: int, request: Request) -> bytes:
    """The frame of ``request``. Raises
    :class:`~meshpantry.pantry.errors.BadRequest` for an argument the control
    socket cannot carry: text that is not valid UTF-8 (bytes a terminal could
    not decode) or an integer outside 64 bits."""
    try:
        return encode_frame({"id": request_id, **encode_request(request)})
    except UnicodeEncodeError:
        raise pantry_errors.BadRequest(
            f"{request.op}: an argument is not valid UTF-8 text; check the terminal's encoding"
        ) from None
    except (TypeError, OverflowError, ValueError) as exc:
        raise pantry_errors.BadRequest(
            f"{request.op}: an argument cannot be sent to the node ({exc}); "
            "whole numbers must lie within 64 bits"
        ) from None


def answer_of(reply: Frame) -> Wire:
    """The result of a reply frame, or raise the error it reports."""
    if reply.get("ok"):
        return reply.get("result")
    error = reply.get("error")
    raise error_from(error if isinstance(error, dict) else {})


def _error_classes() -> dict[str, type[pantry_errors.PantryError]]:
    found: dict[str, type[pantry_errors.PantryError]] = {}
    todo: list[type[pantry_errors.PantryError]] = [pantry_errors.PantryError]
    while todo:
        cls = todo.pop()
        found.setdefault(cls.code, cls)
        todo.extend(cls.__subclasses__())
    return found


def error_from(error: dict[str, Wire]) -> pantry_errors.PantryError:
    """Rebuild a node-side PantryError so exit codes match local runs."""
    code = str(error.get("code", "error"))
    message = str(error.get("message", "the node reported an error"))
    cls = _error_classes().get(code)
    if cls is not None and cls is not pantry_errors.PantryError:
        exc = pantry_errors.PantryError.__new__(cls)
        Exception.__init__(exc, message)
        return exc
    exc = pantry_errors.PantryError(message)
    exit_code = error.get("exit_code")
    exc.exit_code = ExitCode(exit_code) if exit_code in set(ExitCode) else ExitCode.FAILED
    exc.code = code
    return exc


def bind_request(op: str, args: tuple[object, ...], kwargs: dict[str, object]) -> Request:
    """The typed request of calling Pantry method ``op`` with ``args`` and
    ``kwargs``. Raises :class:`~meshpantry.pantry.errors.BadRequest`."""
    wire = to_wire(kwargs)
    assert isinstance(wire, dict)
    if args:
        wire["_args"] = to_wire(list(args))
    return decode_request(op, wire)


class RemotePantry:
    """Calls the running node's Pantry through the control socket: each
    method becomes the op's typed request."""

    def __init__(self, client: ControlClient) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Callable[..., Wire]:
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args: object, **kwargs: object) -> Wire:
            return self._client.request(bind_request(name, args, kwargs))

        return call


__all__ = ["ControlClient", "ControlFrameError", "NodeUnavailable", "RemotePantry"]
