"""Virtual time: one event queue for the whole simulation, and each node's
drifting view of it.

Theory of operation. :class:`EventQueue` holds (time, order, action) entries;
:meth:`EventQueue.run_until` pops them in time order, ties broken by the order
they were scheduled, so the same schedule always runs the same way. Time is an
integer number of milliseconds since the run began; nothing reads a real clock.

No node has a time server during an outage, so each sees its own wall clock
(:class:`NodeClock`): the run's start instant plus a fixed offset, running a
little fast or slow (drift in parts per million). Those readings go into the
records' advisory ``time`` and the store's future-time bound, never into the
order of events.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any, Callable

#: 2026-03-14T18:00:00Z in ms: the instant a run starts (an ordinary evening).
EPOCH_MS = 1_773_511_200_000


class EventQueue:
    """The simulation's single queue of timed actions."""

    def __init__(self) -> None:
        self.now = 0
        self._heap: list[tuple[int, int, Callable[..., Any], tuple]] = []
        self._order = 0

    def at(self, when: int, action: Callable[..., Any], *args: Any) -> None:
        """Run ``action(*args)`` at virtual time ``when`` (ms); a time in the
        past runs at the next step."""
        self._order += 1
        heapq.heappush(self._heap, (max(when, self.now), self._order, action, args))

    def after(self, delay: int, action: Callable[..., Any], *args: Any) -> None:
        """:meth:`at` ``now + delay`` (written out: most events are queued here)."""
        self._order += 1
        now = self.now
        heapq.heappush(self._heap, (now + delay if delay > 0 else now, self._order, action, args))

    def run_until(self, end: int, on_step: Callable[[int], None] | None = None) -> None:
        """Run every action due up to and including ``end``; leave ``now == end``."""
        heap = self._heap
        pop = heapq.heappop
        while heap and heap[0][0] <= end:
            when, _, action, args = pop(heap)
            self.now = when
            action(*args)
            if on_step is not None:
                on_step(when)
        self.now = end

    def __len__(self) -> int:
        return len(self._heap)


@dataclass(frozen=True, slots=True)
class NodeClock:
    """A node's wall clock: ``offset_ms`` off true time, running ``drift_ppm``
    parts per million fast (positive) or slow (negative)."""

    offset_ms: int = 0
    drift_ppm: int = 0

    def read(self, virtual_ms: int) -> int:
        """The node's wall-clock reading (ms since the Unix epoch) at ``virtual_ms``."""
        return EPOCH_MS + self.offset_ms + virtual_ms + virtual_ms * self.drift_ppm // 1_000_000
