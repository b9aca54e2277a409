"""Errors of the household's own actions (local errors: our user's input).

Each carries an ``exit_code`` so the command line maps them to distinct exit
statuses, and a message that tells the user what to do next.
"""

from __future__ import annotations


class PantryError(Exception):
    """A household action could not be done; the message says why and what next."""

    exit_code = 1
    code = "error"


class NoIdentity(PantryError):
    exit_code = 3
    code = "no-identity"

    def __init__(self, data_dir: object) -> None:
        super().__init__(
            f"this device has no identity in {data_dir}; run 'meshpantry init' first"
        )


class NoNeighbourhood(PantryError):
    exit_code = 3
    code = "no-neighbourhood"

    def __init__(self) -> None:
        super().__init__(
            "this household is not in a neighbourhood yet; run "
            "'meshpantry neighbourhood create NAME' or 'meshpantry join CODE'"
        )


class AlreadyDone(PantryError):
    exit_code = 6
    code = "already-done"


class UnknownId(PantryError):
    exit_code = 4
    code = "unknown-id"

    def __init__(self, what: str, ref: str) -> None:
        super().__init__(f"no {what} with id {ref!r}; list them with 'meshpantry {what} list'")
        self.what, self.ref = what, ref


class AmbiguousId(PantryError):
    exit_code = 4
    code = "ambiguous-id"

    def __init__(self, what: str, ref: str, count: int) -> None:
        super().__init__(f"{count} {what}s start with {ref!r}; give more characters of the id")
        self.what, self.ref, self.count = what, ref, count


class NotAllowed(PantryError):
    exit_code = 6
    code = "not-allowed"


class InvalidInput(PantryError):
    exit_code = 6
    code = "invalid-input"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


class BadInviteCode(PantryError):
    exit_code = 6
    code = "bad-invite"


class ChainNotRecovered(PantryError):
    exit_code = 6
    code = "chain-not-recovered"

    def __init__(self) -> None:
        super().__init__(
            "this device's key may already have written records that this new store does "
            "not hold; start the node ('meshpantry node') so it can recover its own chain "
            "from neighbours before writing (writing now could fork the chain)"
        )
