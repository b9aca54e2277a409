"""The virtual network: reachability rules and message fates."""

import random

import pytest

from simulations.sim.network import Network, NetworkOptions


def net(size=6, **options):
    return Network(size, NetworkOptions(**options), random.Random(1))


def test_islands_separate_and_merge():
    """
    islands:  {0,1,2} | {3,4,5}  -> no path across; merge -> all reach all
    """
    n = net()
    n.partition([[0, 1, 2], [3, 4, 5]])
    assert n.reachable(0, 2) and not n.reachable(0, 3) and not n.reachable(4, 1)
    n.join_islands(1, 0)
    assert all(n.reachable(a, b) for a in range(6) for b in range(6))


def test_one_way_cut_is_asymmetric_and_streams_need_both_directions():
    """A link cut one way carries datagrams the other way, but no stream."""
    n = net()
    n.cut(0, 1, both=False)
    assert not n.reachable(0, 1) and n.reachable(1, 0)
    assert not n.connected(0, 1) and not n.connected(1, 0)
    n.repair()
    assert n.connected(0, 1)


def test_a_node_without_power_reaches_nobody():
    n = net()
    n.crash(3)
    assert not any(n.reachable(3, b) or n.reachable(b, 3) for b in range(6) if b != 3)
    n.restart(3)
    assert n.reachable(3, 0)


def test_flapping_link_toggles():
    n = net()
    n.set_flapping([(1, 2)])
    pair = 1 * 6 + 2
    assert n.flap(pair) is False and not n.reachable(2, 1)
    assert n.flap(pair) is True and n.reachable(1, 2)


def test_message_fates_follow_the_options():
    """loss 1 drops everything; duplication 1 doubles everything; latency has a floor."""
    assert all(net(loss=1.0).send(0, 1) == [] for _ in range(50))
    doubled = net(duplication=1.0, latency_min_ms=3)
    fates = [doubled.send(0, 1) for _ in range(50)]
    assert all(len(f) == 2 and min(f) >= 3 for f in fates)
    assert doubled.duplicated == 50


def test_reordering_delays_some_datagrams_past_later_ones():
    n = net(reordering=0.5, reorder_delay_ms=500, latency_median_ms=5, latency_sigma=0.01)
    delays = [n.send(0, 1)[0] for _ in range(200)]
    assert min(delays) < 10 and max(delays) > 100


def test_datagrams_on_a_cut_link_are_lost():
    n = net()
    n.partition([[0], [1, 2, 3, 4, 5]])
    assert n.send(0, 1) == [] and n.lost == 1


@pytest.mark.parametrize("field", ["loss", "duplication", "reordering", "flapping_links"])
def test_probabilities_outside_zero_one_are_refused(field):
    with pytest.raises(ValueError, match=field):
        NetworkOptions(**{field: 1.5})
