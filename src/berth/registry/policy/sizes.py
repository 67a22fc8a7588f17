"""Sizes as people write them (``500MB``, ``2GiB``, ``1.5 GB``) and as the registry prints them.

Decimal units are powers of 1000 (kB/KB, MB, GB, TB), binary ones powers of 1024 (KiB, MiB, GiB, TiB),
as the SI and IEC define them; units are case-insensitive, a bare number is bytes. Single letters
(``5g``) are refused: docker reads them as binary and others as decimal.
"""

from __future__ import annotations

import re

from berth.errors import InvalidArgument

_UNITS = {
    "": 1, "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}  # fmt: skip
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
ACCEPTED = "a number of bytes, or with a unit: kB, MB, GB, TB (powers of 1000), KiB, MiB, GiB, TiB (of 1024)"


def parse_size(text: str) -> int:
    """Bytes in ``text``; InvalidArgument naming the accepted forms if it is not a size."""
    match = _SIZE_RE.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise InvalidArgument(f"invalid size {text!r}: expected {ACCEPTED}")
    return int(float(match.group(1)) * _UNITS[unit])


def format_size(size: int) -> str:
    """Decimal units with at most two decimals: ``0 B``, ``950 B``, ``10 MB``, ``10.53 MB``."""
    if size < 1000:
        return f"{size} B"
    value, unit = size / 1000, "kB"
    for larger in ("MB", "GB", "TB"):
        if value < 1000:
            break
        value, unit = value / 1000, larger
    return f"{value:.2f}".rstrip("0").rstrip(".") + f" {unit}"
