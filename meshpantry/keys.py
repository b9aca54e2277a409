"""The device key file: one Ed25519 key per device, owner-only, optionally
encrypted with a passphrase.

The same key signs the device's records and is its libp2p peer identity. The
file is PKCS#8 PEM (``cryptography``), encrypted with the best available scheme
when a passphrase is given. A key file that other users can read is refused:
whoever reads it can write as this household.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEY_FILE = "device.key"


class KeyFileError(Exception):
    """The key file is missing, unreadable, unsafe or the passphrase is wrong."""


@dataclass(frozen=True)
class DeviceKey:
    seed: bytes  #: 32-byte Ed25519 seed

    @cached_property
    def public(self) -> bytes:
        return self._private().public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def secret(self) -> bytes:
        """libsodium's 64-byte secret key (seed followed by public key)."""
        return self.seed + self.public

    def _private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @classmethod
    def generate(cls) -> "DeviceKey":
        private = Ed25519PrivateKey.generate()
        return cls(
            private.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
        )


def key_path(data_dir: Path) -> Path:
    return Path(data_dir) / KEY_FILE


def write_key(data_dir: Path, key: DeviceKey, passphrase: str | None = None) -> Path:
    """Write the key file with mode 0600, never overwriting an existing one.

    Raises :class:`KeyFileError` if a key file already exists.
    """
    path = key_path(data_dir)
    Path(data_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode("utf-8"))
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key._private().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} already exists; this device already has an identity") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    return path


def key_is_encrypted(data_dir: Path) -> bool:
    return b"ENCRYPTED" in key_path(data_dir).read_bytes()


def read_key(data_dir: Path, passphrase: str | None = None) -> DeviceKey:
    """Load the device key.

    Raises :class:`KeyFileError` with advice: missing file (run ``meshpantry
    init``), permissions open to others (``chmod 600``), wrong or missing
    passphrase, or a file that is not an Ed25519 key.
    """
    path = key_path(data_dir)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise KeyFileError(
            f"no device key at {path}; run 'meshpantry init' to create this household's identity"
        ) from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path} can be read by other users (mode {stat.S_IMODE(info.st_mode):o}); "
            f"fix it with: chmod 600 {path}"
        )
    pem = path.read_bytes()
    try:
        private = serialization.load_pem_private_key(
            pem, password=passphrase.encode("utf-8") if passphrase else None
        )
    except TypeError:
        if passphrase:
            raise KeyFileError(f"{path} is not encrypted; run without a passphrase") from None
        raise KeyFileError(
            f"{path} is encrypted; give the passphrase (--passphrase-file or MESHPANTRY_PASSPHRASE)"
        ) from None
    except ValueError:
        raise KeyFileError(f"could not read {path}: wrong passphrase or damaged file") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise KeyFileError(f"{path} does not hold an Ed25519 key")
    return DeviceKey(
        private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
    )
