"""The demo: neighbour nodes on loopback with sample data, kept apart from any
real neighbourhood."""

from __future__ import annotations

import pytest

from cli.tui.demo import DEMO_PREFIX, DEMO_TAG, start_demo
from meshpantry.control.aclient import AsyncControlClient
from cli.tui.app import build_app

from .conftest import until


@pytest.mark.slow
@pytest.mark.asyncio
async def test_demo_opens_on_a_live_demo_neighbourhood(tmp_path):
    """The demo household sees the neighbours' offers (tagged demo) in a
    neighbourhood named "Demo — …", in temporary directories, and the nodes
    are gone after stop()."""
    demo = start_demo(tmp_path / "demo", say=lambda text: None)
    try:
        assert all(tmp_path in d.parents for d in demo.dirs)
        app = build_app(lambda: AsyncControlClient.connect(demo.you))
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: len(app.pane("board").offers) >= 6, timeout=30, what="the demo offers")
            assert app.badge.who.split(" · ")[-1].startswith(DEMO_PREFIX)
            assert all(DEMO_TAG in offer["tags"] for offer in app.pane("board").offers)
    finally:
        demo.stop()
    assert all(p.poll() is not None for p in demo.processes)
    assert not (tmp_path / "demo").exists()
