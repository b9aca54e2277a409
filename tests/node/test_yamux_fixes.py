"""Yamux corrections (:mod:`meshpantry.node.libp2p_compat`): whole writes,
credit once per half window without stalls, and the receive window enforced
against a peer that sends beyond it."""

from __future__ import annotations

import os
import struct

import pytest
import trio
from libp2p.custom_types import TProtocol
from libp2p.stream_muxer.yamux.yamux import DEFAULT_WINDOW_SIZE, TYPE_DATA, YAMUX_HEADER_FORMAT, YamuxStream

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


# -- the receive window is enforced ----------------------------------------------

HOLD = TProtocol("/meshpantry/test-hold/1")
FRAME = 64 * 1024


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _flood(total: int) -> dict:
    """A hostile host opens a stream to a handler that never reads, then
    writes ``total`` bytes on it in 64 KiB DATA frames straight to the
    connection, ignoring the send window. Returns what the receiver buffered
    at most, whether the sender's connection was closed under it, and the
    process's RSS growth."""
    held = trio.Event()
    seen = {"buffered": 0}

    async def never_reads(stream) -> None:
        held.set()
        await trio.sleep_forever()

    async with open_host(LOOPBACK_SETTINGS, DeviceKey.generate()) as hostile, \
            open_host(LOOPBACK_SETTINGS, DeviceKey.generate()) as node:
        node.libp2p.set_stream_handler(HOLD, never_reads)
        await hostile.libp2p.connect(peer_info_from_multiaddr(node.dial_addrs()[0]))
        stream = await hostile.libp2p.new_stream(node.peer_id, [HOLD])
        muxed = stream.muxed_stream
        with trio.fail_after(10):
            await held.wait()
        [victim_conn] = [c.muxed_conn for c in node.libp2p.get_network().get_connections(hostile.peer_id)]
        chunk = b"\xab" * FRAME
        header = struct.pack(YAMUX_HEADER_FORMAT, 0, TYPE_DATA, 0, muxed.stream_id, FRAME)
        rss_before, sent, cut_off = _rss_bytes(), 0, False
        with trio.fail_after(60):
            while sent < total:
                if muxed.conn.event_shutting_down.is_set():  # our side saw the close
                    cut_off = True
                    break
                try:
                    await muxed.conn._write_frame(header + chunk)
                except Exception:  # noqa: BLE001 - the node closed the connection under us
                    cut_off = True
                    break
                sent += FRAME
                seen["buffered"] = max(seen["buffered"], sum(map(len, victim_conn.stream_buffers.values())))
            await trio.sleep(0.5)
        rss_growth = _rss_bytes() - rss_before
        connections = node.libp2p.get_network().get_connections(hostile.peer_id)
        cut_off = cut_off or not any(not c.muxed_conn.is_closed for c in connections)
        return {"buffered": seen["buffered"], "cut_off": cut_off, "sent": sent, "rss_growth": rss_growth}


async def test_a_peer_sending_beyond_its_window_is_cut_off_with_bounded_memory(caplog):
    """64 MiB pushed without waiting for credit into a stream nobody reads:
    the receiver buffers at most a window and one frame, closes the
    connection with a logged reason, and its memory does not follow the
    flood (bound: 32 MiB of RSS growth, half the flood)."""
    overruns = libp2p_compat.window_overruns
    result = await _flood(64 * 1024 * 1024)
    print("window enforced:", result)
    assert libp2p_compat.installed({"yamux-window-field", "yamux-window-enforced"})
    assert result["cut_off"], result
    assert libp2p_compat.window_overruns == overruns + 1
    assert result["buffered"] <= DEFAULT_WINDOW_SIZE + FRAME, result
    assert result["rss_growth"] < 32 * 1024 * 1024, result
    assert any("beyond the receive window" in r.getMessage() for r in caplog.records)


async def test_the_library_buffers_whatever_a_peer_sends_beyond_its_window(monkeypatch):
    """The trap the enforcement exists for (fails if py-libp2p starts
    enforcing the window itself: then the correction can go)."""
    window = {"yamux-window-field", "yamux-window-enforced"}
    monkeypatch.setattr(libp2p_compat, "install", lambda: libp2p_compat.uninstall(window))
    try:
        result = await _flood(8 * 1024 * 1024)
        print("library:", result)
    finally:
        monkeypatch.undo()
        libp2p_compat.install()
    assert not result["cut_off"]
    assert result["buffered"] >= 16 * DEFAULT_WINDOW_SIZE  # 4 MiB of the 8 MiB, and counting
