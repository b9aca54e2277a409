"""How the UI writes times and amounts: short, relative to the reader's clock.

Relative times ("in 3h", "2d ago") read at a glance on a board and do not
depend on the time zone, which keeps screenshots stable.
"""

from __future__ import annotations

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS


def span(ms: int) -> str:
    """A duration in ms as the largest one or two units: ``45m``, ``3h``, ``2d 4h``."""
    ms = abs(ms)
    if ms < HOUR_MS:
        return f"{max(ms // MINUTE_MS, 0)}m"
    if ms < DAY_MS:
        hours, rest = divmod(ms, HOUR_MS)
        minutes = rest // MINUTE_MS
        return f"{hours}h" if hours >= 6 or not minutes else f"{hours}h{minutes:02d}"
    days, rest = divmod(ms, DAY_MS)
    hours = rest // HOUR_MS
    return f"{days}d" if days >= 7 or not hours else f"{days}d {hours}h"


def relative(moment: int | None, now: int) -> str:
    """``moment`` (ms) seen from ``now``: ``in 3h``, ``2d ago``, ``now`` or ``-``."""
    if moment is None:
        return "-"
    delta = moment - now
    if abs(delta) < MINUTE_MS:
        return "now"
    return f"in {span(delta)}" if delta > 0 else f"{span(delta)} ago"


def amount(quantity: int | None, unit: str | None) -> str:
    """``3 kg``; units that are counts read naturally: ``6 jar``."""
    if quantity is None:
        return "-"
    return f"{quantity} {unit or ''}".strip()


def short_id(value: str | None) -> str:
    return (value or "")[:8]


def labels(values: list[str] | None) -> str:
    return ", ".join(values or [])


def split_labels(text: str) -> list[str]:
    """``"veg, Fresh ,"`` -> ``["veg", "fresh"]``: comma or space separated, lowercased."""
    parts = text.replace(",", " ").split()
    return sorted({p.strip().lower() for p in parts if p.strip()})
