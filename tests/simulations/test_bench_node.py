"""The heal benchmark's yardstick: the verify rate its CPU ratio divides by."""

from __future__ import annotations


from simulations import bench_node


def test_the_verify_rate_is_the_best_round(monkeypatch):
    """A round slowed by other processes (its CPU seconds longer) does not
    set the rate: the undisturbed round does."""
    # process_time at each round's start and end: rounds of 0.5, 0.1 and 0.2 s
    clock = iter([0.0, 0.5, 1.0, 1.1, 2.0, 2.2])
    monkeypatch.setattr(bench_node.time, "process_time", lambda: next(clock))
    assert abs(bench_node.verify_rate(samples=10, rounds=3) - 10 / 0.1) < 1e-6


def _heal_result(records: int, cpu_s: float, heal_s: float = 9.0) -> dict:
    """What :func:`bench_node.heal` returns, for a heal of ``records`` that
    took ``heal_s`` (its nodes idle at 0.1 s of CPU a second before it)."""
    return {
        "same_state": True, "node_cpu_s": cpu_s, "idle_cpu_per_s": 0.1, "quiet_cpu_per_s": 0.1, "verify_cpu_s": 6.0,
        "cpu_over_verify": cpu_s / 6.0, "nodes": 20, "islands": 4, "divergent_records": records,
        "heal_s": heal_s, "signatures_to_verify": 150_000, "verify_per_s_one_core": 25_000, "cores": 2,
        "bound_s": 3.0, "heal_over_bound": 3.0, "store_per_s_one_core": 15_000, "store_floor_s": 4.8,
        "sync_bytes_on_wire": 1_050, "sync_record_bytes": 1_000, "wire_over_records": 1.05,
        "sync_sessions": 200, "idle_sessions": 150, "round_trips": 330, "links": {"dials": 80},
        "failed_sessions": 0, "skipped_sessions": 60, "gave_way": 3, "sync_records_received": 150_000,
        "gossip_received_records": 0, "gossip_published_records": 0,
    }


def test_the_links_return_is_measured_first_on_the_same_links(monkeypatch, capsys):
    """With --reconnect-records the small heal runs first, on a generator in
    the same state as the heal's (so the same islands and links), and its CPU
    is printed as a share of the heal's verification CPU, added to the
    store floor with the nodes' idle CPU over the heal's time. The idle CPU
    over the small heal's own time is not counted as the links'."""
    calls = []

    def heal(root, records, rng, keep_logs=None, profile=None):
        calls.append((records, rng.random()))
        return _heal_result(records, *((4.2, 2.0) if records == 200 else (18.0, 9.0)))

    monkeypatch.setattr(bench_node, "heal", heal)
    bench_node.main(["--sizes", "", "--records", "10000", "--reconnect-records", "200", "--seed", "7"])
    (small, first), (large, second) = calls
    assert (small, large) == (200, 10_000) and first == second
    out = capsys.readouterr().out
    # The small heal: 4.2 s of CPU in 2 s, 0.2 s of it idle.
    assert "CPU of the links' return alone       4.0 s  (0.67 x this heal's verification CPU" in out
    # The heal: 9 s at 0.1 s a second idle, against 6 s of verifying.
    assert "CPU of the nodes before the heal    0.10 s per s  (idle, the 5 s before the links return; " \
           "x heal time = 0.15 x verification CPU)" in out
    assert "store floor + links + idle            2.42" in out  # 4.8 / 3.0 + 4.0 / 6.0 + 0.9 / 6.0


def test_without_reconnect_records_the_heal_runs_once(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(bench_node, "heal", lambda root, records, rng, *rest: calls.append(records)
                        or _heal_result(records, 18.0))
    bench_node.main(["--sizes", "", "--records", "10000"])
    assert calls == [10_000]
    assert "links' return" not in capsys.readouterr().out
