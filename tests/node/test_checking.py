"""Large batches from peers are checked in worker processes and stored in order."""

from __future__ import annotations

import os

import pytest
import trio

from meshpantry.node.batch_checks import check_slice
from meshpantry.node.checking import (
    CATCH_UP_RECORDS,
    MIN_RECORDS,
    SLICE_RECORDS,
    STORE_MIN_RECORDS,
    STORE_RECORDS,
    CheckingProcesses,
)
from protocol import Record

from .test_gossip_ingest import member_records


def forged(record: Record) -> bytes:
    """``record`` with one bit of its signature flipped."""
    raw = bytearray(record.raw)
    at = raw.index(record.signature)
    raw[at] ^= 1
    return bytes(raw)


def test_a_slice_keeps_the_records_that_pass_in_order_and_names_the_others(node):
    records = member_records(node, 5)
    raws = [r.raw for r in records]
    raws[2] = forged(records[2])
    passed, failures = check_slice(raws + [b"\x93junk"], node.store.neighbourhood, node.pantry.clock())
    assert [r.id for r in passed] == [records[i].id for i in (0, 1, 3, 4)]
    assert len(failures) == 2 and all(f.forged for f in failures)


@pytest.mark.trio
async def test_a_large_batch_is_checked_by_the_workers_and_a_forger_is_cut_off(node):
    """
    peer ──sync batch of 300, then of 600 (record 400 forged)──▶ node
    all but the forged record stored (the log takes a chain with a gap, as
    from gossip); the first 300 are not checked again; the forger is cut off.
    """

    class Planner:
        banned: list[str] = []

        def hostile(self, peer, why):
            self.banned.append(peer)

        def is_cut_off(self, peer):
            return False

    node.sync = Planner()  # type: ignore[assignment]
    node.checking = CheckingProcesses(workers=2, min_idle_cores=float("-inf"))
    records = member_records(node, 600)
    raws = [r.raw for r in records]
    raws[400] = forged(records[400])
    assert node.checking.wanted(len(raws)) and len(raws) > 2 * SLICE_RECORDS > MIN_RECORDS
    try:
        assert await node.ingest(raws[:300], "peer-y") == 300
        assert await node.ingest(raws, "peer-x") == 299  # the first 300 are held: skipped
    finally:
        node.checking.close()
    assert all(node.store.has(r.id) for r in records[:400] + records[401:])
    assert not node.store.has(records[400].id)
    assert node.sync.banned == ["peer-x"]


@pytest.mark.trio
async def test_records_another_session_is_checking_are_not_checked_twice(node):
    """Two sessions deliver the same 300 records at once: one batch checks
    and stores them, the other skips them (they are arriving already)."""
    node.checking = checking = CheckingProcesses(workers=2, min_idle_cores=float("-inf"))
    raws = [r.raw for r in member_records(node, 300)]
    results: list[int] = []
    handed: list[int] = []
    submit = checking.submit

    def counted(batch, *args, **kwargs):
        handed.append(len(batch))
        return submit(batch, *args, **kwargs)

    checking.submit = counted  # type: ignore[method-assign]

    async def session(peer: str) -> None:
        results.append(await node.ingest(list(raws), peer))

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(session, "peer-a")
            nursery.start_soon(session, "peer-b")
    finally:
        node.checking.close()
    assert sorted(results) == [0, 300] and not node.arriving
    assert handed == [300]  # the workers saw each record once


def test_the_workers_are_used_only_with_an_idle_core(monkeypatch):
    """A machine already busier than its cores checks on the node's thread."""
    import meshpantry.node.checking as checking

    monkeypatch.setattr(os, "getloadavg", lambda: (3.5, 3.0, 3.0))
    assert not CheckingProcesses(workers=4).wanted(1000)
    monkeypatch.setattr(os, "getloadavg", lambda: (2.5, 3.0, 3.0))
    assert CheckingProcesses(workers=4).wanted(1000)
    assert not CheckingProcesses(workers=4).wanted(MIN_RECORDS - 1)
    assert not CheckingProcesses(workers=1).wanted(1000)
    # The workers' own load does not turn them off in the middle of a catch-up.
    monkeypatch.setattr(os, "getloadavg", lambda: (5.0, 3.0, 3.0))
    busy = CheckingProcesses(workers=4)
    busy._last_used = checking.time.monotonic()
    assert busy.wanted(1000)


def test_a_session_catching_up_uses_the_workers_on_a_busy_machine(monkeypatch):
    """A new device's first sync is when checking on every core matters: a
    session that brought many records to a node that held next to nothing
    uses the workers whatever the load. A node that held a neighbourhood's
    worth does not, even when a heal brings it more than it held: twenty
    such nodes on two cores each started its fork server and pickled every
    record across, for no core to spare."""
    import meshpantry.node.checking as checking

    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    assert not CheckingProcesses(workers=2).wanted(1000)
    assert CheckingProcesses(workers=2).wanted(1000, catching_up=True)
    assert not CheckingProcesses(workers=2).wanted(MIN_RECORDS - 1, catching_up=True)
    assert checking.catching_up(CATCH_UP_RECORDS, held_at_start=5)
    assert not checking.catching_up(CATCH_UP_RECORDS - 1, held_at_start=5)  # a heal's session
    assert not checking.catching_up(3 * CATCH_UP_RECORDS, held_at_start=100_000)  # a large merge
    assert checking.catching_up(900, held_at_start=3)  # a new device's first RECORDS frame
    assert not checking.catching_up(7_500, held_at_start=2_560)  # a heal after a long cut


@pytest.mark.trio
async def test_slices_checked_while_the_node_stored_go_to_the_store_together(node):
    """Twelve slices: the node waits for the first STORE_MIN_RECORDS (and
    takes any checked with them), and meanwhile the workers check the rest;
    it then takes the rest at once (one store transaction, not one per
    slice), in order."""
    checking = CheckingProcesses(workers=2, min_idle_cores=float("-inf"))
    slices = STORE_MIN_RECORDS // SLICE_RECORDS + 4
    records = member_records(node, slices * SLICE_RECORDS)
    assert len(records) <= STORE_RECORDS
    groups: list[list[bytes]] = []
    try:
        async for passed, failures in checking.check([r.raw for r in records], node.store.neighbourhood,
                                                     node.pantry.clock()):
            assert not failures
            groups.append([r.id for r in passed])
            if len(groups) == 1:
                await trio.sleep(3)  # storing the first group; the workers go on
    finally:
        checking.close()
    assert len(groups) <= 2 and len(groups[0]) >= STORE_MIN_RECORDS
    assert all(len(g) % SLICE_RECORDS == 0 for g in groups)
    assert [rid for g in groups for rid in g] == [r.id for r in records]


@pytest.mark.trio
async def test_a_checked_group_is_stored_in_one_transaction(node, monkeypatch):
    """A group of 1,000 checked records is one store transaction (records
    from peers otherwise go 500 a transaction)."""
    from meshpantry.node.runner import INGEST_SLICE

    records = member_records(node, 1_000)
    assert INGEST_SLICE < len(records) <= STORE_RECORDS

    class Checked:
        joined = False

        async def groups(self):
            yield records, []

        def cancel(self):
            pass

    node.checking = CheckingProcesses(workers=2, min_idle_cores=float("-inf"))
    monkeypatch.setattr(node.checking, "submit", lambda raws, neighbourhood, now, key=None: Checked())
    sizes: list[int] = []
    ingest_verified = node.store.ingest_verified

    def counted(batch, now):
        sizes.append(len(batch))
        return ingest_verified(batch, now)

    monkeypatch.setattr(node.store, "ingest_verified", counted)
    assert await node.ingest([r.raw for r in records], "peer-x", catching_up=True) == 1_000
    assert sizes == [1_000]


def test_a_slice_sends_its_records_back_as_log_rows_but_membership_records_whole(node):
    """A checked record goes back as its log row (half the bytes, a fraction
    of the node's time to unpickle); a membership record whole, since
    admission reads its body."""
    import pickle

    from meshpantry.core.record_log import LogRow, log_row

    records = member_records(node, 3)
    membership = next(node.store.records(kind="neighbourhood"))
    passed, failures = check_slice([r.raw for r in records] + [membership.raw], node.store.neighbourhood,
                                   node.pantry.clock())
    assert not failures
    assert passed[:3] == [log_row(r) for r in records] and all(type(r) is LogRow for r in passed[:3])
    assert passed[3] == membership
    assert len(pickle.dumps(passed[:3])) < len(pickle.dumps(records)) / 1.5


def test_a_checked_record_travels_back_as_its_fields(node):
    """Records pickle as Record(*fields) (cheap on the node's side), and come
    back whole: body, payload and every other field."""
    import copyreg
    import pickle

    from meshpantry.node import batch_checks

    record = member_records(node, 1)[0]
    assert copyreg.dispatch_table[Record] is batch_checks._record_reduce
    back = pickle.loads(pickle.dumps(record))
    assert back == record and back.body == record.body and back.payload == record.payload


@pytest.mark.trio
async def test_a_sessions_later_batch_joins_the_checks_of_the_one_before(node):
    """
    peer-x ──batch A (300), batch B (300)──▶ node, B taken in before A is stored
    B's slices join A's checks: A's groups bring the records of both, in
    order (checked by then: one group, one store transaction); B's bring
    nothing. A batch of another peer, or one submitted after A's checks were
    taken, keeps its own.
    """
    checking = CheckingProcesses(workers=2, min_idle_cores=float("-inf"))
    records = member_records(node, 700)
    hood, now = node.store.neighbourhood, node.pantry.clock()
    try:
        first = checking.submit([r.raw for r in records[:300]], hood, now, key="peer-x")
        other = checking.submit([r.raw for r in records[600:650]], hood, now, key="peer-y")
        second = checking.submit([r.raw for r in records[300:600]], hood, now, key="peer-x")
        for future, _ in list(first._slices):
            await trio.to_thread.run_sync(future.result)
        assert second.joined and not first.joined and not other.joined
        groups = [[r.id for r in passed] async for passed, _ in first.groups()]
        assert groups == [[r.id for r in records[:600]]]
        assert [g async for g in second.groups()] == []
        assert [[r.id for r in passed] async for passed, _ in other.groups()] == [[r.id for r in records[600:650]]]
        after = checking.submit([r.raw for r in records[650:]], hood, now, key="peer-x")
        assert [[r.id for r in passed] async for passed, _ in after.groups()] == [[r.id for r in records[650:]]]
    finally:
        checking.close()


@pytest.mark.trio
async def test_a_batch_stored_on_the_nodes_thread_ends_the_joining(node):
    """A session's batch too small for the workers is stored on its own in
    its turn; the batch after it does not join the checks before it, so the
    batches are still stored in the order they came."""
    node.checking = CheckingProcesses(workers=2, min_idle_cores=float("-inf"))
    records = member_records(node, 610)
    raws = [r.raw for r in records]
    order: list[bytes] = []
    ingest, ingest_verified = node.store.ingest, node.store.ingest_verified

    def noting(store):
        def run(batch, now):
            report = store(batch, now)
            order.extend(report.added)
            return report
        return run

    node.store.ingest, node.store.ingest_verified = noting(ingest), noting(ingest_verified)
    try:
        batches = [node.ingest_soon(raws[:300], "peer-x", catching_up=True),
                   node.ingest_soon(raws[300:310], "peer-x", catching_up=True),
                   node.ingest_soon(raws[310:], "peer-x", catching_up=True)]
        assert [await batch.store() for batch in batches] == [300, 10, 300]
    finally:
        node.checking.close()
    assert order == [r.id for r in records]


@pytest.mark.trio
async def test_a_joined_batch_is_stored_once_its_store_returns(node):
    """The node's batches of one peer, A then B joining A's checks: B's
    store returns only once A's has stored B's records too (a caller that
    awaits B alone finds them stored)."""
    node.checking = CheckingProcesses(workers=2, min_idle_cores=float("-inf"))
    records = member_records(node, 600)
    raws = [r.raw for r in records]
    try:
        first = node.ingest_soon(raws[:300], "peer-x", catching_up=True)
        second = node.ingest_soon(raws[300:], "peer-x", catching_up=True)
        assert second.joined and not first.joined  # the session counts B with A (see .store_behind)
        async with trio.open_nursery() as nursery:
            counts: list[int] = []

            async def store_second() -> None:
                counts.append(await second.store())
                assert all(node.store.has(r.id) for r in records)

            nursery.start_soon(store_second)
            await trio.sleep(0.5)
            assert counts == []  # waits for the first batch's checks to be taken
            assert await first.store() == 600
    finally:
        node.checking.close()
    assert counts == [0]


@pytest.mark.trio
async def test_a_batch_joins_only_checks_with_less_than_a_transaction_left(node, monkeypatch):
    """Checks with STORE_RECORDS records not taken yet take no more: one
    store does not take in a whole session (the session counts the batches
    whose store has not begun as ahead of it)."""
    import meshpantry.node.checking as checking_module

    monkeypatch.setattr(checking_module, "STORE_RECORDS", 2 * SLICE_RECORDS)
    checking = CheckingProcesses(workers=2, min_idle_cores=float("-inf"))
    records = member_records(node, 5 * SLICE_RECORDS)
    raws = [r.raw for r in records]
    hood, now = node.store.neighbourhood, node.pantry.clock()
    try:
        first = checking.submit(raws[:SLICE_RECORDS], hood, now, key="peer-x")
        second = checking.submit(raws[SLICE_RECORDS : 3 * SLICE_RECORDS], hood, now, key="peer-x")
        third = checking.submit(raws[3 * SLICE_RECORDS :], hood, now, key="peer-x")
        assert first.backlog() == 3 * SLICE_RECORDS and third.backlog() == 2 * SLICE_RECORDS
        taken = []
        for check in (first, second, third):
            taken += [r.id async for passed, _ in check.groups() for r in passed]
        assert taken == [r.id for r in records]
    finally:
        checking.close()


def test_a_slice_travels_back_as_plain_tuples_and_comes_back_as_rows_in_order(node):
    """A worker sends a slice's rows as plain tuples (no Python method to
    pickle a row) and membership records with their places; the node gets
    back exactly what checking on its own thread gives."""
    import pickle

    from meshpantry.core.record_log import LogRow
    from meshpantry.node.batch_checks import check_slice_packed, unpacked

    records = member_records(node, 4)
    membership = next(node.store.records(kind="neighbourhood"))
    raws = [records[0].raw, membership.raw, records[1].raw, forged(records[2]), records[3].raw]
    hood, now = node.store.neighbourhood, node.pantry.clock()
    packed = check_slice_packed(raws, hood, now)
    assert all(type(row) is tuple for row in packed[0])
    passed, failures = unpacked(pickle.loads(pickle.dumps(packed)))
    assert (passed, failures) == check_slice(raws, hood, now)
    assert [type(r) for r in passed] == [LogRow, Record, LogRow, LogRow]
    assert [r.id for r in passed] == [records[0].id, membership.id, records[1].id, records[3].id]
    assert len(failures) == 1 and failures[0].forged


_MAIN = '''
import sys
from pathlib import Path

if __name__ != "__main__":  # run again, in a child of multiprocessing
    Path(__file__).with_name("main-run-again").write_text(__name__)
else:
    import trio
    from meshpantry.node.checking import CheckingProcesses

    async def check() -> int:
        checking = CheckingProcesses(workers=2, min_idle_cores=float("-inf"))
        failed = 0
        try:
            async for _, failures in checking.submit([b"\\x93junk"] * 600, bytes(32), 0).groups():
                failed += len(failures)
        finally:
            checking.close()
        return failed

    print(trio.run(check))
'''


@pytest.mark.parametrize("started_as", ["script", "module"])
def test_a_worker_does_not_run_the_nodes_main_module_again(tmp_path, started_as):
    """The node's main module is the command line (a script, or a module run
    with -m): its checking processes start without running it again."""
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "node_main.py").write_text(_MAIN)
    repo = str(Path(__file__).resolve().parents[2])
    argv = [str(tmp_path / "node_main.py")] if started_as == "script" else ["-m", "node_main"]
    done = subprocess.run([sys.executable, *argv], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "PYTHONPATH": f"{tmp_path}:{repo}"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["600"]  # both workers checked (and refused) the slices
    assert not (tmp_path / "main-run-again").exists()


def _checked_one_by_one(raws, neighbourhood: bytes, now: int):
    """What a slice gives when each record goes through check_record whole."""
    from meshpantry.core.admission import ADMISSION_KINDS
    from meshpantry.core.ingest import check_record, is_forgery
    from meshpantry.core.record_log import row_fields
    from meshpantry.node.batch_checks import Failure
    from protocol.errors import RemoteError

    rows: list = []
    members: list = []
    failures: list = []
    for raw in raws:
        try:
            record = check_record(raw, neighbourhood=neighbourhood, now=now)
        except RemoteError as error:
            failures.append(Failure(str(error), is_forgery(error)))
            continue
        if record.kind in ADMISSION_KINDS:
            members.append((len(rows), record))
            rows.append(())
        else:
            rows.append(row_fields(record, neighbourhood))
    return rows, members, failures


def test_a_slice_on_the_decoders_short_path_gives_what_check_record_gives(node):
    """Rows, membership records (whole, with their places) and failures
    (reason, forged or not) are those of check_record record by record:
    valid records, a forged one, junk, the genesis and a join, and the same
    records judged from another neighbourhood or by a clock far behind."""
    from meshpantry.node.batch_checks import check_slice_packed

    records = member_records(node, 6)
    membership = list(node.store.records(kind="neighbourhood")) + list(node.store.records(kind="join"))
    assert membership
    raws = [r.raw for r in records[:3]] + [forged(records[3]), b"\x93junk"] + [m.raw for m in membership]
    raws += [r.raw for r in records[4:]]
    hood, now = node.store.neighbourhood, node.pantry.clock()
    for neighbourhood, clock in ((hood, now), (bytes(32), now), (hood, now - 10 * 86_400_000)):
        packed = check_slice_packed(raws, neighbourhood, clock)
        assert packed == _checked_one_by_one(raws, neighbourhood, clock)
    rows, members, failures = check_slice_packed(raws, hood, now)
    assert len(failures) == 2 and len(members) == len(membership) and len(rows) == len(raws) - 2


_PREPARE = '''
from pathlib import Path
from meshpantry.node.checking import CheckingProcesses

checking = CheckingProcesses(workers=2)
checking.prepare()
children = []
for task in Path("/proc/self/task").iterdir():
    for pid in (task / "children").read_text().split():
        children.append((Path("/proc") / pid / "cmdline").read_bytes().replace(b"\\\\0", b" ").decode())
print(any("forkserver" in line and "meshpantry.node.batch_checks" in line for line in children))
'''


def test_prepare_starts_the_fork_server_with_the_checks_imported_and_returns_at_once(tmp_path):
    """A new device's node starts the fork server before its first batch
    (the checks imported there), without waiting for it."""
    import subprocess
    import sys
    from pathlib import Path

    repo = str(Path(__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, "-c", _PREPARE], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={**__import__("os").environ, "PYTHONPATH": repo})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True"]


@pytest.mark.trio
@pytest.mark.parametrize("held", [0, CATCH_UP_RECORDS])
async def test_a_node_holding_next_to_nothing_prepares_its_checking_processes_when_it_starts(
    node, monkeypatch, held
):
    """Fewer records than a catch-up brings: the fork server starts with the
    node; as many or more: with the first large batch, as before."""
    from meshpantry.node import host

    if held:
        records = member_records(node, held)
        node.store.ingest_verified(records, node.pantry.clock())
    assert (node.store.count() < CATCH_UP_RECORDS) == (not held)
    prepared: list[bool] = []
    monkeypatch.setattr(node.checking, "prepare", lambda: prepared.append(True))

    class Stop(Exception):
        pass

    def no_host(*args, **kwargs):
        raise Stop()

    monkeypatch.setattr(host, "open_host", no_host)
    with pytest.raises(BaseException) as raised:
        await node.run()  # as far as opening the host, which stops it
    assert raised.group_contains(Stop) if isinstance(raised.value, BaseExceptionGroup) else raised.type is Stop
    assert prepared == ([] if held else [True])
