"""``meshpantry node``: settings from file < environment < flags, a node
over the opened store, run until SIGINT, SIGTERM or a ``shutdown`` request,
and the exit code of how it ended."""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any

import trio

from . import collection
from .network import resolve
from .runner import Node

log = logging.getLogger("meshpantry.node")

#: Seconds between a ``shutdown`` request and the stop, so that its reply
#: (a few bytes on a Unix socket) is written before the connection closes.
STOP_REPLY_S = 0.1


async def serve_until_signalled(node: Node) -> int | None:
    """Run ``node`` until SIGINT, SIGTERM or a ``shutdown`` request; returns
    the signal that stopped it (None for a request)."""
    received: int | None = None
    async with trio.open_nursery() as nursery:

        async def stop_when_asked() -> None:
            await node.stop_requested.wait()
            log.info("stop requested through the control socket")
            await trio.sleep(STOP_REPLY_S)  # let the shutdown reply reach its caller
            nursery.cancel_scope.cancel()

        nursery.start_soon(stop_when_asked)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            await nursery.start(node.run)
            log.info("control socket %s", node.control.path)
            async for signum in signals:
                log.info("received %s, stopping", signal.Signals(signum).name)
                received = signum
                nursery.cancel_scope.cancel()
                break
    return received


def run_node_command(args: Any) -> int:
    """``meshpantry node``: settings from file < env < flags, then run."""
    from meshpantry.exit_codes import ExitCode
    from meshpantry.keys import KeyFileError
    from meshpantry.pantry.errors import PantryError
    from meshpantry.passphrase import read_passphrase
    from meshpantry.store.errors import StoreDamaged, StoreError

    from .config import SettingsError
    from .settings_sources import load_settings
    from .startup import open_when_free, start_failure

    try:
        settings = load_settings(
            args.data_dir, config=args.config, environ=os.environ,
            flags={"network": args.network, "listen": args.listen, "peers": args.peers, "mdns": args.mdns,
                   "mdns_interfaces": args.mdns_interfaces, "sync_interval": args.sync_interval},
        )
        # Before the store, the control socket or any network socket opens:
        # loopback mode refuses every address outside 127.0.0.0/8 here.
        settings = resolve(settings)
    except (SettingsError, OSError, ValueError) as exc:
        print(f"meshpantry: bad node settings: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    import libp2p  # noqa: F401 - its import resets the 'libp2p' logger; configure after it

    quiet = logging.WARNING if args.verbose < 2 else logging.DEBUG
    for name in [n for n in logging.root.manager.loggerDict if n == "libp2p" or n.startswith("libp2p.")]:
        logging.getLogger(name).setLevel(quiet)
    logging.getLogger("libp2p").propagate = True
    try:
        pantry = open_when_free(args.data_dir, read_passphrase(args.passphrase_file))
    except PantryError as exc:
        print(f"meshpantry: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyFileError as exc:
        print(f"meshpantry: {exc}", file=sys.stderr)
        return ExitCode.NO_IDENTITY
    except StoreDamaged as exc:
        print(f"meshpantry: {exc}", file=sys.stderr)
        return ExitCode.DAMAGED
    except StoreError as exc:
        print(f"meshpantry: {exc}", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    try:
        # A port held by another process is refused before anything runs
        # (open_host checks again when networking starts later).
        from .host import check_port_free

        check_port_free(settings.listen_host, settings.listen_port)
        node = Node(pantry, settings)
        from .stopping import clear_stopped

        clear_stopped(args.data_dir)  # started again: an earlier 'meshpantry stop' is over
        collection.tune()
        stopped_by = trio.run(serve_until_signalled, node)
    except BaseException as exc:  # noqa: BLE001 - the node's failures arrive grouped by trio
        failure = start_failure(exc)
        if failure is None:
            raise
        print(f"meshpantry: {failure[0]}", file=sys.stderr)
        return failure[1]
    finally:
        pantry.close()
    # Ctrl-C exits as shells report an interrupted command; SIGTERM (systemd,
    # `kill`) and `meshpantry stop` are the normal way to stop: 0.
    return ExitCode.INTERRUPTED if stopped_by == signal.SIGINT else ExitCode.OK

