"""Blocking control-socket client for the command line.

:class:`RemotePantry` has the same methods as :class:`meshpantry.pantry.Pantry`
(each call becomes a request to the node), so every command works the same
whether it runs against a node or against the store directly.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Iterator

from meshpantry.pantry import errors as pantry_errors

from . import SOCKET_NAME
from .frames import HEADER, ControlFrameError, decode_body, encode_frame, frame_length

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

    def read_message(self) -> dict[str, Any]:
        try:
            header = self._read_exact(HEADER.size)
            return decode_body(self._read_exact(frame_length(header)))
        except (socket.timeout, ConnectionError) as exc:
            raise NodeUnavailable(f"the node stopped answering: {exc}") from None

    def call(self, op: str, **args: Any) -> Any:
        """Send one request and wait for its answer. Raises the PantryError
        the node reported, or :class:`NodeUnavailable`."""
        self._next_id += 1
        request_id = self._next_id
        try:
            self._sock.sendall(encode_frame({"id": request_id, "op": op, "args": args}))
        except OSError as exc:
            raise NodeUnavailable(f"cannot reach the node: {exc}") from None
        while True:
            message = self.read_message()
            if message.get("id") == request_id:
                break
        if message.get("ok"):
            return message.get("result")
        raise error_from(message.get("error") or {})

    def events(self, names: list[str] | None = None) -> Iterator[dict[str, Any]]:
        """Subscribe and yield event frames until the node goes away."""
        self.call("subscribe", events=names or [])
        self._sock.settimeout(None)
        while True:
            message = self.read_message()
            if "event" in message:
                yield message


def error_from(error: dict[str, Any]) -> Exception:
    """Rebuild a node-side PantryError so exit codes match local runs."""
    code = error.get("code", "error")
    for cls in vars(pantry_errors).values():
        if isinstance(cls, type) and issubclass(cls, pantry_errors.PantryError) and cls.code == code:
            exc = pantry_errors.PantryError.__new__(cls)
            Exception.__init__(exc, error.get("message", code))
            return exc
    exc = pantry_errors.PantryError(error.get("message", "the node reported an error"))
    exc.exit_code = int(error.get("exit_code", 1))
    return exc


class RemotePantry:
    """Calls the running node's Pantry through the control socket."""

    def __init__(self, client: ControlClient) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if args:
                kwargs["_args"] = list(args)
            return self._client.call(name, **kwargs)

        return call


__all__ = ["ControlClient", "ControlFrameError", "NodeUnavailable", "RemotePantry"]
