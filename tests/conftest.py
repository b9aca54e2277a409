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
