"""The in-memory store model keeps the real store's rules: admission,
checks on the way in, and durability across power cuts."""

import random
from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from meshpantry.store import Store
from simulations.sim.clock import EPOCH_MS
from simulations.sim.founding import found, outsider_keys
from simulations.sim.gossip import message
from simulations.sim.memory_store import ARRAY_FROM, MemoryStore, lacking
from simulations.sim.record_table import RecordTable
from meshpantry.core.chain import ChainHead, next_record

NOW = EPOCH_MS


def founded(nodes=4):
    founding = found(nodes, 0)
    table = RecordTable()
    positions = [(a, table.add(r.raw, r)) for a, r in founding.records]
    for _, p in positions:
        table.verdict(p)
    return founding, table, positions


def offer(founding, table, node, head, now=NOW, secret=None):
    record = next_record(secret or founding.keys[node][1], head, neighbourhood=founding.neighbourhood,
                         kind="offer", body={"item": "eggs", "quantity": 6, "unit": "items"}, now=now)
    position = table.add(record.raw, record)
    table.verdict(position)
    return position, head.after(record)


def test_same_log_as_the_real_store(tmp_path):
    """Joins before their invite, an outsider, a forgery and a record from the
    far future: the model logs exactly what the real store logs."""
    founding, table, positions = founded(5)
    order = [p for _, p in positions]
    order = order[2:] + order[:2]  # joins arrive before the genesis and the invite
    outsider, _ = offer(founding, table, 0, ChainHead(), secret=outsider_keys(1)[1])
    future, _ = offer(founding, table, 1, founding.heads[1], now=NOW + 3 * 24 * 3600 * 1000)
    raw = bytearray(table.raws[order[-1]])
    raw[-1] ^= 1
    forged = table.add(bytes(raw))
    batch = order + [outsider, future, forged]
    model = MemoryStore(table, founding.neighbourhood)
    model.ingest(batch, NOW)
    real = Store.open(tmp_path)
    real.set_setting("neighbourhood", founding.neighbourhood)
    real.ingest([table.raws[p] for p in batch], NOW)
    assert {table.record(p).id for p in model.log} == {rid for _, rid in real.sync_items()}
    assert model.count() == len(positions) and model.waiting_count() == 1  # the outsider waits
    real.close()


def test_power_cut_keeps_own_records_and_may_lose_the_rest():
    founding, table, positions = founded(3)
    store = MemoryStore(table, founding.neighbourhood)
    store.ingest([p for _, p in positions], NOW)
    head = founding.heads[0]
    own, head = offer(founding, table, 0, head)
    store.append_own(own)  # fsynced: everything before it is durable too
    theirs, _ = offer(founding, table, 1, founding.heads[1])
    store.ingest([theirs], NOW)
    lost = [store.power_cut(random.Random(seed)) for seed in range(12)]
    assert store.holds(own) and all(store.holds(p) for _, p in positions)
    assert lost[0] in (0, 1)


def test_a_power_cut_can_roll_back_several_commits_but_not_past_an_fsync():
    founding, table, positions = founded(4)
    rolled = set()
    for seed in range(30):
        store = MemoryStore(table, founding.neighbourhood)
        store.ingest([p for _, p in positions], NOW)
        store.append_own(offer(founding, table, 0, founding.heads[0])[0])
        for node in (1, 2, 3):
            store.ingest([offer(founding, table, node, founding.heads[node])[0]], NOW)
        rolled.add(store.power_cut(random.Random(seed)))
        assert store.count() >= len(positions) + 1
    assert rolled == {0, 1, 2, 3}


def test_membership_rebuilt_after_a_power_cut():
    """A join rolled back with its commit: its author's records wait again."""
    founding, table, positions = founded(3)
    for seed in range(20):
        store = MemoryStore(table, founding.neighbourhood)
        store.ingest([p for _, p in positions[:2]], NOW)  # genesis and invite
        head = store.own_head(founding.keys[0][0])  # the founder's genesis and invite
        store.append_own(offer(founding, table, 0, head)[0])  # fsync
        store.ingest([p for _, p in positions[2:]], NOW)  # the joins: not durable
        if store.power_cut(random.Random(seed)):
            break
    else:
        raise AssertionError("no seed rolled the joins back")
    later, _ = offer(founding, table, 2, founding.heads[2])
    outcome = store.ingest([later], NOW)
    assert outcome.waiting == 1 and not store.holds(later)


def test_forks_and_other_neighbourhoods_as_the_real_store_reports_them(tmp_path):
    """The model runs the node's pipeline: a fork is logged with its evidence,
    a record naming another neighbourhood is refused, in both stores alike."""
    founding, table, positions = founded(3)
    head = founding.heads[1]
    first, _ = offer(founding, table, 1, head)
    twin_record = next_record(founding.keys[1][1], head, neighbourhood=founding.neighbourhood,
                              kind="offer", body={"item": "milk", "quantity": 1, "unit": "l"}, now=NOW)
    twin = table.add(twin_record.raw, twin_record)
    table.verdict(twin)
    elsewhere_record = next_record(founding.keys[2][1], founding.heads[2], neighbourhood=bytes(32),
                                   kind="offer", body={"item": "tea", "quantity": 1, "unit": "kg"}, now=NOW)
    elsewhere = table.add(elsewhere_record.raw, elsewhere_record)
    table.verdict(elsewhere)
    batch = [p for _, p in positions] + [first, twin, elsewhere]
    model = MemoryStore(table, founding.neighbourhood)
    outcome = model.ingest(batch, NOW)
    real = Store.open(tmp_path)
    real.set_setting("neighbourhood", founding.neighbourhood)
    report = real.ingest([table.raws[p] for p in batch], NOW)
    assert outcome.rejected == len(report.rejected) == 1
    assert model.forks == report.forks == real.forks()
    assert [(f.first_id, f.second_id) for f in model.forks] == [(table.record(first).id, twin_record.id)]
    assert {table.record(p).id for p in model.log} == {rid for _, rid in real.sync_items()}
    real.close()


def test_the_memory_store_and_the_sqlite_log_are_the_one_storage_interface(tmp_path):
    from meshpantry.core.record_log import RecordLog
    from meshpantry.store.ingest import SqliteLog

    founding, table, _ = founded(2)
    assert isinstance(MemoryStore(table, founding.neighbourhood), RecordLog)
    with Store.open(tmp_path) as store:
        assert isinstance(SqliteLog(store._conn, {}), RecordLog)


def test_append_own_runs_the_stores_own_record_check(tmp_path):
    """An own record must follow the head of its chain in the store (the
    core's ``check_own``, as the real store runs it): one that skips a seq,
    names another prev, or another neighbourhood is refused with that check's
    error and nothing is logged."""
    from meshpantry.core.validation import PrevMismatch, SeqNotIncremental, WrongNeighbourhood

    founding, table, positions = founded(3)
    store = MemoryStore(table, founding.neighbourhood)
    store.ingest([p for _, p in positions], NOW)
    head = founding.heads[1]
    ahead = ChainHead(head.seq + 1, bytes(32), head.lamport)  # one seq too far
    skipped, _ = offer(founding, table, 1, ahead)
    wrong_prev, _ = offer(founding, table, 1, ChainHead(head.seq, bytes(32), head.lamport))
    elsewhere_record = next_record(founding.keys[1][1], head, neighbourhood=bytes(32), kind="offer",
                                   body={"item": "tea", "quantity": 1, "unit": "kg"}, now=NOW)
    elsewhere = table.add(elsewhere_record.raw, elsewhere_record)
    table.verdict(elsewhere)
    for position, error in ((skipped, SeqNotIncremental), (wrong_prev, PrevMismatch),
                            (elsewhere, WrongNeighbourhood)):
        count = store.count()
        try:
            store.append_own(position)
        except error:
            pass
        else:
            raise AssertionError(f"{error.__name__} not raised")
        assert store.count() == count and not store.holds(position)
    good, after = offer(founding, table, 1, head)
    store.append_own(good)
    assert store.holds(good) and store.own_head(founding.keys[1][0]).seq == after.seq


def test_a_batchs_seq_lookups_answer_as_one_by_one():
    """ids_at_seqs, the batch's lookups at once, answers what ids_at_seq
    answers for each key: nothing held, one record held, a fork held."""
    founding, table, positions = founded(3)
    head = founding.heads[1]
    first, after = offer(founding, table, 1, head)
    twin_record = next_record(founding.keys[1][1], head, neighbourhood=founding.neighbourhood,
                              kind="offer", body={"item": "milk", "quantity": 1, "unit": "l"}, now=NOW)
    twin = table.add(twin_record.raw, twin_record)
    table.verdict(twin)
    later, _ = offer(founding, table, 1, after)
    model = MemoryStore(table, founding.neighbourhood)
    model.ingest([p for _, p in positions], NOW)
    keys = [(table.record(p).author, table.record(p).seq) for p in (first, later)]
    assert model.ids_at_seqs(keys) == [[], []]
    outcome = model.ingest([first, twin], NOW, checked=[table.record(first), table.record(twin)])
    assert outcome.added == [first, twin] and len(model.forks) == 1  # a gossip message carrying a fork
    for lookup in (keys, keys[::-1], keys[1:]):
        assert model.ids_at_seqs(lookup) == [model.ids_at_seq(*key) for key in lookup]
    assert model.ids_at_seqs(keys)[0] == [table.record(first).id, twin_record.id]


def test_lacking_keeps_the_order_and_counts_positions_beyond_the_flags():
    """What a lazy-gossip peer asks for (IWANT): the unheld positions of a
    window, in the window's order; a position past the store's flags is
    not held."""
    held = bytearray([1, 0, 1, 1])
    assert lacking(held, []) == [] and lacking(held, [0, 2, 3]) == []
    assert lacking(held, [3, 1, 0]) == [1] and lacking(held, [1]) == [1]
    assert lacking(held, [0, 9, 1]) == [9, 1] and lacking(held, [9]) == [9]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.booleans(), max_size=40), st.lists(st.integers(0, 50), max_size=60))
def test_lacking_is_the_unheld_positions_in_order(bits, positions):
    """Whatever the flags and the positions (repeated, unordered, beyond
    the flags): exactly the positions whose flag is not set, in order."""
    held = bytearray(bits)
    assert lacking(held, positions) == [p for p in positions if p >= len(held) or not held[p]]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=3000), st.integers(0, 2**32 - 1), st.integers(0, 600))
def test_lacking_reads_a_large_array_of_positions_as_a_list(bits, seed, extra):
    """A large message carried as an array of positions (read with numpy)
    gets the answer its list gets: the unheld positions, in order,
    repeated ones and those beyond the flags included."""
    held = bytearray(bits)
    rng = random.Random(seed)
    positions = [rng.randrange(len(held) + extra) for _ in range(ARRAY_FROM + rng.randrange(2 * ARRAY_FROM))]
    assert lacking(held, array("i", positions)) == lacking(held, positions) == \
        [p for p in positions if p >= len(held) or not held[p]]


def test_a_checked_batch_handed_with_its_positions_finds_forks_and_duplicates_as_without():
    """The pipeline's lookups for a gossip message's records, answered
    from the positions handed over with them: a fork in the batch, a
    record the log holds already, and a fresh batch give what the lookups
    by id give."""
    founding, table, positions = founded(3)
    head = founding.heads[1]
    first, after = offer(founding, table, 1, head)
    twin_record = next_record(founding.keys[1][1], head, neighbourhood=founding.neighbourhood,
                              kind="offer", body={"item": "milk", "quantity": 1, "unit": "l"}, now=NOW)
    twin = table.add(twin_record.raw, twin_record)
    table.verdict(twin)
    later, _ = offer(founding, table, 1, after)
    outcomes = []
    for handed in (False, True):
        model = MemoryStore(table, founding.neighbourhood)
        model.ingest([p for _, p in positions], NOW)
        results = []
        for batch in ([first], [twin, later], [later]):
            checked = [table.record(p) for p in batch]
            outcome = model.ingest(batch, NOW, checked=checked, checked_at=list(batch) if handed else None)
            results.append((outcome.added, outcome.duplicates, list(model.forks)))
        outcomes.append(results)
    assert outcomes[0] == outcomes[1]
    assert outcomes[1][1][2] and outcomes[1][1][0] == [twin, later]  # the fork was found


def test_a_gossip_message_carries_many_positions_as_an_array_and_few_as_a_list():
    """What a receiver's lacking reads best: the same positions, in order."""
    many, few = list(range(ARRAY_FROM, 0, -1)), [5, 3, 9]
    assert type(message(many)) is array and list(message(many)) == many
    assert message(array("i", many)) == array("i", many)
    assert message(few) == few and message(array("i", few)) == few and type(message(array("i", few))) is list


def _table_of(count, seed, lamports):
    """A table of ``count`` signed records whose Lamport counters are drawn
    from ``lamports`` values (so that many share one)."""
    founding = found(2, 0)
    table = RecordTable()
    rng = random.Random(seed)
    for number in range(count):  # first records of their chains: any counter will do
        _, secret = outsider_keys(number)
        offer(founding, table, 0, ChainHead(0, None, rng.randrange(lamports)), secret=secret)
    return table


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 120), st.integers(1, 40))
def test_a_record_sets_sums_and_order_are_the_same_read_either_way(seed, count, lamports):
    """The sums that name a set of records and the sorted sync keys of its
    records, read a position at a time (few positions) or with numpy (many):
    the exact sums of the counters and id halves mod 2^64, and the keys in
    (lamport, id) order, however many records share a counter."""
    table = _table_of(count, seed, lamports)
    rng = random.Random(seed)
    positions = list(range(len(table)))
    rng.shuffle(positions)
    chosen = array("i", positions[: rng.randrange(1, len(positions) + 1)])
    records = [table.record(p) for p in chosen]
    word = (1 << 64) - 1
    expected = (
        sum(r.lamport for r in records) & word,
        sum(int.from_bytes(r.id[:8], "big") for r in records) & word,
        sum(int.from_bytes(r.id[8:16], "big") for r in records) & word,
    )
    assert table.set_sums(chosen) == expected
    assert table.in_order(chosen) == sorted((r.lamport, r.id) for r in records)
    head, tail = chosen[: len(chosen) // 2], chosen[len(chosen) // 2 :]
    halves = [(a + b) & word for a, b in zip(table.set_sums(head), table.set_sums(tail))]
    assert tuple(halves) == expected  # sums of parts add up to the whole's


def test_records_sharing_a_counter_and_an_id_head_are_still_sorted_by_the_whole_id():
    """Two records whose counters and first 8 id bytes agree (made to here):
    the order falls back to the whole key."""
    table = _table_of(ARRAY_FROM + 10, 5, 3)
    positions = array("i", range(len(table)))
    first, second = sorted(positions, key=lambda p: table.sync_keys[p])[:2]
    table.lamports[second] = table.lamports[first]
    table.id_heads[second] = table.id_heads[first]
    assert table.in_order(positions) == sorted(table.sync_keys[p] for p in positions)


def test_records_that_pass_share_one_object_per_author_neighbourhood_and_kind():
    """Two records by one author, decoded apart: equal to what was signed,
    holding one author, neighbourhood and kind object between them (the
    run's neighbourhood id itself once shared)."""
    founding = found(2, 0)
    table = RecordTable()
    table.share(founding.neighbourhood)
    first = next_record(founding.keys[1][1], founding.heads[1], neighbourhood=founding.neighbourhood,
                        kind="offer", body={"item": "eggs", "quantity": 6, "unit": "items"}, now=NOW)
    second = next_record(founding.keys[1][1], founding.heads[1].after(first),
                         neighbourhood=founding.neighbourhood, kind="offer",
                         body={"item": "milk", "quantity": 1, "unit": "l"}, now=NOW)
    a, b = (table.verdict(table.add(bytes(r.raw))) for r in (first, second))  # decoded by the table
    assert (a, b) == (first, second)
    assert a.author is b.author and a.kind is b.kind and a.neighbourhood is b.neighbourhood is founding.neighbourhood
