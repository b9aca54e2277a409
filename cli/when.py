"""Times as people type them: ``2026-11-26``, ``2026-11-26 18:00``, ``18:00``,
``today 18:00``, ``tomorrow``, ``+2h``, ``+3d``, ``+45m``. Local time zone.

Returns milliseconds since the Unix epoch, the unit records carry."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

_RELATIVE = re.compile(r"^\+(\d{1,6})([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class BadTime(ValueError):
    pass


def parse_when(text: str, now: datetime | None = None) -> int:
    """Parse ``text`` relative to ``now`` (local time). Raises :class:`BadTime`."""
    now = now or datetime.now().astimezone()
    text = text.strip().lower()
    match = _RELATIVE.match(text)
    if match:
        try:
            moment = now + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        except OverflowError:  # past the year 9999
            raise BadTime(f"{text!r} is too far ahead; give a date before the year 9999") from None
        return int(moment.timestamp() * 1000)
    day = now.date()
    parts = text.split()
    if parts and parts[0] in ("today", "tomorrow"):
        if parts[0] == "tomorrow":
            day = day + timedelta(days=1)
        rest = " ".join(parts[1:]) or "23:59"
        text = f"{day.isoformat()} {rest}"
    elif re.fullmatch(r"\d{1,2}:\d{2}", text):
        text = f"{day.isoformat()} {text}"
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            moment = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if fmt == "%Y-%m-%d":
            moment = moment.replace(hour=23, minute=59)
        return int(moment.astimezone().timestamp() * 1000)
    raise BadTime(
        f"cannot read the time {text!r}; use e.g. 2026-11-26, '2026-11-26 18:00', "
        "'tomorrow 18:00', 18:00, +2h or +3d"
    )


def show_time(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M")
