"""GossipSub signed peer records (:mod:`meshpantry.node.libp2p_compat`): a
record that passed is not checked again; forged ones still fail."""

from __future__ import annotations

from libp2p.peer.envelope import seal_record
from libp2p.peer.peer_record import PeerRecord
from libp2p.pubsub.pb import rpc_pb2

from meshpantry.keys import DeviceKey
from meshpantry.node import libp2p_compat
from meshpantry.node.host import keypair_from_seed, tcp_multiaddr
from libp2p import new_host


def _host_and_record(port: int):
    key_pair = keypair_from_seed(DeviceKey.generate().seed)
    host = new_host(key_pair=key_pair, listen_addrs=[tcp_multiaddr("127.0.0.1", 0)], enable_mDNS=False)
    record = PeerRecord(host.get_id(), [tcp_multiaddr("127.0.0.1", port)])
    envelope = seal_record(record, key_pair.private_key)
    return host, envelope.marshal_envelope()


def test_a_passed_record_is_checked_once_and_a_forged_one_always(monkeypatch):
    libp2p_compat.install()
    assert libp2p_compat.installed({"peer-records-pubsub", "peer-records-gossipsub"})
    libp2p_compat.forget_peer_records()
    receiver, _ = _host_and_record(4001)
    sender, envelope = _host_and_record(4002)
    calls = []
    library = libp2p_compat._library_check

    def counting(msg, host, peer_id):
        calls.append(peer_id)
        return library(msg, host, peer_id)

    monkeypatch.setattr(libp2p_compat, "_library_check", counting)
    rpc = rpc_pb2.RPC(senderRecord=envelope)
    for _ in range(5):
        assert libp2p_compat._check_record_once(rpc, receiver, sender.get_id())
    assert len(calls) == 1
    # The same record claimed by another peer is checked, and refused.
    other, _ = _host_and_record(4003)
    assert not libp2p_compat._check_record_once(rpc, receiver, other.get_id())
    assert not libp2p_compat._check_record_once(rpc, receiver, other.get_id())
    assert len(calls) == 3
    # A damaged record is refused every time.
    damaged = rpc_pb2.RPC(senderRecord=envelope[:-3] + b"xyz")
    assert not libp2p_compat._check_record_once(damaged, receiver, sender.get_id())
    assert not libp2p_compat._check_record_once(damaged, receiver, sender.get_id())
    assert len(calls) == 5
    # An RPC without a record passes without a check, as in the library.
    assert libp2p_compat._check_record_once(rpc_pb2.RPC(), receiver, sender.get_id())
    assert len(calls) == 5
