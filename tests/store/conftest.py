"""Fixtures of the store tests: real SQLite files in ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshpantry.store import Store
from tests.core.records import TestNeighbourhood


@pytest.fixture
def nb() -> TestNeighbourhood:
    """Elm Street: founder (device 1, household Ada) and Bea (device 2) joined."""
    hood = TestNeighbourhood()
    hood.join(2, name="Bea")
    return hood


@pytest.fixture
def store(tmp_path: Path, nb: TestNeighbourhood):
    """A writer store that knows Elm Street's id and holds nothing yet."""
    with Store.open(tmp_path / "node") as opened:
        opened.set_setting("neighbourhood", nb.id)
        yield opened
