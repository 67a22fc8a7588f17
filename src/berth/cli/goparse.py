"""The docker CLI's value parsers (Go's ``strconv``, ``time.ParseDuration``, go-units sizes, ``big.Rat``),
with their error wording, for flags that must be refused exactly as docker refuses them.

Every parser raises ``ValueError`` with the message pflag would print after
``invalid argument "V" for "--flag" flag: ``. Nothing here imports ``re``: these run only for the flags
given, but ``berth run`` imports this module on its fast path.

    parse_int("x")          # ValueError('strconv.ParseInt: parsing "x": invalid syntax')
    ram_in_bytes("64m")     # 67108864
    parse_duration("1m30s") # 90_000_000_000
"""

from __future__ import annotations

_DIGITS = "0123456789"


def parse_int(text: str, bits: int = 64, *, func: str = "ParseInt") -> int:
    """``strconv.ParseInt(text, 10, bits)``: optional sign, decimal digits (``_`` refused), range-checked."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or any(c not in _DIGITS for c in body):
        raise ValueError(f'strconv.{func}: parsing "{text}": invalid syntax')
    value = int(text)
    if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
        raise ValueError(f'strconv.{func}: parsing "{text}": value out of range')
    return value


def parse_uint(text: str, bits: int = 64) -> int:
    """``strconv.ParseUint(text, 10, bits)`` (no sign allowed)."""
    if not text or any(c not in _DIGITS for c in text):
        raise ValueError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    value = int(text)
    if value >= 1 << bits:
        raise ValueError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return value


def parse_uint16(text: str) -> int:
    """pflag's ``uint16`` (``--blkio-weight``)."""
    return parse_uint(text, 16)


def parse_octal(text: str, bits: int = 32) -> int:
    """``strconv.ParseUint(text, 8, bits)``."""
    if not text or any(c not in "01234567" for c in text):
        raise ValueError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    value = int(text, 8)
    if value >= 1 << bits:
        raise ValueError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return value


_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def parse_bool(text: str) -> bool:
    """``strconv.ParseBool``: 1 t T TRUE true True / 0 f F FALSE false False."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def parse_float(text: str) -> float:
    """``strconv.ParseFloat(text, 64)`` for the decimal forms the size parser sees."""
    try:
        if not text or text.strip() != text or "_" in text:
            raise ValueError(text)
        return float(text)
    except ValueError:
        raise ValueError(f'strconv.ParseFloat: parsing "{text}": invalid syntax') from None


_BINARY = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(text: str) -> int:
    """go-units ``RAMInBytes`` (binary units; ``1.5kb``, ``64m``, ``1 GiB``): the messages
    ``invalid size: 'X'`` and ``invalid suffix: 'x'`` are docker's."""
    sep = max(text.rfind(c) for c in "01234567890. ")
    if sep == -1:
        raise ValueError(f"invalid size: '{text}'")
    if text[sep] != " ":
        num, suffix = text[: sep + 1], text[sep + 1 :]
    else:
        num, suffix = text[:sep], text[sep + 1 :]
    size = parse_float(num)
    if size < 0:
        raise ValueError(f"invalid size: '{text}'")
    if not suffix:
        return int(size)
    if len(suffix) > 3:
        raise ValueError(f"invalid suffix: '{suffix}'")
    lower = suffix.lower()
    if lower[0] == "b":
        if len(lower) > 1:
            raise ValueError(f"invalid suffix: '{lower}'")
        return int(size)
    mul = _BINARY.get(lower[0])
    if mul is None or (len(lower) == 2 and lower[1] != "b") or (len(lower) == 3 and lower[1:] != "ib"):
        raise ValueError(f"invalid suffix: '{lower}'")
    return int(size * mul)


def swap_bytes(text: str) -> int:
    """docker's ``MemSwapBytes``: a size, or ``-1`` for unlimited swap."""
    return -1 if text == "-1" else ram_in_bytes(text)


_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}


def parse_duration(text: str) -> int:
    """Go ``time.ParseDuration`` -> nanoseconds (``1m30s``, ``-1.5h``, ``0``), with Go's messages."""
    value = text
    negative = value[:1] == "-"
    if value[:1] in ("+", "-"):
        value = value[1:]
    if value == "0":
        return 0
    if not value:
        raise ValueError(f'time: invalid duration "{text}"')
    total = 0.0
    i = 0
    while i < len(value):
        start = i
        while i < len(value) and (value[i] in _DIGITS or value[i] == "."):
            i += 1
        number = value[start:i]
        if not number or number == "." or number.count(".") > 1:
            raise ValueError(f'time: invalid duration "{text}"')
        unit_start = i
        while i < len(value) and value[i] not in _DIGITS and value[i] != ".":
            i += 1
        unit = value[unit_start:i]
        if not unit:
            raise ValueError(f'time: missing unit in duration "{text}"')
        if unit not in _DURATION_UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
        total += float(number) * _DURATION_UNITS[unit]
    return -int(total) if negative else int(total)


def nano_cpus(text: str) -> int:
    """docker's ``NanoCPUs`` flag: a rational number (``1.5``, ``1/2``, ``-1``) times 10^9."""
    from fractions import Fraction

    try:
        if not text or text.strip() != text or "_" in text:
            raise ValueError(text)
        rat = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"failed to parse {text} as a rational number") from None
    nanos = rat * 10**9
    if nanos.denominator != 1:
        raise ValueError("value is too precise")
    return int(nanos)


__all__ = [
    "nano_cpus",
    "parse_bool",
    "parse_duration",
    "parse_float",
    "parse_int",
    "parse_octal",
    "parse_uint",
    "parse_uint16",
    "ram_in_bytes",
    "swap_bytes",
]
