"""Any frame at any point: the session never raises, it goes on or fails
cleanly with an ABORT for the peer."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshpantry.core.sync import Failed, PeerAborted, SyncSession
from protocol import sync as wire
from protocol.errors import RemoteError

from .replicas import Link, Replica, chains
from .test_frames import frames


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 2**32),
    st.integers(0, 8),
    st.sampled_from([0, 1]),
    st.lists(st.one_of(frames, st.binary(min_size=1, max_size=40)), min_size=1, max_size=4),
)
def test_injected_frames_never_escape_as_exceptions(seed, honest_flights, victim, injected):
    rng = random.Random(seed)
    universe = chains(20, 10, rng)
    a = Replica(r for r in universe if rng.random() < 0.7)
    b = Replica(r for r in universe if rng.random() < 0.7)
    link = Link(a, b)
    for flight in range(honest_flights):
        link.deliver(flight % 2)
    session: SyncSession = link.sessions[victim]
    was_finished = session.finished
    sent = bytearray()
    for item in injected:
        data = wire.encode_frame(item) if not isinstance(item, bytes) else item
        session.receive_data(data, 0)
        sent += session.data_to_send()
    failures = [e for e in session.events() if isinstance(e, Failed)]
    assert len(failures) <= 1
    if was_finished:
        assert not failures and not sent
    replies = [wire.decode_frame(body) for body in wire.FrameReader().feed(bytes(sent))]
    for failure in failures:
        assert isinstance(failure.error, RemoteError)
        aborts = [f for f in replies if isinstance(f, wire.Abort)]
        if isinstance(failure.error, PeerAborted):
            assert not aborts  # an ABORT is never answered
        else:
            assert len(aborts) == 1 and replies[-1] == aborts[0]
