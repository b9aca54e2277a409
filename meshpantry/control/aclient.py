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
from typing import AsyncIterator

from meshpantry.pantry.errors import PantryError

from . import SOCKET_NAME
from .client import (
    CONNECT_TIMEOUT_S, REQUEST_TIMEOUT_S, NodeUnavailable, answer_of, bind_request, request_frame,
)
from .events import Event, decode_event
from .frames import HEADER, ControlFrameError, Frame, Wire, decode_body, frame_length
from .requests import Request

#: Events wait here until the UI takes them; a UI that stops reading for this
#: many events loses the oldest (it refreshes from the node anyway).
MAX_QUEUED_EVENTS = 10_000

#: Put on the events queue when the connection ends.
_CLOSED = None


class AsyncControlClient:
    """One connection to a node's control socket, shared by concurrent calls."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._next_id = 0
        self._waiting: dict[int, asyncio.Future[Frame]] = {}
        self._events: asyncio.Queue[Event | None] = asyncio.Queue(MAX_QUEUED_EVENTS)
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

    async def call(self, op: str, *positional: object, timeout: float = REQUEST_TIMEOUT_S, **args: object) -> Wire:
        """:meth:`request` with the op's typed request built from the
        arguments (as the Pantry method of that name takes them); raises
        :class:`~meshpantry.pantry.errors.BadRequest` when they do not fit."""
        return await self.request(bind_request(op, positional, args), timeout=timeout)

    async def request(self, request: Request, *, timeout: float = REQUEST_TIMEOUT_S) -> Wire:
        """Send one request and await its answer.

        Returns the node's result; raises the :class:`PantryError` subclass the
        node reported, or :class:`NodeUnavailable` when the node is gone or
        does not answer within ``timeout`` seconds."""
        op = request.op
        if self._closed is not None:
            raise NodeUnavailable(str(self._closed))
        self._next_id += 1
        request_id = self._next_id
        frame = request_frame(request_id, request)
        future = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            self._writer.write(frame)
            await self._writer.drain()
            message = await asyncio.wait_for(future, timeout)
        except (OSError, ConnectionError) as exc:
            raise NodeUnavailable(f"cannot reach the node: {exc}") from None
        except asyncio.TimeoutError:
            raise NodeUnavailable(f"the node did not answer {op} within {timeout:.0f} s") from None
        finally:
            self._waiting.pop(request_id, None)
        return answer_of(message)

    async def subscribe(self, names: list[str] | None = None) -> None:
        """Ask the node to push events (all of them unless ``names``)."""
        await self.call("subscribe", events=names or [])

    async def events(self) -> AsyncIterator[Event]:
        """Yield the node's pushed events (:mod:`.events`); raises
        :class:`NodeUnavailable` when the node goes away. Call
        :meth:`subscribe` first."""
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
                    event = decode_event(message)
                    if event is None:
                        continue  # an event this version does not know
                    if self._events.full():
                        self._events.get_nowait()
                    self._events.put_nowait(event)
                    continue
                request_id = message.get("id")
                future = self._waiting.get(request_id) if isinstance(request_id, int) else None
                if future is not None and not future.done():
                    future.set_result(message)
        except asyncio.IncompleteReadError:
            self._fail(NodeUnavailable("the node closed the connection (did it stop?)"))
        except (OSError, ControlFrameError, PantryError) as exc:
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
