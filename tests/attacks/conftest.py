"""The attack suite's fixtures: three honest node processes per module; each
attack's outcome is written to the run's report file once its test is over
(``tests/conftest.py`` prints the table at the end of the run, also under
xdist, where the attacks run in worker processes)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import msgpack
import pytest

from .harness import CURRENT, RESULTS, Neighbourhood, attacker_env, start_honest, stop_all
from .report import save


@pytest.fixture(scope="module")
def hood(tmp_path_factory) -> Neighbourhood:
    neighbourhood = start_honest(tmp_path_factory.mktemp("attacks"))
    yield neighbourhood
    stop_all(neighbourhood.nodes)


def run_peer(mode: str, target: str, seed: bytes, *args: str, payload=None, tmp: Path | None = None,
             timeout: float = 90, sample=None) -> list[str]:
    """Run :mod:`tests.attacks.peer`; ``payload`` is written to a msgpack
    file passed as the last argument; ``sample`` is called every 0.1 s while
    it runs (the target's RSS). Returns its output lines."""
    argv = [sys.executable, "-m", "tests.attacks.peer", mode, target, seed.hex(), *args]
    if payload is not None:
        assert tmp is not None
        path = tmp / f"payload-{mode}.msgpack"
        path.write_bytes(msgpack.packb(payload))
        argv.append(str(path))
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=attacker_env(),
                          cwd=Path(__file__).resolve().parents[2]) as process:
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            if sample is not None:
                sample()
            if time.monotonic() > deadline:
                process.kill()
            time.sleep(0.1)
        stdout, stderr = process.communicate()
    assert process.returncode == 0, stderr[-3000:]
    return stdout.splitlines()


@pytest.fixture
def peer(tmp_path):
    def run(mode: str, target: str, seed: bytes, *args: str, payload=None, timeout: float = 90,
            sample=None) -> list[str]:
        return run_peer(mode, target, seed, *args, payload=payload, tmp=tmp_path, timeout=timeout, sample=sample)
    return run


@pytest.fixture(autouse=True)
def _name_the_outcome(request):
    CURRENT["test"] = request.node.nodeid
    yield
    CURRENT["test"] = ""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if report.when != "call":
        return
    for outcome in RESULTS:
        if outcome.test == item.nodeid:
            if hasattr(report, "wasxfail"):
                reason = report.wasxfail
                branch = reason.split("branch ", 1)[1].split(" ", 1)[0] if "branch " in reason else "open"
                outcome.status = f"xfail ({branch})" if report.skipped else f"XPASS ({branch})"
            elif report.failed and outcome.status == "ok":
                outcome.status = "failed"
            save(outcome)
