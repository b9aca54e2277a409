"""The sync benchmark runs, converges and meets its targets on a small mesh."""

from __future__ import annotations

from simulations import bench_sync


def test_small_benchmark_meets_its_targets(capsys):
    status = bench_sync.main(["--records", "4000", "--authors", "40", "--sizes", "100"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "MISSED" not in out and " NO " not in out
    assert out.count(" met") >= 8
