"""Seccomp as Docker applies it, checked from inside containers with a probe that makes the calls
(escape_probe.c, built static here): Docker's default profile blocks what it blocks, for init and
for exec; --privileged and seccomp=unconfined lift it; a profile file given to the docker CLI takes
effect; a broken one fails create; berthd --seccomp-profile sets the daemon's default."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Daemon, daemon_with
from tests.e2e.security.conftest import PROBE

pytestmark = pytest.mark.root


# Calls Docker's default profile refuses to a default (root, 14 capabilities) container: each EPERM.
BLOCKED_BY_DEFAULT = (
    "keyctl", "add_key", "unshare-user", "unshare-user-mount", "bpf", "perf_event_open", "userfaultfd",
    "personality", "mount", "pivot_root", "init_module", "kexec_load", "open_by_handle_at", "clone-newns",
)  # fmt: skip
# What the switch off (--privileged, or seccomp=unconfined with the capability) lets through; the rest
# (module loading, kexec) stay out of a test that must never change the host.
LIFTED_BY_PRIVILEGED = (
    "keyctl",
    "add_key",
    "unshare-user",
    "unshare-user-mount",
    "personality",
    "mount",
    "clone-newns",
)
LIFTED_BY_UNCONFINED = ("keyctl", "add_key", "unshare-user", "personality")


def _probe(berthd: Daemon, probe: Path, image: str, cases: tuple[str, ...], *flags: str) -> dict[str, str]:
    """{case: what the probe printed} from one container running every case."""
    script = "; ".join(f'echo "{c}=$({PROBE} {c})"' for c in cases)
    result = berthd.docker("run", "--rm", "-v", f"{probe}:{PROBE}:ro", *flags, image, "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines())


def test_the_default_profile_blocks_what_dockers_blocks(
    berthd: Daemon, busybox_image: str, probe: Path
) -> None:
    status = berthd.docker("run", "--rm", busybox_image, "grep", "^Seccomp", "/proc/self/status", check=True)
    assert status.stdout.split() == ["Seccomp:", "2", "Seccomp_filters:", "1"], status.stdout
    seen = _probe(berthd, probe, busybox_image, BLOCKED_BY_DEFAULT)
    assert seen == dict.fromkeys(BLOCKED_BY_DEFAULT, "Operation not permitted"), seen
    # what programs need still works: threads, forks, a shell pipeline, name lookups, sockets
    ok = berthd.docker("run", "--rm", busybox_image, "sh", "-c", "echo a | cat | wc -c; nc -l -p 1 & kill $!")
    assert ok.returncode == 0 and ok.stdout.strip() == "2", ok.stderr


def test_exec_and_non_root_users_get_the_filter(berthd: Daemon, busybox_image: str, probe: Path) -> None:
    name = f"sc-{uuid.uuid4().hex[:6]}"
    berthd.docker(
        "run", "-d", "--name", name, "-v", f"{probe}:{PROBE}:ro", busybox_image, "sleep", "300", check=True
    )
    status = berthd.docker("exec", name, "grep", "^Seccomp:", "/proc/self/status", check=True)
    assert status.stdout.split() == ["Seccomp:", "2"]
    assert berthd.docker("exec", name, PROBE, "keyctl").stdout.strip() == "Operation not permitted"
    # a user without capabilities: the filter goes in before they are dropped (no no_new_privs)
    for flags in ((), ("--security-opt", "no-new-privileges")):
        seen = _probe(berthd, probe, busybox_image, ("keyctl", "mkdir"), "--user", "1000", *flags)
        assert seen == {"keyctl": "Operation not permitted", "mkdir": "ok"}, (flags, seen)
    as_user = berthd.docker("exec", "--user", "1000", name, PROBE, "unshare-user")
    assert as_user.stdout.strip() == "Operation not permitted"


def test_privileged_and_unconfined_lift_it(berthd: Daemon, busybox_image: str, probe: Path) -> None:
    privileged = _probe(berthd, probe, busybox_image, LIFTED_BY_PRIVILEGED, "--privileged")
    assert privileged == dict.fromkeys(LIFTED_BY_PRIVILEGED, "ok"), privileged
    status = berthd.docker(
        "run", "--rm", "--privileged", busybox_image, "grep", "^Seccomp:", "/proc/self/status"
    )
    assert status.stdout.split() == ["Seccomp:", "0"]
    unconfined = _probe(
        berthd, probe, busybox_image, (*LIFTED_BY_UNCONFINED, "mount"), "--security-opt", "seccomp=unconfined"
    )
    # the filter is off; capabilities still hold (mount needs CAP_SYS_ADMIN)
    assert unconfined == {**dict.fromkeys(LIFTED_BY_UNCONFINED, "ok"), "mount": "Operation not permitted"}, (
        unconfined
    )
    # a capability turns on the rules Docker's profile keeps for it
    with_admin = _probe(berthd, probe, busybox_image, ("mount", "clone-newns"), "--cap-add", "SYS_ADMIN")
    assert with_admin == {"mount": "ok", "clone-newns": "ok"}, with_admin
    builtin = _probe(berthd, probe, busybox_image, ("keyctl",), "--security-opt", "seccomp=builtin")
    assert builtin == {"keyctl": "Operation not permitted"}


def test_a_profile_file_from_the_docker_cli(
    berthd: Daemon, busybox_image: str, probe: Path, tmp_path: Path
) -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
    }
    path = tmp_path / "no-mkdir.json"
    path.write_text(json.dumps(profile))
    seen = _probe(berthd, probe, busybox_image, ("mkdir", "keyctl"), "--security-opt", f"seccomp={path}")
    assert seen == {"mkdir": "Permission denied", "keyctl": "ok"}, seen
    broken = tmp_path / "broken.json"
    broken.write_text('{"defaultAction": "SCMP_ACT_SOMETIMES"}')
    refused = berthd.docker("run", "--rm", "--security-opt", f"seccomp={broken}", busybox_image, "true")
    assert refused.returncode == 125 and "unknown action 'SCMP_ACT_SOMETIMES'" in refused.stderr, (
        refused.stderr
    )
    info = json.loads(berthd.docker("info", "--format", "{{json .SecurityOptions}}", check=True).stdout)
    assert info[0] == "name=seccomp,profile=builtin"


@pytest.fixture
def unconfined_daemon() -> Iterator[Daemon]:
    with daemon_with("--seccomp-profile", "unconfined") as daemon:
        yield daemon


def test_the_daemons_seccomp_profile_flag(unconfined_daemon: Daemon, probe: Path) -> None:
    assert _probe(unconfined_daemon, probe, "busybox", ("keyctl",)) == {"keyctl": "ok"}
    info = unconfined_daemon.docker("info", "--format", "{{json .SecurityOptions}}", check=True).stdout
    assert json.loads(info)[0] == "name=seccomp,profile=unconfined"
    # a container's own choice still wins over the daemon's
    builtin = _probe(unconfined_daemon, probe, "busybox", ("keyctl",), "--security-opt", "seccomp=builtin")
    assert builtin == {"keyctl": "Operation not permitted"}
