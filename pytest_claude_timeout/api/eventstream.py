"""AWS event-stream framing (``application/vnd.amazon.eventstream``), as Amazon Bedrock's
``invoke-with-response-stream`` sends it: binary messages of a prelude (total length,
headers length, CRC32), typed headers, a payload and a CRC32 of the whole message.

Only the encoder lives here; the tests decode with botocore, as the SDK does.
"""

from __future__ import annotations

import struct
import zlib

_STRING = 7  # header value type: a UTF-8 string with a 2-byte length


def _header(name: str, value: str) -> bytes:
    key, val = name.encode(), value.encode()
    return struct.pack("!B", len(key)) + key + struct.pack("!BH", _STRING, len(val)) + val


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message."""
    head = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack("!II", total, len(head))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack("!I", zlib.crc32(body))
