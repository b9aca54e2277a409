"""next_write_refused: the record a device writes next counts unless its
chain forked, it was revoked below that seq, or (no member) its joins were
all rejected."""

from meshpantry.core.membership import Roster
from meshpantry.core.standing import next_write_refused
from meshpantry.core.validation import ForkDetected, InviteExhausted, Revoked

ME, OTHER, INVITE = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32


def roster(households=None, revoked=None) -> Roster:
    return Roster(
        neighbourhood=b"\x09" * 32, founder=OTHER, households=households or {OTHER: OTHER},
        admins=frozenset({OTHER}), revoked=revoked or {}, pending={}, waiting={}, rejected={},
        counted=frozenset(),
    )


def test_a_member_writes():
    assert next_write_refused(ME, 5, roster({OTHER: OTHER, ME: ME}), (), ()) is None


def test_a_fork_of_the_device_refuses_and_another_authors_fork_does_not():
    fork = ForkDetected(ME, 3, (b"a" * 32, b"b" * 32))
    assert next_write_refused(ME, 5, roster({ME: ME}), [fork], ()) == fork
    assert next_write_refused(OTHER, 5, roster(), [fork], ()) is None


def test_revocation_refuses_past_its_seq_only():
    members = {OTHER: OTHER, ME: ME}
    assert next_write_refused(ME, 5, roster(members, {ME: 4}), (), ()) == Revoked(ME, 4, 5)
    assert next_write_refused(ME, 4, roster(members, {ME: 4}), (), ()) is None


def test_a_rejected_join_refuses_unless_another_join_waits_or_counts():
    lost = InviteExhausted(INVITE, 1)
    assert next_write_refused(ME, 3, roster(), (), [lost]) == lost
    assert next_write_refused(ME, 4, roster(), (), [lost, INVITE]) is None
    assert next_write_refused(ME, 2, roster(), (), []) is None  # a linked device waiting for its link
