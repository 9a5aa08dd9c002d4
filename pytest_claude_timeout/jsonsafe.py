"""Numbers in JSON: infinity spelled out, never ``Infinity``/``NaN``.

Python's ``json`` writes ``float("inf")`` as ``Infinity`` and a NaN as ``NaN``: neither is
JSON (RFC 8259), and strict readers (``jq``, JavaScript's ``JSON.parse``, Go, Rust) refuse
the whole file. Every JSON file the plugin writes (the JSON report, the baseline, the data
in the HTML report) goes through :func:`dumps`: infinity becomes the string
:data:`FOREVER` (``-forever`` below zero), a NaN becomes ``null``, and anything left that
JSON cannot hold raises instead of being written. :func:`number` reads a value back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

FOREVER = "forever"
"""How infinity is written (a stall, a timeout or a probe value without end)."""


def encode(value: Any) -> Any:
    """``value`` with every infinite float as ``"forever"`` (``"-forever"``) and every NaN as
    ``None``, through dicts (keys as text), lists and tuples."""
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            return None
        return FOREVER if value > 0 else "-" + FOREVER
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return value


def number(value: Any) -> float:
    """A number as :func:`encode` wrote it: ``"forever"`` is infinity, ``"-forever"`` minus
    infinity; anything else must be a number (ValueError, TypeError otherwise)."""
    if value == FOREVER:
        return math.inf
    if value == "-" + FOREVER:
        return -math.inf
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number or {FOREVER!r}, not {value!r}")
    return float(value)


def dumps(value: Any, **options: Any) -> str:
    """``json.dumps`` of :func:`encode`\\ (``value``), refusing anything that is not JSON."""
    return json.dumps(encode(value), allow_nan=False, **options)
