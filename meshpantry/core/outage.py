"""The outage clock: since when this household has been an island.

Rules, fed by the node's peer watch (``now`` in ms, whether any member is
reachable) through :meth:`OutageClock.observe`:

1. While a member is reachable there is no outage. ``alone_since`` is None.
2. The first moment no member is reachable is ``alone_since``.
3. Once no member has been reachable for ``after_ms``, the outage **began**
   at ``alone_since`` (the last moment anyone was in reach, not the moment it
   was noticed). ``began`` is kept (the node persists it), so a restart in the
   dark still knows when the island began.
4. When a member is reachable again, the outage **ended** at that moment;
   ``began`` stays, so what arrived while apart can be summarised
   (:func:`arrived_while_apart`), until the next outage begins.

The clock is a value: ``observe`` returns the next clock and never reads
time itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace

from protocol import Record

#: Default time with no member in reach before it counts as an outage: long
#: enough that a router's restart or a walk out of Wi-Fi range is no outage,
#: short enough that the clock starts within the hour the power went.
OUTAGE_AFTER_MS = 15 * 60 * 1000

HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class OutageClock:
    alone_since: int | None = None  #: first moment with no member in reach (in memory)
    began: int | None = None  #: when the latest outage began (persisted)
    ended: int | None = None  #: when it ended; None while it lasts (persisted)

    @property
    def in_outage(self) -> bool:
        return self.began is not None and self.ended is None

    def observe(self, now: int, reachable: bool, after_ms: int = OUTAGE_AFTER_MS) -> "OutageClock":
        """The clock after seeing, at ``now``, whether any member is reachable."""
        if reachable:
            if self.in_outage:
                return replace(self, alone_since=None, ended=now)
            return self if self.alone_since is None else replace(self, alone_since=None)
        alone = now if self.alone_since is None else self.alone_since
        if not self.in_outage and now - alone >= after_ms:
            return OutageClock(alone_since=alone, began=alone, ended=None)
        return self if alone == self.alone_since else replace(self, alone_since=alone)


def hours_since(began: int | None, now: int) -> float | None:
    """Hours from ``began`` to ``now``, one decimal; None without an outage."""
    if began is None:
        return None
    return round(max(0, now - began) / HOUR_MS, 1)


def perishable(offer: dict) -> bool:
    """An offer whose food spoils: it has a best-before, or says so in a tag.
    Beside these the board shows how long the power has been out."""
    tags = {t.casefold() for t in offer.get("tags") or ()}
    return offer.get("best_before") is not None or bool(tags & {"perishable", "chilled", "frozen", "fresh"})


#: What the catch-up summary counts, by record kind.
SUMMARY_KINDS = {
    "offer": "offers",
    "claim": "claims",
    "claim_decision": "claims_decided",
    "handover": "handovers",
    "meal": "meals",
    "recipe": "recipes",
    "recipe_edit": "recipe_edits",
    "story": "stories",
    "join": "households_joined",
}


def arrived_while_apart(records: Iterable[Record], own_devices: Collection[bytes]) -> dict[str, int]:
    """Counts of what the rest of the neighbourhood wrote that reached this
    device after an outage: ``records`` are those logged since it ended;
    this household's own (from another of its devices) are not news."""
    counts: Counter[str] = Counter()
    for record in records:
        if record.author in own_devices:
            continue
        counts[SUMMARY_KINDS.get(record.kind, "other")] += 1
    counts["total"] = sum(counts.values())
    return dict(sorted(counts.items()))
