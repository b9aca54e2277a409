"""Messages the screens send to the app: small dataclasses.

Textual messages need ``Message.__init__`` to run, so each dataclass calls it
in ``__post_init__``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message


@dataclass
class Act(Message):
    """A screen asks the app to call ``op`` on the node with ``args``.

    The app reports the result or the error as a notification and then
    refreshes; ``done`` names what to say on success."""

    op: str
    args: dict[str, Any] = field(default_factory=dict)
    done: str = "done"

    def __post_init__(self) -> None:
        Message.__init__(self)


@dataclass
class Reload(Message):
    """A screen's view went stale (its filter or sort changed)."""

    def __post_init__(self) -> None:
        Message.__init__(self)
