"""The Mesh tab says when this device's records will not count, and names a
swap's conflict to settle (the same fields ``meshpantry status`` prints)."""

from cli.tui.screens.mesh import mesh_summary


def test_mesh_summary_says_what_will_not_count_and_what_to_settle():
    status = {
        "records": 9, "households": 2, "connected": [], "node_running": True, "peers": [],
        "standing": {"counts": False, "reason": "this device was revoked by the neighbourhood's admins"},
        "not_counting": [{"id": "ab" * 32, "kind": "offer", "seq": 4, "reason": "revoked after seq 3"}],
        "conflicts": [{"claim": "cd" * 32, "offer": "ef" * 32, "item": "apples",
                       "conflict": "accepted for 8 items, but the offer now has 5 items"}],
    }
    text = mesh_summary(status).plain
    assert "will not count: this device was revoked" in text
    assert "1 of this device's records will not count: offer: revoked after seq 3" in text
    assert "Conflict on the apples claim: accepted for 8 items" in text


def test_mesh_summary_is_quiet_when_everything_counts():
    status = {"records": 9, "households": 2, "connected": [], "node_running": True, "peers": [],
              "standing": {"counts": True, "reason": None}, "not_counting": [], "conflicts": []}
    assert "count" not in mesh_summary(status).plain.replace("records", "")
