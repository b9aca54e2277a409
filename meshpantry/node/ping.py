"""The libp2p ping protocol (``/ipfs/ping/1.0.0``), as the liveness check uses it.

A ping is 32 random bytes written on a stream and echoed back by the peer.
:class:`Pinger` keeps one stream per peer between pings (a new stream per
ping costs a protocol negotiation: about four times the CPU of a ping on a
kept stream); :func:`ping` uses a fresh stream once. Both are unbounded in
time: the caller bounds them. :func:`serve_ping` answers peers' pings.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, Callable

import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from .streams import close_quietly, safe_handler

log = logging.getLogger("meshpantry.node")

#: The standard libp2p ping protocol, served by every py-libp2p host.
PING_PROTOCOL = TProtocol("/ipfs/ping/1.0.0")

#: Bytes of one ping; the protocol fixes it.
PING_BYTES = 32

#: Seconds allowed to reset a probe's stream after a miss. Writing the reset
#: can wait behind a writer stuck on a stalled socket; the connection is
#: suspect anyway, so the reset is best effort and must not delay the count.
RESET_TIMEOUT_S = 0.5


class PingMismatch(Exception):
    """A peer answered a ping with other bytes than were sent (or none)."""

    def __init__(self, peer_id: str, sent: bytes, received: bytes) -> None:
        super().__init__(f"ping to {peer_id}: sent {len(sent)} bytes, got back {received[:8].hex()}...")
        self.peer_id, self.sent, self.received = peer_id, sent, received


class Pinger:
    """Pings peers of a py-libp2p host, one ping stream kept per peer.

    :meth:`ping` sends 32 random bytes on the peer's stream (opening one
    when there is none, or when the kept one is closed or sits on a closed
    connection) and waits for the echo; it returns the seconds taken and
    raises :class:`PingMismatch` for a wrong echo, or whatever the library
    raises when a stream cannot be opened or breaks. It is unbounded in
    time: the caller bounds it. After any failure or cancellation the stream
    is reset (best effort, within :data:`RESET_TIMEOUT_S`) and not kept, so
    the next ping starts afresh. One ping per peer at a time.
    """

    def __init__(self, libp2p_host: Any) -> None:
        self.host = libp2p_host
        self.streams: dict[ID, Any] = {}

    async def ping(self, peer_id: ID) -> float:
        start = trio.current_time()
        stream = self.streams.pop(peer_id, None)
        if stream is not None and not _usable(stream):
            await _reset_briefly(stream)
            stream = None
        if stream is None:
            stream = await self.host.new_stream(peer_id, [PING_PROTOCOL])
        try:
            await _echo(stream, peer_id)
        except BaseException:
            await _reset_briefly(stream)
            raise
        self.streams[peer_id] = stream
        return trio.current_time() - start

    def forget(self, peer_id: ID) -> None:
        """Drop the stream kept for a peer that is gone (its connection
        closed, so the stream is closed with it)."""
        self.streams.pop(peer_id, None)


async def ping(libp2p_host: Any, peer_id: ID) -> float:
    """One ping on a new stream, closed afterwards; returns the seconds
    taken. Raises as :meth:`Pinger.ping`; unbounded in time."""
    start = trio.current_time()
    stream = await libp2p_host.new_stream(peer_id, [PING_PROTOCOL])
    try:
        await _echo(stream, peer_id)
    except BaseException:
        await _reset_briefly(stream)
        raise
    await close_quietly(stream)
    return trio.current_time() - start


async def _echo(stream: Any, peer_id: ID) -> None:
    payload = secrets.token_bytes(PING_BYTES)
    await stream.write(payload)
    echo = b""
    while len(echo) < PING_BYTES:
        chunk = await stream.read(PING_BYTES - len(echo))
        if not chunk:
            break
        echo += chunk
    if echo != payload:
        raise PingMismatch(str(peer_id), payload, echo)


def _usable(stream: Any) -> bool:
    """A kept ping stream can carry another ping: neither it nor its
    connection closed, and the peer did not close or reset its side (read
    from yamux's stream fields: ``meshpantry/node/LIBP2P.md``, "Liveness and
    ping")."""
    if getattr(stream, "is_closed", False) or getattr(stream.muxed_conn, "is_closed", False):
        return False
    muxed = getattr(stream, "muxed_stream", None)
    return not (getattr(muxed, "recv_closed", False) or getattr(muxed, "reset_received", False))


async def _reset_briefly(stream: Any) -> None:
    """Reset ``stream`` even when cancelled, giving up after
    :data:`RESET_TIMEOUT_S` (a writer stuck on a stalled socket holds the
    muxer's write lock)."""
    with trio.CancelScope(shield=True), trio.move_on_after(RESET_TIMEOUT_S):
        try:
            await stream.reset()
        except Exception as error:  # noqa: BLE001 - the stream may be gone already
            log.debug("resetting a ping stream: %r", error)


class _Answering:
    """A served ping stream that reports each echo it writes: the peer that
    pinged is alive, and the connection carries bytes both ways."""

    def __init__(self, stream: Any, on_ping: Callable[[ID], None]) -> None:
        self._stream, self._on_ping = stream, on_ping

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    async def write(self, data: bytes) -> None:
        await self._stream.write(data)
        self._on_ping(self._stream.muxed_conn.peer_id)


def serve_ping(libp2p_host: Any, on_ping: Callable[[ID], None] | None = None) -> None:
    """Answer pings with the library's ping service, behind
    :func:`~meshpantry.node.streams.safe_handler` so no error in it can stop
    the host. ``on_ping(peer_id)`` is called after each answer (the liveness
    check counts a peer that pings as heard, and need not ping it back)."""
    from libp2p.host.ping import PingService

    service = PingService(libp2p_host)
    handle = service.handle_ping
    if on_ping is not None:
        report = on_ping

        async def handle(stream: Any) -> None:
            await service.handle_ping(_Answering(stream, report))

    libp2p_host.set_stream_handler(PING_PROTOCOL, safe_handler(handle, "ping"))
