"""Sneakernet bundles on the command line: records carried between islands
that no radio reaches, and damaged bundles refused whole."""

from __future__ import annotations

import pytest

from meshpantry.core import bundle as core
from meshpantry.pantry import Pantry
from meshpantry.pantry.digest import state_digest
from tests.cli.conftest import exchange


def held(h) -> set[bytes]:
    pantry = Pantry.open(h.data_dir)
    try:
        return {rid for chain in pantry.store.chains().values() for _, rid in chain}
    finally:
        pantry.close()


def digest(h) -> str:
    pantry = Pantry.open(h.data_dir)
    try:
        return state_digest(pantry.state())
    finally:
        pantry.close()


@pytest.fixture
def three(founded, household):
    """Three households that met before the outage (each holds every
    membership record), now three islands that no radio reaches."""
    others = []
    for name in ("zhengs", "deLucas"):
        h = household(name)
        code = founded.json("invite", "create")["code"]
        assert h.run("init", "--household", name)[0] == 0
        assert h.run("join", code)[0] == 0
        exchange(founded, h)
        others.append(h)
    exchange(others[0], others[1])
    exchange(founded, others[0])
    return founded, others[0], others[1]


def test_three_islands_end_identical_by_bundles_alone(three, tmp_path):
    """
    A --b1--> B --b2--> C          (a courier walks the street one way)
    C --b3 (--for b2)--> B --b4 (--for b1)--> A     (and back)
    Every household then holds the same records and sees the same state.
    """
    a, b, c = three
    for h, item in ((a, "tomatoes"), (b, "rice"), (c, "flour")):
        assert h.run("offer", "add", item, "500", "g")[0] == 0
    assert c.run("recipe", "add", "Candle-light flatbread", "--ingredient", "2 cup flour",
                 "--tag", "born in the outage")[0] == 0
    f = {name: str(tmp_path / f"{name}.mpb") for name in ("b1", "b2", "b3", "b4")}
    assert a.json("bundle", "export", f["b1"])["records"] == len(held(a))
    assert b.json("bundle", "import", f["b1"])["new"] == 1
    assert b.json("bundle", "export", f["b2"])["records"] == len(held(b))
    assert c.json("bundle", "import", f["b2"])["new"] == 2
    back = c.json("bundle", "export", f["b3"], "--for", f["b2"])
    assert back["records"] == len(held(c) - held(b)) == 2 and back["unproven"] == 0
    assert b.json("bundle", "import", f["b3"])["new"] == 2
    answer = b.json("bundle", "export", f["b4"], "--for", f["b1"])
    assert answer["records"] == len(held(b) - held(a)) == 3
    assert a.json("bundle", "import", f["b4"])["new_by_kind"] == {"offer": 2, "recipe": 1}
    assert held(a) == held(b) == held(c)
    assert digest(a) == digest(b) == digest(c)


def test_a_return_bundle_holds_nothing_when_nothing_is_lacking(pair, tmp_path):
    a, b = pair
    a.run("bundle", "export", str(tmp_path / "x"))
    result = b.json("bundle", "export", str(tmp_path / "y"), "--for", str(tmp_path / "x"))
    assert result["records"] == 0 and result["answers"]


def test_since_carries_only_recent_records(pair, tmp_path):
    a, _ = pair
    assert a.run("offer", "add", "eggs", "6", "pc")[0] == 0
    everything = a.json("bundle", "export", str(tmp_path / "all"))["records"]
    recent = a.json("bundle", "export", str(tmp_path / "new"), "--since", "1h")["records"]
    future = a.json("bundle", "export", str(tmp_path / "none"), "--since", "2099-01-01")["records"]
    assert everything > 1 and recent == everything and future == 0


@pytest.fixture
def carried(pair, tmp_path):
    """A bundle from the Okafors with one record the Zhengs lack."""
    a, b = pair
    assert a.run("offer", "add", "leeks", "4", "pc")[0] == 0
    path = tmp_path / "carried.mpb"
    a.run("bundle", "export", str(path), "--since", "1h")
    return a, b, path


def refused(b, path, *needles):
    before = held(b)
    code, _, err = b.run("bundle", "import", str(path))
    assert code == 6, err
    for needle in needles:
        assert needle in err
    assert held(b) == before  # nothing of it applied
    return err


def test_a_truncated_bundle_is_refused_and_nothing_applied(carried):
    _, b, path = carried
    path.write_bytes(path.read_bytes()[:-30])
    refused(b, path, "truncated")


def test_a_corrupt_bundle_is_refused_and_nothing_applied(carried):
    _, b, path = carried
    data = bytearray(path.read_bytes())
    data[-40] ^= 0xFF
    path.write_bytes(bytes(data))
    refused(b, path, "corrupt", "digest")


def test_a_forged_record_refuses_the_whole_bundle(carried, tmp_path):
    """A validly signed manifest around one record with a forged signature:
    the good records of the bundle are not applied either."""
    a, b, path = carried
    good = core.decode_bundle(path.read_bytes())
    pantry = Pantry.open(a.data_dir)
    try:
        raws = [r for r in pantry.store.raw_records()]
        victim = bytearray(raws[-1])
        victim[-1] ^= 0x01  # the signature's last byte
        forged = core.encode_bundle(
            pantry.key.secret, neighbourhood=pantry.neighbourhood, created=0,
            raws=[*good.raws, bytes(victim)], summary=good.manifest.summary,
        )
    finally:
        pantry.close()
    path.write_bytes(forged)
    refused(b, path, "was refused", "nothing of the bundle was applied")


def test_a_bundle_signed_by_a_stranger_is_refused(carried, household, tmp_path):
    _, b, path = carried
    stranger = household("stranger")
    stranger.run("init", "--household", "Stranger")
    good = core.decode_bundle(path.read_bytes())
    pantry = Pantry.open(stranger.data_dir)
    try:
        data = core.encode_bundle(pantry.key.secret, neighbourhood=good.manifest.neighbourhood,
                                  created=0, raws=good.raws, summary=())
    finally:
        pantry.close()
    path.write_bytes(data)
    refused(b, path, "no member")


def test_a_bundle_from_another_neighbourhood_is_refused(carried, household, tmp_path):
    _, b, path = carried
    other = household("elsewhere")
    other.run("init", "--household", "Elsewhere")
    other.run("neighbourhood", "create", "Oak Road")
    out = tmp_path / "oak.mpb"
    assert other.run("bundle", "export", str(out))[0] == 0
    refused(b, out, "another neighbourhood")


def test_a_file_that_is_not_a_bundle_is_named(carried, tmp_path):
    _, b, _ = carried
    path = tmp_path / "notes.txt"
    path.write_text("shopping list")
    refused(b, path, "not a meshpantry bundle")


class Terminal:
    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, s):
        self.text += s

    def flush(self):
        pass


def test_progress_shows_on_a_terminal_only_for_large_bundles(monkeypatch):
    from cli.commands_outage import Meter

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    meter = Meter("importing")
    meter(2000, 4000)
    meter(4000, 4000)
    meter.done()
    assert "importing: 2000/4000 records (50%)" in terminal.text and terminal.text.endswith("(100%)\n")
    small = Meter("importing")
    small(10, 10)
    small.done()
    assert terminal.text.count("importing") == 2  # a small bundle shows nothing
    piped = Terminal()
    piped.isatty = lambda: False
    monkeypatch.setattr("sys.stderr", piped)
    quiet = Meter("importing")
    quiet(2000, 4000)
    quiet.done()
    assert piped.text == ""
