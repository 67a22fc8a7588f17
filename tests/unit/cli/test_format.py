"""Humanised sizes and times, Go tabwriter tables and --format rendering as docker prints them."""

from __future__ import annotations

import io

import pytest

from berth.cli import format as fmt
from berth.cli.ps import format_ports, row


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (999, "999B"),
        (1000, "1kB"),
        (4261550, "4.26MB"),
        (1_500_000_000, "1.5GB"),
        (77_824, "77.8kB"),
    ],
)
def test_human_size(size: int, text: str) -> None:
    assert fmt.human_size(size) == text


def test_bytes_size() -> None:
    assert fmt.bytes_size(1536 * 1024) == "1.5MiB"
    assert fmt.bytes_size(8 * 1024**3) == "8GiB"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.5, "Less than a second"),
        (1, "1 second"),
        (5, "5 seconds"),
        (65, "About a minute"),
        (125, "2 minutes"),
        (3600, "About an hour"),
        (3 * 3600, "3 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (90 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert fmt.human_duration(seconds) == text


def test_time_ago() -> None:
    assert fmt.time_ago(1000, now=1120) == "2 minutes ago"


def test_rfc3339() -> None:
    assert fmt.parse_rfc3339("1970-01-01T00:01:00Z") == 60
    assert fmt.parse_rfc3339("1970-01-01T01:00:00.5+01:00") == 0.5


def test_tabwriter_matches_docker_spacing() -> None:
    text = fmt.tabwrite(
        [["CONTAINER ID", "IMAGE", "COMMAND", "NAMES"], ["0123456789ab", "busybox", '"sh"', "web"]]
    )
    assert text == ('CONTAINER ID   IMAGE     COMMAND   NAMES\n0123456789ab   busybox   "sh"      web\n')


def test_tabwriter_column_blocks() -> None:
    # a line without cells ends the column block, as in Go's text/tabwriter
    assert fmt.tabwrite("a\tb\nlonger-cell-here\tc\nplain\nx\ty\n") == (
        "a                  b\nlonger-cell-here   c\nplain\nx         y\n"
    )


def test_ellipsis_and_short_id() -> None:
    assert fmt.ellipsis("abcdefghijklmnopqrstuvwxyz", 20) == "abcdefghijklmnopqrs…"
    assert fmt.short_id("sha256:" + "f" * 64) == "f" * 12


CONTAINER = {
    "Id": "a" * 64,
    "Names": ["/web"],
    "Image": "busybox",
    "ImageID": "sha256:" + "b" * 64,
    "Command": "sh -c 'sleep 1000; echo done'",
    "Created": 1000,
    "State": "running",
    "Status": "Up 2 minutes",
    "Ports": [
        {"PrivatePort": 80, "PublicPort": 8080, "Type": "tcp", "IP": "0.0.0.0"},
        {"PrivatePort": 81, "PublicPort": 8081, "Type": "tcp", "IP": "0.0.0.0"},
        {"PrivatePort": 53, "Type": "udp"},
    ],
    "Labels": {"b": "2", "a": "1"},
    "Mounts": [{"Name": "averyveryverylongvolumename", "Driver": "local"}],
    "SizeRw": 12,
    "SizeRootFs": 4261550,
}


def test_ps_row_fields() -> None:
    r = row(CONTAINER, now=1125)
    assert r["ID"] == "a" * 12
    assert r["Command"] == '"sh -c \'sleep 1000; …"'
    assert r["RunningFor"] == "2 minutes ago"
    assert r["Ports"] == "0.0.0.0:8080-8081->80-81/tcp, 53/udp"
    assert r["Labels"] == "a=1,b=2"
    assert r["Mounts"] == "averyveryveryl…"
    assert r["LocalVolumes"] == "1"
    assert r["Size"] == "12B (virtual 4.26MB)"


def test_format_ports_ipv6() -> None:
    assert (
        format_ports([{"PrivatePort": 80, "PublicPort": 8080, "Type": "tcp", "IP": "::"}])
        == "[::]:8080->80/tcp"
    )


def test_render_modes() -> None:
    rows = [{"ID": "abc", "Name": "x"}, {"ID": "defghi", "Name": "y"}]
    headers = {"ID": "CONTAINER ID", "Name": "NAME"}
    out = io.StringIO()
    fmt.render(None, rows, headers, "table {{.ID}}\t{{.Name}}", out=out)
    assert out.getvalue() == "CONTAINER ID   NAME\nabc            x\ndefghi         y\n"
    out = io.StringIO()
    fmt.render("{{.Name}}:{{.ID}}", rows, headers, "table {{.ID}}", out=out)
    assert out.getvalue() == "x:abc\ny:defghi\n"
    out = io.StringIO()
    fmt.render("json", rows, headers, "table {{.ID}}", out=out)
    assert out.getvalue() == '{"ID":"abc","Name":"x"}\n{"ID":"defghi","Name":"y"}\n'
    out = io.StringIO()
    fmt.render("table {{.Name}}\\t{{.ID}}", [], headers, "table {{.ID}}", out=out)
    assert out.getvalue() == "NAME      CONTAINER ID\n"


def test_ps_label_method_and_json_without_methods() -> None:
    rows = [row(CONTAINER, now=1125)]
    out = io.StringIO()
    fmt.render('table {{.Names}}\t{{.Label "a"}}', rows, {"Names": "NAMES", "Label": "LABEL"}, "", out=out)
    assert out.getvalue() == "NAMES     LABEL\nweb       1\n"
    out = io.StringIO()
    fmt.render("json", rows, {}, "", out=out)
    assert '"Label":' not in out.getvalue() and '"Labels":"a=1,b=2"' in out.getvalue()
