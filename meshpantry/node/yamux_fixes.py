"""Two corrections to py-libp2p 0.8.1's yamux streams.

**Whole writes.** ``YamuxStream.write`` cuts a write into frames of up to
64 KiB and takes the stream's write lock per frame, yielding between frames
(and waiting whenever the send window runs out). Two tasks writing one
stream at once therefore interleave their frames, and the reader gets a
corrupt byte stream. GossipSub writes each peer's stream from several tasks
(forwarding, heartbeat control, replies to IWANT); a gossip batch of up to
256 KiB spans four frames, so a control message could land inside it: the
peer failed to parse the RPC, and the exception stopped its whole swarm.
:func:`install` makes each ``write`` call whole: a per-stream lock held for
the entire call.

**Receive-window credit: one update per half window.** A yamux receiver
grants its peer more send window with WINDOW_UPDATE frames. go-yamux sends one when the bytes read since the last update reach half the
window. py-libp2p 0.8.1 sends one after nearly every read instead: any read
that leaves less than half a window unreleased takes its "partial slack"
branch, and with ``PY_YAMUX_RELEASE_ON_READ`` on (its default) so does every
other read. Each update is a frame of its own, so a Noise message, a socket
write and a read by the peer's connection loop. Measured on loopback, 200 KB
read 4 bytes at a time cost 50,000 updates and 6.9 s of CPU; GossipSub reads
each RPC's length one byte at a time, so every gossip message cost several
updates, and a rejoining neighbourhood spent about a fifth of its CPU
reading and writing them.

:func:`install` also replaces the library's credit method with go-yamux's rule
(and keeps the library's window auto-tuning): credit is sent once the bytes
read reach ``target_recv_window // 2``, as one update. The peer always holds
at least half a window of credit, so a writer never waits on a reader that
has read what it was sent.

Both are installed once per process by
:func:`meshpantry.node.host.build_host`.
"""

from __future__ import annotations

from typing import Any

import trio
from libp2p.stream_muxer.yamux.yamux import YamuxStream

_LIBRARY_CREDIT = YamuxStream._auto_tune_and_send_window_update
_LIBRARY_WRITE = YamuxStream.write


async def _whole_write(self: Any, data: bytes) -> None:
    """The library's write, one whole call at a time per stream."""
    lock = self.__dict__.get("_whole_write_lock")
    if lock is None:
        lock = self.__dict__["_whole_write_lock"] = trio.Lock()
    async with lock:
        await _LIBRARY_WRITE(self, data)


async def _credit_half_window(self: Any, *, bytes_read: int = 0) -> None:
    """Send one WINDOW_UPDATE when the unreleased bytes reach half the target
    window: the target minus what the peer may still send and what waits
    unread in our buffer."""
    increment = 0
    async with self.window_lock:
        buffered = len(self.conn.stream_buffers.get(self.stream_id, b""))
        unreleased = self.target_recv_window - (self.recv_window + buffered)
        if unreleased > 0 and unreleased >= self.target_recv_window // 2:
            self.recv_window += unreleased
            self._pending_recv_release = 0
            increment = unreleased + self._apply_autotune_epoch(buffered)
    if increment > 0:
        await self.send_window_update(increment, skip_lock=True)


def install() -> None:
    """Whole writes and half-window credit for every yamux stream of this
    process (idempotent)."""
    YamuxStream.write = _whole_write
    YamuxStream._auto_tune_and_send_window_update = _credit_half_window


def installed() -> bool:
    return (
        YamuxStream.write is _whole_write
        and YamuxStream._auto_tune_and_send_window_update is _credit_half_window
    )


def uninstall() -> None:
    """Back to the library's own behaviour (tests comparing the two)."""
    YamuxStream.write = _LIBRARY_WRITE
    YamuxStream._auto_tune_and_send_window_update = _LIBRARY_CREDIT
