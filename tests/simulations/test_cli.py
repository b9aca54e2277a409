"""The command line: reports on disk, failing runs print their replay line,
replays reproduce the trace."""

import json

from simulations import __main__ as cli
from simulations.sim import invariants
from simulations.sim.invariants import Violation


def test_run_writes_the_report(tmp_path, capsys):
    out = tmp_path / "report"
    code = cli.main(["run", "city-outage", "--seed", "7", "--nodes", "8", "--records", "80",
                     "--backend", "memory", "--out", str(out), "--quiet"])
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert {"summary.txt", "run.json", "connectivity.png", "island-records.png", "convergence.png"} <= names
    figures = json.loads((out / "run.json").read_text())
    assert figures["ok"] and figures["seed"] == 7 and figures["samples"]
    assert (out / "connectivity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_replay_reproduces_the_trace(tmp_path, capsys):
    out = tmp_path / "first"
    cli.main(["run", "courier", "--seed", "3", "--nodes", "8", "--records", "60", "--backend", "memory",
              "--out", str(out), "--quiet"])
    assert cli.main(["replay", str(out / "run.json"), "--quiet"]) == 0
    assert "identical to the recorded run" in capsys.readouterr().out


def test_a_failing_run_prints_its_seed_and_replay_command(monkeypatch, capsys):
    real_check = invariants.check

    def failing(sim):
        violations, checks = real_check(sim)
        return violations + [Violation("no_loss", "planted by the test")], checks

    monkeypatch.setattr(invariants, "check", failing)
    code = cli.main(["run", "rolling-blackouts", "--seed", "5", "--nodes", "6", "--records", "40",
                     "--backend", "memory", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "seed 5" in err
    assert "python -m simulations run" in err and "--seed 5 --nodes 6 --records 40 --backend memory" in err


def test_many_seeds_and_a_bad_scenario(capsys):
    assert cli.main(["run", "hostile-node", "--seeds", "1-2", "--nodes", "6", "--records", "40",
                     "--backend", "memory", "--quiet"]) == 0
    assert "2 of 2 seeds passed" in capsys.readouterr().out
    assert cli.main(["run", "no-such-scenario"]) == 2


def test_a_single_run_says_how_far_it_is_off_a_terminal(capsys):
    """Piped or logged (stderr is not a terminal), a single run prints a line
    when it starts and at each tenth of its virtual time, not nothing."""
    assert cli.main(["run", "city-outage", "--seed", "7", "--nodes", "6", "--records", "40",
                     "--backend", "memory"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("city-outage seed 7")]
    assert lines[0].endswith("starting") and lines[-1].split(": ")[1].strip().startswith("100%")
    assert len(lines) >= 6


def test_a_drill_prints_its_phases(capsys):
    """A drill says each phase with the time it started (a PhaseLog line)."""
    from simulations.sim.progress import PhaseLog

    say = PhaseLog("drill seed 1")
    say("starting 4 node processes")
    assert capsys.readouterr().err.startswith("drill seed 1 ")
    quiet = PhaseLog("drill seed 1", quiet=True)
    quiet("nothing")
    assert capsys.readouterr().err == ""
