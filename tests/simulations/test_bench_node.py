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
