"""The virtual network: who can reach whom, and what happens to a message.

Theory of operation. Nodes are numbered ``0..n-1``. A message from ``a`` to
``b`` can be delivered when the **link** ``a -> b`` is up:

* both nodes have power (:meth:`Network.crash` / :meth:`Network.restart`);
* they are on the same **island** (:meth:`Network.partition` splits the
  neighbourhood, :meth:`Network.join_islands` and :meth:`Network.repair` merge);
* the direction is not **cut** (:meth:`Network.cut`; a cut may be one-way,
  an asymmetric link);
* the pair is not a **flapping** link that is down right now
  (:meth:`Network.set_flapping`, toggled by :meth:`Network.flap`).

Every message sent on an up link draws from :class:`NetworkOptions`: it may be
lost, duplicated, delayed by the latency distribution, and reordered (an extra
delay that lets later messages overtake it). :meth:`Network.send` returns the
delays of the copies that arrive; the caller schedules them and checks the
link again on arrival, since it may have gone down meanwhile.

Streams (sync sessions) ride TCP: no loss, duplication or reordering, but the
same latency, plus transfer time at ``bandwidth_bytes_per_ms``
(:meth:`Network.stream_delay`).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class NetworkOptions:
    """Every knob of the virtual network, in one record.

    * ``latency_median_ms`` / ``latency_sigma``: one-way latency is log-normal
      (a LAN's long tail) with this median and shape; ``latency_min_ms`` floors it.
    * ``loss``, ``duplication``, ``reordering``: probabilities per datagram (0..1).
    * ``reorder_delay_ms``: extra delay of a reordered datagram, up to this.
    * ``bandwidth_bytes_per_ms``: a stream's throughput (1,250 = 10 Mbit/s Wi-Fi).
    * ``flapping_links``: fraction of node pairs whose link flaps when flapping is on;
      ``flap_up_ms`` / ``flap_down_ms``: mean time up and down (exponential).
    """

    latency_median_ms: float = 8.0
    latency_sigma: float = 0.6
    latency_min_ms: int = 1
    loss: float = 0.0
    duplication: float = 0.0
    reordering: float = 0.0
    reorder_delay_ms: int = 150
    bandwidth_bytes_per_ms: int = 1_250
    flapping_links: float = 0.0
    flap_up_ms: int = 4_000
    flap_down_ms: int = 2_000

    def __post_init__(self) -> None:
        for name in ("loss", "duplication", "reordering", "flapping_links"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"network option {name} must be within [0, 1], found {value}")
        if self.bandwidth_bytes_per_ms <= 0 or self.latency_median_ms <= 0:
            raise ValueError("latency and bandwidth must be positive")


@dataclass
class Network:
    """Reachability and message fates for ``size`` nodes."""

    size: int
    options: NetworkOptions
    rng: random.Random
    island: list[int] = field(init=False)
    powered: bytearray = field(init=False)
    cuts: set[int] = field(default_factory=set)  #: a * size + b: direction a -> b is cut
    flapping: set[int] = field(default_factory=set)  #: min * size + max of flapping pairs
    flapped_down: set[int] = field(default_factory=set)
    sent: int = 0
    lost: int = 0
    duplicated: int = 0

    def __post_init__(self) -> None:
        self.island = [0] * self.size
        self.powered = bytearray(b"\x01") * self.size
        self._log_median = math.log(self.options.latency_median_ms)

    # -- reachability -------------------------------------------------------------

    def reachable(self, a: int, b: int) -> bool:
        """True when a message from ``a`` can reach ``b`` right now."""
        if not (self.powered[a] and self.powered[b]) or self.island[a] != self.island[b]:
            return False
        if self.cuts and a * self.size + b in self.cuts:
            return False
        if self.flapped_down:
            pair = a * self.size + b if a < b else b * self.size + a
            if pair in self.flapped_down:
                return False
        return True

    def connected(self, a: int, b: int) -> bool:
        """Both directions up: what a stream (a sync session) needs."""
        return self.reachable(a, b) and self.reachable(b, a)

    def islands(self) -> dict[int, list[int]]:
        """Island id -> powered nodes on it, islands in id order."""
        found: dict[int, list[int]] = {}
        for node in range(self.size):
            if self.powered[node]:
                found.setdefault(self.island[node], []).append(node)
        return dict(sorted(found.items()))

    # -- explicit changes -----------------------------------------------------------

    def partition(self, groups: list[list[int]]) -> None:
        """Split the neighbourhood: node ``n`` of ``groups[i]`` goes to island
        ``i``; nodes in no group keep their island."""
        for number, group in enumerate(groups):
            for node in group:
                self.island[node] = number

    def join_islands(self, source: int, target: int) -> None:
        """Power returns between two islands: ``source``'s nodes join ``target``."""
        self.island = [target if i == source else i for i in self.island]

    def repair(self) -> None:
        """One island again, no cuts, no flapping."""
        self.island = [0] * self.size
        self.cuts.clear()
        self.flapping.clear()
        self.flapped_down.clear()

    def cut(self, a: int, b: int, *, both: bool = True) -> None:
        self.cuts.add(a * self.size + b)
        if both:
            self.cuts.add(b * self.size + a)

    def uncut(self, a: int, b: int) -> None:
        self.cuts.discard(a * self.size + b)
        self.cuts.discard(b * self.size + a)

    def crash(self, node: int) -> None:
        self.powered[node] = 0

    def restart(self, node: int) -> None:
        self.powered[node] = 1

    def set_flapping(self, pairs: list[tuple[int, int]]) -> None:
        self.flapping = {min(a, b) * self.size + max(a, b) for a, b in pairs}
        self.flapped_down &= self.flapping

    def flap(self, pair: int) -> bool:
        """Toggle one flapping pair; returns True when it is now up."""
        if pair in self.flapped_down:
            self.flapped_down.discard(pair)
            return True
        self.flapped_down.add(pair)
        return False

    def flap_delay(self, up: bool) -> int:
        """How long a flapping link stays in its new state (exponential)."""
        mean = self.options.flap_up_ms if up else self.options.flap_down_ms
        return max(1, int(self.rng.expovariate(1.0 / mean)))

    # -- message fates --------------------------------------------------------------

    def latency(self) -> int:
        o = self.options
        return max(o.latency_min_ms, int(math.exp(self.rng.gauss(self._log_median, o.latency_sigma))))

    def send(self, a: int, b: int) -> list[int]:
        """Send one datagram ``a -> b``: the delays (ms) of the copies that
        arrive, or ``[]`` when the link is down or the datagram is lost."""
        self.sent += 1
        if not self.reachable(a, b):
            self.lost += 1
            return []
        o, rng = self.options, self.rng
        if o.loss and rng.random() < o.loss:
            self.lost += 1
            return []
        copies = 2 if o.duplication and rng.random() < o.duplication else 1
        if copies == 2:
            self.duplicated += 1
        delays = []
        for _ in range(copies):
            delay = self.latency()
            if o.reordering and rng.random() < o.reordering:
                delay += rng.randint(1, o.reorder_delay_ms)
            delays.append(delay)
        return delays

    def stream_delay(self, size: int) -> int:
        """Latency plus transfer time of ``size`` bytes on a stream."""
        return self.latency() + size // self.options.bandwidth_bytes_per_ms
