"""Running the node and looking at it: node, status, tui."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from meshpantry.exit_codes import ExitCode

from .commands_outage import outage_lines
from .output import emit, short, table
from .session import Household, Subcommands
from .when import show_time


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "node", parents=[common], help="run this household's node in the foreground",
        description="Run the node: libp2p host, live gossip, sync, discovery and the control "
                    "socket. Settings come from the config file, then MESHPANTRY_* environment "
                    "variables, then these flags (later wins).",
    )
    p.add_argument("--config", type=Path, help="TOML settings file (default: DATA_DIR/node.toml)")
    p.add_argument("--network", choices=("lan", "loopback"), default=None,
                   help="lan (default): listen on every interface, announce over mDNS on the LAN "
                        "interfaces and put their addresses in invites; loopback: nothing leaves "
                        "127.0.0.0/8 (also MESHPANTRY_NETWORK=loopback, which no flag overrides)")
    p.add_argument("--listen", help="HOST:PORT to listen on (default 0.0.0.0:4747 on the LAN, "
                                    "127.0.0.1:4747 on loopback)")
    p.add_argument("--peer", dest="peers", action="append", default=None, help="multiaddr of a static peer (repeatable)")
    p.add_argument("--no-mdns", dest="mdns", action="store_false", default=None, help="do not use mDNS discovery")
    p.add_argument("--mdns-interface", dest="mdns_interfaces", action="append", default=None, help="interface address for mDNS (repeatable)")
    p.add_argument("--sync-interval", type=float, help="seconds between periodic syncs (default 30)")
    p.set_defaults(handler=cmd_node, needs_pantry=False)

    p = commands.add_parser("stop", parents=[common], help="stop this household's running node")
    p.set_defaults(handler=cmd_stop, needs_pantry=False)

    p = commands.add_parser("status", parents=[common], help="identity, peers, sync and island state")
    p.set_defaults(read_only=True, handler=cmd_status)

    p = commands.add_parser("tui", parents=[common], help="open the terminal UI (starts the node if needed)")
    p.add_argument("--demo", action="store_true", help="start a few demo neighbours on loopback with sample data")
    p.set_defaults(handler=cmd_tui, needs_pantry=False)


def cmd_node(args: argparse.Namespace) -> int:
    from meshpantry.node.command import run_node_command

    return run_node_command(args)


def cmd_stop(args: argparse.Namespace) -> int:
    """Ask the node to stop and wait until it has: the store let go and the
    socket gone. A reply lost while the node closes means "stopping"."""
    from meshpantry.control.client import ControlClient, NodeUnavailable
    from meshpantry.node.stopping import STOP_WAIT_S, node_pid, wait_until_gone

    try:
        client = ControlClient.connect(args.data_dir)
    except NodeUnavailable:
        emit(args, {"stopped": False, "running": False}, lambda r: "No node is running for this data directory.")
        return 0
    pid = node_pid(args.data_dir)
    with client:
        try:
            client.call("shutdown")
        except NodeUnavailable:
            pass  # it closed the connection on its way out: it is stopping
    if not wait_until_gone(args.data_dir, pid):
        print(f"meshpantry: the node (pid {pid or '?'}) did not stop within {STOP_WAIT_S:.0f} s; "
              f"see {args.data_dir / 'node.log'}", file=sys.stderr)
        return ExitCode.FAILED
    emit(args, {"stopped": True, "pid": pid},
         lambda r: f"The node{f' (pid {pid})' if pid else ''} has stopped. It stays stopped until you "
                   "start it ('meshpantry node' or 'meshpantry tui').")
    return 0


def cmd_tui(args: argparse.Namespace) -> int:
    from cli.tui.launch import run_tui

    return run_tui(args)


def cmd_status(args: argparse.Namespace, pantry: Household) -> None:
    status = pantry.status()

    def render(s: dict) -> str:
        lines = [
            f"household     {s.get('household_name') or '-'}  (device {short(s['device'])})",
            (f"neighbourhood {s.get('neighbourhood_name') or '-'}  ({short(s.get('neighbourhood'))})"
             if s.get("neighbourhood") else
             "neighbourhood none yet: 'meshpantry neighbourhood create NAME' or 'meshpantry join CODE'"),
            f"records held  {s['records']}",
            f"node          {'running' if s['node_running'] else 'not running (start it with: meshpantry node)'}",
        ]
        if s["node_running"]:
            lines.append("listening     " + ", ".join(s.get("listen") or []))
            lines.append("state         " + ("ISLAND: no neighbour reachable" if s["island"] else f"connected to {len(s['connected'])} neighbour(s)"))
        lines += outage_lines(s.get("outage"))
        if s.get("peers"):
            lines.append("")
            lines.append(table(
                [(short(p["peer"]), "yes" if p.get("connected") else "no", show_time(p.get("last_sync")), p.get("behind", "")) for p in s["peers"]],
                ["peer", "connected", "last sync", "behind"],
            ))
        if s.get("forks"):
            lines.append(f"\nWARNING: {s['forks']} forked chain(s) seen; see 'meshpantry log'")
        lines.extend(standing_lines(s))
        return "\n".join(lines)

    emit(args, status, render)


def standing_lines(s: dict) -> list[str]:
    """What ``status`` says when this device's records do not count, or a
    swap of this household has a conflict to settle."""
    lines = []
    standing = s.get("standing") or {}
    if standing.get("counts") is False:
        lines.append(f"\nWARNING: what this device writes now will not count: {standing['reason']}")
    not_counting = s.get("not_counting") or []
    if not_counting:
        lines.append(f"\nWARNING: {len(not_counting)} record(s) of this device will not count:")
        lines.extend(f"  {r['kind']} {short(r['id'])}: {r['reason']}" for r in not_counting)
    for conflict in s.get("conflicts") or []:
        lines.append(f"\nCONFLICT on claim {short(conflict['claim'])} ({conflict['item']}): {conflict['conflict']}")
    return lines
