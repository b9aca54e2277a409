"""Errors of the household's own actions (local errors: our user's input).

Each carries an ``exit_code`` from :class:`meshpantry.exit_codes.ExitCode` so
the command line maps them to distinct exit statuses, a ``code`` that names it
in control-socket replies, and a message that tells the user what to do next.
"""

from __future__ import annotations

from pathlib import Path

from meshpantry.exit_codes import ExitCode


class PantryError(Exception):
    """A household action could not be done; the message says why and what next."""

    exit_code = ExitCode.FAILED
    code = "error"


class NoIdentity(PantryError):
    exit_code = ExitCode.NO_IDENTITY
    code = "no-identity"

    def __init__(self, data_dir: object) -> None:
        super().__init__(
            f"this device has no identity in {data_dir}; run 'meshpantry init' first"
        )


class NoNeighbourhood(PantryError):
    exit_code = ExitCode.NO_IDENTITY
    code = "no-neighbourhood"

    def __init__(self) -> None:
        super().__init__(
            "this household is not in a neighbourhood yet; run "
            "'meshpantry neighbourhood create NAME' or 'meshpantry join CODE'"
        )


class AlreadyDone(PantryError):
    exit_code = ExitCode.REFUSED
    code = "already-done"


class UnknownId(PantryError):
    exit_code = ExitCode.UNKNOWN_ID
    code = "unknown-id"

    def __init__(self, what: str, ref: str) -> None:
        listing = LISTINGS.get(what)
        hint = f"; list them with '{listing}'" if listing else ""
        super().__init__(f"no {what} with id {ref!r}{hint}")
        self.what, self.ref = what, ref


#: The command that lists each kind of thing an id names (only commands that exist).
LISTINGS = {
    "household": "meshpantry neighbourhood show",
    "device": "meshpantry neighbourhood show",
    "member": "meshpantry neighbourhood show",
    "invite": "meshpantry invite list",
    "offer": "meshpantry offer list",
    "claim": "meshpantry claim list",
    "meal": "meshpantry meal list",
    "recipe": "meshpantry recipe list",
    "record": "meshpantry log",
}


class AmbiguousId(PantryError):
    exit_code = ExitCode.UNKNOWN_ID
    code = "ambiguous-id"

    def __init__(self, what: str, ref: str, count: int) -> None:
        super().__init__(f"{count} {what}s start with {ref!r}; give more characters of the id")
        self.what, self.ref, self.count = what, ref, count


class NotAllowed(PantryError):
    exit_code = ExitCode.REFUSED
    code = "not-allowed"


class InvalidInput(PantryError):
    exit_code = ExitCode.REFUSED
    code = "invalid-input"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


class BadInviteCode(PantryError):
    exit_code = ExitCode.REFUSED
    code = "bad-invite"


class ChainNotRecovered(PantryError):
    exit_code = ExitCode.REFUSED
    code = "chain-not-recovered"

    def __init__(self) -> None:
        super().__init__(
            "this device's key may already have written records that this new store does "
            "not hold; start the node ('meshpantry node') so it can recover its own chain "
            "from neighbours before writing (writing now could fork the chain)"
        )


class PassphraseUnreadable(PantryError):
    exit_code = ExitCode.FAILED
    code = "passphrase-unreadable"

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot read the passphrase file {path}: {reason}")
        self.path, self.reason = path, reason


class ReplyTooLarge(PantryError):
    """An answer would not fit in one control-socket reply."""

    exit_code = ExitCode.REFUSED
    code = "reply-too-large"

    def __init__(self, op: str, size: int, limit: int) -> None:
        super().__init__(
            f"the answer to {op} would be {size:,} bytes, more than one reply carries "
            f"({limit:,}); ask for less: a smaller --limit, or page on with --after"
        )
        self.op, self.size, self.limit = op, size, limit


class BadRequest(PantryError):
    """A control request does not fit its op: unknown op, or arguments that
    cannot build the op's request."""

    exit_code = ExitCode.USAGE
    code = "bad-request"


class UnknownOp(BadRequest):
    code = "unknown-op"

    def __init__(self, op: object) -> None:
        super().__init__(f"the node does not know the request {op!r}")
        self.op = op


class WillNotCount(PantryError):
    """The record this device would write could never count in the
    neighbourhood; ``reason`` is the rule every node would apply to it
    (:func:`meshpantry.core.standing.next_write_refused`)."""

    exit_code = ExitCode.REFUSED
    code = "will-not-count"

    def __init__(self, reason: Exception) -> None:
        super().__init__(f"not written, the neighbourhood would not count it: {standing_advice(reason)}")
        self.reason = reason


def standing_advice(reason: Exception) -> str:
    """Why this device's records do not count, and what the household can do."""
    from meshpantry.core.validation import ForkDetected, Revoked

    if isinstance(reason, ForkDetected):
        return (
            f"this device's chain has forked (its key signed two different records at seq "
            f"{reason.seq}, as when a data directory is copied or a backup restored and both "
            "write), so nothing it writes from there on counts. Give this device a new identity "
            "('meshpantry init' in a new data directory) and link it from another device of your "
            "household ('meshpantry device link KEY')"
        )
    if isinstance(reason, Revoked):
        return (
            f"this device was revoked by the neighbourhood's admins; its records after seq "
            f"{reason.after_seq} do not count. Ask an admin: only they can let your household "
            "back in, with a new invite for a new device"
        )
    return (
        f"this household's join did not count ({reason}): another household used the invite "
        "first, or it had expired. Ask a member for a new invite and run 'meshpantry join NEWCODE'"
    )
