"""The ``meshpantry`` command.

Every command works on the household's running node through its control socket
when one is up, and on the store directly when none is. Exit codes (the
table is :class:`meshpantry.exit_codes.ExitCode`):

====  =====================================================================
0     done
1     failed for another reason (the message says why)
2     bad arguments
3     no identity or no neighbourhood yet (run ``meshpantry init``)
4     unknown or ambiguous id
5     the store is in use by another process / the node is unreachable
6     refused: invalid input, not allowed, already done, or a reply too large
7     the store is damaged (restore it, or ``meshpantry repair``)
130   interrupted
====  =====================================================================
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from meshpantry import __version__, exit_codes

from . import commands_identity, commands_node, commands_outage, commands_recipes, commands_swaps
from .session import default_data_dir

EPILOG = f"""\
exit codes: {exit_codes.summary()}.
data directory: --data-dir, else $MESHPANTRY_DATA_DIR, else the platform's
user data directory (on Linux ~/.local/share/meshpantry)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meshpantry",
        description="Offline-first neighbourhood food sharing over a local peer-to-peer mesh.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"meshpantry {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir", type=Path, default=argparse.SUPPRESS,
        help="where this device keeps its key and records (default: %s)" % default_data_dir(),
    )
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print machine-readable JSON")
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                        help="more log output (repeat for debug)")
    common.add_argument("--passphrase-file", type=Path, default=argparse.SUPPRESS,
                        help="file holding the key passphrase (or set MESHPANTRY_PASSPHRASE)")
    for option in common._actions:
        parser._add_action(option)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for module in (commands_identity, commands_swaps, commands_recipes, commands_outage, commands_node):
        module.register(commands, common)
    return parser


def not_utf8(argv: list[str]) -> str | None:
    """A message naming the first argument that is not valid UTF-8 (the
    bytes the shell passed could not be read as text), or None."""
    for position, argument in enumerate(argv, 1):
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            shown = argument.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            return (f"argument {position} ({shown!r}) is not valid UTF-8 text; "
                    "check the terminal's encoding (records carry UTF-8 only)")
    return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    problem = not_utf8(argv)
    if problem is not None:
        print(f"meshpantry: {problem}", file=sys.stderr)
        return exit_codes.ExitCode.USAGE
    args = parser.parse_args(argv)
    args.data_dir = Path(getattr(args, "data_dir", None) or os.environ.get("MESHPANTRY_DATA_DIR") or default_data_dir())
    args.json = getattr(args, "json", False)
    args.verbose = getattr(args, "verbose", 0) or 0
    args.passphrase_file = getattr(args, "passphrase_file", None)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from .session import run_command

    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
