"""Command-line tests run ``cli.main.main`` in-process on real data directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from meshpantry.pantry import Pantry


class Household:
    """One household's device: a data directory and a way to run commands in it."""

    def __init__(self, data_dir: Path, capsys: pytest.CaptureFixture) -> None:
        self.data_dir = data_dir
        self.capsys = capsys

    def run(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        try:
            code = main(["--data-dir", str(self.data_dir), *argv])
        except SystemExit as exit_info:  # argparse's own errors and --help
            code = exit_info.code
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *argv: str):
        code, out, err = self.run(*argv, "--json")
        assert code == 0, err
        return json.loads(out)

    def records(self) -> list[bytes]:
        pantry = Pantry.open(self.data_dir)
        try:
            return list(pantry.store.raw_records())
        finally:
            pantry.close()

    def receive(self, raws: list[bytes]) -> None:
        """What sync would do: ingest another device's records."""
        pantry = Pantry.open(self.data_dir)
        try:
            pantry.store.ingest(raws, pantry.clock() + 1)
        finally:
            pantry.close()


def exchange(a: Household, b: Household) -> None:
    ra, rb = a.records(), b.records()
    a.receive(rb)
    b.receive(ra)


@pytest.fixture
def household(tmp_path, capsys):
    def make(name: str) -> Household:
        return Household(tmp_path / name, capsys)

    return make


@pytest.fixture
def founded(household) -> Household:
    okafors = household("okafors")
    assert okafors.run("init", "--household", "The Okafors", "--area", "Elm St north")[0] == 0
    assert okafors.run("neighbourhood", "create", "Elm Street")[0] == 0
    return okafors


@pytest.fixture
def pair(founded, household) -> tuple[Household, Household]:
    """Two households in one neighbourhood, each holding the other's records."""
    zhengs = household("zhengs")
    code = founded.json("invite", "create")["code"]
    assert zhengs.run("init", "--household", "The Zhengs")[0] == 0
    assert zhengs.run("join", code)[0] == 0
    exchange(founded, zhengs)
    return founded, zhengs
