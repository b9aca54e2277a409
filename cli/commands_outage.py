"""Commands for an outage: sneakernet bundles between islands."""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from .output import emit, short
from .session import Household, Subcommands
from .when import BadTime, parse_when

_AGO = re.compile(r"^(\d{1,6})([mhdw])$")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


def parse_since(text: str) -> int:
    """``2d`` (the last two days), ``6h``, or a time as ``meshpantry`` reads
    them (``2026-11-26``, ``'2026-11-26 18:00'``): ms since the epoch."""
    match = _AGO.match(text.strip().lower())
    if match:
        return int(time.time() * 1000) - int(match.group(1)) * _UNIT_MS[match.group(2)]
    try:
        return parse_when(text)
    except BadTime as exc:
        raise argparse.ArgumentTypeError(f"{exc}; or a span back from now such as 2d or 6h") from None


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    bundle = commands.add_parser(
        "bundle", parents=[common], help="sneakernet: carry records between islands on a USB stick",
    ).add_subparsers(dest="action", metavar="ACTION", required=True)
    p = bundle.add_parser("export", parents=[common], help="write a bundle of this household's records to FILE")
    p.add_argument("file", type=Path)
    p.add_argument("--since", type=parse_since, help="only records written since: 2d, 6h, 2026-11-26, ...")
    p.add_argument("--for", dest="answer_to", type=Path, metavar="BUNDLE",
                   help="a bundle received: write exactly what its exporter lacks (a return bundle)")
    p.set_defaults(handler=cmd_bundle_export)

    p = bundle.add_parser("import", parents=[common], help="apply a bundle from FILE (all or nothing)")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_bundle_import)
    register_cooking(commands, common)


def cmd_bundle_export(args: argparse.Namespace, pantry: Household) -> int:
    from meshpantry.pantry import Pantry
    from meshpantry.pantry.bundle_file import bundle_export

    answer_to = str(args.answer_to.resolve()) if args.answer_to else None
    export = (lambda **kw: bundle_export(pantry, **kw)) if isinstance(pantry, Pantry) else pantry.bundle_export
    result = export(path=str(args.file.resolve()), since=args.since, answer_to=answer_to)
    emit(args, result, render_export)
    return 0


def cmd_bundle_import(args: argparse.Namespace, pantry: Household) -> int:
    from meshpantry.pantry import Pantry
    from meshpantry.pantry.bundle_file import apply_bundle

    path = str(args.file.resolve())
    if isinstance(pantry, Pantry):
        meter = Meter("importing")
        result, _ = apply_bundle(pantry, path, progress=meter)
        meter.done()
    else:
        if sys.stderr.isatty():
            print("the running node is applying the bundle...", file=sys.stderr)
        result = pantry.bundle_import(path)
    emit(args, result, render_import)
    return 0


class Meter:
    """A one-line progress counter on stderr, silent unless stderr is a terminal."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.shown = sys.stderr.isatty()
        self.used = False

    def __call__(self, done: int, total: int) -> None:
        if self.shown and total >= 1000:
            self.used = True
            print(f"\r{self.what}: {done}/{total} records ({100 * done // max(total, 1)}%)", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.used:
            print(file=sys.stderr)


def render_export(r: dict) -> str:
    lines = [f"wrote {r['records']} records ({r['bytes']} bytes) to {r['path']}  bundle {short(r['bundle'])}"]
    if r.get("answers"):
        lines.append(f"answers bundle {short(r['answers'])}: exactly what its exporter lacks"
                     + (f" ({r['unproven']} more sent without proof they were lacking)" if r.get("unproven") else ""))
    lines.append("carry it to the other island and run 'meshpantry bundle import FILE' there;"
                 " 'meshpantry bundle export OUT --for FILE' writes the way back")
    return "\n".join(lines)


def render_import(r: dict) -> str:
    kinds = ", ".join(f"{n} {k}" for k, n in r["new_by_kind"].items())
    lines = [f"applied bundle {short(r['bundle'])} from {short(r['exporter'])}: {r['new']} new of {r['records']} records"
             + (f" ({kinds})" if kinds else "")]
    if r["duplicates"]:
        lines.append(f"{r['duplicates']} already held")
    if r["waiting"]:
        lines.append(f"{r['waiting']} wait for their author's membership to arrive")
    if r["forks"]:
        lines.append(f"{r['forks']} forks found (shown in 'meshpantry status')")
    return "\n".join(lines)


# -- the outage clock ----------------------------------------------------------------

#: How the catch-up summary names each count, in the order shown.
ARRIVED_WORDS = (
    ("offers", "offer", "offers"), ("claims_decided", "claim decided", "claims decided"),
    ("claims", "claim", "claims"), ("handovers", "handover", "handovers"), ("meals", "meal", "meals"),
    ("recipes", "recipe", "recipes"), ("recipe_edits", "recipe edit", "recipe edits"),
    ("stories", "story", "stories"), ("households_joined", "household joined", "households joined"),
    ("other", "other record", "other records"),
)


def arrived_words(arrived: dict) -> str:
    parts = [f"{arrived[key]} {one if arrived[key] == 1 else many}"
             for key, one, many in ARRIVED_WORDS if arrived.get(key)]
    return ", ".join(parts) or "nothing new"


def outage_lines(outage: dict | None) -> list[str]:
    """The ``status`` lines of the outage clock (none if there never was one)."""
    from .when import show_time

    if not outage or outage.get("began") is None:
        return []
    if outage["in_outage"]:
        return [f"outage        ISLAND since {show_time(outage['began'])} ({outage['hours']} h without the mesh)"]
    lines = [f"last outage   {show_time(outage['began'])} to {show_time(outage['ended'])} ({outage['hours']} h)"]
    if outage.get("catching_up"):
        lines.append(f"catching up   {outage['behind']} records still to come from neighbours")
    if outage.get("arrived") is not None:
        lines.append("while apart   " + arrived_words(outage["arrived"]))
    return lines


def best_before_words(offer: dict) -> str:
    """The best-before, and beside a perishable offer in an outage the hours
    the power has been out."""
    from .when import show_time

    words = show_time(offer.get("best_before"))
    if offer.get("outage_hours") is not None:
        words += f" ({offer['outage_hours']} h outage)"
    return words


def own_area(pantry: Household) -> str:
    """This household's area, for ``--my-area``; refuses when none is set."""
    from meshpantry.pantry.errors import InvalidInput

    area = pantry.whoami().get("area")
    if not area:
        raise InvalidInput("area", "this household has no area; name one with --area AREA")
    return area


# -- the pantry list and cookable now ----------------------------------------------------


def local_or_remote(pantry: Household, function):
    """``function(pantry, ...)`` on a local Pantry, or the node's op of the
    same name through the control socket."""
    from meshpantry.pantry import Pantry

    if isinstance(pantry, Pantry):
        return lambda *a, **kw: function(pantry, *a, **kw)
    return getattr(pantry, function.__name__)


def register_cooking(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    from .commands_recipes import parse_ingredient

    larder = commands.add_parser(
        "pantry", parents=[common], help="this household's own pantry list (kept on this device, never shared)",
    ).add_subparsers(dest="action", metavar="ACTION", required=True)
    p = larder.add_parser("add", parents=[common], help="put something on the list: '2 kg flour', 'salt'")
    p.add_argument("words", nargs="+", type=str, metavar="[AMOUNT [UNIT]] ITEM")
    p.set_defaults(handler=lambda a, pantry: cmd_pantry_add(a, pantry, parse_ingredient))
    p = larder.add_parser("remove", parents=[common], help="take an item off the list")
    p.add_argument("item")
    p.set_defaults(handler=cmd_pantry_remove)
    p = larder.add_parser("list", parents=[common], help="what the list holds")
    p.set_defaults(handler=cmd_pantry_list)

    p = commands.add_parser("cook", parents=[common],
                            help="what can be cooked now with the pantry list and the live offers")
    p.add_argument("--ready", action="store_true", help="only recipes with nothing missing")
    p.set_defaults(handler=cmd_cook)


def cmd_pantry_add(args: argparse.Namespace, pantry: Household, parse) -> int:
    from meshpantry.pantry.larder import pantry_add

    try:
        line = parse(" ".join(args.words))
    except argparse.ArgumentTypeError as exc:
        from meshpantry.pantry.errors import InvalidInput

        raise InvalidInput("item", str(exc)) from None
    result = local_or_remote(pantry, pantry_add)(line["item"], amount=line.get("amount"), unit=line.get("unit"))
    emit(args, result, render_pantry)
    return 0


def cmd_pantry_remove(args: argparse.Namespace, pantry: Household) -> int:
    from meshpantry.pantry.larder import pantry_remove

    emit(args, local_or_remote(pantry, pantry_remove)(args.item), render_pantry)
    return 0


def cmd_pantry_list(args: argparse.Namespace, pantry: Household) -> int:
    from meshpantry.pantry.larder import pantry_list

    emit(args, local_or_remote(pantry, pantry_list)(), render_pantry)
    return 0


def render_pantry(r: dict) -> str:
    if not r["items"]:
        return "The pantry list is empty. Add what you have: meshpantry pantry add 2 kg flour"
    return "\n".join(" ".join(x for x in (i.get("amount"), i.get("unit"), i["item"]) if x) for i in r["items"])


def cmd_cook(args: argparse.Namespace, pantry: Household) -> int:
    from meshpantry.pantry.larder import cook

    emit(args, local_or_remote(pantry, cook)(ready_only=args.ready), render_cook)
    return 0


def line_words(line: dict) -> str:
    what = " ".join(x for x in (line.get("amount"), line.get("unit"), line["item"]) if x)
    use = f" -> {line['use']}" if line.get("use") else ""
    if line["source"] == "pantry":
        return f"  have     {what}{use}"
    if line["source"] == "offer":
        o = line["offer"]
        who = "your offer" if o["mine"] else f"{o['household_name']} offers {o['remaining']} {o['unit']} ({short(o['id'])})"
        return f"  on offer {what}{use}: {who}"
    return f"  MISSING  {what}"


def render_cook(r: dict) -> str:
    if not r["recipes"]:
        return ("Nothing to match: the recipe book has no recipe with ingredients."
                if not r["ready"] else "Nothing can be cooked now.")
    lines = [f"{r['ready']} recipe(s) can be cooked now ({r['pantry_items']} on your pantry list, {r['offers']} live offers)"]
    for recipe in r["recipes"]:
        state = "COOK NOW" if recipe["ready"] else f"missing {len(recipe['missing'])}: " + ", ".join(recipe["missing"])
        lines.append(f"\n{recipe['title']}  ({short(recipe['id'])})  {state}")
        lines += [line_words(line) for line in recipe["lines"]]
    return "\n".join(lines)
