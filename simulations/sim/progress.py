"""A progress bar on stderr while a run goes: virtual time done, wall time.

Quiet when stderr is not a terminal or when asked to be; redraws at most a few
times a second so that drawing never costs the run anything noticeable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

#: Seconds between redraws: smooth to the eye, invisible in the run's cost.
REDRAW_S = 0.2
WIDTH = 32


class ProgressBar:
    def __init__(self, label: str, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = not quiet and self.stream.isatty()
        self.label = label
        self.started = time.monotonic()
        self._drawn = 0.0

    def update(self, done_ms: int, total_ms: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._drawn < REDRAW_S and done_ms < total_ms:
            return
        self._drawn = now
        fraction = min(1.0, done_ms / total_ms) if total_ms else 1.0
        filled = int(fraction * WIDTH)
        bar = "#" * filled + "-" * (WIDTH - filled)
        self.stream.write(
            f"\r{self.label} [{bar}] {fraction:4.0%}  virtual {done_ms / 1000:7.1f} s"
            f"  wall {now - self.started:6.1f} s"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
