"""berthd SIGKILLed at each named crash point (``util/faults.py``, armed with ``BERTH_CRASH_AT``): the
request dies with the daemon; a new daemon starts cleanly; ``system check`` is clean (or repairs to
clean); what the killed request was making is either not there or whole; and doing it again works."""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from berth.util.faults import POINTS
from tests.e2e.conftest import Daemon, start_daemon, stop_daemon

pytestmark = pytest.mark.root


def _rootfs_tar(path: Path) -> Path:
    data = b"made before the crash\n"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


@dataclass(frozen=True)
class Case:
    setup: Callable[[Daemon, Path], None]  # before the armed daemon's fatal request (may be a no-op)
    act: Callable[[Daemon, Path], subprocess.CompletedProcess[str]]  # the request the daemon dies in
    whole: Callable[[Daemon], None]  # after the restart: what it made is absent or whole
    again: Callable[[Daemon, Path], None]  # and doing it again works


def _nothing(daemon: Daemon, tmp: Path) -> None:
    return None


def _import(daemon: Daemon, tmp: Path) -> subprocess.CompletedProcess[str]:
    return daemon.berth("import", str(_rootfs_tar(tmp / "rootfs.tar")), "crashed:1")


def _imported_whole(daemon: Daemon) -> None:
    if "crashed" in _ok(daemon.berth("images", "--format", "{{.Repository}}")):
        _ok(daemon.berth("image", "inspect", "crashed:1"))
        _ok(daemon.berth("save", "-o", "/dev/null", "crashed:1"))  # every layer readable


def _import_again(daemon: Daemon, tmp: Path) -> None:
    _ok(_import(daemon, tmp))
    assert "crashed" in _ok(daemon.berth("images", "--format", "{{.Repository}}"))


def _no_container_or_whole(daemon: Daemon) -> None:
    for name in _ok(daemon.berth("ps", "-aq")).split():
        _ok(daemon.berth("start", "-a", name))


def _create_again(daemon: Daemon, tmp: Path) -> None:
    _ok(daemon.berth("create", "--name", "again", "busybox", "true"))
    assert _ok(daemon.berth("start", "-a", "again")) == ""


def _imported(daemon: Daemon, tmp: Path) -> None:
    _ok(_import(daemon, tmp))


def _rmi(daemon: Daemon, tmp: Path) -> subprocess.CompletedProcess[str]:
    return daemon.berth("rmi", "crashed:1")


def _create(daemon: Daemon, tmp: Path) -> subprocess.CompletedProcess[str]:
    return daemon.berth("create", "busybox", "true")


def _doomed(daemon: Daemon, tmp: Path) -> None:
    _ok(daemon.berth("create", "--name", "doomed", "busybox", "true"))


def _rm(daemon: Daemon, tmp: Path) -> subprocess.CompletedProcess[str]:
    return daemon.berth("rm", "doomed")


def _stays_removed(daemon: Daemon) -> None:
    assert "doomed" not in _ok(daemon.berth("ps", "-a")), "a removed container came back"


def _volume_create(daemon: Daemon, tmp: Path) -> subprocess.CompletedProcess[str]:
    return daemon.berth("volume", "create", "halfvol")


def _volume_whole(daemon: Daemon) -> None:
    if "halfvol" in _ok(daemon.berth("volume", "ls", "--format", "{{.Name}}")):
        _ok(daemon.berth("volume", "inspect", "halfvol"))


def _volume_used(daemon: Daemon, tmp: Path) -> None:
    _ok(daemon.berth("run", "--rm", "-v", "halfvol:/v", "busybox", "sh", "-c", "echo x > /v/x"))


def _network_create(daemon: Daemon, tmp: Path) -> subprocess.CompletedProcess[str]:
    return daemon.berth("network", "create", "halfnet")


def _network_whole(daemon: Daemon) -> None:
    if "halfnet" in _ok(daemon.berth("network", "ls", "--format", "{{.Name}}")):
        _ok(daemon.berth("network", "inspect", "halfnet"))


def _network_used(daemon: Daemon, tmp: Path) -> None:
    if "halfnet" not in _ok(daemon.berth("network", "ls", "--format", "{{.Name}}")):
        _ok(_network_create(daemon, tmp))
    _ok(daemon.berth("run", "--rm", "--network", "halfnet", "busybox", "true"))


CASES = {
    "layer.before-record": Case(_nothing, _import, _imported_whole, _import_again),
    "image.before-register": Case(_nothing, _import, _imported_whole, _import_again),
    "rmi.before-layers": Case(_imported, _rmi, _imported_whole, _import_again),
    "container.before-record": Case(_nothing, _create, _no_container_or_whole, _create_again),
    "container.rm-before-record": Case(_doomed, _rm, _stays_removed, _create_again),
    "volume.before-record": Case(_nothing, _volume_create, _volume_whole, _volume_used),
    "network.before-firewall": Case(_nothing, _network_create, _network_whole, _network_used),
}


def test_every_crash_point_has_a_case() -> None:
    assert sorted(CASES) == sorted(POINTS)


@pytest.mark.parametrize("point", sorted(CASES))
def test_a_kill_at_the_point_loses_nothing_and_leaves_nothing_half_made(
    berthd: Daemon, busybox_image: str, tmp_path: Path, point: str
) -> None:
    case = CASES[point]
    case.setup(berthd, tmp_path)
    stop_daemon(berthd)
    armed = start_daemon(berthd.root, berthd.cgroup_parent, crash_at=point)
    berthd.process = armed.process
    result = case.act(berthd, tmp_path)
    assert result.returncode != 0, f"the request passed {point} without the daemon dying"
    assert berthd.process.wait(timeout=30) == -9  # SIGKILL: it died at the point, not of an error
    berthd.process = start_daemon(berthd.root, berthd.cgroup_parent).process

    repaired = berthd.berth("system", "check", "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    out = _ok(berthd.berth("system", "check"))
    assert out == "no problems found\n", out
    case.whole(berthd)
    case.again(berthd, tmp_path)
    assert _ok(berthd.berth("system", "check")) == "no problems found\n"
