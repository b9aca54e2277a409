"""Households: who lives in the neighbourhood, by name, area and devices.

Rules:

* A household's id is the key of its first device (the founder's or the
  joiner's); linked devices belong to the household of the device that
  linked them (:mod:`meshpantry.core.membership`).
* Any device of a household may publish its ``household`` profile; ``name``,
  ``area`` and ``note`` are last-writer-wins per field by (lamport, author,
  record id). A household that has published no profile has ``name`` None.
* ``revoked_devices`` are devices an admin revoked (their later records do not
  count); the household is ``revoked`` when all its devices are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocol import Record

from .membership import Roster

PROFILE_FIELDS = ("name", "area", "note")


@dataclass(frozen=True, slots=True)
class HouseholdView:
    id: bytes
    name: str | None
    area: str | None
    note: str | None
    devices: tuple[bytes, ...]  #: in the order they were admitted
    revoked_devices: tuple[bytes, ...]
    founding: bool  #: the household that founded the neighbourhood (its devices are admins)

    @property
    def revoked(self) -> bool:
        return len(self.revoked_devices) == len(self.devices)

    def label(self) -> str:
        """The name, or a short form of the id for a household without a profile."""
        return self.name if self.name is not None else self.id.hex()[:8]


class HouseholdFold:
    """Accumulates ``household`` profile records in (lamport, id) order."""

    def __init__(self) -> None:
        self._fields: dict[bytes, dict[str, Any]] = {}
        self._stamps: dict[bytes, dict[str, tuple]] = {}

    def household(self, record: Record, household: bytes) -> None:
        fields = self._fields.setdefault(household, dict.fromkeys(PROFILE_FIELDS))
        stamps = self._stamps.setdefault(household, {})
        stamp = (record.lamport, record.author, record.id)
        for name in PROFILE_FIELDS:
            if name in record.body and stamp > stamps.get(name, ()):
                fields[name], stamps[name] = record.body[name], stamp

    def finish(self, roster: Roster) -> dict[bytes, HouseholdView]:
        """Return household views keyed by id, in the order households joined."""
        devices: dict[bytes, list[bytes]] = {}
        for device, household in roster.households.items():
            devices.setdefault(household, []).append(device)
        views = {}
        for household, keys in devices.items():
            fields = self._fields.get(household, dict.fromkeys(PROFILE_FIELDS))
            views[household] = HouseholdView(
                id=household,
                name=fields["name"],
                area=fields["area"],
                note=fields["note"],
                devices=tuple(keys),
                revoked_devices=tuple(k for k in keys if k in roster.revoked),
                founding=household == roster.founder,
            )
        return views
