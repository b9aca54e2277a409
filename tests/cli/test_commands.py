"""The local command line: every command, its output, its exit codes."""

from __future__ import annotations

import os
import stat

import pytest

from cli.main import main
from tests.cli.conftest import exchange


def test_init_refuses_a_second_identity(founded):
    """init never overwrites a device key."""
    code, _, err = founded.run("init", "--household", "Again")
    assert code == 6
    assert "already has an identity" in err


def test_key_file_is_owner_only_and_refused_when_readable(founded):
    """The key file is 0600; a world-readable key is refused with advice."""
    key = founded.data_dir / "device.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    os.chmod(key, 0o644)
    code, _, err = founded.run("offer", "list")
    assert code == 3
    assert "chmod 600" in err


def test_encrypted_key_needs_its_passphrase(household, tmp_path):
    """A passphrase-protected key opens with the passphrase and not without."""
    h = household("secret")
    pass_file = tmp_path / "pass"
    pass_file.write_text("correct horse\n")
    assert h.run("init", "--household", "Secretive", "--encrypt", "--passphrase-file", str(pass_file))[0] == 0
    assert b"ENCRYPTED" in (h.data_dir / "device.key").read_bytes()
    code, _, err = h.run("whoami")
    assert code == 3 and "passphrase" in err
    assert h.run("whoami", "--passphrase-file", str(pass_file))[0] == 0
    pass_file.write_text("wrong\n")
    code, _, err = h.run("whoami", "--passphrase-file", str(pass_file))
    assert code == 3 and "wrong passphrase" in err


def test_commands_before_init_say_what_to_do(household):
    """Without an identity every command exits 3 and names 'meshpantry init'."""
    h = household("nobody")
    code, _, err = h.run("offer", "list")
    assert code == 3
    assert "meshpantry init" in err


def test_commands_before_a_neighbourhood_say_what_to_do(household):
    h = household("lonely")
    h.run("init", "--household", "Lonely")
    code, _, err = h.run("offer", "add", "rice", "500", "g")
    assert code == 3
    assert "neighbourhood create" in err


def test_bad_arguments_exit_2(founded):
    code, _, err = founded.run("offer", "add", "rice", "1.5", "kg")
    assert code == 2
    assert "whole number" in err
    code, _, err = founded.run("offer", "frobnicate")
    assert code == 2 and "invalid choice" in err


def test_offer_lifecycle(founded):
    """add, list (human and JSON), show, update, withdraw."""
    offer = founded.json("offer", "add", "tomatoes", "500", "g", "--tag", "Veg", "--best-before", "+2d", "--area", "north")
    assert offer["remaining"] == 500 and offer["tags"] == ["veg"]
    code, out, _ = founded.run("offer", "list")
    assert code == 0 and "tomatoes" in out and "500/500 g" in out
    rows = founded.json("offer", "list", "--tag", "veg")["offers"]
    assert [r["id"] for r in rows] == [offer["id"]]
    assert founded.json("offer", "list", "--search", "potato") == {"offers": [], "next": None}
    updated = founded.json("offer", "update", offer["id"][:8], "--quantity", "400", "--note", "ripe")
    assert updated["quantity"] == 400 and updated["note"] == "ripe"
    withdrawn = founded.json("offer", "withdraw", offer["id"][:8])
    assert withdrawn["withdrawn"] is True
    assert founded.json("offer", "list")["offers"] == []
    assert len(founded.json("offer", "list", "--all")["offers"]) == 1


def test_unknown_and_ambiguous_ids_exit_4(founded):
    code, _, err = founded.run("offer", "show", "deadbeef")
    assert code == 4 and "no offer" in err
    code, _, err = founded.run("offer", "show", "ab")
    assert code == 6 and "at least 4" in err


def test_swap_between_two_households(pair):
    """offer, claim, accept with sealed pickup, both confirm the handover."""
    okafors, zhengs = pair
    offer = okafors.json("offer", "add", "flour", "1000", "g")
    exchange(okafors, zhengs)
    claim = zhengs.json("claim", "add", offer["id"][:10], "600", "--message", "for bread")
    assert claim["status"] == "pending"
    code, _, err = zhengs.run("claim", "add", offer["id"][:10], "2000")
    assert code == 6 and "1000 g" in err
    exchange(okafors, zhengs)
    code, _, err = zhengs.run("claim", "accept", claim["id"][:10])
    assert code == 6 and "only the household that made the offer" in err
    accepted = okafors.json("claim", "accept", claim["id"][:10], "--quantity", "500", "--pickup", "blue door, 6pm")
    assert accepted["status"] == "accepted" and accepted["accepted_quantity"] == 500
    assert accepted["pickup"] == "(sealed to the claimant)"
    exchange(okafors, zhengs)
    mine = zhengs.json("claim", "list")["made"]
    assert mine[0]["pickup"] == "blue door, 6pm"
    assert okafors.json("offer", "show", offer["id"][:10])["remaining"] == 500
    okafors.json("handover", "confirm", claim["id"][:10])
    exchange(okafors, zhengs)
    done = zhengs.json("handover", "confirm", claim["id"][:10])
    assert done["completed"] is True


def test_decline_and_cancel(pair):
    okafors, zhengs = pair
    offer = okafors.json("offer", "add", "eggs", "6", "items")
    exchange(okafors, zhengs)
    first = zhengs.json("claim", "add", offer["id"][:10], "2")
    second = zhengs.json("claim", "add", offer["id"][:10], "3")
    exchange(okafors, zhengs)
    assert okafors.json("claim", "decline", first["id"][:10], "--reason", "promised")["status"] == "declined"
    assert zhengs.json("claim", "cancel", second["id"][:10])["status"] == "cancelled"
    code, _, err = okafors.run("claim", "cancel", second["id"][:10])
    assert code == 6


def test_meal_needs_and_pledges(pair):
    okafors, zhengs = pair
    meal = okafors.json("meal", "add", "Outage stew", "--time", "tomorrow 18:00", "--place", "courtyard",
                        "--need", "2000 g potatoes", "--need", "1 items pot")
    assert meal["coverage"] == 0
    exchange(okafors, zhengs)
    pledged = zhengs.json("meal", "pledge", meal["id"][:10], "1500", "g", "potatoes")
    need = next(n for n in pledged["needs"] if n["item"] == "potatoes")
    assert need["pledged"] == 1500 and need["missing"] == 500
    code, out, _ = zhengs.run("meal", "show", meal["id"][:10])
    assert "500 missing" in out
    assert [m["dish"] for m in zhengs.json("meal", "list")["meals"]] == ["Outage stew"]


def test_recipe_add_edit_story_export(pair, tmp_path):
    okafors, zhengs = pair
    recipe = okafors.json("recipe", "add", "Candle-light flatbread", "--ingredient", "2 cup flour",
                          "--ingredient", "1 cup water", "--ingredient", "salt", "--step", "Mix",
                          "--step", "Fry in a dry pan", "--tag", "born in the outage", "--origin", "Levant")
    assert [i["item"] for i in recipe["ingredients"]] == ["flour", "water", "salt"]
    assert recipe["ingredients"][0]["amount"] == "2" and recipe["ingredients"][0]["unit"] == "cup"
    exchange(okafors, zhengs)
    edited = zhengs.json("recipe", "edit", recipe["id"][:10], "--add-step", "Rest the dough 10 minutes", "--after", "1")
    assert [s["text"] for s in edited["steps"]] == ["Mix", "Rest the dough 10 minutes", "Fry in a dry pan"]
    told = zhengs.json("recipe", "story", recipe["id"][:10], "We made this on the camping stove.", "--title", "Night one")
    assert told["stories"][0]["title"] == "Night one"
    assert set(told["contributors"]) == {"The Okafors", "The Zhengs"}
    variation = zhengs.json("recipe", "add", "Herb flatbread", "--adapted-from", recipe["id"][:10])
    assert variation["adapted_from"]["title"] == "Candle-light flatbread"
    exchange(okafors, zhengs)
    out_file = tmp_path / "book.html"
    assert okafors.run("recipe", "export", "--format", "html", "-o", str(out_file))[0] == 0
    page = out_file.read_text()
    assert "Candle-light flatbread" in page and "Night one" in page and "<ol>" in page
    code, markdown, _ = okafors.run("recipe", "export", "--format", "markdown")
    assert "## Herb flatbread" in markdown and "Adapted from *Candle-light flatbread*" in markdown


def test_log_and_rebuild(founded):
    founded.json("offer", "add", "apples", "6", "items")
    log = founded.json("log")["records"]
    assert [r["kind"] for r in log] == ["offer", "household", "neighbourhood"]
    assert all(r["status"] == "counted" for r in log)
    assert [r["kind"] for r in founded.json("log", "--limit", "2")["records"]] == ["offer", "household"]
    assert [r["kind"] for r in founded.json("log", "--kind", "household")["records"]] == ["household"]
    result = founded.json("rebuild")
    assert result["identical"] is True


def test_join_with_a_damaged_code(household):
    h = household("newcomer")
    h.run("init", "--household", "New")
    code, _, err = h.run("join", "mp1-notacode")
    assert code == 6 and "damaged" in err
    code, _, err = h.run("join", "hello")
    assert code == 6 and "starts with" in err


def test_a_restored_key_cannot_write_before_its_chain_is_recovered(founded, household):
    """A key copied into a fresh data directory may have history elsewhere:
    writing before recovering it from peers could fork, so it is refused."""
    restored = household("restored")
    restored.data_dir.mkdir(mode=0o700)
    key = (founded.data_dir / "device.key").read_bytes()
    (restored.data_dir / "device.key").write_bytes(key)
    (restored.data_dir / "device.key").chmod(0o600)
    code, _, err = restored.run("neighbourhood", "create", "Fork Street")
    assert code == 6
    assert "recover its own chain" in err


def test_a_store_that_cannot_be_written_gives_advice_not_a_traceback(founded):
    """A read-only (or full) disk is reported with what to do next."""
    import sqlite3
    from unittest import mock

    with mock.patch("meshpantry.store.store.Store.append_own",
                    side_effect=sqlite3.OperationalError("database or disk is full")):
        code, _, err = founded.run("offer", "add", "rice", "500", "g")
    assert code == 1
    assert "disk is full" in err and "free some space" in err
    assert founded.json("offer", "list")["offers"] == []


def test_a_new_offer_reads_the_same_from_the_record_and_from_the_state(founded):
    """offer add answers from the record alone; that answer equals offer show's."""
    added = founded.json("offer", "add", "beans", "700", "g", "--best-before", "+1d", "--tag", "dry",
                         "--allergen", "sulphites", "--area", "north", "--note", "in jars")
    shown = founded.json("offer", "show", added["id"])
    assert added == shown


def test_node_help_tells_the_truth_about_the_network(household, capsys):
    """`node --help` says the default is the LAN (0.0.0.0:4747) and names loopback mode."""
    code, out, _ = household("helpful").run("node", "--help")
    text = " ".join(out.split())
    assert code == 0 and "default 0.0.0.0:4747 on the LAN" in text and "--network" in text
    assert "MESHPANTRY_NETWORK=loopback" in text


def test_init_records_the_network_and_says_it(household):
    """init says which network the node will use and saves it in node.toml;
    under the loopback latch it refuses the LAN."""
    h = household("netty")
    code, out, err = h.run("init", "--household", "Netty")
    assert code == 0 and "network this computer only" in out, err
    assert 'network = "loopback"' in (h.data_dir / "node.toml").read_text()
    code, _, err = household("greedy").run("init", "--household", "Greedy", "--network", "lan")
    assert code == 2 and "--network lan is refused" in err


def test_a_pledge_in_another_unit_of_the_same_kind_covers_the_need(pair):
    """1 kg potatoes covers 1000 g of a 2000 g need; 2 items cannot count
    towards grams and is refused with what to do; coverage counts each line
    alike, so a meal whose only pot is missing is not 99% covered."""
    okafors, zhengs = pair
    meal = okafors.json("meal", "add", "Outage stew", "--time", "tomorrow 18:00", "--place", "courtyard",
                        "--need", "2000 g potatoes", "--need", "1 items pot")
    exchange(okafors, zhengs)
    shown = zhengs.json("meal", "pledge", meal["id"][:10], "1", "kg", "potatoes")
    assert shown["needs"][0]["pledged"] == 1000 and shown["needs"][0]["missing"] == 1000
    code, _, err = zhengs.run("meal", "pledge", meal["id"][:10], "2", "items", "potatoes")
    assert code == 6 and "needs potatoes in g (a weight)" in err and "pledge in g" in err
    shown = zhengs.json("meal", "pledge", meal["id"][:10], "1000", "G", "Potatoes")
    assert shown["needs"][0]["missing"] == 0
    assert shown["coverage"] == 50 and shown["lines_covered"] == 1


def test_claim_list_names_the_offerer_of_a_claim_you_made(pair):
    """'Claims you made' shows whose offer each is on (it showed your own
    household); 'Claims on your offers' shows who asks."""
    okafors, zhengs = pair
    offer = okafors.json("offer", "add", "flour", "1000", "g")
    exchange(okafors, zhengs)
    zhengs.json("claim", "add", offer["id"], "300")
    exchange(okafors, zhengs)
    _, made, _ = zhengs.run("claim", "list")
    made_rows = made.split("Claims on your offers")[0]
    assert "FROM" in made_rows and "The Okafors" in made_rows and "The Zhengs" not in made_rows
    _, received, _ = okafors.run("claim", "list")
    received_rows = received.split("Claims on your offers")[1]
    assert "BY" in received_rows and "The Zhengs" in received_rows
