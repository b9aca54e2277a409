"""The events a node pushes to subscribed clients, one type per event.

On the wire an event is ``{"event": name, "data": {field: value}}`` (fields
that are None are left out). :func:`decode_event` builds the type back on the
client, checking every field as requests are checked; an event this client
does not know (from a newer node) decodes to None and is skipped.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from meshpantry.pantry.errors import BadRequest

from .decoding import build
from .frames import Frame, Wire


@dataclass(frozen=True)
class Event:
    """One pushed event; ``name`` is its name on the wire."""

    name: ClassVar[str] = ""


@dataclass(frozen=True)
class RecordEvent(Event):
    """A record was stored: this device's own (``own``) or a neighbour's."""

    name: ClassVar[str] = "record"
    id: str
    kind: str
    author: str
    seq: int
    time: int
    own: bool


@dataclass(frozen=True)
class PeerEvent(Event):
    """A neighbour connected (``up``) or went away; ``banned`` or ``silent``
    say why the node cut it off, when it did."""

    name: ClassVar[str] = "peer"
    peer: str
    up: bool
    banned: str | None = None
    silent: str | None = None


@dataclass(frozen=True)
class IslandEvent(Event):
    """The node became an island (no neighbour reachable) or stopped being one."""

    name: ClassVar[str] = "island"
    island: bool
    connected: int


@dataclass(frozen=True)
class ForkEvent(Event):
    """Forked chains were seen; ``count`` in the last ingest."""

    name: ClassVar[str] = "fork"
    count: int


@dataclass(frozen=True)
class SyncEvent(Event):
    """Progress of a sync session with ``peer``; ``ok``, ``ended`` and the
    record counts are set once it ended. ``ended``: ``done``, ``failed``, or
    neither side's fault: ``gave way`` (this node's session ended unanswered,
    giving way to a session a peer started here; it starts again shortly)
    or ``withdrawn`` (the peer's session, likewise)."""

    name: ClassVar[str] = "sync"
    peer: str
    active: bool
    received: int
    expected: int
    behind: int
    ok: bool | None = None
    ended: str | None = None
    records_in: int | None = None
    records_out: int | None = None


#: Every event type by its name.
EVENTS: dict[str, type[Event]] = {cls.name: cls for cls in (RecordEvent, PeerEvent, IslandEvent, ForkEvent, SyncEvent)}


def encode_event(event: Event) -> Frame:
    data = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    return {"event": event.name, "data": {k: v for k, v in data.items() if v is not None}}


def decode_event(frame: Frame) -> Event | None:
    """The typed event of an event frame; None for an unknown event name.
    Raises :class:`BadRequest` for a known event with bad fields."""
    cls = EVENTS.get(frame.get("event"))  # type: ignore[arg-type]
    if cls is None:
        return None
    data: Wire = frame.get("data")
    if not isinstance(data, dict):
        raise BadRequest(f"event {cls.name}: data must be a map")
    return build(cls, data, f"event {cls.name}")


def event_data(event: Event) -> dict[str, Wire]:
    """The event's fields as a plain map (what the wire carries)."""
    data = encode_event(event)["data"]
    assert isinstance(data, dict)
    return data
