"""Progress on stderr while a run goes: virtual time done, wall time.

On a terminal, a bar redrawn in place at most a few times a second, so that
drawing never costs the run anything noticeable. Anywhere else (a pipe, a CI
log) a plain line when the run starts and at every tenth of its virtual time,
so a long single run is never silent until it ends. Nothing when asked to be
quiet.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

#: Seconds between redraws: smooth to the eye, invisible in the run's cost.
REDRAW_S = 0.2
WIDTH = 32
#: Off a terminal, one line per this fraction of the run.
LINE_STEP = 0.1


class ProgressBar:
    def __init__(self, label: str, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.terminal = self.stream.isatty()
        self.label = label
        self.started = time.monotonic()
        self._drawn = 0.0
        self._next_line = 0.0
        if not quiet:
            self.stream.write(f"{label}: starting\n" if not self.terminal else f"{label} setting up…")
            self.stream.flush()

    @property
    def enabled(self) -> bool:
        return not self.quiet

    def update(self, done_ms: int, total_ms: int) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        fraction = min(1.0, done_ms / total_ms) if total_ms else 1.0
        figures = f"virtual {done_ms / 1000:7.1f} s  wall {now - self.started:6.1f} s"
        if not self.terminal:
            if fraction + 1e-9 >= self._next_line:
                self.stream.write(f"{self.label}: {fraction:4.0%}  {figures}\n")
                self.stream.flush()
                self._next_line = (int(fraction / LINE_STEP + 1e-9) + 1) * LINE_STEP
            return
        if now - self._drawn < REDRAW_S and done_ms < total_ms:
            return
        self._drawn = now
        filled = int(fraction * WIDTH)
        bar = "#" * filled + "-" * (WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {fraction:4.0%}  {figures}")
        self.stream.flush()

    def close(self) -> None:
        if not self.quiet and self.terminal:
            self.stream.write("\n")
            self.stream.flush()


class PhaseLog:
    """One line per phase of a long run (a drill): what starts, and when."""

    def __init__(self, label: str, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.quiet, self.label = quiet, label
        self.started = time.monotonic()

    def __call__(self, phase: str) -> None:
        if not self.quiet:
            self.stream.write(f"{self.label} {time.monotonic() - self.started:6.1f} s: {phase}\n")
            self.stream.flush()
