"""Gossip figures between two hosts on loopback (slow: run with -m slow -s).

Prints one-hop latency (one record per message) and the throughput of
batched records; asserts only bounds loose enough for a shared machine.
"""

from __future__ import annotations

import statistics
from contextlib import AsyncExitStack

import pytest
import trio

from .conftest import make_neighbourhood
from .helpers import wait_until
from .test_gossip import link, start_node

pytestmark = pytest.mark.slow


@pytest.mark.trio
async def test_one_hop_latency_and_batched_throughput():
    """A ── B: single-record latency, a steady stream, then 10,000 records at once."""
    hood = make_neighbourhood()
    singles = hood.records(100)
    bulk = hood.records(10_000)
    stream = hood.records(2_000)
    async with AsyncExitStack() as stack:
        a_host, a, _ = await start_node(stack, hood)
        b_host, b, inbox = await start_node(stack, hood)
        await link(a_host, b_host)
        await wait_until(lambda: a.topic_peers() and b.topic_peers(), 10)
        await trio.sleep(1.5)  # let the mesh settle (first heartbeats)

        latencies = []
        for record in singles:
            sent = trio.current_time()
            before = len(inbox.raws)
            a.publish([record.raw])
            await wait_until(lambda: len(inbox.raws) > before, 5, poll_s=0.0005)
            latencies.append(inbox.arrivals[-1] - sent)
            await trio.sleep(0.03)

        # A steady 1,000 records/s, one publish call per record: unpaced, that
        # rate of messages loses data heavily; batched it is ~40 messages/s.
        before, messages_before = len(inbox.raws), a.stats.published_messages
        sent_at = {}
        start = trio.current_time()
        for index, record in enumerate(stream):
            await trio.sleep_until(start + index / 1000)
            sent_at[record.raw] = trio.current_time()
            a.publish([record.raw])
        await wait_until(lambda: len(inbox.raws) >= before + len(stream), 30, poll_s=0.005)
        steady = sorted(
            arrival - sent_at[raw] for raw, arrival in zip(inbox.raws[before:], inbox.arrivals[before:])
        )
        steady_messages = a.stats.published_messages - messages_before

        start = trio.current_time()
        before = len(inbox.raws)
        a.publish(r.raw for r in bulk)
        await wait_until(lambda: len(inbox.raws) >= before + len(bulk), 60, poll_s=0.005)
        elapsed = trio.current_time() - start

    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    rate = len(bulk) / elapsed
    size = sum(len(r.raw) for r in bulk) / len(bulk)
    print(
        f"\none-hop gossip latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
        f"\nbatched: {len(bulk)} records of ~{size:.0f} B in {elapsed:.2f} s = {rate:,.0f} records/s"
        f" ({a.stats.published_messages - len(singles) - steady_messages} messages)"
        f"\nsteady 1,000 records/s for 2 s: {steady_messages} messages, latency p50"
        f" {statistics.median(steady) * 1000:.1f} ms, p99 {steady[int(len(steady) * 0.99) - 1] * 1000:.1f} ms"
    )
    assert sorted(inbox.raws[len(singles) : len(singles) + len(stream)]) == sorted(r.raw for r in stream)
    # Messages are validated concurrently, so batches may arrive in any order.
    assert sorted(inbox.raws[-len(bulk):]) == sorted(r.raw for r in bulk)
    assert a.stats.dropped_records == 0 and b.stats.dropped_records == 0
    assert p50 < 100 and rate > 1000
