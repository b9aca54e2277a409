"""Bad input on the command line gets a clear message and its exit code, with
or without a running node; text other households wrote prints inert.

Each case once ended in a traceback (exit 1) or printed a neighbour's escape
sequences raw into this terminal.
"""

from __future__ import annotations

import pytest

from cli.terminal_text import terminal_safe
from cli.when import BadTime, parse_when
from meshpantry.exit_codes import ExitCode
from tests.tui.nodes import run_node

from .conftest import Household, exchange

HUGE = "9" * 30  #: far past 2^64
NOT_UTF8 = b"app\xffles".decode("utf-8", "surrogateescape")  #: as Python reads such argv bytes

CASES = [
    ("offer", "add", "apples", HUGE, "kg"),
    ("offer", "add", NOT_UTF8, "1", "kg"),
    ("offer", "add", "apples", "1", "kg", "--best-before", "+999999w"),
    ("invite", "create", "--uses", HUGE),
    ("recipe", "add", "soup", "--serves", HUGE),
    ("meal", "add", "soup", "--time", "+2h", "--need", f"{HUGE} g rice"),
]


def check_refused(household: Household, argv: tuple[str, ...]) -> None:
    code, out, err = household.run(*argv)
    assert code == ExitCode.USAGE, (argv, code, err)
    assert "Traceback" not in err and (err.startswith("usage:") or err.startswith("meshpantry:"))
    assert out == ""


@pytest.mark.parametrize("argv", CASES, ids=[" ".join(c)[:40] for c in CASES])
def test_bad_arguments_are_usage_errors_without_a_node(founded, argv):
    check_refused(founded, argv)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    running = run_node(tmp_path_factory.mktemp("badinput") / "oak", "Oak")
    running.call("create_neighbourhood", name="Oak Row", household="Oak")
    yield running
    running.stop()


@pytest.mark.parametrize("argv", CASES, ids=[" ".join(c)[:40] for c in CASES])
def test_bad_arguments_are_usage_errors_through_the_node(node, capsys, argv):
    check_refused(Household(node.data_dir, capsys), argv)


def test_the_control_client_refuses_what_it_cannot_send(node):
    """Another program on the control socket gets the same typed error."""
    from meshpantry.control.client import ControlClient
    from meshpantry.pantry.errors import BadRequest

    with ControlClient.connect(node.data_dir) as client:
        for args in ({"item": "apples", "quantity": 10**30, "unit": "kg"},
                     {"item": NOT_UTF8, "quantity": 1, "unit": "kg"}):
            with pytest.raises(BadRequest) as caught:
                client.call("offer_add", **args)
            assert caught.value.exit_code == ExitCode.USAGE
        assert client.call("offer_add", item="apples", quantity=1, unit="kg")["item"] == "apples"


def test_relative_times_past_the_calendar_are_bad_times():
    with pytest.raises(BadTime, match="too far ahead"):
        parse_when("+999999w")


def test_a_neighbours_escape_sequences_print_inert(pair):
    """The Zhengs name an offer with a clear-screen escape, a bell, a carriage
    return and a right-to-left override; the Okafors' list shows them as
    visible escapes, on one row."""
    okafors, zhengs = pair
    hostile = "\x1b[2J\x07leeks\r\u202eevil\nrow"
    assert zhengs.run("offer", "add", hostile, "1", "kg")[0] == 0
    exchange(okafors, zhengs)
    code, out, _ = okafors.run("offer", "list")
    assert code == 0
    assert "\\x1b[2J\\x07leeks\\x0d\\u202eevil\\x0arow" in out
    for raw in ("\x1b", "\x07", "\r", "\u202e"):
        assert raw not in out
    code, out, _ = okafors.run("offer", "show", okafors.json("offer", "list")["offers"][0]["id"])
    assert code == 0 and "\x1b" not in out
    assert okafors.json("offer", "list")["offers"][0]["item"] == hostile  # the data is kept as written


def test_terminal_safe_keeps_ordinary_text_and_line_breaks_where_asked():
    assert terminal_safe("Grandma's crème brûlée 🍮 [bold]") == "Grandma's crème brûlée 🍮 [bold]"
    assert terminal_safe("a\nb") == "a\\x0ab"
    assert terminal_safe("a\nb\x1b", newlines=True) == "a\nb\\x1b"
    assert terminal_safe("\x9b31m\u2066x\u2069") == "\\x9b31m\\u2066x\\u2069"
