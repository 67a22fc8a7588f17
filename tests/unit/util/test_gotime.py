"""Go durations and the API's filter timestamps, as dockerd reads ``until``."""

from __future__ import annotations

import datetime as dt

import pytest

from berth.util.gotime import parse_duration, timestamp

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("24h", 86400.0), ("1h30m", 5400.0), ("1.5h", 5400.0), ("-10m", -600.0),
     ("300ms", 0.3), ("2h45m10s", 9910.0), ("1us", 1e-6), (".5s", 0.5)],
)  # fmt: skip
def test_durations_as_go(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", 'invalid duration ""'), ("10", 'missing unit in duration "10"'),
     ("3d", 'unknown unit "d" in duration "3d"'), ("h", 'invalid duration "h"')],
)  # fmt: skip
def test_bad_durations_in_gos_words(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


def test_timestamps_durations_dates_and_unix_seconds() -> None:
    assert timestamp("24h", now=NOW) == NOW - 86400
    assert timestamp("10m", now=NOW) == NOW - 600
    assert timestamp("1700000000", now=NOW) == 1_700_000_000.0
    assert timestamp("1700000000.25", now=NOW) == 1_700_000_000.25
    assert timestamp("0", now=NOW) == 0.0  # the epoch, not a zero duration
    assert timestamp("2023-11-14T22:13:20Z", now=NOW) == NOW
    assert timestamp("2023-11-14T22:13:20.5Z", now=NOW) == NOW + 0.5
    assert timestamp("2023-11-15T00:13:20+02:00", now=NOW) == NOW
    assert timestamp("2023-11-14T22:13Z", now=NOW) == NOW - 20
    local = dt.datetime(2023, 11, 14).timestamp()  # no zone: the daemon's local time
    assert timestamp("2023-11-14", now=NOW) == local
    assert timestamp("2023-11-14T05", now=NOW) == local + 5 * 3600


@pytest.mark.parametrize("text", ["yesterday", "2023-13-01", "2023-11-14T22:13:20.5.1Z", "12x"])
def test_bad_timestamps_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        timestamp(text, now=NOW)
