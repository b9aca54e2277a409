"""Wiring the sync protocol into the node (filled in with the sync driver)."""

from __future__ import annotations

from typing import Any


def install_sync_handler(node: Any) -> None:
    return None


async def sync_with_peer(node: Any, peer: str) -> None:
    return None
