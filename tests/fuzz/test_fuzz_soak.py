"""``make soak``: coverage-guided fuzzing of the record and sync-frame
decoders, 1,000,000 inputs each, seeded by the committed corpus (the run
checks that libFuzzer read every committed input before it began). A
finding fails the run with libFuzzer's report and the input that caused it
(``crash-<hash>`` in the working directory)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .targets import TARGETS

#: Inputs per decoder: the issue's million for each of the two (11 min for
#: both on a two-core machine at a load average of 6 to 12).
RUNS = 1_000_000
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
    seeded = re.search(r"#(\d+)\s+INITED", report)
    committed = len(list((CORPUS / name).iterdir()))
    print(f"{name}: {runs.group(1) if runs else '?'} inputs, seeded with {seeded.group(1) if seeded else '?'}"
          f" of {committed} committed, corpus {len(list(work.iterdir()))} entries")
    assert done.returncode == 0, report[-4000:]
    assert runs is not None and int(runs.group(1)) >= RUNS
    assert seeded is not None and int(seeded.group(1)) >= committed, "the committed corpus was not read"
