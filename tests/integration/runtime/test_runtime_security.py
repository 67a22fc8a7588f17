"""The runtime's side of privileges and namespaces: rlimits applied exactly (an error, not a clamp),
the OOM score, GroupAdd, sysctls under read-only /proc/sys, a bind source in another container's
mount namespace, and the cgroup mount without a cgroup namespace."""

from __future__ import annotations

import asyncio
import os
import resource

import pytest
from runtime_helpers import Maker
from test_runtime_isolation import run

from berth.runtime.errors import CreateFailed

pytestmark = pytest.mark.root


async def test_rlimits_are_applied_exactly(maker: Maker) -> None:
    def edit(spec: dict[str, object]) -> None:
        process = spec["process"]
        assert isinstance(process, dict)
        process["rlimits"] = [
            {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
            {"type": "RLIMIT_NPROC", "soft": 50, "hard": 60},
        ]

    code, out, _ = await run(maker, ["sh", "-c", "ulimit -Sn; ulimit -Hn; ulimit -Su; ulimit -Hu"], edit=edit)
    assert (code, out.split()) == (0, ["100", "200", "50", "60"])


async def test_raising_a_hard_limit_is_an_error(maker: Maker) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no finite open-files hard limit")

    def edit(spec: dict[str, object]) -> None:
        process = spec["process"]
        assert isinstance(process, dict)
        process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": hard + 1, "hard": hard + 1}]

    with pytest.raises(CreateFailed, match=r"error setting rlimit type 7 \(RLIMIT_NOFILE\)"):
        maker.create(["true"], edit=edit)


async def test_oom_score_group_add_and_sysctl(maker: Maker) -> None:
    def edit(spec: dict[str, object]) -> None:
        process, linux, annotations = spec["process"], spec["linux"], spec["annotations"]
        assert isinstance(process, dict) and isinstance(linux, dict) and isinstance(annotations, dict)
        process["oomScoreAdj"] = 123
        linux["sysctl"] = {"kernel.shmmni": "999"}
        annotations["io.berth.group-add"] = "audio,4242"
        annotations["io.berth.user"] = "app"

    script = "cat /proc/self/oom_score_adj; id -G; cat /proc/sys/kernel/shmmni; echo 1 > /proc/sys/kernel/shmmni || echo ro"
    code, out, _ = await run(maker, ["sh", "-c", script], edit=edit)
    lines = out.split("\n")
    assert code == 0
    assert lines[0] == "123"
    assert sorted(lines[1].split(), key=int) == [
        "10",
        "29",
        "1000",
        "4242",
    ]  # app's own (wheel, audio) + 4242
    assert lines[2:4] == ["999", "ro"]  # written before /proc/sys became read-only


async def test_unknown_group_fails_create(maker: Maker) -> None:
    def edit(spec: dict[str, object]) -> None:
        annotations = spec["annotations"]
        assert isinstance(annotations, dict)
        annotations["io.berth.group-add"] = "nosuch"

    from berth.runtime.errors import UserNotFound

    with pytest.raises(UserNotFound, match="Unable to find group nosuch"):
        maker.create(["true"], edit=edit)


async def test_bind_from_another_containers_mount_namespace(maker: Maker) -> None:
    donor = maker.create(["sh", "-c", "echo from-donor > /dev/shm/f; sleep 100"])
    maker.rt.start(donor)
    pid = maker.rt.state(donor).pid
    async with asyncio.timeout(10):
        while not os.path.exists(f"/proc/{pid}/root/dev/shm/f"):
            await asyncio.sleep(0.05)

    def edit(spec: dict[str, object]) -> None:
        mounts = spec["mounts"]
        assert isinstance(mounts, list)
        shm = next(m for m in mounts if m["destination"] == "/dev/shm")
        shm.clear()
        shm.update({"destination": "/dev/shm", "type": "bind", "source": f"/proc/{pid}/root/dev/shm",
                    "options": ["rbind", "rprivate"]})  # fmt: skip

    code, out, _ = await run(maker, ["sh", "-c", "cat /dev/shm/f; echo joiner > /dev/shm/g"], edit=edit)
    assert (code, out) == (0, "from-donor\n")
    with open(f"/proc/{pid}/root/dev/shm/g") as f:
        assert f.read() == "joiner\n"
    maker.rt.kill(donor, 9)


async def test_cgroup_mount_without_a_cgroup_namespace(maker: Maker) -> None:
    def edit(spec: dict[str, object]) -> None:
        linux = spec["linux"]
        assert isinstance(linux, dict)
        linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "cgroup"]

    script = "readlink /proc/self/ns/cgroup; cat /sys/fs/cgroup/pids/cgroup.procs 2>/dev/null || cat /sys/fs/cgroup/cgroup.procs"
    code, out, _ = await run(maker, ["sh", "-c", script], edit=edit)
    lines = out.split()
    assert code == 0 and lines[0] == os.readlink("/proc/self/ns/cgroup")
    assert 1 <= len(lines[1:]) <= 3  # the container's own cgroup, not the host's root
