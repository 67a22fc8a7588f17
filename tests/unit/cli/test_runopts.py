"""``run``/``create`` flag parsing: the hand parser and argparse agree; sizes, durations, ports, restart
policies. (The bodies themselves are compared with the real docker CLI's in test_docker_parity.py.)"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from berth.cli import runflags
from berth.cli.command import CLIError, UsageError, new_parser, split_at_positional
from berth.cli.parsing import Parser
from berth.cli.runopts import (
    build_create_body,
    parse_duration,
    parse_ports,
    parse_run_args,
    ram_in_bytes,
)

with open(os.path.join(os.path.dirname(__file__), "docker_create_bodies.json")) as _fh:
    CASES = [c for c in json.load(_fh)["cases"] if not any("@TMP" in a for a in c["argv"])]


def _parser(run: bool = False) -> Parser:
    p = new_parser("create", "", "", [], add_help=False)
    runflags.add_to_parser(p, run)
    p.add_argument("image")
    return p


def _parse(argv: list[str]) -> Any:
    """As ``berth create`` parses: by hand from the flag table, argparse for anything unusual."""
    return parse_run_args(argv, run=False, make_parser=_parser)


def _parse_with_argparse(argv: list[str], run: bool = False) -> Any:
    p = _parser(run)
    head, rest = split_at_positional(p, argv)
    head, overrides = runflags.bool_overrides(head, run)
    ns = p.parse_args(head)
    vars(ns).update(overrides)
    runflags.finish(vars(ns), run)
    ns.args = rest
    return ns


@pytest.mark.parametrize("case", CASES, ids=[" ".join(c["argv"])[:40] for c in CASES])
def test_hand_parsing_agrees_with_argparse(case: dict[str, object]) -> None:
    argv: list[str] = case["argv"]  # type: ignore[assignment]
    run = bool(case["detach"])
    quick = runflags.quick_parser(run).parse(argv, positionals=True)
    assert quick is not None, "the usual invocations must not need argparse"
    by_hand = parse_run_args(argv, run=run, make_parser=lambda: _parser(run))
    assert vars(by_hand) == vars(_parse_with_argparse(argv, run))


@pytest.mark.parametrize(
    "argv",
    [
        ["-dit", "--name", "web", "--rm", "-p", "8080:80", "busybox", "sh"],
        ["--detach-keys=ctrl-x", "--sig-proxy=false", "--pull", "never", "busybox"],
        [
            "--rm=false",
            "--init=true",
            "-m",
            "64m",
            "--ulimit",
            "nofile=10",
            "--mount",
            "type=tmpfs,dst=/t",
            "busybox",
        ],
        ["-h", "box", "--pids-limit", "-1", "--stop-timeout", "3", "-c", "512", "busybox"],
    ],
)
def test_run_flags_parse_the_same_both_ways(argv: list[str]) -> None:
    quick = parse_run_args(argv, run=True, make_parser=lambda: _parser(True))
    assert vars(quick) == vars(_parse_with_argparse(argv, run=True))


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--pull", "sometimes", "busybox"], ["--rm=maybe", "busybox"], ["-Z", "busybox"]],
)
def test_unusual_invocations_go_to_argparse(argv: list[str]) -> None:
    assert runflags.quick_parser(True).parse(argv, positionals=True) is None


def test_bad_values_are_refused_in_pflags_words() -> None:
    with pytest.raises(UsageError, match='invalid argument "x" for "--pids-limit" flag: strconv.ParseInt'):
        _parse(["--pids-limit", "x", "busybox"])


def test_command_after_image_keeps_its_flags() -> None:
    ns = _parse(["-e", "A=1", "busybox", "ls", "-l", "--rm"])
    assert ns.image == "busybox" and ns.args == ["ls", "-l", "--rm"] and not ns.rm


def test_combined_short_flags_and_attached_values() -> None:
    ns = _parse(["-it", "-p8080:80", "-eX=1", "busybox"])
    assert ns.tty and ns.interactive and ns.publish == ["8080:80"] and ns.env == ["X=1"]


def test_env_file(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "env")
    with open(path, "w") as fh:
        fh.write("# comment\nA=1\n\nB=two words\n")
    body = build_create_body(_parse(["--env-file", path, "-e", "C=3", "busybox"]))
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
    body = build_create_body(_parse(["--restart", "unless-stopped", "busybox"]))
    assert body["HostConfig"]["RestartPolicy"] == {"Name": "unless-stopped", "MaximumRetryCount": 0}
    assert build_create_body(_parse(["--rm", "busybox"]))["HostConfig"]["AutoRemove"] is True
    with pytest.raises(CLIError, match="cannot specify both --restart and --rm"):
        build_create_body(_parse(["--rm", "--restart", "unless-stopped", "busybox"]))
    # docker leaves the policy name to the daemon, but refuses a malformed count client-side
    assert build_create_body(_parse(["--restart", "sometimes", "busybox"]))["HostConfig"][
        "RestartPolicy"
    ] == {
        "Name": "sometimes",
        "MaximumRetryCount": 0,
    }
    with pytest.raises(CLIError, match="maximum retry count must be an integer"):
        build_create_body(_parse(["--restart", "on-failure:x", "busybox"]))
