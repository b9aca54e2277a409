"""Sampling profiles of benchmark processes with py-spy (a test extra): each
process and its children, as collapsed stacks a flame-graph tool reads."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path


def spy(pid: int, out: Path, *, rate: int = 100) -> subprocess.Popen:
    """py-spy sampling ``pid`` and its children ``rate`` times a second, its
    collapsed stacks written to ``out`` once stopped (:func:`stop`)."""
    program = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen([program, "record", "--pid", str(pid), "--subprocesses", "--nonblocking",
                             "--rate", str(rate), "--format", "raw", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(spies: list[subprocess.Popen]) -> None:
    """Stop ``spies`` (SIGINT: each writes its profile), killing any that
    has not finished in 30 s."""
    for one in spies:
        one.send_signal(signal.SIGINT)
    for one in spies:
        try:
            one.wait(30)
        except subprocess.TimeoutExpired:
            one.kill()
