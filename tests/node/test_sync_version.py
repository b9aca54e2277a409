"""A peer speaking an older sync version fails the protocol negotiation
(SYNC.md §1): it is not served, not cut off, and its current-version
sessions are answered. Version 3 added SHORT_LIST and WANT_LISTED, which a
version 2 node would refuse as unknown modes mid-session."""

from __future__ import annotations

import pytest
from libp2p.host.exceptions import StreamFailure

from meshpantry.node.sync_service import SYNC_PROTOCOL, ServeLimits
from protocol import sync as wire

from .test_sync_slots import peer_of, serving
from .test_sync_work import answer



def test_the_protocol_id_names_the_version_hello_carries():
    assert SYNC_PROTOCOL == f"/meshpantry/sync/{wire.SYNC_VERSION}"
    assert wire.SYNC_VERSION == 3
    assert wire.encode_frame(wire.Hello()).hex() == "020103"


@pytest.mark.trio
@pytest.mark.timeout(120)
@pytest.mark.parametrize("older", ["/meshpantry/sync/1", "/meshpantry/sync/2"])
async def test_an_older_version_fails_negotiation_and_the_peer_is_not_cut_off(node, older):
    async with serving(node, ServeLimits()) as (host, service), peer_of(host) as old:
        with pytest.raises(StreamFailure) as refused:
            await old.libp2p.new_stream(host.peer_id, [older])
        chain = f"{refused.value} {refused.value.__cause__} {refused.value.__context__}"
        assert "not supported" in chain, chain
        assert not service.is_cut_off(str(old.peer_id))
        stream = await old.libp2p.new_stream(host.peer_id, [SYNC_PROTOCOL])
        assert await answer(stream) == "answered"
        await stream.reset()
