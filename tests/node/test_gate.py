"""The membership gate's answers, from a real store: members, revoked
devices, strangers, peers denied by hand, and the open gate of a device that
is not yet a member itself."""

from __future__ import annotations

from meshpantry.keys import DeviceKey
from meshpantry.node.gate import MembershipGate, Outsiders, device_of
from meshpantry.node.host import peer_id_from_author
from meshpantry.store import Store
from tests.core.records import TestNeighbourhood


def _store(tmp_path, nb: TestNeighbourhood) -> Store:
    store = Store.open(tmp_path / "node")
    store.set_setting("neighbourhood", nb.id)
    store.ingest([r.raw for r in nb.records], now=nb.clock)
    return store


def test_members_pass_strangers_and_revoked_devices_do_not(tmp_path):
    nb = TestNeighbourhood()
    bea = nb.join(2, name="Bea")
    cid = nb.join(3, name="Cid")
    nb.offer(cid, "leeks")
    nb.revoke(nb.founder, cid, after_seq=2)
    with _store(tmp_path, nb) as store:
        gate = MembershipGate(store, nb.founder.public, denied=set())
        peer = lambda device: peer_id_from_author(device.public)  # noqa: E731
        assert not gate.open
        assert gate.is_member(peer(bea)) and gate.admits(str(peer(bea)))
        assert not gate.is_member(peer(cid)) and not gate.admits(peer(cid))  # revoked
        assert gate.past_revocation(cid.public, 3) and not gate.past_revocation(cid.public, 2)
        assert not gate.past_revocation(bea.public, 99)
        stranger = peer_id_from_author(DeviceKey.generate().public)
        assert not gate.admits(stranger)
        gate.denied.add(str(peer(bea)))
        assert not gate.admits(peer(bea))


def test_a_device_not_yet_a_member_itself_cannot_judge_and_admits_everyone(tmp_path):
    nb = TestNeighbourhood()
    newcomer = DeviceKey.generate()
    with _store(tmp_path, nb) as store:
        gate = MembershipGate(store, newcomer.public, denied={"12D3KooWdenied"})
        assert gate.open
        assert gate.admits(peer_id_from_author(DeviceKey.generate().public))
        assert not gate.admits("12D3KooWdenied")


def test_peer_ids_that_carry_no_device_key_are_nobody():
    assert device_of("not a peer id") is None
    key = DeviceKey.generate()
    assert device_of(peer_id_from_author(key.public)) == key.public


def test_outsiders_are_due_once_their_grace_ran_out_and_forgotten_when_gone():
    outsiders = Outsiders(grace_s=10)
    assert outsiders.due({"x", "y"}, now=0) == []
    assert outsiders.due({"x", "y"}, now=5) == []
    assert outsiders.due({"y"}, now=6) == []  # x left: forgotten
    assert outsiders.due({"x", "y"}, now=10) == ["y"]
    assert outsiders.due({"x", "y"}, now=19) == ["y"]  # x came back at 10
    assert outsiders.due({"x", "y"}, now=20) == ["y", "x"]


def test_a_peer_may_start_only_a_few_join_handshakes_per_grace(tmp_path):
    nb = TestNeighbourhood()
    with _store(tmp_path, nb) as store:
        now = [0.0]
        gate = MembershipGate(store, nb.founder.public, denied=set(), clock=lambda: now[0])
        assert [gate.may_try_join("x") for _ in range(4)] == [True, True, True, False]
        assert gate.may_try_join("y")  # each peer its own count
        now[0] = 10.0
        assert gate.may_try_join("x")


class _ViewReads:
    """A store whose ``views()`` reads are counted (everything else is the
    real store's)."""

    def __init__(self, store: Store) -> None:
        self.store, self.reads = store, 0

    def views(self):
        self.reads += 1
        return self.store.views()

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_the_gate_never_reads_the_views_and_still_sees_every_membership_change(tmp_path):
    # Reading the views brings every view table up to the log, which a bulk
    # ingest (a heal's sync, a new device's catch-up) leaves behind: a gate
    # that read them made every healing node fold every record into its
    # views, and a new device fold its whole neighbourhood once its own join
    # arrived. Who counts comes from the membership records alone.
    nb = TestNeighbourhood()
    bea = nb.join(2, name="Bea")
    cid = nb.join(3, name="Cid")
    with _store(tmp_path, nb) as real:
        store = _ViewReads(real)
        now = [0.0]
        gate = MembershipGate(store, nb.founder.public, denied=set(), clock=lambda: now[0])
        peer = lambda device: peer_id_from_author(device.public)  # noqa: E731
        assert gate.is_member(peer(bea)) and gate.is_member(peer(cid))
        held = len(nb.records)
        for k in range(200):  # a bulk: the store leaves its views behind
            nb.offer(bea, f"leeks {k}")
        real.ingest([r.raw for r in nb.records[held:]], now=nb.clock)
        for _ in range(5):
            now[0] += 2.0  # past REVOKED_REFRESH_S each time
            assert gate.is_member(peer(bea)) and gate.is_member(peer(cid), fresh=True)
        held = len(nb.records)
        nb.revoke(nb.founder, cid, after_seq=2)
        invite, secret = nb.invite(nb.founder, uses=1)
        nb.join_with(4, invite, secret)
        nb.join_with(5, invite, secret)  # the invite is spent: this join never counts
        real.ingest([r.raw for r in nb.records[held:]], now=nb.clock)
        assert not gate.is_member(peer(cid), fresh=True)  # revoked, seen at once
        assert gate.past_revocation(cid.public, 3)
        assert gate.is_member(peer(bea)) and gate.is_member(peer(nb.device(4)))
        assert real.is_member_device(nb.device(5).public)  # its join is in the log...
        assert not gate.is_member(peer(nb.device(5)))  # ...and counts for nothing
        assert store.reads == 0
        # The views, built now, agree with the gate on who counts.
        roster = real.views().state.roster
        for device in (bea, cid, nb.device(4), nb.device(5)):
            counted = device.public in roster.households and device.public not in roster.revoked
            assert gate.is_member(peer(device)) == counted
