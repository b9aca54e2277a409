"""Virtual time: one queue, ties in scheduling order, drifting node clocks."""

from simulations.sim.clock import EPOCH_MS, EventQueue, NodeClock


def test_events_run_in_time_order_and_ties_in_scheduling_order():
    queue, seen = EventQueue(), []
    queue.at(20, seen.append, "late")
    queue.at(10, seen.append, "first")
    queue.at(10, seen.append, "second")
    queue.after(5, lambda: queue.after(1, seen.append, "nested"))
    queue.run_until(15)
    assert seen == ["nested", "first", "second"] and queue.now == 15
    queue.run_until(30)
    assert seen[-1] == "late"


def test_an_event_in_the_past_runs_at_the_next_step():
    queue, seen = EventQueue(), []
    queue.run_until(100)
    queue.at(50, lambda: seen.append(queue.now))
    queue.run_until(200)
    assert seen == [100]


def test_node_clock_offset_and_drift():
    """A clock 300 ppm fast, 2 s behind, gains 0.3 s per 1,000 s."""
    clock = NodeClock(offset_ms=-2000, drift_ppm=300)
    assert clock.read(0) == EPOCH_MS - 2000
    assert clock.read(1_000_000) == EPOCH_MS - 2000 + 1_000_000 + 300
