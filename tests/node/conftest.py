"""Shared pieces for node tests: loopback-only settings, keys, and a small
neighbourhood of signed records."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from meshpantry.core.chain import ChainHead, next_record
from meshpantry.core.membership import Admission
from meshpantry.keys import DeviceKey
from meshpantry.node.config import NodeSettings
from protocol import Record, seal

#: Loopback only, a free port, no mDNS: nothing in these tests leaves 127.0.0.1.
LOOPBACK_SETTINGS = NodeSettings(listen_host="127.0.0.1", listen_port=0, mdns_enabled=False)

NOW_MS = 1_780_000_000_000


@dataclass
class Neighbourhood:
    """A founder, its genesis record and helpers to write more records."""

    founder: DeviceKey
    genesis: Record
    head: ChainHead = field(default_factory=ChainHead)

    @property
    def id(self) -> bytes:
        return self.genesis.id

    def admits(self, record: Record) -> Admission:
        return Admission.ADMIT if record.author == self.founder.public else Admission.WAIT

    def records(self, count: int) -> list[Record]:
        """``count`` more records in the founder's chain."""
        out = []
        for index in range(count):
            record = next_record(
                self.founder.secret,
                self.head,
                neighbourhood=self.id,
                kind="household",
                body={"name": f"house {self.head.seq + 1}", "note": "x" * 200},
                now=NOW_MS + index,
            )
            self.head = self.head.after(record)
            out.append(record)
        return out


def make_neighbourhood() -> Neighbourhood:
    founder = DeviceKey.generate()
    genesis = seal(
        founder.secret,
        neighbourhood=b"",
        seq=1,
        prev=None,
        lamport=1,
        time=NOW_MS,
        kind="neighbourhood",
        body={"name": "Elm Street"},
    )
    return Neighbourhood(founder, genesis, ChainHead(1, genesis.id, 1))


@pytest.fixture
def neighbourhood() -> Neighbourhood:
    return make_neighbourhood()


@pytest.fixture
def node(tmp_path):
    """A Node over a household that founded its neighbourhood, not running
    (for tests of its logic without networking)."""
    from meshpantry.node.runner import Node
    from meshpantry.pantry import Pantry

    pantry = Pantry.create(tmp_path, "House 1")
    pantry.create_neighbourhood("Test Street", "House 1")
    yield Node(pantry, LOOPBACK_SETTINGS)
    pantry.close()
