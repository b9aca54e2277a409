"""One seed, a tree of independent random streams.

Every source of randomness in a run is a :class:`random.Random` drawn from one
root, in a fixed order, so a run is decided by its seed alone. Each consumer
gets its own stream: adding a draw in the workload does not shift the network's
losses.
"""

from __future__ import annotations

import hashlib
import random


class SeedTree:
    """Named child streams of one seed: ``tree.stream("network")``.

    A child's seed is a hash of (root seed, name), so streams do not depend on
    the order they were asked for.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def stream(self, name: str) -> random.Random:
        digest = hashlib.sha256(f"{self.seed}/{name}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))
