"""The meshpantry wire format: canonical encoding, the signed record envelope,
record kinds, limits and message frames. Pure: no IO, no clock, no randomness.

The written specification is ``SPEC.md`` beside this file; ``vectors/`` holds
golden test vectors that any implementation must reproduce byte for byte.
"""

from .envelope import (
    FORMAT_VERSION,
    GENESIS_KIND,
    Record,
    decode_and_verify,
    decode_record,
    record_id,
    seal,
    verify_record,
)
from .errors import BadSignature, DecodeError, RemoteError

__all__ = [
    "FORMAT_VERSION",
    "GENESIS_KIND",
    "BadSignature",
    "DecodeError",
    "Record",
    "RemoteError",
    "decode_and_verify",
    "decode_record",
    "record_id",
    "seal",
    "verify_record",
]
