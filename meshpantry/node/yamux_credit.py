"""Receive-window credit for py-libp2p's yamux: one update per half window.

A yamux receiver grants its peer more send window with WINDOW_UPDATE frames.
go-yamux sends one when the bytes read since the last update reach half the
window. py-libp2p 0.8.1 sends one after nearly every read instead: any read
that leaves less than half a window unreleased takes its "partial slack"
branch, and with ``PY_YAMUX_RELEASE_ON_READ`` on (its default) so does every
other read. Each update is a frame of its own, so a Noise message, a socket
write and a read by the peer's connection loop. Measured on loopback, 200 KB
read 4 bytes at a time cost 50,000 updates and 6.9 s of CPU; GossipSub reads
each RPC's length one byte at a time, so every gossip message cost several
updates, and a rejoining neighbourhood spent about a fifth of its CPU
reading and writing them.

:func:`install` replaces the library's credit method with go-yamux's rule
(and keeps the library's window auto-tuning): credit is sent once the bytes
read reach ``target_recv_window // 2``, as one update. The peer always holds
at least half a window of credit, so a writer never waits on a reader that
has read what it was sent. Installed once per process by
:func:`meshpantry.node.host.build_host`.
"""

from __future__ import annotations

from typing import Any

from libp2p.stream_muxer.yamux.yamux import YamuxStream

_LIBRARY_CREDIT = YamuxStream._auto_tune_and_send_window_update


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
    """Use half-window credit for every yamux stream of this process (idempotent)."""
    YamuxStream._auto_tune_and_send_window_update = _credit_half_window


def installed() -> bool:
    return YamuxStream._auto_tune_and_send_window_update is _credit_half_window


def uninstall() -> None:
    """Back to the library's own credit (tests comparing the two)."""
    YamuxStream._auto_tune_and_send_window_update = _LIBRARY_CREDIT
