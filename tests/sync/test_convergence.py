"""Sync converges whatever the sets, the delivery chunking, loss, duplication
and reordering of whole sessions."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from meshpantry.core.sync import MAX_ROUNDS, Done, Failed

from .replicas import Link, Replica, chains, fake_record, fields, sync_until_quiet

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SHAPES = ("subset", "superset", "disjoint", "equal", "a empty", "b empty", "random", "recent")


@st.composite
def set_pairs(draw):
    """Two replicas drawn from one universe of chained records."""
    seed = draw(st.integers(0, 2**32))
    size = draw(st.sampled_from([0, 1, 5, 31, 33, 90, 400, 1200]))
    shape = draw(st.sampled_from(SHAPES))
    rng = random.Random(seed)
    universe = chains(max(1, size // 10 + 1), 10, rng)[:size]
    n = len(universe)
    share = rng.random()
    if shape == "subset":
        a = [r for r in universe if rng.random() < share]
        b = universe
    elif shape == "superset":
        a, b = universe, [r for r in universe if rng.random() < share]
    elif shape == "disjoint":
        a, b = universe[: n // 2], universe[n // 2 :]
    elif shape == "equal":
        a = b = universe
    elif shape == "a empty":
        a, b = [], universe
    elif shape == "b empty":
        a, b = universe, []
    elif shape == "recent":
        cut = int(n * share)
        a, b = universe[:cut], universe[: max(cut, n - rng.randrange(3))]
    else:
        a = [r for r in universe if rng.random() < 0.8]
        b = [r for r in universe if rng.random() < 0.8]
    return Replica(a), Replica(b)


def _run_interleaved(links: list[Link], rng: random.Random, max_steps: int = 20_000) -> None:
    """Deliver random chunks on random links until every link is finished."""
    for _ in range(max_steps):
        open_links = [link for link in links if not link.finished]
        if not open_links:
            return
        link = rng.choice(open_links)
        sides = [side for side in (0, 1) if link.queues[side]]
        assert sides, "an open session with nothing in flight: deadlock"
        side = rng.choice(sides)
        link.deliver(side, size=rng.choice([1, 7, 64, 1000, None]))
    raise AssertionError("sessions did not finish")


@SETTINGS
@given(set_pairs(), st.integers(0, 2**32))
def test_one_clean_session_yields_the_union_under_any_chunking(pair, seed):
    a, b = pair
    union = a.ids | b.ids
    link = Link(a, b)
    _run_interleaved([link], random.Random(seed))
    assert all(isinstance(outcome, Done) for outcome in link.outcomes), link.outcomes
    # small sets settle in a few levels; far below the limit that fails a session
    assert all(outcome.stats.rounds <= MAX_ROUNDS // 4 for outcome in link.outcomes)
    assert a.ids == b.ids == union


@SETTINGS
@given(set_pairs(), st.integers(0, 2**32), st.lists(st.sampled_from(["lose", "close", "twin", "swap"]), max_size=4))
def test_lost_duplicated_and_reordered_sessions_then_one_clean_session_converge(pair, seed, troubles):
    """Sessions cut at random points (a timeout or a reset), run twice at once
    (duplicated, their frames interleaved), or from the other side; then one
    clean session reconciles everything."""
    a, b = pair
    union = a.ids | b.ids
    rng = random.Random(seed)
    now = 0
    for trouble in troubles:
        first, second = (b, a) if trouble == "swap" else (a, b)
        links = [Link(first, second, now)]
        if trouble == "twin":
            links.append(Link(second, first, now))
        if trouble in ("lose", "close"):
            for _ in range(rng.randrange(6)):
                sides = [s for s in (0, 1) if links[0].queues[s]]
                if not sides:
                    break
                links[0].deliver(rng.choice(sides), size=rng.choice([5, 300, None]), now=now)
            if not links[0].finished:
                links[0].lose(now) if trouble == "lose" else links[0].close(now)
                assert all(isinstance(o, (Done, Failed)) for o in links[0].outcomes)
        else:
            _run_interleaved(links, rng)
            assert a.ids == b.ids == union
        assert a.ids <= union and b.ids <= union
        now += 100_000
    sync_until_quiet(a, b, max_sessions=1)
    assert a.ids == b.ids == union


class Neighbourhood(RuleBasedStateMachine):
    """Three replicas write records and sync pairwise, sometimes losing the
    stream; a clean sync of a pair always leaves both with the same set, and
    nothing ever appears that nobody wrote."""

    @initialize(seed=st.integers(0, 2**32))
    def setup(self, seed):
        self.rng = random.Random(seed)
        self.replicas = [Replica(), Replica(), Replica()]
        self.written: set[bytes] = set()
        self.heads = {}
        self.lamport = [0, 0, 0]
        self.now = 0

    @rule(who=st.integers(0, 2), count=st.integers(1, 60))
    def write(self, who, count):
        replica = self.replicas[who]
        for _ in range(count):
            author = who * 10 + self.rng.randrange(3)
            seq = self.heads.get(author, 0) + 1
            self.heads[author] = seq
            seen = max((fields(raw)[2] for raw in replica.raws.values()), default=0)
            lamport = max(seen, self.lamport[who]) + 1
            self.lamport[who] = lamport
            raw = fake_record(author, seq, lamport, self.rng.randbytes(4))
            replica.add([raw])
            self.written |= Replica([raw]).ids

    @rule(pair=st.permutations([0, 1, 2]))
    def sync(self, pair):
        a, b = self.replicas[pair[0]], self.replicas[pair[1]]
        before = a.ids | b.ids
        sync_until_quiet(a, b, max_sessions=1)
        assert a.ids == b.ids == before

    @rule(pair=st.permutations([0, 1, 2]), flights=st.integers(0, 5), reset=st.booleans())
    def interrupted_sync(self, pair, flights, reset):
        a, b = self.replicas[pair[0]], self.replicas[pair[1]]
        link = Link(a, b, self.now)
        for number in range(flights):
            link.deliver(number % 2, now=self.now)
        if not link.finished:
            link.close(self.now) if reset else link.lose(self.now)
        self.now += 100_000

    @invariant()
    def nothing_unwritten(self):
        for replica in getattr(self, "replicas", []):
            assert replica.ids <= self.written

    def teardown(self):
        replicas = getattr(self, "replicas", [])
        if not replicas:
            return
        sync_until_quiet(replicas[0], replicas[1], max_sessions=1)
        sync_until_quiet(replicas[1], replicas[2], max_sessions=1)
        sync_until_quiet(replicas[0], replicas[1], max_sessions=1)
        assert replicas[0].ids == replicas[1].ids == replicas[2].ids == self.written


TestNeighbourhood = Neighbourhood.TestCase
TestNeighbourhood.settings = settings(max_examples=40, stateful_step_count=20, deadline=None)
