"""What a reader looks at after a run: a summary table, every figure as JSON,
and three plots (matplotlib, Agg backend: no display needed).

* ``summary.txt``: the table :func:`summary` prints;
* ``run.json``: :meth:`RunOutcome.as_json` (figures, samples, violations,
  the replay command), read back by ``python -m simulations replay``;
* ``connectivity.png``: islands and nodes with power over time;
* ``island-records.png``: records held per island (mean per node) over time;
* ``convergence.png``: share of nodes holding every record, after the first heal.
"""

from __future__ import annotations

import json
from pathlib import Path

from .outcome import RunOutcome


def summary(outcome: RunOutcome) -> str:
    """A plain-text table of the run's main figures and its verdict."""
    f = outcome.figures
    conv = f["convergence"]
    sync = f["sync"]
    gossip = f["gossip"]
    rows = [
        ("scenario", f"{outcome.scenario} (seed {outcome.seed}, {outcome.backend} store)"),
        ("nodes", str(outcome.nodes)),
        ("records", f"{f['records']['valid']} valid ({f['records']['founding']} founding), "
                    f"{f['records']['signature_checks']} signature checks"),
        ("written", ", ".join(f"{k} {v}" for k, v in f["records"]["written"].items() if v)),
        ("islands (most at once)", str(f["islands_max"])),
        ("power cuts", f"{f['power']['crashes']} ({f['power']['records_rolled_back']} non-durable records rolled back)"),
        ("gossip", f"{gossip['messages']} messages, {gossip['datagrams_lost']} lost, "
                   f"{gossip['datagrams_duplicated']} duplicated"),
        ("sync sessions", f"{sync['sessions']} ({sync['done']} done, {sync['failed']} broken off), "
                          f"{sync['records']} records, {sync['bytes'] / 1e6:.2f} MB, {sync['session_s']:.1f} s inside sessions"),
        ("clock offsets", f"{f['clocks']['offset_ms'][0] / 1000:+.0f} s .. {f['clocks']['offset_ms'][1] / 1000:+.0f} s, "
                          f"drift {f['clocks']['drift_ppm'][0]:+d} .. {f['clocks']['drift_ppm'][1]:+d} ppm"),
        ("power and links back", f"{_seconds(conv['first_heal_ms'])} .. {_seconds(conv['last_heal_ms'])}"),
        ("identical", f"{_seconds(conv['after_first_heal_ms'])} after the first return, "
                      f"{_seconds(conv['after_heal_ms'])} after the last (sampled every {conv['sample_ms']} ms)"),
    ]
    if f["couriers"]:
        carried = sum(c["new"] for c in f["couriers"])
        rows.append(("couriers", f"{len(f['couriers'])} bundles, {carried} records new to their island"))
    if f["hostile"]:
        rows.append(("hostile node", f"{f['hostile']['bad_records_made']} bad records made, "
                                      f"{f['hostile']['replayed']} replayed: none accepted"
                     if outcome.ok else f"{f['hostile']['bad_records_made']} bad records made"))
    if sync.get("cut_offs") or gossip.get("messages_rejected"):
        rows.append(("cut off", f"{sync['cut_offs']} times, after {gossip['messages_rejected']} gossip messages "
                                f"rejected ({gossip['messages_ignored']} ignored)"))
    if sync.get("devices_restored"):
        rows.append(("restored devices", f"{sync['devices_restored']}, "
                                         f"{sync['chains_recovered']} own chains recovered, "
                                         f"{sync['lost_with_devices']} records no other device held lost with them"))
    wall = f["wall_s"]
    rows.append(("wall time", f"{sum(wall.values()):.2f} s (setup {wall['setup_s']:.2f}, run {wall['run_s']:.2f}, "
                              f"checks {wall['check_s']:.2f})"))
    rows.append(("invariants", "all hold" if outcome.ok else f"{len(outcome.violations)} VIOLATED"))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
    for violation in outcome.violations[:20]:
        lines.append(f"  ! {violation.invariant}: {violation.detail}")
    if not outcome.ok:
        lines.append(f"replay: {outcome.replay_command()}")
    return "\n".join(lines)


def _seconds(ms: int | None) -> str:
    return "never" if ms is None else f"{ms / 1000:.1f} s"


def write(outcome: RunOutcome, directory: Path) -> list[Path]:
    """Write the summary, the JSON and the plots into ``directory``; returns
    the paths written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    path = directory / "summary.txt"
    path.write_text(summary(outcome) + "\n", encoding="utf-8")
    written.append(path)
    path = directory / "run.json"
    path.write_text(json.dumps(outcome.as_json(), indent=1, default=str) + "\n", encoding="utf-8")
    written.append(path)
    written.extend(_plots(outcome, directory))
    return written


def _plots(outcome: RunOutcome, directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = outcome.samples
    t = [s["t_ms"] / 1000 for s in samples]
    paths = []

    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.step(t, [s["islands"] for s in samples], where="post", label="islands")
    ax.set_ylabel("islands")
    ax.set_xlabel("time (s)")
    ax2 = ax.twinx()
    ax2.plot(t, [s["up"] for s in samples], color="tab:orange", label="nodes with power")
    ax2.set_ylabel("nodes with power")
    ax.set_title(f"{outcome.scenario}: connectivity (seed {outcome.seed})")
    fig.legend(loc="lower left")
    fig.tight_layout()
    paths.append(directory / "connectivity.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 3.5))
    islands = sorted({k for s in samples for k in s["island_records"]}, key=int)
    for island in islands:
        ax.plot(t, [s["island_records"].get(island) for s in samples], label=f"island {island}")
    ax.plot(t, [s["records"] for s in samples], color="black", linestyle="--", label="records in existence")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("records held (mean per node)")
    ax.set_title("records per island")
    if len(islands) <= 12:
        ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    paths.append(directory / "island-records.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 3.5))
    start = outcome.figures["convergence"]["last_heal_ms"]
    heal_samples = [s for s in samples if start is None or s["t_ms"] >= start - 120_000]
    ax.plot([s["t_ms"] / 1000 for s in heal_samples],
            [s["complete"] / outcome.nodes for s in heal_samples])
    if start is not None:
        ax.axvline(start / 1000, color="grey", linestyle=":", label="last heal")
        ax.legend()
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("nodes holding every record")
    ax.set_title("convergence after heal")
    fig.tight_layout()
    paths.append(directory / "convergence.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths
