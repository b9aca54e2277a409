"""Yamux corrections (:mod:`meshpantry.node.libp2p_compat`): whole writes,
and credit once per half window without stalls."""

from __future__ import annotations

import pytest
import trio
from libp2p.custom_types import TProtocol
from libp2p.stream_muxer.yamux.yamux import DEFAULT_WINDOW_SIZE, YamuxStream

from meshpantry.keys import DeviceKey
from meshpantry.node import libp2p_compat
from meshpantry.node.host import open_host, peer_info_from_multiaddr

from .conftest import LOOPBACK_SETTINGS

PROBE = TProtocol("/meshpantry/test-credit/1")

pytestmark = pytest.mark.trio


async def _transfer(writes: list[bytes], read_size: int, *, concurrent: bool = False) -> tuple[bytes, int]:
    """Send ``writes`` over a fresh stream between two hosts (one after the
    other, or all at once from separate tasks); the receiver reads
    ``read_size`` bytes at a time. Returns what arrived and how many window
    updates the receiver sent."""
    updates = 0
    library_send = YamuxStream.send_window_update

    async def counting_send(self, increment: int, skip_lock: bool = False) -> None:
        nonlocal updates
        updates += 1
        await library_send(self, increment, skip_lock)

    expected = sum(map(len, writes))
    received = bytearray()
    done = trio.Event()

    async def handler(stream) -> None:
        while len(received) < expected:
            data = await stream.read(read_size)
            if not data:
                break
            received.extend(data)
        done.set()

    YamuxStream.send_window_update = counting_send
    try:
        async with open_host(LOOPBACK_SETTINGS, DeviceKey.generate()) as a, \
                open_host(LOOPBACK_SETTINGS, DeviceKey.generate()) as b:
            b.libp2p.set_stream_handler(PROBE, handler)
            await a.libp2p.connect(peer_info_from_multiaddr(b.dial_addrs()[0]))
            stream = await a.libp2p.new_stream(b.peer_id, [PROBE])
            with trio.fail_after(30):
                if concurrent:
                    async with trio.open_nursery() as nursery:
                        for chunk in writes:
                            nursery.start_soon(stream.write, chunk)
                else:
                    for chunk in writes:
                        await stream.write(chunk)
                await done.wait()
    finally:
        YamuxStream.send_window_update = library_send
    return bytes(received), updates


async def test_small_reads_send_one_update_per_half_window():
    writes = [bytes([n % 251]) * 100 for n in range(2000)]  # 200 KB in small frames
    received, updates = await _transfer(writes, 4)
    assert libp2p_compat.installed({"yamux-half-window-credit"})
    assert received == b"".join(writes)
    # 200 KB is under one window: at most one credit (at half a window read).
    assert updates <= 1


async def test_the_library_credit_this_replaces_sent_one_update_per_read(monkeypatch):
    """The trap the module exists for (fails if py-libp2p fixes it: then the
    module can go)."""
    credit = {"yamux-half-window-credit"}
    # Hosts built now keep the library's credit.
    monkeypatch.setattr(libp2p_compat, "install", lambda: libp2p_compat.uninstall(credit))
    try:
        writes = [b"x" * 100 for _ in range(200)]
        received, updates = await _transfer(writes, 4)
    finally:
        monkeypatch.undo()
        libp2p_compat.install()
    assert received == b"".join(writes)
    assert updates >= len(received) // 4 // 2


async def test_large_transfers_keep_flowing_on_half_window_credit():
    """Many windows' worth through one stream: the writer is credited as the
    reader goes and never waits out the library's 5 s zero-window timeout."""
    chunk = bytes(range(256)) * 256  # 64 KiB
    writes = [chunk] * 64  # 4 MiB, sixteen initial windows
    received, updates = await _transfer(writes, 65536)
    assert received == b"".join(writes)
    windows = len(received) // DEFAULT_WINDOW_SIZE
    assert 1 <= updates <= 2 * windows


async def test_concurrent_writes_on_one_stream_arrive_whole():
    """Two tasks write 300 KiB each on one stream (more than a window, so the
    library would interleave their frames): each arrives in one piece."""
    first, second = b"A" * (300 * 1024), b"B" * (300 * 1024)
    received, _ = await _transfer([first, second], 65536, concurrent=True)
    assert received in (first + second, second + first)
