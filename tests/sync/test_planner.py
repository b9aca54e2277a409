"""The sync planner: events and ``now`` in, actions out, every scheduling
rule of the node and the simulator in one place."""

from __future__ import annotations

import random

from meshpantry.core.sync.horizon import Horizon
from meshpantry.core.sync.planner import (
    BAN_MS,
    GAP_GRACE_MS,
    RETRIES,
    RETRY_MS,
    CutOff,
    Forget,
    Mode,
    Outcome,
    PlannerConfig,
    StartSession,
    SyncPlanner,
)


class Standing:
    def __init__(self, members=(), held=()):
        self.members, self.held = set(members), set(held)

    def is_member(self, peer):
        return peer in self.members

    def holds(self, record_id):
        return record_id in self.held


def _planner(members=(1, 2, 3, 4, 5), *, me=2, recovering=False, horizon=None, **config):
    standing = Standing(members)
    config.setdefault("jitter", 0.0)
    planner = SyncPlanner(me, standing, random.Random(7), now=0, horizon=horizon or Horizon(),
                          recovering=recovering, config=PlannerConfig(**config))
    return planner, standing


def test_on_connect_a_full_session_with_each_led_member_one_at_a_time():
    """Peers 1..5 and 9 come up for 2: it leads 3, 4, 5 (9 is no member)."""
    planner, _ = _planner()
    assert planner.peers_up([1, 3, 4, 5, 9], 0) == [StartSession(3, Mode.FULL)]
    assert planner.session_ended(3, Outcome.DONE, 10) == [StartSession(4, Mode.FULL)]
    assert planner.session_ended(4, Outcome.FAILED, 20) == [StartSession(5, Mode.FULL)]
    assert planner.session_ended(5, Outcome.DONE, 30) == []


def test_connect_limit_picks_that_many_led_peers_at_random():
    planner, _ = _planner(members=range(100), max_concurrent=10, connect_limit=3)
    actions = planner.peers_up(range(3, 100), 0)
    assert len(actions) == 3 and all(a.mode is Mode.FULL and a.peer > 2 for a in actions)


def test_a_device_not_admitted_yet_syncs_with_anyone_it_sees():
    """A new member (5) connects to members that do not know it yet: they
    will not start a session with it, so it starts one with each of them,
    led or not."""
    planner, standing = _planner(members=(1, 7), me=5)
    assert planner.peers_up([1, 7], 0) == [StartSession(1, Mode.FULL)]
    assert planner.session_ended(1, Outcome.DONE, 5) == [StartSession(7, Mode.FULL)]
    member, _ = _planner(members=(1, 5, 7), me=5)
    assert member.peers_up([1, 7], 0) == [StartSession(7, Mode.FULL)]
    assert member.eligible(1, 0) and not _planner(members=(5,), me=5)[0].eligible(1, 0)


def test_each_tick_one_routine_session_below_the_horizon():
    horizon = Horizon()
    horizon.observe(0, 5)
    horizon.observe(25_000, 9)
    planner, _ = _planner(horizon=horizon, interval_ms=30_000)
    planner.peers_up([1], 0)  # 1 leads 2: no session on connect
    assert planner.get_timer() == 30_000
    assert planner.handle_timer(29_999) == []
    assert planner.handle_timer(30_000) == [StartSession(1, Mode.ROUTINE, horizon.bound(30_000))]
    assert planner.get_timer() == 60_000


def test_a_gap_is_synced_after_the_grace_only_if_still_open():
    planner, standing = _planner()
    planner.peers_up([1], 0)
    planner.gap_seen(1, [b"a"], 100)
    planner.gap_seen(1, [b"b"], 200)
    standing.held.add(b"a")  # the first gap filled itself in time
    assert planner.get_timer() == 100 + GAP_GRACE_MS
    assert planner.handle_timer(100 + GAP_GRACE_MS) == []
    assert planner.handle_timer(200 + GAP_GRACE_MS) == [StartSession(1, Mode.FULL)]


def test_a_gap_shown_by_a_peer_that_is_gone_is_asked_of_a_member_that_is_up():
    """
    1 (forwarder) ── 2 ── 3      1 showed a gap, then went down: the
    session for the gap goes to 3, which is up and may hold the record.
    """
    planner, _ = _planner()
    planner.peers_up([1, 3], 0)
    planner.session_ended(3, Outcome.DONE, 10)
    planner.gap_seen(1, [b"a"], 100)
    planner.peer_down(1, 200)
    assert planner.handle_timer(100 + GAP_GRACE_MS) == [StartSession(3, Mode.FULL)]


def test_a_gap_is_asked_of_the_peer_that_showed_it_while_it_is_up():
    planner, _ = _planner()
    planner.peers_up([1, 3, 4], 0)
    for peer in (3, 4):
        planner.session_ended(peer, Outcome.DONE, 10)
    planner.gap_seen(4, [b"a"], 100)
    assert planner.handle_timer(100 + GAP_GRACE_MS) == [StartSession(4, Mode.FULL)]


def test_no_on_connect_session_with_a_peer_known_to_hold_the_same_set():
    """3 and 5 come up; 3 agrees (same set fingerprint): only 5 syncs. A
    device still recovering its chain syncs with agreeing peers too."""
    planner, _ = _planner()
    assert planner.peers_up([3, 5], 0, agreeing=[3]) == [StartSession(5, Mode.FULL)]
    assert planner.session_ended(5, Outcome.DONE, 10) == []
    recovering, _ = _planner(recovering=True)
    assert recovering.peers_up([3], 0, agreeing=[3]) == [StartSession(3, Mode.RECOVER)]


def test_a_hostile_peer_is_cut_off_and_its_waiting_sessions_dropped():
    planner, _ = _planner()
    planner.peers_up([3, 4], 0)  # 3 runs, 4 waits
    assert planner.hostile(4, "forged", 5) == [CutOff(4, 5 + BAN_MS, "forged")]
    assert planner.hostile(4, "again", 6) == []  # extended, not announced twice
    assert planner.session_ended(3, Outcome.HOSTILE, 7) == [CutOff(3, 7 + BAN_MS, "broke the sync protocol")]
    assert planner.requested(3, 8) == []
    assert planner.is_cut_off(3, 7 + BAN_MS - 1) and not planner.is_cut_off(3, 7 + BAN_MS)


def test_own_chain_recovery_comes_first_then_a_full_session_with_the_same_peer():
    planner, _ = _planner(recovering=True)
    assert planner.peers_up([1], 0) == [StartSession(1, Mode.RECOVER)]  # even a peer it does not lead
    assert planner.session_ended(1, Outcome.UNREACHABLE, 5) == []
    assert planner.recovering
    assert planner.peers_up([4], 6) == [StartSession(4, Mode.RECOVER)]
    assert planner.session_ended(4, Outcome.DONE, 9) == [StartSession(4, Mode.FULL)]
    assert not planner.recovering


def test_a_recovery_retried_after_the_chain_was_recovered_is_a_full_session():
    """A recovery session refused as busy is retried later; if another peer
    gave the chain back meanwhile, the retry is an ordinary full session,
    not a second recovery (the simulator's restored devices showed it)."""
    planner, _ = _planner(recovering=True, max_concurrent=2, interval_ms=10**9)
    assert planner.peers_up([1, 4], 0) == [StartSession(1, Mode.RECOVER), StartSession(4, Mode.RECOVER)]
    assert planner.session_ended(1, Outcome.BUSY, 1) == []
    assert planner.session_ended(4, Outcome.DONE, 2) == [StartSession(4, Mode.FULL)]
    assert not planner.recovering
    assert planner.handle_timer(planner.get_timer()) == [StartSession(1, Mode.FULL)]


def test_a_busy_peer_is_retried_a_few_times():
    planner, _ = _planner(interval_ms=10**9)
    planner.peers_up([3], 0)
    now = 0
    for _ in range(RETRIES):
        assert planner.session_ended(3, Outcome.BUSY, now) == []
        now = planner.get_timer()
        assert planner.handle_timer(now) == [StartSession(3, Mode.FULL)]
    assert planner.session_ended(3, Outcome.BUSY, now) == []
    assert planner.get_timer() == 10**9  # only the periodic tick is left


def test_a_peer_going_down_is_forgotten_with_its_waiting_sessions():
    planner, _ = _planner()
    planner.peers_up([3, 4], 0)
    assert planner.peer_down(4, 1) == [Forget(4)]
    assert planner.session_ended(3, Outcome.DONE, 2) == []
    assert planner.up == [3]


def test_a_waiting_session_whose_peer_has_come_to_agree_is_dropped_when_its_turn_comes():
    """Rule 8 again at the session's turn: 3, 4 and 5 are queued on connect;
    meanwhile 4 comes to agree with this replica (a session with it, or a
    peer exchange, found both holding one set). Its turn drops it unopened
    (counted), and so are a requested and a routine one with it; a session
    for a gap still runs, retries included: the gap is a record missing
    here, whatever the fingerprints said."""
    agreeing: set[int] = set()
    planner = SyncPlanner(2, Standing((1, 2, 3, 4, 5)), random.Random(7), now=0, horizon=Horizon(),
                          config=PlannerConfig(jitter=0.0, interval_ms=30_000), agrees=lambda p: p in agreeing)
    assert planner.peers_up([3, 4, 5], 0) == [StartSession(3, Mode.FULL)]
    agreeing.add(4)
    assert planner.session_ended(3, Outcome.DONE, 10) == [StartSession(5, Mode.FULL)]
    assert planner.skipped == 1
    assert planner.session_ended(5, Outcome.DONE, 20) == []
    assert planner.requested(4, 30) == [] and planner.skipped == 2
    planner.gap_seen(4, [b"\x01" * 32], 40)  # nothing is held here
    assert planner.handle_timer(40 + GAP_GRACE_MS) == [StartSession(4, Mode.FULL)]
    assert not planner.skippable(4)
    assert planner.session_ended(4, Outcome.BUSY, 3_000) == []
    assert planner.handle_timer(3_000 + 2 * RETRY_MS) == [StartSession(4, Mode.FULL)]
    assert planner.session_ended(4, Outcome.DONE, 6_000) == []
    agreeing.update((1, 3, 5))
    assert planner.handle_timer(30_000) == [] and planner.skipped == 3  # the routine one
