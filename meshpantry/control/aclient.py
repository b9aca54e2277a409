"""Asyncio control-socket client, for the terminal UI.

Same frames and the same errors as the blocking :mod:`.client`, but one
connection serves many requests at once: a reader task matches each reply to
its request by ``id`` and queues pushed ``event`` frames for :meth:`events`.

Theory of operation::

    call(op) ──frame──▶ node          reader task ◀──frames── node
       │                                 │ reply with id n → futures[n]
       └── awaits futures[n] ◀───────────┘ event frame    → events queue

When the node goes away, every waiting call and the event iterator raise
:class:`NodeUnavailable`. This module imports no trio and no libp2p.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, AsyncIterator

from . import SOCKET_NAME
from .client import CONNECT_TIMEOUT_S, REQUEST_TIMEOUT_S, NodeUnavailable, error_from
from .frames import HEADER, ControlFrameError, decode_body, encode_frame, frame_length

#: Events wait here until the UI takes them; a UI that stops reading for this
#: many events loses the oldest (it refreshes from the node anyway).
MAX_QUEUED_EVENTS = 10_000

_CLOSED = object()


class AsyncControlClient:
    """One connection to a node's control socket, shared by concurrent calls."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._next_id = 0
        self._waiting: dict[int, asyncio.Future] = {}
        self._events: asyncio.Queue = asyncio.Queue(MAX_QUEUED_EVENTS)
        self._closed: Exception | None = None
        self._reading = asyncio.get_running_loop().create_task(self._read_loop())

    @classmethod
    async def connect(cls, data_dir: Path, timeout: float = CONNECT_TIMEOUT_S) -> "AsyncControlClient":
        """Connect to the node of ``data_dir``. Raises :class:`NodeUnavailable`."""
        path = Path(data_dir) / SOCKET_NAME
        if not path.exists():
            raise NodeUnavailable(f"no node is running for {data_dir}")
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(path), limit=HEADER.size + (1 << 20)), timeout
            )
        except (OSError, asyncio.TimeoutError):
            raise NodeUnavailable(f"the node socket {path} does not answer") from None
        return cls(reader, writer)

    @property
    def closed(self) -> bool:
        return self._closed is not None

    async def close(self) -> None:
        """Close the connection; waiting calls raise :class:`NodeUnavailable`."""
        self._fail(NodeUnavailable("the connection to the node was closed"))
        self._reading.cancel()
        try:
            self._writer.close()
            await self._writer.wait_closed()
        except (OSError, RuntimeError):
            pass

    async def call(self, op: str, *positional: Any, timeout: float = REQUEST_TIMEOUT_S, **args: Any) -> Any:
        """Send one request and await its answer.

        Returns the node's result; raises the :class:`PantryError` subclass the
        node reported, or :class:`NodeUnavailable` when the node is gone or
        does not answer within ``timeout`` seconds."""
        if self._closed is not None:
            raise NodeUnavailable(str(self._closed))
        if positional:
            args["_args"] = list(positional)
        self._next_id += 1
        request_id = self._next_id
        future = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            self._writer.write(encode_frame({"id": request_id, "op": op, "args": args}))
            await self._writer.drain()
            message = await asyncio.wait_for(future, timeout)
        except (OSError, ConnectionError) as exc:
            raise NodeUnavailable(f"cannot reach the node: {exc}") from None
        except asyncio.TimeoutError:
            raise NodeUnavailable(f"the node did not answer {op} within {timeout:.0f} s") from None
        finally:
            self._waiting.pop(request_id, None)
        if message.get("ok"):
            return message.get("result")
        raise error_from(message.get("error") or {})

    async def subscribe(self, names: list[str] | None = None) -> None:
        """Ask the node to push events (all of them unless ``names``)."""
        await self.call("subscribe", events=names or [])

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Yield pushed ``{"event", "data"}`` frames; raises :class:`NodeUnavailable`
        when the node goes away. Call :meth:`subscribe` first."""
        while True:
            event = await self._events.get()
            if event is _CLOSED:
                self._events.put_nowait(_CLOSED)  # later iterators end too
                raise NodeUnavailable(str(self._closed))
            yield event

    async def _read_loop(self) -> None:
        try:
            while True:
                header = await self._reader.readexactly(HEADER.size)
                body = await self._reader.readexactly(frame_length(header))
                message = decode_body(body)
                if "event" in message:
                    if self._events.full():
                        self._events.get_nowait()
                    self._events.put_nowait(message)
                    continue
                future = self._waiting.get(message.get("id"))
                if future is not None and not future.done():
                    future.set_result(message)
        except asyncio.IncompleteReadError:
            self._fail(NodeUnavailable("the node closed the connection (did it stop?)"))
        except (OSError, ControlFrameError) as exc:
            self._fail(NodeUnavailable(f"the node connection broke: {exc}"))

    def _fail(self, error: Exception) -> None:
        if self._closed is not None:
            return
        self._closed = error
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(NodeUnavailable(str(error)))
        if self._events.full():
            self._events.get_nowait()
        self._events.put_nowait(_CLOSED)


__all__ = ["AsyncControlClient", "NodeUnavailable"]
