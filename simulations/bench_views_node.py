"""The views benchmark against a real node process (``bench views --node``).

For a built store (see :mod:`simulations.bench_views`) it starts
``meshpantry -v node`` on a copy, on loopback with mDNS off and no peers (as
the tests' node processes run), and drives it through the control socket
with the command line's own client (:class:`ControlClient`, a new
connection per request as each CLI command makes):

- the node's RSS and peak RSS (``VmRSS``/``VmHWM`` in ``/proc/PID/status``)
  once its socket answers, after its first ``status``, and after 30 s settled;
- the first ``status`` after a new record arrives, and the first
  ``offer_page`` with ``limit=50`` (what ``offer list --limit 50`` sends)
  after another: wall time at the client, and the node-side wall and CPU time
  the control server (:mod:`meshpantry.control.server`) logs for each request.

The new record is the household's own offer written through the socket
(``offer_add``): the node appends it and its views take it in within the
record's transaction. It is not a peer's record arriving by gossip (that path
adds gossip validation, measured in process by ``bench views`` without
``--node`` and by ``bench ingest``); the views' work is the same.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from meshpantry.control.client import ControlClient, NodeUnavailable

from .processes import START_TIMEOUT_S, NodeProcess, free_port

#: "After 30 s settled", as the issue asks.
SETTLE_S = 30.0
LOG_NAME = "node-bench.log"
TIMING = re.compile(r"meshpantry\.control\.server: (\w+) answered in ([\d.]+) ms \(CPU ([\d.]+) ms, (\d+) bytes\)")
#: The requests the measurement makes, in order (the timing log lines follow it).
SEQUENCE = ("status", "offer_add", "status", "offer_add", "offer_page")


class BenchNode(NodeProcess):
    """A node process started with ``-v`` so that it logs each request's cost."""

    def start(self, extra: list[str] | None = None) -> None:
        argv = [sys.executable, "-m", "cli.main", "--data-dir", str(self.data_dir), "node", "-v",
                "--network", "loopback", "--listen", f"{self.host}:{self.port}", "--no-mdns",
                "--sync-interval", str(self.sync_interval)]
        self.log = open(self.data_dir / LOG_NAME, "ab")
        self.process = subprocess.Popen(argv, stdout=self.log, stderr=self.log, cwd=Path(__file__).resolve().parents[1])

    def log_text(self) -> str:
        return (self.data_dir / LOG_NAME).read_text(errors="replace")

    def wait_socket(self) -> float:
        """Seconds until the control socket accepts a connection (no request sent)."""
        started = time.monotonic()
        while time.monotonic() - started < START_TIMEOUT_S:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"node exited with {self.process.returncode}: {self.log_text()[-3000:]}")
            try:
                ControlClient.connect(self.data_dir).close()
            except NodeUnavailable:
                time.sleep(0.05)
                continue
            return time.monotonic() - started
        raise TimeoutError(f"node in {self.data_dir} not answering: {self.log_text()[-3000:]}")

    def memory(self) -> tuple[float, float]:
        """(RSS, peak RSS) of the node process in MB."""
        assert self.process is not None
        fields = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":")
                fields[name] = int(value.split()[0]) / 1024
        return fields["VmRSS"], fields["VmHWM"]

    def timed(self, op: str, **args: Any) -> tuple[Any, float]:
        started = time.perf_counter()
        result = self.call(op, **args)
        return result, (time.perf_counter() - started) * 1000


def measure_node(template: Path) -> dict[str, float]:
    """Take the node figures (see the module doc) on a copy of ``template``."""
    with tempfile.TemporaryDirectory(prefix="meshpantry-views-node-") as tmp:
        data_dir = Path(tmp) / "node"
        shutil.copytree(template, data_dir, ignore=shutil.ignore_patterns("*.lock", "lock", "node.sock", "*.log"))
        node = BenchNode(data_dir, free_port())
        f: dict[str, float] = {}
        node.start()
        try:
            f["start_s"] = node.wait_socket()
            f["rss_start"], f["hwm_start"] = node.memory()
            status, f["status_first_ms"] = node.timed("status")
            f["records"] = float(status.get("records", 0) or 0) if isinstance(status, dict) else 0.0
            f["rss_status"], f["hwm_status"] = node.memory()
            time.sleep(SETTLE_S)
            f["rss_settled"], f["hwm_settled"] = node.memory()
            _, f["add_1_ms"] = node.timed("offer_add", item="bench plums", quantity=3, unit="kg")
            _, f["status_new_ms"] = node.timed("status")
            _, f["add_2_ms"] = node.timed("offer_add", item="bench pears", quantity=2, unit="kg")
            page, f["page_new_ms"] = node.timed("offer_page", limit=50)
            f["page_rows"] = len(page["offers"])
            f["rss_end"], f["hwm_end"] = node.memory()
        finally:
            code = node.stop()
        f["exit"] = float(code)
        times = [m.groups() for m in TIMING.finditer(node.log_text())]
        ops = tuple(op for op, *_ in times)
        if ops != SEQUENCE:
            raise RuntimeError(f"node logged requests {ops}, expected {SEQUENCE}")
        for name, (_, wall, cpu, size) in zip(("status_first", "add_1", "status_new", "add_2", "page_new"), times):
            f[f"{name}_node_ms"], f[f"{name}_node_cpu_ms"], f[f"{name}_bytes"] = float(wall), float(cpu), float(size)
    return f


def report(f: dict[str, float], target_mb: float, target_ms: float) -> None:
    print(
        f"  node: socket answering after {f['start_s']:.1f} s; RSS (peak) after start {f['rss_start']:.0f} "
        f"({f['hwm_start']:.0f}) MB, after first status {f['rss_status']:.0f} ({f['hwm_status']:.0f}) MB, "
        f"{SETTLE_S:.0f} s settled {f['rss_settled']:.0f} ({f['hwm_settled']:.0f}) MB, at the end "
        f"{f['rss_end']:.0f} ({f['hwm_end']:.0f}) MB (target {target_mb:.0f} MB)"
    )
    print(f"  {'request through the socket':44} {'client ms':>9} {'node ms':>8} {'node CPU':>8} {'bytes':>7}")
    for label, key in (
        ("first status after start", "status_first"),
        ("offer add (the new record)", "add_1"),
        ("first status after a new record", "status_new"),
        ("offer add (another new record)", "add_2"),
        (f"first offer list --limit 50 after it ({f['page_rows']:.0f})", "page_new"),
    ):
        client = f[f"{key}_ms"]
        print(f"  {label:44} {client:9.1f} {f[f'{key}_node_ms']:8.1f} {f[f'{key}_node_cpu_ms']:8.1f} "
              f"{f[f'{key}_bytes']:7.0f}")
    print(f"  (target {target_ms:.0f} ms for status and offer list after a new record; node exit {f['exit']:.0f})")


__all__ = ["measure_node", "report"]
