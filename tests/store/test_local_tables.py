"""Settings, the local block list and the address book."""

from __future__ import annotations

from pathlib import Path

from meshpantry.store import PeerAddress, Store
from meshpantry.store import peers as peers_module


def test_settings_hold_scalars_across_reopen(tmp_path: Path):
    with Store.open(tmp_path) as store:
        assert store.get_setting("household") is None
        assert store.get_setting("household", "none") == "none"
        store.set_setting("household", "Ada")
        store.set_setting("neighbourhood", b"\x07" * 32)
        store.set_setting("port", 4001)
        store.set_setting("household", "Ada & Bo")
    with Store.open(tmp_path, writer=False) as store:
        assert store.get_setting("household") == "Ada & Bo"
        assert store.neighbourhood == b"\x07" * 32
        assert store.get_setting("port") == 4001


def test_block_list_is_local_and_persistent(tmp_path: Path):
    a, b = b"\x0a" * 32, b"\x0b" * 32
    with Store.open(tmp_path) as store:
        store.block(a)
        store.block(b)
        store.block(a)
        store.unblock(b)
        assert store.blocked() == {a}
        assert store.count() == 0  # blocking writes no record
    with Store.open(tmp_path) as store:
        assert store.blocked() == {a}


def test_address_book_merges_addresses_and_tracks_syncs(tmp_path: Path):
    with Store.open(tmp_path) as store:
        store.remember_peer("QmA", ["/ip4/127.0.0.1/tcp/4001"], now=100)
        store.remember_peer("QmB", ["/ip4/127.0.0.1/tcp/4002"], now=200)
        store.mark_failed("QmA")
        store.mark_failed("QmA")
        assert [p.failures for p in store.peer_addresses()] == [0, 2]
        store.remember_peer("QmA", ["/ip4/127.0.0.1/tcp/4005"], now=300)
        store.mark_synced("QmB", now=400)
    with Store.open(tmp_path, writer=False) as store:
        assert store.peer_addresses() == [
            PeerAddress("QmB", ["/ip4/127.0.0.1/tcp/4002"], 400, 400, 0),
            PeerAddress("QmA", ["/ip4/127.0.0.1/tcp/4005", "/ip4/127.0.0.1/tcp/4001"], 300, None, 0),
        ]


def test_address_book_is_bounded(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(peers_module, "MAX_PEERS", 3)
    monkeypatch.setattr(peers_module, "MAX_ADDRESSES_PER_PEER", 2)
    with Store.open(tmp_path) as store:
        for i in range(5):
            store.remember_peer(f"Qm{i}", [f"/ip4/127.0.0.1/tcp/{4000 + i}"], now=i)
        store.remember_peer("Qm4", ["/ip4/127.0.0.1/tcp/1", "/ip4/127.0.0.1/tcp/2"], now=9)
        known = store.peer_addresses()
        assert [p.peer_id for p in known] == ["Qm4", "Qm3", "Qm2"]
        assert known[0].multiaddrs == ["/ip4/127.0.0.1/tcp/1", "/ip4/127.0.0.1/tcp/2"]
        store.forget_peer("Qm3")
        assert [p.peer_id for p in store.peer_addresses()] == ["Qm4", "Qm2"]
