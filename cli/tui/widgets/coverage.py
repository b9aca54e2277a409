"""Coverage bars for meals: how much of a need is pledged, in text."""

from __future__ import annotations

from rich.text import Text

#: Ten cells: each is 10 %, fine enough to see a gap at a glance in 80 columns.
BAR_CELLS = 10


def coverage_bar(part: int, whole: int, cells: int = BAR_CELLS) -> Text:
    """``███████░░░ 70%``: ``part`` of ``whole`` (capped at 100 %), green when full."""
    percent = 100 if whole <= 0 else min(100, (100 * max(part, 0)) // whole)
    filled = (percent * cells) // 100
    style = "green" if percent >= 100 else ("dark_orange" if percent < 50 else "yellow4")
    text = Text()
    text.append("█" * filled, style=style)
    text.append("░" * (cells - filled), style="grey50")
    text.append(f" {percent:3d}%")
    return text
