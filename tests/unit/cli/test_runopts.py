"""``run``/``create`` flags -> create body, compared byte for byte with what docker 28.2.2 sent."""

from __future__ import annotations

import json
import os

import pytest

from berth.cli import runflags
from berth.cli.command import CLIError, new_parser, split_at_positional
from berth.cli.runopts import (
    build_create_body,
    parse_duration,
    parse_ports,
    parse_run_args,
    ram_in_bytes,
)

with open(os.path.join(os.path.dirname(__file__), "docker_create_bodies.json")) as _fh:
    CASES = json.load(_fh)["cases"]


def _parser(run: bool = False) -> object:
    p = new_parser("create", "", "", [], add_help=False)
    runflags.add_to_parser(p, run)
    p.add_argument("image")
    return p


def _parse(argv: list[str]) -> object:
    """As ``berth create`` parses: by hand from the flag table, argparse for anything unusual."""
    return parse_run_args(argv, run=False, make_parser=_parser)  # type: ignore[arg-type]


def _parse_with_argparse(argv: list[str], run: bool = False) -> object:
    p = _parser(run)
    head, rest = split_at_positional(p, argv)  # type: ignore[arg-type]
    ns = p.parse_args(head)  # type: ignore[attr-defined]
    ns.args = rest
    return ns


@pytest.mark.parametrize("case", CASES, ids=[" ".join(c["argv"])[:40] for c in CASES])
def test_hand_parsing_agrees_with_argparse(case: dict[str, object]) -> None:
    argv: list[str] = case["argv"]  # type: ignore[assignment]
    quick = runflags.quick_parser(False).parse(argv, positionals=True)
    assert quick is not None, "the usual invocations must not need argparse"
    assert vars(_parse(argv)) == vars(_parse_with_argparse(argv))


@pytest.mark.parametrize(
    "argv",
    [
        ["-dit", "--name", "web", "--rm", "-p", "8080:80", "busybox", "sh"],
        ["--detach-keys=ctrl-x", "--sig-proxy", "false", "--pull", "never", "busybox"],
        ["-h", "box", "--pids-limit", "-1", "--stop-timeout", "3", "-c", "512", "busybox"],
    ],
)
def test_run_flags_parse_the_same_both_ways(argv: list[str]) -> None:
    quick = parse_run_args(argv, run=True, make_parser=lambda: _parser(True))  # type: ignore[arg-type,return-value]
    assert vars(quick) == vars(_parse_with_argparse(argv, run=True))


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--pull", "sometimes", "busybox"], ["--pids-limit", "x", "busybox"], ["-Z", "busybox"]],
)
def test_unusual_invocations_go_to_argparse(argv: list[str]) -> None:
    assert runflags.quick_parser(True).parse(argv, positionals=True) is None


@pytest.mark.parametrize("case", CASES, ids=[" ".join(c["argv"])[:40] for c in CASES])
def test_create_body_matches_docker(case: dict[str, object]) -> None:
    ns = _parse(case["argv"])  # type: ignore[arg-type]
    body = build_create_body(ns, detach=bool(case["detach"]))  # type: ignore[arg-type]
    assert json.dumps(body, separators=(",", ":")) == case["body"]


def test_command_after_image_keeps_its_flags() -> None:
    ns = _parse(["-e", "A=1", "busybox", "ls", "-l", "--rm"])
    assert ns.image == "busybox" and ns.args == ["ls", "-l", "--rm"] and not ns.rm  # type: ignore[attr-defined]


def test_combined_short_flags_and_attached_values() -> None:
    ns = _parse(["-it", "-p8080:80", "-eX=1", "busybox"])
    assert ns.tty and ns.interactive and ns.publish == ["8080:80"] and ns.env == ["X=1"]  # type: ignore[attr-defined]


def test_env_file(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "env")
    with open(path, "w") as fh:
        fh.write("# comment\nA=1\n\nB=two words\n")
    body = build_create_body(_parse(["--env-file", path, "-e", "C=3", "busybox"]))  # type: ignore[arg-type]
    assert body["Env"] == ["A=1", "B=two words", "C=3"]


def test_sizes_durations_ports() -> None:
    assert ram_in_bytes("64m") == 64 << 20
    assert ram_in_bytes("1g") == 1 << 30
    assert ram_in_bytes("512") == 512
    assert ram_in_bytes("-1") == -1
    with pytest.raises(CLIError):
        ram_in_bytes("lots")
    assert parse_duration("1m30s") == 90 * 10**9
    assert parse_duration("500ms") == 500 * 10**6
    with pytest.raises(CLIError):
        parse_duration("5 minutes")
    exposed, bindings = parse_ports(["[::1]:8080:80", "53/udp"])
    assert exposed == {"53/udp": {}, "80/tcp": {}}
    assert bindings == {
        "53/udp": [{"HostIp": "", "HostPort": ""}],
        "80/tcp": [{"HostIp": "::1", "HostPort": "8080"}],
    }
    with pytest.raises(CLIError):
        parse_ports(["a:b:c:d"])


def test_restart_policy_and_rm() -> None:
    body = build_create_body(_parse(["--rm", "--restart", "unless-stopped", "busybox"]))  # type: ignore[arg-type]
    assert body["HostConfig"]["AutoRemove"] is True
    assert body["HostConfig"]["RestartPolicy"] == {"Name": "unless-stopped", "MaximumRetryCount": 0}
    with pytest.raises(CLIError):
        build_create_body(_parse(["--restart", "sometimes", "busybox"]))  # type: ignore[arg-type]
