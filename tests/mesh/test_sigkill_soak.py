"""Power cuts under load (``make soak``): a real node process is SIGKILLed
at random moments while offers are written through its control socket, at
least 1,000 times; nothing the node acknowledged is ever lost.

    test                                   node process
      | start ------------------------------> open store, listen, serve
      | offer_add, offer_add, ... <---------- each reply = acknowledged
      | SIGKILL at a seeded random moment --> dies mid-anything (half the
      |                                       kills land during start-up)
      | repeat; after every restart: own chain head >= writes acknowledged;
      | every 100 kills and at the end: every acknowledged id is held,
      |   the store passes integrity_check, the chain has no gap or fork

It prints ``kills``, ``acknowledged`` and ``lost``. ``MESHPANTRY_SOAK_KILLS``
runs fewer kills (to try the test itself; the soak's figure is 1,000).
"""

from __future__ import annotations

import os
import random
import threading
import time

import pytest

from meshpantry.control.client import ControlClient
from meshpantry.keys import read_key
from meshpantry.store import Store
from protocol import decode_and_verify
from simulations.processes import NodeProcess, free_port, make_neighbourhood

#: Kills in one soak: the issue's bar (an earlier hand-run made 370).
KILLS = int(os.environ.get("MESHPANTRY_SOAK_KILLS", "1000"))

#: Half the kills land within this many seconds of the start (a node is
#: ready in ~1.5-4 s: store opening, libp2p, the listeners, or just after);
#: the other half within :data:`MAX_WRITING_S` of the first acknowledged write.
MAX_STARTUP_S = 3.0
MAX_WRITING_S = 1.0

#: Own records a fresh household holds before the first offer (genesis, profile).
FIRST_OWN = 2

#: Kills between two full checks of every acknowledged id.
FULL_CHECK_EVERY = 100


def write_until_killed(node: NodeProcess, acknowledged: list[str], heads: list[tuple[int, int]],
                       stop: threading.Event, writing: threading.Event) -> None:
    """Write offers through the node until it dies; each reply's id is
    acknowledged. First note (own chain head, writes acknowledged so far)."""
    deadline = time.monotonic() + 30
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            with ControlClient.connect(node.data_dir, timeout=1.0) as client:
                if not client.call("status").get("peer_id"):
                    time.sleep(0.05)
                    continue
                heads.append((client.call("dump", ids=False)["own_head"], len(acknowledged)))
                while not stop.is_set():
                    offer = client.call("offer_add", item=f"loaf {len(acknowledged)}", quantity=1, unit="loaves")
                    acknowledged.append(offer["id"])
                    writing.set()
        except Exception:  # noqa: BLE001 - the node is starting, or was just killed
            if node.process is not None and node.process.poll() is not None:
                return
            time.sleep(0.05)


def held_ids(node: NodeProcess) -> set[str]:
    with ControlClient.connect(node.data_dir) as client:
        return set(client.call("dump")["ids"])


def own_head(node: NodeProcess) -> int:
    with ControlClient.connect(node.data_dir) as client:
        return client.call("dump", ids=False)["own_head"]


def check_chain(data_dir, device: bytes) -> int:
    """The store, node stopped: integrity, and the own chain 1..n without a gap."""
    with Store.open(data_dir) as store:
        assert store._conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        chain = [decode_and_verify(raw) for raw in store.chain(device)]
        assert [r.seq for r in chain] == list(range(1, len(chain) + 1)), "gap or fork in the own chain"
        assert all(r.prev == p.id for p, r in zip(chain, chain[1:])), "broken prev link"
        return len(chain)


@pytest.mark.slow
@pytest.mark.timeout(4 * 3600)
def test_a_thousand_power_cuts_lose_nothing_acknowledged(tmp_path):
    (data_dir,) = make_neighbourhood(tmp_path, 1)
    device = read_key(data_dir).public
    node = NodeProcess(data_dir, free_port())
    rng = random.Random(1000)
    acknowledged: list[str] = []
    heads: list[tuple[int, int]] = []
    kills = lost = 0
    started = time.monotonic()
    for kill in range(1, KILLS + 1):
        node.start()
        stop, writing = threading.Event(), threading.Event()
        writer = threading.Thread(target=write_until_killed, args=(node, acknowledged, heads, stop, writing),
                                  daemon=True)
        writer.start()
        if rng.random() < 0.5:
            time.sleep(rng.uniform(0.0, MAX_STARTUP_S))
        else:
            assert writing.wait(60), f"kill {kill}: the node took no write within 60 s"
            time.sleep(rng.uniform(0.0, MAX_WRITING_S))
        node.kill()
        stop.set()
        writer.join(30)
        assert not writer.is_alive()
        kills += 1
        assert all(head >= FIRST_OWN + before for head, before in heads), f"kill {kill}: the own chain lost writes"
        heads.clear()
        if kill % FULL_CHECK_EVERY and kill != KILLS:
            continue
        node.start()
        node.wait_ready()
        assert own_head(node) >= FIRST_OWN + len(acknowledged), f"kill {kill}: the own chain lost writes"
        missing = set(acknowledged) - held_ids(node)
        lost += len(missing)
        assert not missing, f"kill {kill}: {len(missing)} acknowledged records lost"
        assert node.stop() == 0
        assert check_chain(data_dir, device) >= FIRST_OWN + len(acknowledged)
        print(f"kills {kills}, acknowledged {len(acknowledged)}, lost {lost} "
              f"({time.monotonic() - started:.0f} s)", flush=True)
    print(f"kills {kills}, acknowledged {len(acknowledged)}, lost {lost}")
    assert kills >= KILLS and lost == 0
    assert len(acknowledged) > kills  # the node took writes between the cuts
