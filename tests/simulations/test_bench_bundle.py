"""The bundle benchmark runs and its return bundle is exact (figures are printed, never asserted)."""

from simulations.bench_bundle import main


def test_the_bundle_benchmark_runs_small(capsys):
    assert main(["--records", "200", "--authors", "4", "--behind", "20", "--rounds", "1"]) == 0
    assert "return bundle: 20 records for 20 lacking (exact)" in capsys.readouterr().out
