"""The settled horizon: which records a routine sync leaves to gossip.

While a neighbourhood is busy, a periodic sync started at a random moment
finds the two replicas differing mostly by records still in flight: published
a moment ago, on their way through GossipSub or its lazy repair. Reconciling
them costs round trips and CPU on both sides and brings records that gossip
delivers a moment later anyway (in a 1,000-node simulation, most of what
periodic sessions moved).

So a periodic session reconciles only the records below a Lamport bound: the
highest Lamport counter this replica held ``window_ms`` ago, plus one.
Everything written since (by a writer who had seen our state then) sorts above
it and is left to gossip; a record gossip loses falls below the bound one
window later and is repaired by the next periodic session. Records written by
a lagging writer (an island, a restarted node) carry low counters and are
reconciled at once. When nothing new arrived for a window, the bound covers
every record and the session is the full one.

Sessions started on connect, for a gap, or to recover a chain are always full.

:class:`Horizon` keeps the history the bound needs: samples of
``(now, max lamport)``, at most one per ``resolution_ms``, none older than the
window needs. It takes ``now`` in, reads no clock.
"""

from __future__ import annotations

from collections import deque

#: How long a record is left to gossip before routine syncs reconcile it.
#: GossipSub delivers within a second on a LAN and repairs a lost message by
#: IHAVE/IWANT within a few heartbeats (1 s each); 10 s covers both with
#: margin, and keeps a lost record's repair within one sync interval of it.
SETTLE_WINDOW_MS = 10_000

#: Time between kept samples: the bound is at most this much older than the
#: window asks for (a little more is reconciled, never less).
RESOLUTION_MS = 1_000


class Horizon:
    """History of one replica's highest Lamport counter."""

    __slots__ = ("window_ms", "resolution_ms", "_samples", "_latest")

    def __init__(self, window_ms: int = SETTLE_WINDOW_MS, resolution_ms: int = RESOLUTION_MS) -> None:
        assert window_ms > 0 and resolution_ms > 0
        self.window_ms = window_ms
        self.resolution_ms = resolution_ms
        self._samples: deque[tuple[int, int]] = deque()  #: (now, max lamport), oldest first
        self._latest = 0

    def observe(self, now: int, max_lamport: int) -> None:
        """Note the replica's highest Lamport counter at ``now`` (ms, never
        decreasing). Cheap enough to call on every change."""
        self._latest = max_lamport
        samples = self._samples
        if samples and now - samples[-1][0] < self.resolution_ms:
            return
        samples.append((now, max_lamport))
        # Keep one sample at or before the window's start, drop older ones.
        cutoff = now - self.window_ms
        while len(samples) > 1 and samples[1][0] <= cutoff:
            samples.popleft()

    def bound(self, now: int) -> int | None:
        """Lamport counter below which a routine sync at ``now`` reconciles,
        or None for everything (no history a window old yet, or nothing new
        within the window)."""
        samples = self._samples
        cutoff = now - self.window_ms
        while len(samples) > 1 and samples[1][0] <= cutoff:
            samples.popleft()
        if not samples or samples[0][0] > cutoff:
            return None
        settled = samples[0][1]
        return None if settled >= self._latest else settled + 1
