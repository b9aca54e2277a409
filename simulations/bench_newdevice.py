"""A new device joins a large neighbourhood: real node processes on loopback.

``python -m simulations.bench newdevice [--records 100000] [--authors 1000] [--keep DIR] [--profile DIR]``

1. One serving node holds about ``--records`` records of ``--authors``
   devices (built once with :func:`simulations.bench_views.build`, open
   offers; ``--keep`` reuses a build).
2. A new household initialises, joins by an invite from the serving
   household (offline, as ``meshpantry join`` does), and its node starts with
   the serving node as its only peer.
3. Measured: seconds from the connection (the new node reports its peer up)
   to the same record set on both nodes (the sync fingerprint of every
   record held, polled 10 times a second); the new node's CPU time over that
   span, divided by the span (how many cores it kept busy), and how it
   splits between the node's trio thread (receiving, storing: the serial
   part), its other threads and its checking processes; and the CPU
   needed to verify as many signatures on one core, measured in this run,
   with the nodes' CPU as a multiple of it (on a machine others load, a
   steadier figure than the seconds), and each of these CPU times a record.

Target (issue 11): at most 6 s from connect to identical.

``--profile DIR`` samples both nodes (and the new node's checking
processes) with py-spy from the new node's start to identical, and writes
``server.txt`` and ``device.txt`` (collapsed stacks) and a summary of each
(the functions holding most samples, by their own and their callees').
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

from . import profiling
from .processes import NodeProcess, cli, eventually, free_port

#: Issue 11's target for 100,000 records.
TARGET_S = 6.0


def _progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def _quiet_cli(data_dir: Path, *argv: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli(data_dir, *argv)
    assert code == 0, (argv, out.getvalue())
    return out.getvalue()


def _build(template: Path, records: int, authors: int) -> None:
    from .bench_views import EXTRA_FILE, build

    if (template / EXTRA_FILE).exists():
        return
    if template.exists():
        shutil.rmtree(template)
    started = time.perf_counter()
    with redirect_stdout(io.StringIO()):
        build(template, records, authors, "open")
    _progress(f"built a store of ~{records} records from {authors} authors in {time.perf_counter() - started:.0f} s")


def _own_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) of process ``pid``'s main thread, and of
    the whole process without its children: the node's trio thread, and its
    threads altogether (the checking processes are the rest of
    :meth:`NodeProcess.cpu_seconds`)."""
    tick = os.sysconf("SC_CLK_TCK")

    def ticks(stat: str) -> int:
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0
        return int(fields[11]) + int(fields[12])

    return ticks(f"/proc/{pid}/task/{pid}/stat") / tick, ticks(f"/proc/{pid}/stat") / tick


def _digest(node: NodeProcess) -> tuple[str, int]:
    dump = node.call("dump", ids=False, state=False)
    return dump["ids_digest"], dump["count"]


def summary(collapsed: Path, top: int = 40) -> str:
    """The functions in most samples of a collapsed-stack file: own samples
    (the innermost frame) and total (anywhere on the stack), in percent."""
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = [frame.split(" (")[0] + " " + frame.rsplit("/", 1)[-1].split(":")[0].rstrip(")")
                  for frame in stack.split(";")[1:]]
        if frames:
            own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            total[frame] = total.get(frame, 0) + count
    lines = [f"{samples} samples", "own %  total %  function"]
    for frame, _ in sorted(total.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{100 * own.get(frame, 0) / max(1, samples):5.1f}  {100 * total[frame] / max(1, samples):7.1f}"
                     f"  {frame}")
    return "\n".join(lines)


def measure(template: Path, root: Path, profile: Path | None = None) -> dict:
    from .bench_node import verify_rate

    server_dir = root / "server"
    shutil.copytree(template, server_dir, ignore=shutil.ignore_patterns("*.lock", "lock", "node.sock", "*.log"))
    code = json.loads(_quiet_cli(server_dir, "--json", "invite", "create"))["code"]
    device_dir = root / "device"
    _quiet_cli(device_dir, "init", "--household", "New kitchen")
    _quiet_cli(device_dir, "join", code)
    server = NodeProcess(server_dir, free_port(), sync_interval=30)
    server.start()
    try:
        server.wait_ready()
        target, count = _digest(server)
        device = NodeProcess(device_dir, free_port(), peers=[server.address], sync_interval=30)
        _progress(f"serving node holds {count} records; the new device starts")
        device.start()
        spies = [] if profile is None else [profiling.spy(server.process.pid, profile / "server.txt"),
                                            profiling.spy(device.process.pid, profile / "device.txt")]
        try:
            device.wait_ready()
            eventually(lambda: device.call("status").get("connected"), 60, "the new device connects")
            connected_at = time.monotonic()
            cpu_before = device.cpu_seconds()
            own_before = _own_seconds(device.process.pid)
            server_before = server.cpu_seconds()
            while True:
                digest, held = _digest(device)
                if digest == target or (held > count and _digest(server)[0] == digest):
                    break
                if time.monotonic() - connected_at > 600:
                    raise AssertionError(f"not identical after 600 s: {held} of {count} records")
                time.sleep(0.1)
            took = time.monotonic() - connected_at
            cpu = device.cpu_seconds() - cpu_before
            own_after = _own_seconds(device.process.pid)
            main_thread, threads = (after - before for after, before in zip(own_after, own_before))
            server_cpu = server.cpu_seconds() - server_before
            profiling.stop(spies)
            sync = device.call("status")["sync"]
        finally:
            profiling.stop([spy for spy in spies if spy.poll() is None])
            device.stop()
    finally:
        server.stop()
    rate = verify_rate()
    return {"records": held, "connect_to_identical_s": took, "device_cpu_s": cpu, "cores_busy": cpu / took,
            "device_main_thread_s": main_thread, "device_threads_s": threads,
            "server_cpu_s": server_cpu,
            "verify_one_core_s": held / rate, "round_trips": sync["round_trips"], "sessions": sync["sessions"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulations.bench newdevice", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--authors", type=int, default=1_000)
    parser.add_argument("--keep", type=Path, help="directory to keep (and reuse) the serving node's build in")
    parser.add_argument("--profile", type=Path, help="directory for py-spy samples of both nodes")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="meshpantry-newdevice-") as tmp:
        root = Path(tmp)
        template = args.keep or root / "template"
        _build(template, args.records, args.authors)
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        f = measure(template, root / "run", args.profile)
    load = os.getloadavg()
    print(f"new device joins {f['records']} records of {args.authors} authors, one serving node, loopback")
    print(f"  connect to identical              {f['connect_to_identical_s']:8.1f} s   (target <= {TARGET_S:.0f} s)")
    print(f"  new node CPU over that span       {f['device_cpu_s']:8.1f} s   ({f['cores_busy']:.2f} cores busy of "
          f"{os.cpu_count()})")
    print(f"  of which the node's trio thread   {f['device_main_thread_s']:8.1f} s   (its other threads "
          f"{f['device_threads_s'] - f['device_main_thread_s']:.1f} s, checking processes "
          f"{f['device_cpu_s'] - f['device_threads_s']:.1f} s)")
    print(f"  serving node CPU over that span   {f['server_cpu_s']:8.1f} s")
    per = 1e6 / max(1, f["records"])
    print(f"  CPU a record (steadier than s)    new node {f['device_cpu_s'] * per:.1f} us (trio thread "
          f"{f['device_main_thread_s'] * per:.1f}, checking processes "
          f"{(f['device_cpu_s'] - f['device_threads_s']) * per:.1f}), serving node {f['server_cpu_s'] * per:.1f} us")
    print(f"  verifying them on one core        {f['verify_one_core_s']:8.1f} s   (new node CPU / that: "
          f"{f['device_cpu_s'] / f['verify_one_core_s']:.2f}, both nodes: "
          f"{(f['device_cpu_s'] + f['server_cpu_s']) / f['verify_one_core_s']:.2f})")
    print(f"  sessions, round trips (new node)  {f['sessions']}, {f['round_trips']}")
    print(f"  load average                      {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.profile:
        for name in ("server", "device"):
            text = summary(args.profile / f"{name}.txt")
            (args.profile / f"{name}-summary.txt").write_text(text + "\n")
            print(f"  profile of the {'serving' if name == 'server' else 'new'} node: {args.profile / name}.txt, "
                  f"{text.splitlines()[0]}")
    return 0 if f["connect_to_identical_s"] <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
