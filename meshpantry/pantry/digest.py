"""A digest of a neighbourhood's state: equal digests mean two nodes show the
same state. Built from the state's views in a canonical order, so it does not
depend on the order records arrived in."""

from __future__ import annotations

import dataclasses
import hashlib
from enum import Enum
from typing import Any

from meshpantry.core.state import NeighbourhoodState


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [_plain(getattr(value, f.name)) for f in dataclasses.fields(value)]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return sorted((_plain(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Exception):
        return [type(value).__name__, str(value)]
    if isinstance(value, bytes):
        return value.hex()
    return value


def state_digest(state: Any) -> str:
    """Hex SHA-256 over every view of ``state`` in canonical order: a
    :class:`NeighbourhoodState`, or a reader of the view tables (anything
    with a ``snapshot()`` giving one)."""
    if not isinstance(state, NeighbourhoodState):
        state = state.snapshot()
    return hashlib.sha256(repr(_plain(state)).encode("utf-8")).hexdigest()
