"""Where the key file's passphrase comes from: a file named on the command
line (``--passphrase-file``), else ``MESHPANTRY_PASSPHRASE``, else none.

Used by the command line and by the node alike, so both open an encrypted key
the same way. Never prompts: a prompt needs a terminal, which a node started
as a service or by the terminal UI does not have.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from meshpantry.pantry.errors import PassphraseUnreadable

#: The environment variable a passphrase may come from.
PASSPHRASE_ENV = "MESHPANTRY_PASSPHRASE"


def read_passphrase(passphrase_file: Path | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The passphrase from ``passphrase_file`` (its trailing newline dropped)
    when given, else from ``environ`` (``os.environ`` by default); None when
    neither has one. Raises :class:`PassphraseUnreadable` when the file
    cannot be read."""
    if passphrase_file is not None:
        try:
            return Path(passphrase_file).read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            raise PassphraseUnreadable(Path(passphrase_file), exc.strerror or str(exc)) from None
    environ = os.environ if environ is None else environ
    return environ.get(PASSPHRASE_ENV) or None
