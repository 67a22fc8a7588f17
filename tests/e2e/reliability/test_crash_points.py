"""berthd SIGKILLed at each named crash point (``util/faults.py``, armed with ``BERTH_CRASH_AT``), inside
each operation that passes it (``point@operation``: a layer is recorded by import, pull, load, commit
and build alike): the request dies with the daemon; a new daemon starts cleanly; ``system check`` is
clean (or repairs to clean); what the killed request was making is either not there or whole; and
doing it again works."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from berth.testing.registry import RegistryProcess, start_berth_registry
from berth.util.faults import POINTS
from tests.e2e.conftest import Daemon, start_daemon, stop_daemon

pytestmark = pytest.mark.root


@dataclass
class Scene:
    """What a case works with: the daemon, a scratch directory, and a registry when it needs one."""

    daemon: Daemon
    tmp: Path
    registry: RegistryProcess | None = None

    def berth(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.daemon.berth(*args)

    @property
    def remote(self) -> str:
        assert self.registry is not None
        return f"{self.registry.host}/alice/crashed:1"


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def _rootfs_tar(path: Path) -> Path:
    data = b"made before the crash\n"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def _images(scene: Scene) -> str:
    return _ok(scene.berth("images", "--format", "{{.Repository}}:{{.Tag}}"))


def _whole_if_there(scene: Scene, name: str) -> None:
    """An image the crash left behind is whole: inspected, every layer readable, it runs."""
    if name in _images(scene).split():
        _ok(scene.berth("image", "inspect", name))
        _ok(scene.berth("save", "-o", str(scene.tmp / "whole.tar"), name))


@dataclass(frozen=True)
class Case:
    act: Callable[[Scene], subprocess.CompletedProcess[str]]  # the request the daemon dies in
    whole: Callable[[Scene], None]  # after the restart: what it made is absent or whole
    again: Callable[[Scene], None]  # and doing it again works
    setup: Callable[[Scene], None] = lambda scene: None  # before the armed daemon starts
    registry: bool = False  # the case pushes or pulls


# -- images: import, load, pull, push, commit, build, rmi ----------------------------------------------


def _import(scene: Scene) -> subprocess.CompletedProcess[str]:
    return scene.berth("import", str(_rootfs_tar(scene.tmp / "rootfs.tar")), "crashed:1")


def _imported(scene: Scene) -> None:
    _ok(_import(scene))


def _crashed_whole(scene: Scene) -> None:
    _whole_if_there(scene, "crashed:1")


def _import_again(scene: Scene) -> None:
    _ok(_import(scene))
    assert "crashed:1" in _images(scene).split()


def _saved(scene: Scene) -> None:
    _imported(scene)
    _ok(scene.berth("save", "-o", str(scene.tmp / "saved.tar"), "crashed:1"))
    _ok(scene.berth("rmi", "crashed:1"))


def _load(scene: Scene) -> subprocess.CompletedProcess[str]:
    return scene.berth("load", "-i", str(scene.tmp / "saved.tar"))


def _load_again(scene: Scene) -> None:
    _ok(_load(scene))
    _whole_if_there(scene, "crashed:1")
    assert "crashed:1" in _images(scene).split()


def _login(scene: Scene) -> None:
    assert scene.registry is not None
    login = scene.daemon.berth("login", "-u", "alice", "--password-stdin", scene.registry.host, input=b"pw\n")
    _ok(login)


def _pushed(scene: Scene) -> None:
    """An image of its own layer in the registry and not here, so the pull fetches every blob."""
    _login(scene)
    _imported(scene)
    _ok(scene.berth("tag", "crashed:1", scene.remote))
    _ok(scene.berth("push", scene.remote))
    _ok(scene.berth("rmi", "crashed:1", scene.remote))


def _pull(scene: Scene) -> subprocess.CompletedProcess[str]:
    return scene.berth("pull", scene.remote)


def _pulled_whole(scene: Scene) -> None:
    _whole_if_there(scene, scene.remote)


def _pull_again(scene: Scene) -> None:
    _ok(_pull(scene))
    _ok(scene.berth("save", "-o", str(scene.tmp / "whole.tar"), scene.remote))


def _tagged_for_push(scene: Scene) -> None:
    _login(scene)
    _imported(scene)
    _ok(scene.berth("tag", "crashed:1", scene.remote))


def _push(scene: Scene) -> subprocess.CompletedProcess[str]:
    return scene.berth("push", scene.remote)


def _registry_tags(scene: Scene) -> list[str]:
    assert scene.registry is not None
    auth = {"Authorization": "Basic YWxpY2U6cHc="}  # alice:pw
    status, _, body = scene.registry.request("GET", "/v2/alice/crashed/tags/list", headers=auth)
    return list(json.loads(body).get("tags") or []) if status == 200 else []


def _push_left_no_tag(scene: Scene) -> None:
    assert "1" not in _registry_tags(scene), "the registry has a tag the killed push never put"
    _whole_if_there(scene, scene.remote)  # the local image is untouched


def _push_again(scene: Scene) -> None:
    _ok(_push(scene))
    assert _registry_tags(scene) == ["1"]


def _changed_container(scene: Scene) -> None:
    _ok(scene.berth("run", "--name", "box", "busybox", "sh", "-c", "echo committed > /made"))


def _commit(scene: Scene) -> subprocess.CompletedProcess[str]:
    return scene.berth("commit", "box", "snap:1")


def _commit_whole(scene: Scene) -> None:
    if "snap:1" in _images(scene).split():
        assert _ok(scene.berth("run", "--rm", "snap:1", "cat", "/made")) == "committed\n"


def _commit_again(scene: Scene) -> None:
    _ok(_commit(scene))
    assert _ok(scene.berth("run", "--rm", "snap:1", "cat", "/made")) == "committed\n"


def _build(scene: Scene) -> subprocess.CompletedProcess[str]:
    context = scene.tmp / "context"
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text("FROM busybox\nRUN echo built > /built\nRUN echo twice >> /built\n")
    return scene.berth("build", "-q", "-t", "built:1", str(context))


def _built_whole(scene: Scene) -> None:
    if "built:1" in _images(scene).split():
        assert _ok(scene.berth("run", "--rm", "built:1", "cat", "/built")) == "built\ntwice\n"
    assert _ok(scene.berth("ps", "-aq")) == "", "a killed build left its step container"


def _build_again(scene: Scene) -> None:
    _ok(_build(scene))
    assert _ok(scene.berth("run", "--rm", "built:1", "cat", "/built")) == "built\ntwice\n"


def _rmi(scene: Scene) -> subprocess.CompletedProcess[str]:
    return scene.berth("rmi", "crashed:1")


# -- containers, volumes, networks ---------------------------------------------------------------------


def _create(scene: Scene) -> subprocess.CompletedProcess[str]:
    return scene.berth("create", "busybox", "true")


def _no_container_or_whole(scene: Scene) -> None:
    for name in _ok(scene.berth("ps", "-aq")).split():
        _ok(scene.berth("start", "-a", name))


def _create_again(scene: Scene) -> None:
    _ok(scene.berth("create", "--name", "again", "busybox", "true"))
    assert _ok(scene.berth("start", "-a", "again")) == ""


def _doomed(scene: Scene) -> None:
    _ok(scene.berth("create", "--name", "doomed", "busybox", "true"))


def _rm(scene: Scene) -> subprocess.CompletedProcess[str]:
    return scene.berth("rm", "doomed")


def _stays_removed(scene: Scene) -> None:
    assert "doomed" not in _ok(scene.berth("ps", "-a")), "a removed container came back"


def _sleeper(scene: Scene) -> None:
    _ok(scene.berth("create", "--name", "sleeper", "busybox", "sleep", "300"))


def _start(scene: Scene) -> subprocess.CompletedProcess[str]:
    return scene.berth("start", "sleeper")


def _started_or_not(scene: Scene) -> None:
    """Either running, and then watched (stop works and records its exit), or still created."""
    status = _ok(scene.berth("inspect", "-f", "{{.State.Status}}", "sleeper")).strip()
    assert status in {"running", "created"}, status
    if status == "running":
        _ok(scene.berth("stop", "-t", "1", "sleeper"))
        assert _ok(scene.berth("inspect", "-f", "{{.State.Status}}", "sleeper")).strip() == "exited"


def _start_again(scene: Scene) -> None:
    _ok(scene.berth("start", "sleeper"))
    _ok(scene.berth("exec", "sleeper", "true"))
    _ok(scene.berth("rm", "-f", "sleeper"))


def _volume_create(scene: Scene) -> subprocess.CompletedProcess[str]:
    return scene.berth("volume", "create", "halfvol")


def _volume_whole(scene: Scene) -> None:
    if "halfvol" in _ok(scene.berth("volume", "ls", "--format", "{{.Name}}")):
        _ok(scene.berth("volume", "inspect", "halfvol"))


def _volume_used(scene: Scene) -> None:
    _ok(scene.berth("run", "--rm", "-v", "halfvol:/v", "busybox", "sh", "-c", "echo x > /v/x"))


def _copy_up(scene: Scene) -> subprocess.CompletedProcess[str]:
    """The first use of a named volume at /etc: busybox's /etc is copied into it."""
    return scene.berth("run", "--rm", "-v", "halfvol:/etc", "busybox", "ls", "/etc/passwd")


def _copy_whole_or_redone(scene: Scene) -> None:
    listing = _ok(scene.berth("run", "--rm", "-v", "halfvol:/etc", "busybox", "ls", "/etc"))
    assert {"group", "hostname", "passwd"} <= set(listing.split()), listing


def _copy_up_again(scene: Scene) -> None:
    _ok(scene.berth("volume", "rm", "halfvol"))
    _ok(_copy_up(scene))


def _network_create(scene: Scene) -> subprocess.CompletedProcess[str]:
    return scene.berth("network", "create", "halfnet")


def _network_whole(scene: Scene) -> None:
    if "halfnet" in _ok(scene.berth("network", "ls", "--format", "{{.Name}}")):
        _ok(scene.berth("network", "inspect", "halfnet"))


def _network_used(scene: Scene) -> None:
    if "halfnet" not in _ok(scene.berth("network", "ls", "--format", "{{.Name}}")):
        _ok(_network_create(scene))
    _ok(scene.berth("run", "--rm", "--network", "halfnet", "busybox", "true"))


def _running_and_network(scene: Scene) -> None:
    _ok(_network_create(scene))
    _ok(scene.berth("run", "-d", "--name", "plugged", "busybox", "sleep", "300"))


def _connect(scene: Scene) -> subprocess.CompletedProcess[str]:
    return scene.berth("network", "connect", "halfnet", "plugged")


def _connected_or_not(scene: Scene) -> None:
    networks = _ok(scene.berth("inspect", "-f", "{{json .NetworkSettings.Networks}}", "plugged"))
    links = _ok(scene.berth("exec", "plugged", "ip", "-o", "link"))
    interfaces = [line.split(":")[1].strip().split("@")[0] for line in links.splitlines()]
    assert len(interfaces) == len(json.loads(networks)) + 1, (networks, links)  # lo and one per network


def _connect_again(scene: Scene) -> None:
    if "halfnet" not in _ok(scene.berth("inspect", "-f", "{{json .NetworkSettings.Networks}}", "plugged")):
        _ok(_connect(scene))
    other = _ok(scene.berth("run", "--rm", "--network", "halfnet", "busybox", "hostname", "-i")).strip()
    mine = _ok(scene.berth("inspect", "-f", '{{(index .NetworkSettings.Networks "halfnet").IPAddress}}',
                           "plugged")).strip()  # fmt: skip
    assert other != mine, "two containers were given one address"
    _ok(scene.berth("rm", "-f", "plugged"))


_IMPORT = (_import, _crashed_whole, _import_again)
_LOAD = (_load, _crashed_whole, _load_again)
_PULL = (_pull, _pulled_whole, _pull_again)
_COMMIT = (_commit, _commit_whole, _commit_again)
_BUILD = (_build, _built_whole, _build_again)

CASES = {
    "layer.before-record@import": Case(*_IMPORT),
    "layer.before-record@load": Case(*_LOAD, setup=_saved),
    "layer.before-record@pull": Case(*_PULL, setup=_pushed, registry=True),
    "layer.before-record@commit": Case(*_COMMIT, setup=_changed_container),
    "layer.before-record@build": Case(*_BUILD),
    "image.before-register@import": Case(*_IMPORT),
    "image.before-register@load": Case(*_LOAD, setup=_saved),
    "image.before-register@pull": Case(*_PULL, setup=_pushed, registry=True),
    "image.before-register@commit": Case(*_COMMIT, setup=_changed_container),
    "image.before-register@build": Case(*_BUILD),
    "pull.mid-blob@pull": Case(*_PULL, setup=_pushed, registry=True),
    "push.before-manifest@push": Case(
        _push, _push_left_no_tag, _push_again, setup=_tagged_for_push, registry=True
    ),
    "build.step-committed@build": Case(*_BUILD),
    "rmi.before-layers@rmi": Case(_rmi, _crashed_whole, _import_again, setup=_imported),
    "container.before-record@create": Case(_create, _no_container_or_whole, _create_again),
    "container.rm-before-record@rm": Case(_rm, _stays_removed, _create_again, setup=_doomed),
    "container.start-before-record@start": Case(_start, _started_or_not, _start_again, setup=_sleeper),
    "volume.before-record@create": Case(_volume_create, _volume_whole, _volume_used),
    "volume.mid-copy@run": Case(_copy_up, _copy_whole_or_redone, _copy_up_again),
    "network.before-firewall@create": Case(_network_create, _network_whole, _network_used),
    "network.connect-before-record@connect": Case(
        _connect, _connected_or_not, _connect_again, setup=_running_and_network
    ),
}


def test_every_crash_point_has_a_case() -> None:
    assert sorted({name.partition("@")[0] for name in CASES}) == sorted(POINTS)


@pytest.fixture
def scene(
    berthd: Daemon, busybox_image: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Scene]:
    if not CASES[request.node.callspec.params["case"]].registry:
        yield Scene(berthd, tmp_path)
        return
    registry = start_berth_registry(tmp_path / "registry", users={"alice": "pw"})
    try:
        yield Scene(berthd, tmp_path, registry)
    finally:
        registry.stop()


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_kill_at_the_point_loses_nothing_and_leaves_nothing_half_made(scene: Scene, case: str) -> None:
    point, berthd, this = case.partition("@")[0], scene.daemon, CASES[case]
    this.setup(scene)
    stop_daemon(berthd)
    armed = start_daemon(berthd.root, berthd.cgroup_parent, crash_at=point)
    berthd.process = armed.process
    result = this.act(scene)
    assert result.returncode != 0, f"the request passed {point} without the daemon dying"
    assert berthd.process.wait(timeout=30) == -9  # SIGKILL: it died at the point, not of an error
    berthd.process = start_daemon(berthd.root, berthd.cgroup_parent).process

    repaired = berthd.berth("system", "check", "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    out = _ok(berthd.berth("system", "check"))
    assert out == "no problems found\n", out
    this.whole(scene)
    this.again(scene)
    assert _ok(berthd.berth("system", "check")) == "no problems found\n"
