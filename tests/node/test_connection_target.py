"""The connection target: whom a node dials and which links it trims."""

from __future__ import annotations

import random

from meshpantry.node.connection_target import Watermarks, dials, is_bridge, trims

MARKS = Watermarks(low=3, high=5, grace_s=10.0)


def test_below_the_low_watermark_known_peers_are_dialled_up_to_it():
    """Two links, low 3: one more dial; a dial in flight counts as a link."""
    reports = {"a": {"x", "y"}, "b": {"x", "y"}}
    assert dials(["x", "y"], connected=["a", "b"], dialling=0, static=(), reports=reports, marks=MARKS) == ["x"]
    assert dials(["x", "y"], connected=["a", "b"], dialling=1, static=(), reports=reports, marks=MARKS) == []


def test_bridges_are_dialled_first_and_one_at_a_time_beyond_low():
    """
    island 1: me ── a, b, c (low reached)     island 2: p, q (nobody here reports them)
    p is dialled although low is reached (a bridge), q waits for p's report;
    nothing while a dial is in flight, or at high; x, reported by a, is not.
    Below low, bridges go first.
    """
    reports = {"a": {"b", "x"}, "b": {"a"}, "c": {"a"}}
    chosen = dials(["x", "p", "q"], connected=["a", "b", "c"], dialling=0, static=(), reports=reports, marks=MARKS)
    assert chosen == ["p"]
    assert dials(["x", "p", "q"], connected=["a", "b", "c"], dialling=1, static=(), reports=reports, marks=MARKS) == []
    assert dials(["p"], connected=["a", "b", "c", "d", "e"], dialling=0, static=(), reports=reports, marks=MARKS) == []
    assert dials(["x", "p"], connected=["a", "b"], dialling=0, static=(), reports=reports, marks=MARKS) == ["p"]
    assert dials(["x", "p", "q"], connected=["a"], dialling=0, static=(), reports=reports, marks=MARKS) == ["p", "q"]


def test_no_bridge_beyond_low_while_a_new_peer_has_not_reported_its_links():
    """
    me ── a, b, c (low 3 reached), d just connected, no report yet
    p and q look like bridges only because d has not said it links to them:
    nothing is dialled beyond low until its report comes (after islands
    rejoined, each node dialled a bridge or two in that moment). Below low,
    dials go on as before.
    """
    reports = {"a": {"b"}, "b": {"a"}, "c": {"a"}, "d": set()}
    assert dials(["p", "q"], connected=["a", "b", "c", "d"], dialling=0, static=(), reports=reports,
                 marks=MARKS, awaiting_reports=True) == []
    assert dials(["p", "q"], connected=["a", "b", "c", "d"], dialling=0, static=(), reports=reports,
                 marks=MARKS) == ["p"]
    assert dials(["p", "q"], connected=["a"], dialling=0, static=(), reports=reports, marks=MARKS,
                 awaiting_reports=True) == ["p", "q"]
    assert dials(["s"], connected=["a", "b", "c"], dialling=0, static={"s"}, reports=reports, marks=MARKS,
                 awaiting_reports=True) == ["s"]


def test_static_peers_are_always_dialled():
    """A peer named in the settings is dialled even above the high watermark."""
    full = ["a", "b", "c", "d", "e"]
    assert dials(["s", "x"], connected=full, dialling=0, static={"s"}, reports={}, marks=MARKS) == ["s"]


def test_nothing_is_trimmed_at_or_below_the_high_watermark():
    connected = {p: 0.0 for p in "abcde"}
    reports = {p: set(connected) for p in connected}
    assert trims(connected, now=100, static=(), busy=(), reports=reports, marks=MARKS) == []


def test_above_the_high_watermark_only_the_links_above_it_are_trimmed():
    """Eight links (high 5) that all report each other: three are closed, not
    five down to low. Trimming down to low, a heal of 4 x 5 nodes closed
    about 40 of the 87 links it made again before it ended."""
    connected = {p: 0.0 for p in "abcdefgh"}
    reports = {p: set(connected) - {p} for p in connected}
    closed = trims(connected, now=100, static=(), busy=(), reports=reports, marks=MARKS)
    assert len(closed) == 3


def test_a_peer_with_low_links_or_fewer_is_not_trimmed():
    """Closed, such a peer would dial another at once (it is at or below its
    low watermark): the link would only move, at the price of two handshakes
    and a sync on connect. Peers with links to spare go instead."""
    connected = {p: 0.0 for p in "abcdefg"}  # high 5: two too many
    spare = {p: set(connected) - {p} for p in "abcd"}  # six links each
    short = {p: {"a", "b", "c"} for p in "efg"}  # three links each (low 3)
    reports = {**spare, **short}
    closed = trims(connected, now=100, static=(), busy=(), reports=reports, marks=MARKS)
    assert len(closed) == 2 and set(closed) <= set("abcd")
    assert trims(connected, now=100, static=(), busy=(), reports={**short, **{p: {"e", "f", "g"} for p in "abcd"}},
                 marks=MARKS) == []
    # A peer that never reported has unknown links, not few: it may go (the
    # others still report it, so it is no bridge).
    silent = {p: {"a", "g"} for p in "abcdef"}  # each at two links, one of them g
    closed = trims(connected, now=100, static=(), busy=(), reports=silent, marks=MARKS)
    assert closed == ["g"]


def test_the_last_link_to_an_island_is_never_trimmed():
    """
    me ── a, b, c, d, e (one island, all linked to each other)
     └─── z (only link to the other island: nobody here reports z)
    z stays; and closing a peer never leaves another without a reporter.
    """
    island = "abcde"
    connected = {p: 0.0 for p in island + "z"}
    reports = {p: set(island) - {p} for p in island}
    reports["z"] = {"w1", "w2"}
    closed = trims(connected, now=100, static=(), busy=(), reports=reports, marks=MARKS)
    assert "z" not in closed and len(closed) == 1
    # Two peers only known through each other: at most one of them goes.
    connected = {p: 0.0 for p in "abcdef"}
    reports = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}, "e": {"f"}, "f": {"e"}}
    closed = trims(connected, now=100, static=(), busy=(), reports=reports, marks=MARKS)
    remaining = set(connected) - set(closed)
    assert all(not is_bridge(p, remaining, reports) for p in closed)
    assert all(not is_bridge(p, remaining, reports) or p in remaining for p in connected)


def test_new_busy_and_static_links_are_kept():
    """Within the grace period, in a sync session, or static: not trimmed."""
    connected = {p: 0.0 for p in "abcdefgh"}
    connected["a"] = 95.0  # connected 5 s ago, grace 10 s
    reports = {p: set(connected) - {p} for p in connected}
    closed = trims(connected, now=100, static={"b"}, busy={"c"}, reports=reports, marks=MARKS)
    assert not {"a", "b", "c"} & set(closed) and len(closed) == 3


def _connected_graph(links: dict[int, set[int]]) -> bool:
    seen, todo = {0}, [0]
    while todo:
        for m in links[todo.pop()]:
            if m not in seen:
                seen.add(m)
                todo.append(m)
    return seen == set(links)


def test_a_mesh_trimmed_by_every_node_at_once_is_reconnected_by_its_bridges():
    """Forty nodes, each linked to twelve at random, all trim at once from
    the same reports (so two may drop the links a third relied on). With
    the reports that follow, whatever got cut off is a bridge to someone,
    who dials it: the mesh is connected again, with fewer links."""
    rng = random.Random(5)
    nodes = list(range(40))
    links: dict[int, set[int]] = {n: set() for n in nodes}
    for n in nodes:
        for m in rng.sample([m for m in nodes if m != n], 12):
            links[n].add(m)
            links[m].add(n)
    before = sum(map(len, links.values()))
    marks = Watermarks(low=4, high=6, grace_s=0)
    for _ in range(10):
        closing = {
            n: trims({m: 0.0 for m in links[n]}, now=1, static=(), busy=(), reports=links, marks=marks)
            for n in nodes
        }
        links = {n: {m for m in links[n] if m not in closing[n] and n not in closing[m]} for n in nodes}
        for n in nodes:
            due = [m for m in nodes if m != n and m not in links[n]]
            for m in dials(due, connected=links[n], dialling=0, static=(), reports=links, marks=marks):
                links[n].add(m)
                links[m].add(n)
    assert _connected_graph(links)
    assert sum(map(len, links.values())) < before / 2


def test_a_trimmed_peer_that_came_back_is_not_trimmed_again_for_a_while():
    """Its side wants the link (it names us in its settings, or it is below
    its low watermark): trimming it again would only repeat the handshake
    and the on-connect sync every grace period."""
    from meshpantry.node.connection_target import TRIM_MEMORY_S

    connected = {p: 0.0 for p in "abcdefgh"}
    reports = {p: set(connected) - {p} for p in connected}
    first = trims(connected, now=100, static=(), busy=(), reports=reports, marks=MARKS)
    assert len(first) == 3
    trimmed = dict.fromkeys(first, 100.0)
    back = {p: (200.0 if p in first else 0.0) for p in connected}  # they dialled back
    later = 200 + MARKS.grace_s
    again = trims(back, now=later, static=(), busy=(), reports=reports, marks=MARKS, trimmed=trimmed)
    assert again and not set(again) & set(first)  # the others go
    much_later = 100 + TRIM_MEMORY_S
    assert len(trims(back, now=much_later, static=(), busy=(), reports=reports, marks=MARKS, trimmed=trimmed)) == 3
