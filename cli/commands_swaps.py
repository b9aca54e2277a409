"""Offers, claims, handovers and communal meals."""

from __future__ import annotations

import argparse
import re

from protocol.limits import MAX_QUANTITY

from .numbers import quantity
from .output import emit, note, short, table, waiting_words
from .paging import add_paging, emit_paged, pages
from .session import Household, Subcommands
from .when import BadTime, parse_when, show_time


def _when(text: str) -> int:
    try:
        return parse_when(text)
    except BadTime as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_quantity = quantity


_NEED = re.compile(r"^\s*(\d+)\s+(\S+)\s+(.+?)\s*$")


def parse_need(text: str) -> dict:
    """``'500 g rice'`` -> quantity, unit, item. Raises argparse.ArgumentTypeError."""
    match = _NEED.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"a need reads 'QUANTITY UNIT ITEM', e.g. '500 g rice', not {text!r}")
    return {"quantity": int(match.group(1)), "unit": match.group(2), "item": match.group(3)}


def _need(text: str) -> dict:
    """:func:`parse_need`, bounded as the command line reads it (a need of 0
    is refused later, with the meal's own message)."""
    need = parse_need(text)
    if need["quantity"] > MAX_QUANTITY:
        raise argparse.ArgumentTypeError(f"quantities are at most {MAX_QUANTITY} (use a larger unit)")
    return need


def _offer_fields(p: argparse.ArgumentParser, *, update: bool) -> None:
    p.add_argument("--best-before", type=_when, help="e.g. 2026-11-30, tomorrow, +3d")
    p.add_argument("--pickup-from", type=_when, help="start of the pickup window")
    p.add_argument("--pickup-until", type=_when, help="end of the pickup window")
    p.add_argument("--area", help="rough area (never an exact address)")
    p.add_argument("--tag", dest="tags", action="append", default=None if update else [], help="e.g. vegan, gluten-free (repeatable)")
    p.add_argument("--allergen", dest="allergens", action="append", default=None if update else [], help="e.g. nuts, milk (repeatable)")
    p.add_argument("--note")


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    offer = commands.add_parser("offer", parents=[common], help="offer ingredients you can spare").add_subparsers(dest="action", metavar="ACTION", required=True)
    p = offer.add_parser("add", parents=[common], help="offer an ingredient")
    p.add_argument("item")
    p.add_argument("quantity", type=_quantity, help="a whole number in UNIT")
    p.add_argument("unit", help="g, ml, items, jars...")
    _offer_fields(p, update=False)
    p.set_defaults(handler=cmd_offer_add)

    p = offer.add_parser("list", parents=[common], help="the board: offers still open")
    p.add_argument("--search", help="text to look for in item, note, area")
    p.add_argument("--tag")
    p.add_argument("--free-of", dest="free_of", action="append", default=[], help="hide offers with this allergen (repeatable)")
    p.add_argument("--sort", choices=("expiry", "newest"), default="expiry")
    p.add_argument("--all", action="store_true", help="include expired and withdrawn offers")
    p.add_argument("--mine", action="store_true", help="only this household's offers")
    p.add_argument("--area", help="only offers in this area")
    p.add_argument("--my-area", action="store_true", help="only offers in this household's own area")
    add_paging(p, "offers")
    p.set_defaults(read_only=True, handler=cmd_offer_list)

    p = offer.add_parser("show", parents=[common], help="an offer with its claims and a fair-share suggestion")
    p.add_argument("offer", help="offer id (a unique prefix is enough)")
    p.set_defaults(read_only=True, handler=lambda a, pantry: emit(a, pantry.offer_show(a.offer), render_offer))

    p = offer.add_parser("update", parents=[common], help="change your offer")
    p.add_argument("offer")
    p.add_argument("--item")
    p.add_argument("--quantity", type=_quantity)
    p.add_argument("--unit")
    _offer_fields(p, update=True)
    p.set_defaults(handler=cmd_offer_update)

    p = offer.add_parser("withdraw", parents=[common], help="take your offer off the board")
    p.add_argument("offer")
    p.set_defaults(handler=lambda a, pantry: emit(a, pantry.offer_withdraw(a.offer), render_offer))

    claim = commands.add_parser("claim", parents=[common], help="claim offers and decide claims on yours").add_subparsers(dest="action", metavar="ACTION", required=True)
    p = claim.add_parser("add", parents=[common], help="ask for part or all of an offer")
    p.add_argument("offer")
    p.add_argument("quantity", type=_quantity)
    p.add_argument("--message")
    p.set_defaults(handler=lambda a, pantry: emit(a, pantry.claim_add(a.offer, a.quantity, a.message), render_claim))
    p = claim.add_parser("cancel", parents=[common], help="withdraw your claim")
    p.add_argument("claim")
    p.set_defaults(handler=lambda a, pantry: emit(a, pantry.claim_cancel(a.claim), render_claim))
    p = claim.add_parser("accept", parents=[common], help="accept a claim on your offer")
    p.add_argument("claim")
    p.add_argument("--quantity", type=_quantity, help="accept less than asked")
    p.add_argument("--pickup", help="where and when to collect; only the claimant can read it")
    p.set_defaults(handler=lambda a, pantry: emit(a, pantry.claim_accept(a.claim, a.quantity, a.pickup), render_claim))
    p = claim.add_parser("decline", parents=[common], help="decline a claim on your offer")
    p.add_argument("claim")
    p.add_argument("--reason")
    p.set_defaults(handler=lambda a, pantry: emit(a, pantry.claim_decline(a.claim, a.reason), render_claim))
    p = claim.add_parser("show", parents=[common], help="one claim: where it stands, pickup, handover, any conflict")
    p.add_argument("claim")
    p.set_defaults(handler=lambda a, pantry: emit(a, pantry.claim_show(a.claim), render_claim))
    p = claim.add_parser("list", parents=[common], help="claims you made and claims on your offers, newest first")
    add_paging(p, "claims")
    p.set_defaults(read_only=True, handler=cmd_claim_list)

    handover = commands.add_parser("handover", parents=[common], help="confirm food changed hands").add_subparsers(dest="action", metavar="ACTION", required=True)
    p = handover.add_parser("confirm", parents=[common], help="confirm the handover of an accepted claim (both sides do)")
    p.add_argument("claim")
    p.add_argument("--note")
    p.set_defaults(handler=lambda a, pantry: emit(a, pantry.handover_confirm(a.claim, a.note), render_claim))

    meal = commands.add_parser("meal", parents=[common], help="communal meals and pledges").add_subparsers(dest="action", metavar="ACTION", required=True)
    p = meal.add_parser("add", parents=[common], help="propose a communal meal")
    p.add_argument("dish")
    p.add_argument("--time", type=_when, required=True, help="when, e.g. 'tomorrow 18:00'")
    p.add_argument("--place", required=True)
    p.add_argument("--need", dest="needs", type=_need, action="append", default=[], help="'QUANTITY UNIT ITEM', repeatable")
    p.add_argument("--note")
    p.set_defaults(handler=lambda a, pantry: emit(a, pantry.meal_add(a.dish, a.time, a.place, a.needs, a.note), render_meal))
    p = meal.add_parser("pledge", parents=[common], help="pledge an ingredient to a meal")
    p.add_argument("meal")
    p.add_argument("quantity", type=_quantity)
    p.add_argument("unit")
    p.add_argument("item")
    p.add_argument("--note")
    p.set_defaults(handler=lambda a, pantry: emit(a, pantry.meal_pledge(a.meal, a.item, a.quantity, a.unit, a.note), render_meal))
    p = meal.add_parser("show", parents=[common], help="a meal's needs against pledges")
    p.add_argument("meal")
    p.set_defaults(read_only=True, handler=lambda a, pantry: emit(a, pantry.meal_show(a.meal), render_meal))
    p = meal.add_parser("list", parents=[common], help="upcoming meals")
    p.add_argument("--all", action="store_true", help="include past meals")
    add_paging(p, "meals")
    p.set_defaults(read_only=True, handler=cmd_meal_list)


def cmd_offer_add(args: argparse.Namespace, pantry: Household) -> None:
    result = pantry.offer_add(
        args.item, args.quantity, args.unit, best_before=args.best_before,
        pickup_from=args.pickup_from, pickup_until=args.pickup_until, area=args.area,
        tags=args.tags, allergens=args.allergens, note=args.note,
    )
    emit(args, result, render_offer)


def cmd_offer_update(args: argparse.Namespace, pantry: Household) -> None:
    fields = {k: getattr(args, k) for k in ("item", "quantity", "unit", "best_before", "pickup_from", "pickup_until", "area", "tags", "allergens", "note")}
    emit(args, pantry.offer_update(args.offer, **fields), render_offer)


def cmd_offer_list(args: argparse.Namespace, pantry: Household) -> None:
    from .commands_outage import best_before_words, own_area

    area = own_area(pantry) if args.my_area else args.area

    def fetch(after: str | None) -> dict:
        return pantry.offer_page(
            search=args.search, tag=args.tag, free_of=args.free_of, sort=args.sort,
            include_closed=args.all, mine=args.mine, limit=args.limit, after=after, area=area,
        )

    emit_paged(args, fetch, "offers", lambda rows: table(
        [(short(o["id"]), o["item"], f"{o['remaining']}/{o['quantity']} {o['unit']}", best_before_words(o),
          o.get("area") or "", ",".join(o.get("tags") or []), o["household_name"], _offer_flags(o)) for o in rows],
        ["id", "item", "left", "best before", "area", "tags", "from", ""],
    ), "No open offers. Add one with 'meshpantry offer add ITEM QUANTITY UNIT'.", "meshpantry offer list")


def _offer_flags(o: dict) -> str:
    flags = []
    if o.get("withdrawn"):
        flags.append("withdrawn")
    elif o.get("expired"):
        flags.append("expired")
    elif o.get("expiring_soon"):
        flags.append("expiring soon")
    if o.get("allergens"):
        flags.append("contains " + ",".join(o["allergens"]))
    return "; ".join(flags)


def render_offer(o: dict) -> str:
    if waiting_words(o):
        return waiting_words(o)
    lines = [
        f"{o['item']}: {o['remaining']} of {o['quantity']} {o['unit']} left  ({o['id']})",
        f"from {o['household_name']}" + (f" in {o['area']}" if o.get("area") else ""),
        f"best before {show_time(o.get('best_before'))}; pickup {show_time(o.get('pickup_from'))} to {show_time(o.get('pickup_until'))}",
    ]
    if o.get("tags"):
        lines.append("tags: " + ", ".join(o["tags"]))
    if o.get("allergens"):
        lines.append("allergens: " + ", ".join(o["allergens"]))
    if o.get("note"):
        lines.append(o["note"])
    flags = _offer_flags(o)
    if flags:
        lines.append(f"[{flags}]")
    if o.get("claims"):
        lines.append("")
        lines.append(table(
            [(short(c["id"]), c["household_name"], c["quantity"], c["status"], c.get("accepted_quantity") or "", c.get("message") or "") for c in o["claims"]],
            ["claim", "household", "asked", "status", "given", "message"],
        ))
    for conflict in o.get("conflicts") or []:
        lines.append(f"CONFLICT on claim {short(conflict['claim'])}: {conflict['conflict']}")
    if o.get("fair_share"):
        lines.append("")
        lines.append("Fair-share suggestion (who received least lately goes first):")
        for s in o["fair_share"]:
            lines.append(f"  {short(s['claim'])}  {s['household_name']}: {s['quantity']} {o['unit']}")
    return "\n".join(lines)


def render_claim(c: dict) -> str:
    lines = [
        f"claim {c['id']} on {c['offer_item']} ({short(c['offer'])}): {c['quantity']} {c['unit']} by {c['household_name']} - {c['status']}",
    ]
    if c.get("accepted_quantity"):
        lines.append(f"accepted: {c['accepted_quantity']} {c['unit']}")
    if c.get("pickup"):
        lines.append(f"pickup: {c['pickup']}")
    if c["status"] == "accepted" or c.get("completed"):
        h = c.get("handover") or {}
        lines.append(
            "handover: " + ("complete" if c.get("completed") else
                            f"offerer {'confirmed' if h.get('offerer') else 'not yet'}, claimant {'confirmed' if h.get('claimant') else 'not yet'}")
        )
    if c.get("conflict"):
        lines.append(f"CONFLICT: {c['conflict']}")
    return "\n".join(lines)


def cmd_claim_list(args: argparse.Namespace, pantry: Household) -> None:
    """One page of claims (both sides, newest first); with --all-pages every
    page gathered into one answer."""
    if args.all_pages:
        swaps: dict = {"made": [], "received": [], "next": None}
        for part in pages(lambda after: pantry.swaps_page(limit=args.limit, after=after), args.after):
            swaps["made"] += part["made"]
            swaps["received"] += part["received"]
    else:
        swaps = pantry.swaps_page(limit=args.limit, after=args.after)

    def render(s: dict) -> str:
        out = []
        # A claim you made shows whose offer it is on; one on your offer, who asks.
        for title, rows, who, heading in (("Claims you made", s["made"], "offerer_name", "from"),
                                          ("Claims on your offers", s["received"], "household_name", "by")):
            out.append(title)
            out.append(table(
                [(short(c["id"]), c["offer_item"], f"{c['quantity']} {c['unit']}", c.get(who) or "?", c["status"], "done" if c.get("completed") else "") for c in rows],
                ["claim", "item", "asked", heading, "status", "handover"],
            ) if rows else "  (none)")
            out.append("")
        return "\n".join(out).rstrip()

    emit(args, swaps, render)
    if swaps.get("next") and not args.json:
        note(f"more: meshpantry claim list --after {swaps['next']} (or --all-pages)")


def render_meal(m: dict) -> str:
    lines = [f"{m['dish']} at {m['place']}, {show_time(m['time'])}  ({m['id']})", f"proposed by {m['household_name']}"]
    if m.get("note"):
        lines.append(m["note"])
    if m.get("needs"):
        lines.append("")
        lines.append(table(
            [(n["item"], f"{n['pledged']}/{n['quantity']} {n['unit']}", _bar(n["pledged"], n["quantity"]), f"{n['missing']} missing" if n["missing"] else "covered") for n in m["needs"]],
            ["need", "pledged", "", ""],
        ))
    if m.get("pledges"):
        lines.append("")
        lines.append("Pledges: " + "; ".join(f"{p['household_name']} {p['quantity']} {p['unit']} {p['item']}" for p in m["pledges"]))
    return "\n".join(lines)


def _bar(have: int, need: int, width: int = 20) -> str:
    filled = min(width, (have * width) // need if need else width)
    return "#" * filled + "." * (width - filled)


def cmd_meal_list(args: argparse.Namespace, pantry: Household) -> None:
    emit_paged(args, lambda after: pantry.meal_page(include_past=args.all, limit=args.limit, after=after), "meals",
               lambda rows: table(
                   [(short(m["id"]), m["dish"], show_time(m["time"]), m["place"], f"{m['coverage']}%") for m in rows],
                   ["id", "dish", "when", "place", "covered"],
               ), "No meals planned. Propose one with 'meshpantry meal add'.", "meshpantry meal list")
