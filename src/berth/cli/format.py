"""Output formatting as the docker CLI does it: humanised sizes and times, Go-tabwriter tables, and the
``--format`` modes (``table``, ``table TEMPLATE``, ``json``, ``TEMPLATE``).

    >>> human_size(4261550)
    '4.26MB'
    >>> human_duration(125)
    '2 minutes'
    >>> tabwrite([["CONTAINER ID", "IMAGE", "NAMES"], ["abc", "busybox", "x"]])
    'CONTAINER ID   IMAGE     NAMES\\nabc            busybox   x\\n'
"""

from __future__ import annotations

import sys
import time

from berth.api.humanize import human_duration as human_duration  # re-exported: the CLI names it here

# typing, collections.abc and the template engine (re) stay out of ``ps``'s start-up path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any, TextIO

_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _scaled(size: float, base: float, units: Sequence[str]) -> tuple[float, str]:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return size, units[i]


def human_size(size: float, precision: int = 3) -> str:
    """go-units ``HumanSizeWithPrecision``: decimal units, ``%.{precision}g``: ``4.26MB``, ``1kB``."""
    value, unit = _scaled(float(size), 1000.0, _DECIMAL_UNITS)
    return f"{value:.{precision}g}{unit}"


def bytes_size(size: float) -> str:
    """go-units ``BytesSize``: binary units, ``%.4g``: ``1.5MiB``."""
    value, unit = _scaled(float(size), 1024.0, _BINARY_UNITS)
    return f"{value:.4g}{unit}"


def time_ago(timestamp: float, now: float | None = None) -> str:
    """``"2 minutes ago"`` for a unix timestamp (docker's CREATED columns)."""
    now = time.time() if now is None else now
    return human_duration(max(0.0, now - timestamp)) + " ago"


def parse_rfc3339(text: str) -> float:
    """Unix seconds for an RFC 3339 timestamp with optional nanoseconds (Go's ``time.Time`` JSON).

    ValueError for malformed input; the zero time ``0001-01-01T00:00:00Z`` gives a large negative.
    """
    import calendar

    value = text.strip()
    if not value:
        raise ValueError("empty timestamp")
    offset = 0
    if value.endswith(("Z", "z")):
        value = value[:-1]
    elif len(value) > 6 and value[-6] in "+-" and value[-3] == ":":
        sign = 1 if value[-6] == "+" else -1
        offset = sign * (int(value[-5:-3]) * 3600 + int(value[-2:]) * 60)
        value = value[:-6]
    main, _, frac = value.partition(".")
    date, _, clock = main.partition("T")
    year, month, day = (int(x) for x in date.split("-"))
    hh, mm, ss = (int(x) for x in clock.split(":"))
    seconds = calendar.timegm((year, month, day, hh, mm, ss, 0, 0, 0))
    return seconds - offset + (float("0." + frac) if frac else 0.0)


def format_local_time(timestamp: float) -> str:
    """Go's ``time.Time.String()``-like local time for ``CreatedAt``: ``2024-01-02 15:04:05 +0000 UTC``."""
    tm = time.localtime(timestamp)
    return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", tm)


def ellipsis(text: str, width: int) -> str:
    """docker's ``formatter.Ellipsis``: cut to ``width`` runes ending in ``…``."""
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    return text[: width - 1] + "…"


def short_id(identifier: str) -> str:
    """``stringid.TruncateID``: drop an ``algo:`` prefix and keep 12 characters."""
    _, _, rest = identifier.rpartition(":")
    return rest[:12]


# ---------------------------------------------------------------------------------------------- tabwriter
def tabwrite(lines: Iterable[Sequence[str]] | str, minwidth: int = 10, padding: int = 3) -> str:
    """Go ``text/tabwriter`` (minwidth 10, tabwidth 1, padding 3, spaces), as docker's tables use.

    ``lines`` are rows of cells, or a text whose lines are split on tabs. Every cell but the last of a
    line is padded to the width of its column block (consecutive lines that have that column).
    """
    if isinstance(lines, str):
        text = lines
        trailing = text.endswith("\n")
        rows = [line.split("\t") for line in (text[:-1] if trailing else text).split("\n")]
    else:
        rows = [list(row) for row in lines]
        trailing = True
    out: list[str] = []
    widths: list[int] = []

    def write_lines(start: int, end: int) -> None:
        for row in rows[start:end]:
            parts = []
            for j, cell in enumerate(row):
                if j < len(widths) and j < len(row) - 1:
                    parts.append(cell.ljust(widths[j]))
                else:
                    parts.append(cell)
            out.append("".join(parts))

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(rows[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(rows[this]) - 1:
                width = max(width, len(rows[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    fmt(0, len(rows))
    return "\n".join(out) + ("\n" if trailing and out else "")


# ---------------------------------------------------------------------------------------------- --format
def _prepare(fmt: str) -> str:
    return fmt.strip(" ").replace("\\t", "\t").replace("\\n", "\n")


def render(
    fmt: str | None,
    rows: Sequence[dict[str, Any]],
    headers: dict[str, str],
    default_table: str,
    *,
    out: TextIO | None = None,
    type_name: str = "formatter.Context",
) -> None:
    """Print ``rows`` as docker does for ``--format``.

    ``None``/``""``/``"table"`` use ``default_table`` (e.g. ``table {{.ID}}\\t{{.Image}}``);
    ``json`` prints each row as one JSON line; ``table TEMPLATE`` prints a header (the template executed
    on ``headers``) and the rows through the tabwriter; anything else is a template per row.
    """
    from berth.cli.template import Record, Template, go_json

    stream = out if out is not None else sys.stdout
    if not fmt or fmt == "table":
        fmt = default_table
    if fmt == "json":
        for row in rows:
            stream.write(go_json({k: v for k, v in row.items() if not callable(v)}) + "\n")
        return
    is_table = fmt.startswith("table")
    body = _prepare(fmt[len("table") :] if is_table else fmt)
    template = Template(body)
    records = []
    for row in rows:
        rec = Record(row)
        rec.type_name = type_name
        records.append(rec)
    if not is_table:
        stream.write("".join(template.execute(rec) + "\n" for rec in records))
        return
    header = Record({key: headers.get(key, key.upper()) for key in (rows[0] if rows else headers)})
    header.type_name = type_name
    for key in headers:
        header.setdefault(key, headers[key])
    for key, value in list(header.items()):
        if isinstance(value, str) and rows and callable(rows[0].get(key)):
            header[key] = lambda *_args, _label=value: _label  # a method's header ignores its arguments
    text = template.execute(header) + "\n" + "".join(template.execute(rec) + "\n" for rec in records)
    stream.write(tabwrite(text))


def go_quote(text: str) -> str:
    """Go ``strconv.Quote`` for common text (docker quotes ps's COMMAND with it)."""
    out = ['"']
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def print_json(value: Any, out: TextIO | None = None) -> None:
    """Indented JSON as ``docker inspect`` prints it (4 spaces, no HTML escaping of ``<>&``)."""
    import json

    stream = out if out is not None else sys.stdout
    stream.write(json.dumps(value, indent=4, ensure_ascii=False) + "\n")
