"""Invite codes: short, checked, old ones still read; a QR code beside the
text; `invite list`; suggestions name commands that exist."""

from __future__ import annotations

import os

import pytest

from cli.invite_qr import qr_matrix, qr_text
from cli.main import main
from meshpantry.pantry.errors import LISTINGS, BadInviteCode
from meshpantry.pantry.invite_code import InviteCode, encode_v1, peer_id_of, seed_of

from .conftest import exchange

PEER = "12D3KooWByPEXsSr5k5JeCPSSjV9rATVNyYix32tbAHb1tDfsLC9"
LAN = (f"/ip4/192.168.1.20/tcp/4747/p2p/{PEER}",)


def sample(addresses=LAN, name="Elm Street") -> InviteCode:
    return InviteCode.new(os.urandom(32), name, os.urandom(32), 1234, os.urandom(16), addresses)


def test_a_code_with_one_address_is_about_190_characters_and_reads_back():
    """Format 2 carries everything a join needs in well under the old 323 characters."""
    code = sample()
    text = code.encode()
    assert text.startswith("mp2-") and len(text) <= 200
    assert InviteCode.decode(text) == code
    assert InviteCode.decode(text).seed == seed_of(code.secret)
    assert InviteCode.decode("  " + text[:40] + "\n" + text[40:]) == code  # pasted over two lines


def test_only_addresses_of_one_peer_over_ipv4_are_kept():
    """Other peers' addresses, DNS and IPv6 do not fit format 2 and are left out."""
    other = "/ip4/10.0.0.9/tcp/4747/p2p/" + peer_id_of(bytes(range(32)))
    code = sample((*LAN, other, f"/dns4/pantry.local/tcp/4747/p2p/{PEER}", f"/ip6/::1/tcp/4747/p2p/{PEER}",
                   f"/ip4/127.0.0.1/tcp/4747/p2p/{PEER}"))
    assert InviteCode.decode(code.encode()).addresses == (LAN[0], f"/ip4/127.0.0.1/tcp/4747/p2p/{PEER}")


def test_a_mistyped_code_is_refused_as_damaged():
    """One character changed, dropped or misread fails the checksum or the alphabet."""
    text = sample().encode()
    flipped = text[:50] + ("a" if text[50] != "a" else "b") + text[51:]
    for bad in (flipped, text[:-1], text[:50] + "0" + text[51:]):
        with pytest.raises(BadInviteCode):
            InviteCode.decode(bad)


def test_old_codes_are_still_accepted():
    """A format-1 code (mp1-, base32 of msgpack with the 32-byte seed) still decodes."""
    old = InviteCode(os.urandom(32), "Elm Street", os.urandom(32), 7, os.urandom(32), LAN)
    text = encode_v1(old)
    assert text.startswith("mp1-") and len(text) > 300
    assert InviteCode.decode(text) == old


def test_the_qr_code_reads_back_as_the_code_text():
    """The QR code holds the code's text; drawn two module rows per line."""
    text = sample().encode()
    matrix = qr_matrix(text)
    drawn = qr_text(text).plain.splitlines()
    assert len(drawn) == (len(matrix) + 1) // 2 and all(len(line) == len(matrix[0]) for line in drawn)
    assert len(matrix[0]) <= 57, "a phone scans it off an 80-column terminal"


def test_a_joined_code_works_and_invite_list_counts_it(founded, household):
    """A format-2 code joins; `invite list` then shows it used, a second one open."""
    first = founded.json("invite", "create", "--note", "for the Zhengs")
    assert first["code"].startswith("mp2-")
    zhengs = household("zhengs")
    assert zhengs.run("init", "--household", "The Zhengs")[0] == 0
    code, _, err = zhengs.run("join", first["code"])
    assert code == 0, err
    exchange(founded, zhengs)
    founded.json("invite", "create", "--uses", "2")
    rows = founded.json("invite", "list")
    assert [(r["status"], r["used"], r["uses"]) for r in rows] == [("open", 0, 2), ("used", 1, 1)]
    assert rows[1]["note"] == "for the Zhengs"
    code, out, _ = founded.run("invite", "list")
    assert code == 0 and "used" in out and "1/1" in out


def test_invite_create_draws_no_qr_into_a_pipe(founded):
    """Scripts get the code and the sentence, not a drawing."""
    code, out, _ = founded.run("invite", "create")
    assert code == 0 and out.startswith("mp2-") and "▀" not in out


def test_unknown_ids_suggest_commands_that_exist(founded, capsys):
    """`revoke` of an unknown household suggests `neighbourhood show`, never
    the missing `household list`; every suggested listing parses."""
    code, _, err = founded.run("revoke", "abcd1234")
    assert code == 4 and "meshpantry neighbourhood show" in err and "household list" not in err
    for listing in set(LISTINGS.values()):
        with pytest.raises(SystemExit) as shown:
            main([*listing.split()[1:], "--help"])
        assert shown.value.code == 0, listing
    capsys.readouterr()


def test_a_revoked_invite_admits_nobody_and_says_so(founded, household):
    """
        invite ── invite_cancel ── join (made with the code later)
    The join does not count anywhere that holds the cancel; `invite list`
    shows the invite revoked; a second revoke is refused.
    """
    made = founded.json("invite", "create", "--note", "wrong person")
    code, out, err = founded.run("invite", "revoke", made["invite"][:10], "--reason", "handed to the wrong person")
    assert code == 0 and "revoked" in out, err
    assert [r["status"] for r in founded.json("invite", "list")] == ["revoked"]
    late = household("late")
    assert late.run("init", "--household", "Late")[0] == 0
    assert late.run("join", made["code"])[0] == 0  # written on their device...
    exchange(founded, late)
    names = {h["name"] for h in founded.json("neighbourhood", "show")["households"]}
    assert "Late" not in names  # ...but it never counts
    code, _, err = founded.run("invite", "revoke", made["invite"][:10])
    assert code == 6 and "already revoked" in err


def test_a_used_invite_cannot_be_revoked_and_others_invites_are_not_yours(pair, household):
    """A used-up invite says how to remove the household instead; a member
    who is not the inviter (nor an admin) cannot revoke someone else's invite."""
    okafors, zhengs = pair
    used = okafors.json("invite", "list")[0]
    code, _, err = okafors.run("invite", "revoke", used["invite"][:10])
    assert code == 6 and "meshpantry revoke HOUSEHOLD" in err
    fresh = okafors.json("invite", "create")
    exchange(okafors, zhengs)
    code, _, err = zhengs.run("invite", "revoke", fresh["invite"][:10])
    assert code == 6 and "only the household that made an invite" in err
