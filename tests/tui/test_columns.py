"""fit: each column its minimum, the room left shared out by share."""

from cli.tui.widgets.columns import PADDING, SCROLLBAR, Col, fit

COLUMNS = (Col("item", "item", 12, 3), Col("left", "left", 9), Col("area", "area", 12, 2))


def test_the_room_left_is_shared_and_every_cell_used():
    for width in (80, 100, 120, 200):
        widths = fit(COLUMNS, width)
        assert sum(widths) + PADDING * len(COLUMNS) + SCROLLBAR == width
        assert widths[1] == 9  # no share: stays at its minimum
        assert widths[0] >= widths[2] >= 12


def test_a_narrow_table_keeps_the_minimums():
    assert fit(COLUMNS, 30) == [12, 9, 12]
