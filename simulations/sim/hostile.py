"""A hostile node: it forges, makes records as an outsider, sends malformed
bytes, replays old records and floods its neighbours.

It holds no store and runs no sync; every round it pushes a batch of bad and
replayed records to ``degree`` peers it can reach, through the same lossy
network as everyone. Every bad record it makes is remembered in ``made`` so
that :mod:`.invariants` can prove no honest node took any of them in:

* **forged**: an honest record with one bit of its signature flipped (the
  same id as the real record, which must still be accepted from an honest
  source), or the payload re-signed by the outsider's key;
* **outsider**: a valid record, of the right neighbourhood, signed by a key
  that never joined: admission keeps it waiting, never in the log;
* **malformed**: random bytes, and honest records cut short;
* **replay**: honest records already seen (must count as duplicates);
* **flood**: many more of the above per round.
"""

from __future__ import annotations

import random

import msgpack

from meshpantry.core.chain import ChainHead, next_record

from .clock import NodeClock
from .founding import outsider_keys
from .network import Network
from .record_table import RecordTable
from .scenario import HostileOptions


class Hostile:
    """The hostile node ``number`` on the network."""

    def __init__(
        self,
        number: int,
        options: HostileOptions,
        table: RecordTable,
        network: Network,
        neighbourhood: bytes,
        rng: random.Random,
        clock: NodeClock,
    ) -> None:
        self.number = number
        self.options = options
        self.table = table
        self.network = network
        self.neighbourhood = neighbourhood
        self.rng = rng
        self.clock = clock
        self.public, self.secret = outsider_keys(number)
        self.head = ChainHead()
        self.active = True
        self.made: set[int] = set()  #: positions of records no honest node may log
        self.replayed = 0
        self.honest_limit = 0  #: positions below this are honest records to replay or forge

    def _honest(self) -> int | None:
        for _ in range(8):
            if not self.honest_limit:
                return None
            position = self.rng.randrange(self.honest_limit)
            verdict = self.table.verdict(position)
            if not isinstance(verdict, Exception) and position not in self.made:
                return position
        return None

    def _keep(self, raw: bytes) -> int | None:
        position = self.table.add(raw)
        if not isinstance(self.table.verdict(position), Exception) and position not in self.made:
            # The bytes decode and verify: they are someone's real record.
            return position
        self.made.add(position)
        return position

    def forged(self) -> int | None:
        source = self._honest()
        if source is None:
            return None
        payload, signature = msgpack.unpackb(self.table.raws[source], raw=False)
        if self.rng.random() < 0.5:
            bit = self.rng.randrange(len(signature) * 8)
            signature = bytearray(signature)
            signature[bit // 8] ^= 1 << (bit % 8)
            signature = bytes(signature)
        else:
            from protocol.envelope import sign_payload

            signature = sign_payload(self.secret, payload)
        return self._keep(msgpack.packb([payload, signature], use_bin_type=True))

    def outsider(self, virtual_ms: int) -> int:
        body = {"item": "free laptops", "quantity": 1, "unit": "items", "note": "click here"}
        record = next_record(
            self.secret, self.head, neighbourhood=self.neighbourhood, kind="offer", body=body,
            now=self.clock.read(virtual_ms),
        )
        self.head = self.head.after(record)
        position = self.table.add(record.raw, record)
        self.made.add(position)
        return position

    def malformed(self) -> int:
        source = self._honest()
        if source is not None and self.rng.random() < 0.5:
            raw = self.table.raws[source]
            raw = raw[: self.rng.randrange(1, len(raw))]
        else:
            raw = self.rng.randbytes(self.rng.randint(1, 300))
        position = self.table.add(raw)
        self.made.add(position)
        return position

    def batch(self, virtual_ms: int) -> list[int]:
        """The records of one round."""
        o = self.options
        out: list[int] = []
        for _ in range(o.forge):
            forged = self.forged()
            if forged is not None:
                out.append(forged)
        out.extend(self.outsider(virtual_ms) for _ in range(o.outsider))
        out.extend(self.malformed() for _ in range(o.malformed))
        for _ in range(o.replay + o.flood):
            source = self._honest()
            if source is not None:
                out.append(source)
                self.replayed += 1
        return out

    def targets(self, island_nodes: list[int], degree: int) -> list[int]:
        """Up to ``degree`` peers it reaches now, at random."""
        reachable = [n for n in island_nodes if n != self.number and self.network.reachable(self.number, n)]
        self.rng.shuffle(reachable)
        return reachable[:degree]
