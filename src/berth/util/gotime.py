"""Docker's server-side time values: Go's ``time.ParseDuration`` and the API's ``until``/``since``
timestamps (moby's ``api/types/time.GetTimestamp``), for filters the daemon itself must read.

    parse_duration("1h30m")          # 5400.0 (seconds)
    timestamp("24h", now=t)          # t - 86400
    timestamp("2024-05-01", now=t)   # midnight, the daemon's local time
    timestamp("1714521600.5", now=t) # unix seconds, as given

Errors are ``ValueError`` with Go's or moby's words (the caller adds which filter it was).
"""

from __future__ import annotations

import datetime as _dt
import re

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)([^\d.]*)")


def parse_duration(text: str) -> float:
    """Go's ``time.ParseDuration`` in seconds: ``300ms``, ``-1.5h``, ``2h45m``, ``0``."""
    value = text[1:] if text[:1] in ("+", "-") else text
    sign = -1.0 if text[:1] == "-" else 1.0
    if value == "0":
        return 0.0
    if not value:
        raise ValueError(f'time: invalid duration "{text}"')
    total, at = 0.0, 0
    while at < len(value):
        part = _PART.match(value, at)
        if part is None:
            raise ValueError(f'time: invalid duration "{text}"')
        number, unit = part.groups()
        if not unit:
            raise ValueError(f'time: missing unit in duration "{text}"')
        if unit not in _UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
        total += float(number) * _UNITS[unit]
        at = part.end()
    return sign * total


# the layouts GetTimestamp tries: a date, then an hour, minutes, seconds and a fraction; a zone (Z or
# ±hh:mm) only where the value has one (without one, the daemon's local time)
_DATETIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:T(?P<hour>\d{2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<frac>\d{1,9}))?)?)?)?"
    r"(?P<zone>[zZ]|[+-]\d{2}:\d{2})?"
)
_UNIX = re.compile(r"-?\d+(?:\.\d{0,9})?")


def timestamp(value: str, *, now: float) -> float:
    """Unix seconds for a filter's time: a Go duration back from ``now``, an RFC 3339-like date or
    time (a fraction needs seconds), or unix seconds with an optional fraction."""
    if value != "0":
        try:
            return now - parse_duration(value)
        except ValueError:
            pass
    match = _DATETIME.fullmatch(value)
    if match is not None and (match["frac"] is None or match["second"] is not None):
        return _moment(match)
    if "-" in value[1:] or match is not None:  # a date the layouts did not take: Go's parse error
        raise ValueError(f'parsing time "{value}": not a timestamp this daemon can read')
    if _UNIX.fullmatch(value):
        return float(value)
    raise ValueError(f'failed to parse value as time or duration: "{value}"')


def _moment(match: re.Match[str]) -> float:
    year, month, day = (int(p) for p in match["date"].split("-"))
    fraction = (match["frac"] or "").ljust(6, "0")[:6]
    zone = match["zone"]
    tz: _dt.tzinfo | None = None
    if zone in ("z", "Z"):
        tz = _dt.UTC
    elif zone:
        sign = -1 if zone[0] == "-" else 1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        tz = _dt.timezone(sign * _dt.timedelta(hours=hours, minutes=minutes))
    try:
        moment = _dt.datetime(
            year,
            month,
            day,
            int(match["hour"] or 0),
            int(match["minute"] or 0),
            int(match["second"] or 0),
            int(fraction),
            tzinfo=tz,
        )
    except ValueError as exc:
        raise ValueError(f'parsing time "{match.string}": {exc}') from None
    return moment.timestamp()  # a naive moment is the local time, as GetTimestamp's ParseInLocation
