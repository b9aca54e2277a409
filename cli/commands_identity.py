"""Identity, membership and the raw log: init, whoami, neighbourhood, invite,
join, device, revoke, block, log, rebuild."""

from __future__ import annotations

import argparse
import getpass
import sys

from meshpantry.exit_codes import ExitCode
from meshpantry.keys import KeyFileError, key_path

from .numbers import whole_number
from .output import emit, short, table
from .paging import add_paging, emit_paged
from .session import Household, Subcommands, read_passphrase
from .when import show_time


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser("init", parents=[common], help="create this device's identity and household profile")
    p.add_argument("--household", required=False, help="your household's name, as neighbours will see it")
    p.add_argument("--area", help="rough area (a street or block, never an exact address)")
    p.add_argument("--encrypt", action="store_true", help="protect the key file with a passphrase")
    p.add_argument("--network", choices=("lan", "loopback"),
                   help="lan (default): neighbours on this Wi-Fi/LAN reach the node; loopback: this "
                        "computer only. Saved in DATA_DIR/node.toml; asked when run in a terminal")
    p.set_defaults(handler=cmd_init, needs_pantry=False)

    p = commands.add_parser("whoami", parents=[common], help="show this device, household and neighbourhood")
    p.set_defaults(read_only=True, handler=lambda a, pantry: emit(a, pantry.whoami()))

    hood = commands.add_parser("neighbourhood", parents=[common], help="found or show the neighbourhood").add_subparsers(dest="action", metavar="ACTION", required=True)
    p = hood.add_parser("create", parents=[common], help="found a new neighbourhood with this household as admin")
    p.add_argument("name")
    p.set_defaults(handler=cmd_neighbourhood_create)
    p = hood.add_parser("show", parents=[common], help="name, members and admins")
    p.set_defaults(read_only=True, handler=cmd_neighbourhood_show)

    invite = commands.add_parser("invite", parents=[common], help="invite a household").add_subparsers(dest="action", metavar="ACTION", required=True)
    p = invite.add_parser("create", parents=[common], help="make an invite code to hand to a newcomer")
    p.add_argument("--uses", type=whole_number(), default=1, help="how many households may use it (default 1)")
    p.add_argument("--hours", type=whole_number(), default=72, help="how long it stays valid (default 72)")
    p.add_argument("--note", help="a note for the record, e.g. who it is for")
    p.add_argument("--no-qr", dest="qr", action="store_false", help="do not draw the QR code (drawn on a terminal)")
    p.set_defaults(handler=cmd_invite_create)
    p = invite.add_parser("list", parents=[common], help="the invites this household made: open, used or expired")
    p.set_defaults(read_only=True, handler=cmd_invite_list)
    p = invite.add_parser("revoke", parents=[common], help="close an invite that is not used up (a signed record)")
    p.add_argument("invite", help="the invite's id prefix (from 'meshpantry invite list')")
    p.add_argument("--reason", help="why, for the record")
    p.set_defaults(handler=lambda a, pantry: emit(a, pantry.invite_revoke(a.invite, a.reason), lambda r: (
        f"Invite {short(r['invite'])} is revoked: joins made with it from now on do not count. "
        + (f"{r['used']} household(s) that joined before stay; an admin removes one with "
           "'meshpantry revoke HOUSEHOLD'." if r.get("used") else ""))))

    p = commands.add_parser("join", parents=[common], help="join a neighbourhood with an invite code")
    p.add_argument("code", help="the code a member gave you (starts with mp1-)")
    p.add_argument("--household", help="your household's name (default: the one given to init)")
    p.add_argument("--area")
    p.set_defaults(handler=cmd_join)

    device = commands.add_parser("device", parents=[common], help="link another device to this household").add_subparsers(dest="action", metavar="ACTION", required=True)
    p = device.add_parser("link", parents=[common], help="let another device (its key from 'whoami') write for this household")
    p.add_argument("device", help="the other device's key (64 hex digits)")
    p.add_argument("--name", help="a name for the device, e.g. 'kitchen laptop'")
    p.set_defaults(handler=lambda a, pantry: emit(a, pantry.link_device(a.device, a.name), _linked))
    p = device.add_parser("adopt", parents=[common], help="on the new device: join the household's neighbourhood with the code 'device link' printed (uses no invite)")
    p.add_argument("code", help="the link code (starts with mpl1-)")
    p.set_defaults(handler=lambda a, pantry: emit(a, pantry.adopt_link(a.code), _adopted))

    p = commands.add_parser("revoke", parents=[common], help="(admins) stop a device's further records from counting")
    p.add_argument("member", help="device key or household id prefix")
    p.add_argument("--reason")
    p.set_defaults(handler=lambda a, pantry: emit(a, pantry.revoke(a.member, a.reason)))

    for verb in ("block", "unblock"):
        p = commands.add_parser(verb, parents=[common], help=f"{verb} a household on this device only")
        p.add_argument("household", help="household id prefix or name")
        p.set_defaults(handler=lambda a, pantry, verb=verb: emit(a, getattr(pantry, verb)(a.household)))

    p = commands.add_parser("log", parents=[common], help="the raw signed records, newest first")
    p.add_argument("--kind", help="only records of this kind")
    add_paging(p, "records")
    p.set_defaults(read_only=True, handler=cmd_log)

    p = commands.add_parser("rebuild", parents=[common], help="rebuild every view from the record log and check it")
    p.set_defaults(handler=lambda a, pantry: emit(a, pantry.rebuild()))

    p = commands.add_parser(
        "repair", parents=[common], help="(node stopped) rebuild a damaged store from the records that verify",
        description="Set the damaged database aside, keep every record whose signature verifies, "
                    "and start a fresh store with them; the node fetches the rest from its neighbours.",
    )
    p.set_defaults(handler=cmd_repair, needs_pantry=False)


def cmd_repair(args: argparse.Namespace) -> int:
    import time

    from meshpantry.pantry.household import CHAIN_UNSURE
    from meshpantry.store import Store
    from meshpantry.store.repair import repair

    report = repair(args.data_dir, int(time.time() * 1000))
    with Store.open(args.data_dir) as store:
        store.set_setting(CHAIN_UNSURE, 1)  # own records may have been on a damaged page
    emit(args, report.as_dict(), lambda r: "\n".join([
        f"kept {r['kept']} records whose signature verifies ({r['logged']} in the log); "
        f"dropped {r['dropped']} that did not verify; {r['unreadable_rows']} rows were unreadable",
        f"the damaged database is kept as {r['set_aside']}",
        *r["notes"],
        "start the node: it fetches this device's own records from a neighbour before it "
        "writes again, and the rest at its next syncs",
    ]))
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from meshpantry.pantry import Pantry

    data_dir = args.data_dir
    if key_path(data_dir).exists():
        print(f"meshpantry: this device already has an identity in {data_dir}", file=sys.stderr)
        return ExitCode.REFUSED
    passphrase = read_passphrase(args)
    if args.encrypt and not passphrase:
        if not sys.stdin.isatty():
            print("meshpantry: --encrypt needs a passphrase: use --passphrase-file or MESHPANTRY_PASSPHRASE", file=sys.stderr)
            return ExitCode.USAGE
        passphrase = getpass.getpass("passphrase for the key file: ")
        if passphrase != getpass.getpass("again: "):
            print("meshpantry: the passphrases differ; nothing was written", file=sys.stderr)
            return ExitCode.USAGE
    household = args.household
    if not household:
        if not sys.stdin.isatty():
            print("meshpantry: give your household's name with --household", file=sys.stderr)
            return ExitCode.USAGE
        household = input("household name: ").strip()
    network = _choose_network(args.network)
    if network is None:
        return ExitCode.USAGE
    try:
        pantry = Pantry.create(data_dir, household, area=args.area,
                               passphrase=passphrase if args.encrypt or passphrase else None)
    except KeyFileError as exc:
        print(f"meshpantry: {exc}", file=sys.stderr)
        return ExitCode.REFUSED
    try:
        result = {**pantry.whoami(), "network": network}
    finally:
        pantry.close()
    from meshpantry.node.network import network_choice
    from meshpantry.node.settings_sources import save_network

    save_network(data_dir, network)
    emit(args, result, lambda r: (
        f"Created the identity of {household} in {data_dir}\n"
        f"device {r['device']}\n"
        f"network {network_choice().describe(network)}\n"
        f"        (change it with 'network = ...' in {data_dir / 'node.toml'})\n"
        "Next: 'meshpantry neighbourhood create NAME' to found a neighbourhood,\n"
        "   or 'meshpantry join CODE' with an invite code from a member."
    ))
    return 0


def _choose_network(asked: str | None) -> str | None:
    """The network the new household's node will use: ``asked``, else the
    answer to a question on a terminal, else the LAN (loopback alone when
    the environment latches it). None after printing why it is refused."""
    from meshpantry.node.network import network_choice

    choice = network_choice()
    if asked is not None and asked not in choice.modes:
        print(f"meshpantry: {choice.describe('loopback')}; --network {asked} is refused", file=sys.stderr)
        return None
    if asked is not None:
        return asked
    if choice.latched or not sys.stdin.isatty():
        return choice.default
    print("Which network should this household's node use?")
    for number, mode in enumerate(choice.modes, 1):
        print(f"  {number}. {mode}: {choice.describe(mode)}")
    answer = input("network [1]: ").strip().lower()
    picked = {"": choice.modes[0], "1": choice.modes[0], "2": choice.modes[-1]}.get(answer, answer)
    if picked not in choice.modes:
        print(f"meshpantry: {answer!r} is not one of 1, 2, {', '.join(choice.modes)}", file=sys.stderr)
        return None
    return picked


def cmd_neighbourhood_create(args: argparse.Namespace, pantry: Household) -> None:
    who = pantry.whoami()
    result = pantry.create_neighbourhood(args.name, who.get("household_name") or "household", who.get("area"))
    emit(args, result, lambda r: f"Founded {r['neighbourhood_name']} ({short(r['neighbourhood'])}); you are its admin.\nInvite neighbours with 'meshpantry invite create'.")


def cmd_neighbourhood_show(args: argparse.Namespace, pantry: Household) -> None:
    result = pantry.neighbourhood_show()

    def render(r: dict) -> str:
        rows = [(short(h["id"]), h["name"], h.get("area") or "", len(h["devices"]), "admin" if h["admin"] else ("revoked" if h["revoked"] else "")) for h in r["households"]]
        return f"{r['name']}  ({r['id']})\n\n" + table(rows, ["household", "name", "area", "devices", ""])

    emit(args, result, render)


def cmd_invite_create(args: argparse.Namespace, pantry: Household) -> None:
    result = pantry.create_invite(uses=args.uses, hours=args.hours, note=args.note)

    def render(r: dict) -> str:
        where = ", ".join(a.split("/p2p/")[0].removeprefix("/ip4/").replace("/tcp/", ":") for a in r.get("addresses") or [])
        lines = [r["code"], "",
                 f"Valid until {show_time(r['expires'])} for {r['uses']} household(s). Hand it over in person: "
                 "anyone with it can join.",
                 f"It points newcomers at {where}." if where else
                 "It carries no address (start the node first, 'meshpantry node', so it does): newcomers "
                 "then find members over mDNS on the same network only."]
        if getattr(args, "qr", True) and sys.stdout.isatty():
            from .invite_qr import qr_ansi

            lines[1:1] = ["", qr_ansi(r["code"]).rstrip("\n")]
        return "\n".join(lines)

    emit(args, result, render)


def cmd_invite_list(args: argparse.Namespace, pantry: Household) -> None:
    rows = pantry.invite_list()
    emit(args, rows, lambda rs: table(
        [(short(r["invite"]), r["status"], f"{r['used']}/{r['uses']}", show_time(r["made"]),
          show_time(r["expires"]), r.get("note") or "") for r in rs],
        ["invite", "status", "used", "made", "expires", "note"],
    ) if rs else "No invites yet: 'meshpantry invite create' makes one.")


def _linked(r: dict) -> str:
    return (f"Linked device {short(r['device'])} to this household. On that device run:\n"
            f"  meshpantry device adopt {r['code']}")


def _adopted(r: dict) -> str:
    return (f"This device now writes for {r['household_name']} in {r['neighbourhood_name']}.\n"
            "Start its node ('meshpantry node') to sync; what it writes counts once the link arrives.")


def cmd_join(args: argparse.Namespace, pantry: Household) -> None:
    who = pantry.whoami()
    household = args.household or who.get("household_name")
    if not household:
        raise SystemExit("meshpantry: give your household's name with --household")
    result = pantry.join(args.code, household, args.area or who.get("area"))
    emit(args, result, lambda r: f"Joined {r['neighbourhood_name']} as {r['household_name']}.\nStart your node ('meshpantry node') to meet the neighbours and sync.")


def cmd_log(args: argparse.Namespace, pantry: Household) -> None:
    emit_paged(args, lambda after: pantry.log_page(limit=args.limit, kind=args.kind, after=after), "records",
               lambda rs: table(
                   [(short(r["id"]), r["kind"], short(r["author"]), r["seq"], r["lamport"], show_time(r["time"]), r["summary"]) for r in rs],
                   ["id", "kind", "author", "seq", "lamport", "time", "summary"],
               ), "No records yet.", "meshpantry log")
