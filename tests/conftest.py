"""Settings for the whole test suite."""

import os

import pytest

# The terminal UI's tab underline slides into place; a snapshot taken while it
# moves differs from one taken after. Tests draw every frame at rest.
os.environ["TEXTUAL_ANIMATIONS"] = "none"

# Nothing a test starts may leave loopback: every node of this process and of
# its children (node processes, the demo, drills) runs in loopback mode and
# refuses any address outside 127.0.0.0/8. Set at import, before any fixture
# of any scope starts a process, and again around every test.
os.environ["MESHPANTRY_NETWORK"] = "loopback"


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Every test, and every process it starts, runs with MESHPANTRY_NETWORK=loopback."""
    monkeypatch.setenv("MESHPANTRY_NETWORK", "loopback")


def pytest_configure(config):
    """One report file per run for the attack suite's closing table
    (tests/attacks/report.py); xdist workers inherit its name."""
    import tempfile

    if "MESHPANTRY_ATTACKS_REPORT" not in os.environ:
        handle, path = tempfile.mkstemp(prefix="meshpantry-attacks-", suffix=".jsonl")
        os.close(handle)
        os.environ["MESHPANTRY_ATTACKS_REPORT"] = path
        config._attacks_report = path


def pytest_terminal_summary(terminalreporter, config):
    """The attack suite's table: each attack, what the node did, the numbers."""
    path = getattr(config, "_attacks_report", None)
    if not path:
        return
    from tests.attacks.report import load, table

    rows = load(path)
    os.unlink(path)
    if rows:
        terminalreporter.write_sep("=", "attacks: what the node did")
        terminalreporter.write_line(table(rows))
