"""The libp2p ping protocol (``/ipfs/ping/1.0.0``), as the liveness check uses it.

A ping is 32 random bytes written on a stream and echoed back by the peer.
:class:`Pinger` keeps one stream per peer between pings (a new stream per
ping costs a protocol negotiation: about four times the CPU of a ping on a
kept stream); :func:`ping` uses a fresh stream once. Both are unbounded in
time: the caller bounds them. :func:`serve_ping` answers peers' pings, on
each stream until it has been idle for :data:`SERVE_IDLE_S` (the library's
own service closes it after 10 s, which made probers open and negotiate a
new stream after every pause in their probes).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, Callable

import trio
from libp2p.custom_types import TProtocol
from libp2p.network.stream.exceptions import StreamEOF
from libp2p.peer.id import ID

from .streams import close_quietly, safe_handler

log = logging.getLogger("meshpantry.node")

#: The standard libp2p ping protocol, served by every py-libp2p host.
PING_PROTOCOL = TProtocol("/ipfs/ping/1.0.0")

#: Bytes of one ping; the protocol fixes it.
PING_BYTES = 32

#: Seconds a served ping stream may wait for its next ping before it is
#: closed. The liveness check puts its probes of a peer off while the
#: peer's sync bytes show it alive (:meth:`.liveness.Liveness.heard`), often
#: for longer than the library service's 10 s; a prober whose kept stream
#: was closed meanwhile opens and negotiates a new one, about four times a
#: ping's CPU (in a heal of 20 nodes, opening ping streams again cost
#: about as much as the pings). A minute covers most sessions; a stream
#: its prober abandoned costs nothing but its bookkeeping meanwhile.
SERVE_IDLE_S = 60.0

#: Ping streams served at once per peer: the protocol's bound (a prober
#: keeps one outbound stream; a listener accepts at most two per peer).
MAX_SERVED_PER_PEER = 2

#: Seconds one echo may take to be written (as the library's service).
ECHO_WRITE_S = 10.0

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


def serve_ping(libp2p_host: Any, on_ping: Callable[[ID], None] | None = None) -> None:
    """Answer pings (:class:`PingServer`) behind
    :func:`~meshpantry.node.streams.safe_handler`, so no error in it can stop
    the host. ``on_ping(peer_id)`` is called after each answer (the liveness
    check counts a peer that pings as heard, and need not ping it back)."""
    server = PingServer(on_ping)
    libp2p_host.set_stream_handler(PING_PROTOCOL, safe_handler(server.handle, "ping"))


class PingServer:
    """Echoes each 32-byte ping on a stream until the prober closes it or it
    has been idle for :data:`SERVE_IDLE_S`; at most
    :data:`MAX_SERVED_PER_PEER` streams per peer at once (a further one is
    reset). ``on_ping(peer_id)`` is called after each echo. A truncated
    ping closes the stream; a broken one raises (the handler's wrapper
    resets it)."""

    def __init__(self, on_ping: Callable[[ID], None] | None = None) -> None:
        self.on_ping = on_ping
        self.served: dict[ID, int] = {}  #: peer -> its streams served now

    async def handle(self, stream: Any) -> None:
        peer_id = stream.muxed_conn.peer_id
        if self.served.get(peer_id, 0) >= MAX_SERVED_PER_PEER:
            await _reset_briefly(stream)
            return
        self.served[peer_id] = self.served.get(peer_id, 0) + 1
        try:
            while True:
                payload = b""
                with trio.move_on_after(SERVE_IDLE_S):
                    payload = await _read_ping(stream)
                if len(payload) < PING_BYTES:
                    return  # idle, closed or cut short: the wrapper closes it
                with trio.fail_after(ECHO_WRITE_S):
                    await stream.write(payload)
                if self.on_ping is not None:
                    self.on_ping(peer_id)
        finally:
            left = self.served.pop(peer_id) - 1
            if left:
                self.served[peer_id] = left


async def _read_ping(stream: Any) -> bytes:
    """The next ping's bytes; fewer than :data:`PING_BYTES` when the prober
    closed its side first."""
    payload = b""
    while len(payload) < PING_BYTES:
        try:
            chunk = await stream.read(PING_BYTES - len(payload))
        except StreamEOF:
            break
        if not chunk:
            break
        payload += chunk
    return payload
