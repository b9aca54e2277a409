"""``make soak``: coverage-guided fuzzing of the record and sync-frame
decoders, 500,000 inputs each (1,000,000 in all), seeded by the committed
corpus. A finding fails the run with libFuzzer's report and the input that
caused it (``crash-<hash>`` in the working directory)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .targets import TARGETS

#: Inputs per decoder: 2 x 500,000 is the soak's million.
RUNS = 500_000
#: Longest input tried: past a few frames or records, longer inputs only
#: repeat structure the fuzzer already reached, at a slower rate.
MAX_LEN = 8192

ROOT = Path(__file__).resolve().parent.parent.parent
CORPUS = Path(__file__).parent / "corpus"

#: A run takes one to ten minutes on a loaded two-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


@pytest.mark.parametrize("name", TARGETS)
def test_fuzz(name, tmp_path):
    pytest.importorskip("atheris")
    work = tmp_path / "corpus"
    shutil.copytree(CORPUS / name, work)  # new inputs go to a copy, not the committed corpus
    done = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run", name, f"-runs={RUNS}", f"-max_len={MAX_LEN}",
         "-print_final_stats=1", str(work)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=3600,
    )
    report = done.stderr
    runs = re.search(r"stat::number_of_executed_units:\s+(\d+)", report)
    print(f"{name}: {runs.group(1) if runs else '?'} inputs, corpus {len(list(work.iterdir()))} entries")
    assert done.returncode == 0, report[-4000:]
    assert runs is not None and int(runs.group(1)) >= RUNS
