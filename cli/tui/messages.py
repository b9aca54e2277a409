"""Messages inside the app: small dataclasses (Textual's ``Message`` sets
itself up in ``__post_init__``, which the dataclass ``__init__`` calls)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message


@dataclass
class NodeEvent(Message):
    """The node pushed an event: ``record`` (a record arrived or was written),
    ``peer`` (a neighbour came or went), ``sync`` (progress with a peer),
    ``island`` (no neighbour reachable, or one is again), ``fork``.

    The events worker posts it; the app handles it in its message loop, so a
    burst of events queues up instead of interrupting whatever is drawing."""

    name: str
    data: Any = field(default=None)
