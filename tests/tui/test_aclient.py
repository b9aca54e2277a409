"""The asyncio control client against a real node: concurrent calls, typed
errors, events, and the node going away."""

from __future__ import annotations

import asyncio

import pytest

from meshpantry.control.aclient import AsyncControlClient
from meshpantry.control.client import NodeUnavailable
from meshpantry.control.events import RecordEvent
from meshpantry.pantry.errors import InvalidInput, PantryError, UnknownId

from .nodes import run_node


@pytest.mark.asyncio
async def test_client_calls_errors_events_and_node_gone(tmp_path):
    node = run_node(tmp_path / "fern", "Fern")
    try:
        client = await AsyncControlClient.connect(node.data_dir)
        await client.call("create_neighbourhood", name="Fern Row", household="Fern")
        # Many calls in flight on one connection each get their own answer.
        offers = await asyncio.gather(*(client.call("offer_add", item=f"pear {i}", quantity=i + 1, unit="kg")
                                        for i in range(20)))
        assert [o["quantity"] for o in offers] == list(range(1, 21))
        assert [o["item"] for o in offers] == [f"pear {i}" for i in range(20)]
        # The node's errors come back as the same PantryError subclasses.
        with pytest.raises(UnknownId):
            await client.call("offer_show", offer_ref="ffffffff")
        with pytest.raises(InvalidInput):
            await client.call("offer_add", item="x", quantity=0, unit="kg")
        with pytest.raises(PantryError):
            await client.call("no_such_request")
        # Events arrive after subscribing.
        await client.subscribe()
        watcher = await AsyncControlClient.connect(node.data_dir)
        await watcher.call("offer_add", item="quince", quantity=1, unit="kg")
        event = await asyncio.wait_for(anext(client.events()), 10)
        assert isinstance(event, RecordEvent) and event.kind == "offer"
        await watcher.close()
        # The node stops: waiting and later calls, and the event stream, say so.
        node.stop()
        with pytest.raises(NodeUnavailable):
            async for _ in client.events():
                pass
        with pytest.raises(NodeUnavailable):
            await client.call("whoami")
        await client.close()
    finally:
        node.stop()
    with pytest.raises(NodeUnavailable):
        await AsyncControlClient.connect(tmp_path / "nowhere")
