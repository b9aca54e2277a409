"""Where a node's settings come from: a TOML file, then ``MESHPANTRY_*``
environment variables, then command-line flags (later wins).

The TOML file uses :class:`~meshpantry.node.config.NodeSettings` field names::

    network = "lan"          # or "loopback": nothing leaves 127.0.0.0/8
    listen_host = "0.0.0.0"
    listen_port = 4747
    mdns_enabled = true
    mdns_interfaces = ["192.168.1.20"]
    static_peers = ["/ip4/192.168.1.7/tcp/4747/p2p/12D3KooW..."]
    sync_interval_s = 30

Environment: ``MESHPANTRY_NETWORK=lan|loopback`` (``loopback`` also latches:
see :mod:`meshpantry.node.network`), ``MESHPANTRY_LISTEN=host:port``, ``MESHPANTRY_PEERS`` (comma
separated), ``MESHPANTRY_MDNS=0|1``, ``MESHPANTRY_MDNS_INTERFACES``,
``MESHPANTRY_SYNC_INTERVAL`` (seconds), ``MESHPANTRY_OUTAGE_AFTER`` (seconds
with no member reachable before the outage clock starts).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Mapping

from .config import NodeSettings, SettingsError

CONFIG_FILE = "node.toml"

_ENV = {
    "MESHPANTRY_NETWORK": "network",
    "MESHPANTRY_PEERS": "static_peers",
    "MESHPANTRY_MDNS": "mdns_enabled",
    "MESHPANTRY_MDNS_INTERFACES": "mdns_interfaces",
    "MESHPANTRY_SYNC_INTERVAL": "sync_interval_s",
    "MESHPANTRY_OUTAGE_AFTER": "outage_after_s",
}


def split_listen(text: str) -> dict[str, Any]:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise SettingsError("listen", f"expected HOST:PORT, found {text!r}")
    try:
        return {"listen_host": host, "listen_port": int(port)}
    except ValueError:
        raise SettingsError("listen", f"{port!r} is not a port number") from None


def load_settings(
    data_dir: Path,
    *,
    config: Path | None = None,
    environ: Mapping[str, str],
    flags: Mapping[str, Any],
) -> NodeSettings:
    """Merge the three sources. Raises :class:`SettingsError` (bad value or
    unknown name) and ``OSError``/``tomllib.TOMLDecodeError`` for the file."""
    settings = NodeSettings()
    path = config or Path(data_dir) / CONFIG_FILE
    if config is not None or path.exists():
        with open(path, "rb") as handle:
            settings = NodeSettings.from_mapping(tomllib.load(handle), settings)
    env: dict[str, Any] = {}
    if environ.get("MESHPANTRY_LISTEN"):
        env.update(split_listen(environ["MESHPANTRY_LISTEN"]))
    for variable, name in _ENV.items():
        if environ.get(variable):
            env[name] = environ[variable]
    settings = NodeSettings.from_mapping(env, settings)
    chosen: dict[str, Any] = {}
    if flags.get("listen"):
        chosen.update(split_listen(flags["listen"]))
    for flag, name in (("network", "network"), ("peers", "static_peers"), ("mdns", "mdns_enabled"),
                       ("mdns_interfaces", "mdns_interfaces"), ("sync_interval", "sync_interval_s")):
        if flags.get(flag) is not None:
            chosen[name] = flags[flag]
    return NodeSettings.from_mapping(chosen, settings)


def save_network(data_dir: Path, mode: str) -> Path:
    """Record the network the household chose (``network = "lan"`` or
    ``"loopback"``) in ``DATA_DIR/node.toml``, keeping any other setting
    there. Returns the file's path. Raises :class:`SettingsError` for an
    unknown mode and OSError if the file cannot be written."""
    NodeSettings(network=mode)  # refuses an unknown mode
    path = Path(data_dir) / CONFIG_FILE
    line = f'network = "{mode}"'
    if path.exists():
        kept = [text for text in path.read_text(encoding="utf-8").splitlines()
                if not text.strip().startswith("network") or "=" not in text]
    else:
        kept = ["# meshpantry node settings (meshpantry node --help lists them).",
                "# network: \"lan\" serves neighbours on this Wi-Fi/LAN; \"loopback\" keeps to this computer."]
    # Top-level keys must come before any [table] header.
    at = next((i for i, text in enumerate(kept) if text.strip().startswith("[")), len(kept))
    kept.insert(at, line)
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return path
