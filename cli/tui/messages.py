"""Messages inside the app: small dataclasses (Textual's ``Message`` sets
itself up in ``__post_init__``, which the dataclass ``__init__`` calls)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from meshpantry.control.events import Event


@dataclass
class NodeEvent(Message):
    """The node pushed an event (:mod:`meshpantry.control.events`): a record
    arrived or was written, a neighbour came or went, sync progress with a
    peer, no neighbour reachable (or one is again), forks seen.

    The events worker posts it; the app handles it in its message loop, so a
    burst of events queues up instead of interrupting whatever is drawing."""

    event: Event
