"""Virtual time: one event queue for the whole simulation, and each node's
drifting view of it.

Theory of operation. :class:`EventQueue` holds timed actions;
:meth:`EventQueue.run_until` runs them in time order, ties broken by the order
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
    """The simulation's single queue of timed actions.

    Actions due at one instant wait in one list, in the order they were
    queued; a heap orders the instants. Most instants hold several actions
    (a gossip round's messages land within a few milliseconds of each
    other), so queueing one costs a dictionary lookup and an append."""

    def __init__(self) -> None:
        self.now = 0
        self._times: list[int] = []  #: heap of the instants with actions due
        self._due: dict[int, list[tuple[Callable[..., Any], tuple]]] = {}  #: instant -> actions, in order

    def at(self, when: int, action: Callable[..., Any], *args: Any) -> None:
        """Run ``action(*args)`` at virtual time ``when`` (ms); a time in the
        past runs at the next step."""
        if when < self.now:
            when = self.now
        due = self._due.get(when)
        if due is None:
            due = self._due[when] = []
            heapq.heappush(self._times, when)
        due.append((action, args))

    def after(self, delay: int, action: Callable[..., Any], *args: Any) -> None:
        """:meth:`at` ``now + delay`` (written out: most events are queued here)."""
        when = self.now + delay if delay > 0 else self.now
        due = self._due.get(when)
        if due is None:
            due = self._due[when] = []
            heapq.heappush(self._times, when)
        due.append((action, args))

    def run_until(self, end: int, on_step: Callable[[int], None] | None = None) -> None:
        """Run every action due up to and including ``end``; leave ``now == end``."""
        times, pending = self._times, self._due
        pop = heapq.heappop
        while times and times[0] <= end:
            when = times[0]
            self.now = when
            due = pending[when]
            index = 0
            # Actions run may queue more at this instant: they join the list's end.
            while index < len(due):
                action, args = due[index]
                index += 1
                action(*args)
                if on_step is not None:
                    on_step(when)
            pop(times)
            del pending[when]
        self.now = end

    def __len__(self) -> int:
        return sum(map(len, self._due.values()))


@dataclass(frozen=True, slots=True)
class NodeClock:
    """A node's wall clock: ``offset_ms`` off true time, running ``drift_ppm``
    parts per million fast (positive) or slow (negative)."""

    offset_ms: int = 0
    drift_ppm: int = 0

    def read(self, virtual_ms: int) -> int:
        """The node's wall-clock reading (ms since the Unix epoch) at ``virtual_ms``."""
        return EPOCH_MS + self.offset_ms + virtual_ms + virtual_ms * self.drift_ppm // 1_000_000
