"""Why a sync session failed, each reason its own type carrying its data.

Faults of the peer are :class:`~protocol.errors.RemoteError`; the wire decode
errors of :mod:`protocol.sync` and :mod:`protocol.errors` are reported as they
are. :class:`StoreFailed` is our own side's fault.
"""

from __future__ import annotations

from protocol.errors import RemoteError
from protocol.sync import ABORT_WITHDRAWN


class ProtocolViolation(RemoteError):
    """A well-formed frame that the session rules forbid at this point."""

    def __init__(self, rule: str) -> None:
        super().__init__(f"sync protocol violation: {rule}")
        self.rule = rule


class PeerAborted(RemoteError):
    """The peer ended the session with an ABORT frame."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"peer aborted sync (code {code}): {reason}")
        self.code, self.reason = code, reason

    @property
    def withdrawn(self) -> bool:
        """The peer ended its own session before any answer, giving way to
        another session (ABORT 8): no fault of either side."""
        return self.code == ABORT_WITHDRAWN


class Withdrawn(Exception):
    """This side ended its own session before any answer, for a reason of
    its host's (it gives way to another session): the peer is told with
    ABORT 8. No fault of either side."""


class UnsupportedSyncVersion(RemoteError):
    def __init__(self, version: int) -> None:
        super().__init__(f"sync version {version} is not supported")
        self.version = version


class TooManyRounds(RemoteError):
    def __init__(self, rounds: int, limit: int) -> None:
        super().__init__(f"sync needed {rounds} reconcile rounds, limit {limit}")
        self.rounds, self.limit = rounds, limit


class TooManyRecords(RemoteError):
    def __init__(self, received: int, limit: int) -> None:
        super().__init__(f"peer sent {received} records in one session, limit {limit}")
        self.received, self.limit = received, limit


class Stalled(RemoteError):
    """Nothing arrived from the peer for ``idle_ms``."""

    def __init__(self, idle_ms: int) -> None:
        super().__init__(f"peer sent nothing for {idle_ms} ms")
        self.idle_ms = idle_ms


class SessionTooLong(RemoteError):
    """The session outlived its deadline while the peer kept it going (for
    example a byte now and then, each just before the silence deadline)."""

    def __init__(self, elapsed_ms: int, limit_ms: int) -> None:
        super().__init__(f"sync session still running after {elapsed_ms} ms, limit {limit_ms} ms")
        self.elapsed_ms, self.limit_ms = elapsed_ms, limit_ms


class FrameTooSlow(RemoteError):
    """A frame began arriving ``elapsed_ms`` ago and is still not whole
    (``buffered`` bytes of it came, in ``arrivals`` separate reads).
    :attr:`trickled` tells a peer feeding it a little at a time, to hold the
    session open, from a link that died in the middle of a frame."""

    def __init__(self, elapsed_ms: int, buffered: int, arrivals: int, trickle_bytes_per_s: int) -> None:
        super().__init__(f"a sync frame begun {elapsed_ms} ms ago is not whole "
                         f"({buffered} bytes in {arrivals} pieces)")
        self.elapsed_ms, self.buffered, self.arrivals = elapsed_ms, buffered, arrivals
        self.trickled = arrivals >= 3 and buffered * 1000 < trickle_bytes_per_s * max(1, elapsed_ms)


class ConnectionLost(RemoteError):
    """The stream ended before the session was done."""

    def __init__(self, buffered: int) -> None:
        super().__init__(f"stream closed before the session ended ({buffered} bytes of a frame buffered)")
        self.buffered = buffered


class StoreFailed(Exception):
    """Our own item source raised; the peer is not at fault."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"local store failed during sync: {cause!r}")
        self.cause = cause
