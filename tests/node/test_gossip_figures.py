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
    """A ── B: single-record latency, then 10,000 records published at once."""
    hood = make_neighbourhood()
    singles = hood.records(100)
    bulk = hood.records(10_000)
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
        f" ({a.stats.published_messages - len(singles)} messages)"
    )
    # Messages are validated concurrently, so batches may arrive in any order.
    assert sorted(inbox.raws[-len(bulk):]) == sorted(r.raw for r in bulk)
    assert a.stats.dropped_records == 0 and b.stats.dropped_records == 0
    assert p50 < 100 and rate > 1000
