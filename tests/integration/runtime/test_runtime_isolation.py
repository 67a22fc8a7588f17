"""Isolation and resources as Docker sets them up: namespaces, mounts, devices, caps, cgroups."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
from pathlib import Path

import pytest
from runtime_helpers import Maker, demux

from berth.oci.mount import Mount
from berth.runtime.linux.caps import DOCKER_DEFAULT_CAPS, mask
from berth.runtime.types import IOConfig, Status

pytestmark = pytest.mark.root


async def run(maker: Maker, args: list[str], **kwargs: object) -> tuple[int, str, str]:
    container_id = maker.create(args, **kwargs)  # type: ignore[arg-type]
    attached = await maker.rt.attach(container_id, stdin=False, stdout=True, stderr=True)
    maker.rt.start(container_id)
    async with asyncio.timeout(60):
        data = await attached.reader.read()
        state = await maker.rt.wait(container_id)
    attached.writer.close()
    out, err = demux(data)
    return state.exit_code if state.exit_code is not None else -1, out.decode(), err.decode()


async def test_namespaces_and_proc(maker: Maker) -> None:
    script = (
        "hostname; echo $$; ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' '; echo; "
        "ip link 2>/dev/null | grep -c '^[0-9]'"
    )
    code, out, _ = await run(maker, ["sh", "-c", script], hostname="box1")
    hostname, pid, pids, links = out.split("\n")[:4]
    assert (code, hostname, pid) == (0, "box1", "1")
    assert set(pids.split()) <= {"1", "2", "3", "4", "5", "6"}  # only the container's processes
    assert links == "1"  # a new network namespace holds only lo


async def test_capabilities_and_no_new_privs(maker: Maker) -> None:
    code, out, _ = await run(
        maker, ["sh", "-c", "grep -E '^(CapEff|CapBnd|CapPrm|NoNewPrivs)' /proc/self/status"]
    )
    fields = dict(line.split(":\t") for line in out.strip().splitlines())
    expected = f"{mask(DOCKER_DEFAULT_CAPS):016x}"
    assert fields["CapEff"] == fields["CapBnd"] == fields["CapPrm"] == expected == "00000000a80425fb"
    assert fields["NoNewPrivs"] == "0"  # Docker's default spec leaves no_new_privs off


async def test_mounts_devices_and_masks(maker: Maker) -> None:
    script = (
        "ls /dev | tr '\\n' ' '; echo; "
        "grep -E ' /sys | /proc | /dev/shm | /dev/pts ' /proc/mounts | cut -d' ' -f2-4; "
        "touch /sys/x 2>/dev/null && echo sys-writable; "
        "cat /proc/kcore 2>/dev/null | wc -c; ls /sys/firmware | wc -l; "
        "echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo procsys-writable; "
        "ls -l /dev/ptmx | cut -c1; ls /sys/fs/cgroup | tr '\\n' ' '"
    )
    code, out, err = await run(maker, ["sh", "-c", script])
    lines = out.split("\n")
    devices = set(lines[0].split())
    expected = {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "fd", "stdin"}
    expected |= {"stdout", "stderr", "ptmx"} | ({"core"} if Path("/proc/kcore").exists() else set())
    assert devices == expected
    mounts = {line.split()[0]: line for line in lines[1:5]}
    assert "ro" in mounts["/sys"].split()[2].split(",")
    assert mounts["/dev/shm"].startswith("/dev/shm tmpfs")
    assert "sys-writable" not in out and "procsys-writable" not in out
    assert lines[5] == "0" and lines[6] == "0"  # /proc/kcore masked by /dev/null, /sys/firmware by tmpfs
    assert lines[7] == "l"
    assert "memory" in lines[8].split() and "pids" in lines[8].split()


async def test_overlay_upper_takes_writes(maker: Maker) -> None:
    code, _, _ = await run(maker, ["sh", "-c", "echo hi > /etc/newfile && rm /etc/group"])
    assert code == 0
    upper = maker.tmp / "c1" / "upper"
    assert (upper / "etc" / "newfile").read_text() == "hi\n"
    assert (maker.lower / "etc" / "group").exists() and not (maker.lower / "etc" / "newfile").exists()


async def test_readonly_root(maker: Maker) -> None:
    code, _, err = await run(maker, ["sh", "-c", "touch /x"], readonly_rootfs=True)
    assert code != 0 and "Read-only file system" in err
    code, _, _ = await run(maker, ["sh", "-c", "touch /dev/shm/x /tmp/../dev/shm/y"], readonly_rootfs=True)
    assert code == 0


def _resources(**values: object):  # type: ignore[no-untyped-def]
    def edit(spec: dict[str, object]) -> None:
        linux = spec["linux"]
        assert isinstance(linux, dict)
        linux["resources"] = {**linux["resources"], **values}

    return edit


async def test_memory_limit_oom(maker: Maker) -> None:
    edit = _resources(memory={"limit": 32 << 20, "swap": 32 << 20})
    container_id = maker.create(["sh", "-c", "tail /dev/zero"], edit=edit)
    maker.rt.start(container_id)
    state = await asyncio.wait_for(maker.rt.wait(container_id), 60)
    assert (state.exit_code, state.oom_killed) == (137, True)


async def test_pids_limit(maker: Maker) -> None:
    edit = _resources(pids={"limit": 5})
    code, out, err = await run(
        maker, ["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; wait; echo end"], edit=edit
    )
    assert "can't fork" in err or "Resource temporarily unavailable" in err


async def test_cpu_values_and_stats(maker: Maker) -> None:
    edit = _resources(cpu={"quota": 50000, "period": 100000, "shares": 512}, pids={"limit": 64})
    container_id = maker.create(["sleep", "100"], edit=edit)
    maker.rt.start(container_id)
    cgroup = json.loads((maker.rt.root / container_id / "state.json").read_text())["cgroup"]
    if cgroup["version"] == 1:
        cpu = Path(cgroup["dirs"]["cpu"])
        assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "50000"
        assert (cpu / "cpu.cfs_period_us").read_text().strip() == "100000"
        assert (cpu / "cpu.shares").read_text().strip() == "512"
    else:
        assert (Path(cgroup["dir"]) / "cpu.max").read_text().strip() == "50000 100000"
    stats = maker.rt.stats(container_id)
    assert stats.pids_current == 1 and stats.pids_limit == 64
    assert stats.memory_usage > 0 and stats.system_cpu_ns > 0 and stats.online_cpus >= 1
    pids = maker.rt.pids(container_id)
    assert pids == [maker.rt.state(container_id).pid]


async def test_pause_resume(maker: Maker) -> None:
    rt = maker.rt
    container_id = maker.create(["sleep", "100"])
    rt.start(container_id)
    rt.pause(container_id)
    assert rt.state(container_id).status == Status.PAUSED
    rt.resume(container_id)
    assert rt.state(container_id).status == Status.RUNNING
    rt.pause(container_id)
    rt.kill(container_id, signal.SIGKILL, all_processes=True)
    rt.resume(container_id)
    state = await asyncio.wait_for(rt.wait(container_id), 10)
    assert state.exit_code == 137


async def test_single_file_bind_mounts(maker: Maker) -> None:
    hosts = maker.tmp / "hosts"
    hosts.write_text("127.0.0.1 localhost box\n")

    def edit(spec: dict[str, object]) -> None:
        mounts = spec["mounts"]
        assert isinstance(mounts, list)
        mounts.append(
            {"destination": "/etc/hosts", "type": "bind", "source": str(hosts), "options": ["rbind", "ro"]}
        )
        mounts.append(
            {
                "destination": "/sbin/sh",
                "type": "bind",
                "source": "/usr/bin/busybox",
                "options": ["bind", "ro"],
            }
        )

    code, out, _ = await run(maker, ["/sbin/sh", "-c", "cat /etc/hosts; echo x >> /etc/hosts"], edit=edit)
    assert out == "127.0.0.1 localhost box\n" and code != 0


async def test_exec(maker: Maker) -> None:
    rt = maker.rt
    container_id = maker.create(["sleep", "100"])
    rt.start(container_id)
    process = {
        "args": ["sh", "-c", "echo $FOO; pwd; cat /proc/1/cmdline; echo; exit 5"],
        "env": ["FOO=bar", "PATH=/bin"],
        "cwd": "/tmp",
        "user": {"uid": 0, "gid": 0},
    }
    rt.exec_create(container_id, "e1", process, IOConfig())
    attached = await rt.exec_attach(container_id, "e1", stdin=False)
    pid = rt.exec_start(container_id, "e1")
    assert pid > 0
    async with asyncio.timeout(10):
        data = await attached.reader.read()
        code = await rt.exec_wait(container_id, "e1")
    attached.writer.close()
    assert code == 5
    assert demux(data)[0] == b"bar\n/tmp\nsleep\x00100\x00\n"


async def test_exec_not_found(maker: Maker) -> None:
    from berth.runtime.errors import ExecFailed

    rt = maker.rt
    container_id = maker.create(["sleep", "100"])
    rt.start(container_id)
    rt.exec_create(container_id, "e1", {"args": ["nope"], "env": ["PATH=/bin"], "cwd": "/"}, IOConfig())
    with pytest.raises(ExecFailed) as info:
        rt.exec_start(container_id, "e1")
    assert str(info.value) == 'exec: "nope": executable file not found in $PATH'
    assert await asyncio.wait_for(rt.exec_wait(container_id, "e1"), 10) == 127
    rt.exec_create(container_id, "e2", {"args": ["id", "-u"], "env": ["PATH=/bin"], "cwd": "/"}, IOConfig())
    attached = await rt.exec_attach(container_id, "e2", stdin=False)
    rt.exec_start(container_id, "e2")
    data = await asyncio.wait_for(attached.reader.read(), 10)
    attached.writer.close()
    assert demux(data)[0] == b"0\n"


async def test_exec_tty_user_and_resize(maker: Maker) -> None:
    rt = maker.rt
    container_id = maker.create(["sleep", "100"], user="app")
    rt.start(container_id)
    io = IOConfig(tty=True, open_stdin=True, console_height=20, console_width=70)
    process = {"args": ["sh", "-c", "id -u; stty size; read x; stty size"], "env": ["PATH=/bin"], "cwd": "/"}
    rt.exec_create(container_id, "t1", process, io)
    attached = await rt.exec_attach(container_id, "t1", stdin=True)
    rt.exec_start(container_id, "t1")
    async with asyncio.timeout(10):
        first = await attached.reader.readuntil(b"20 70\r\n")
        rt.exec_resize(container_id, "t1", height=50, width=90)
        attached.writer.write(b"go\r")
        rest = await attached.reader.read()
        code = await rt.exec_wait(container_id, "t1")
    attached.writer.close()
    assert first.startswith(b"1000\r\n")  # the container's user annotation applies to exec
    assert b"50 90" in rest and code == 0
    other = {"args": ["id", "-u"], "env": ["PATH=/bin"], "cwd": "/", "user": {"username": "nobody"}}
    rt.exec_create(container_id, "t2", other, IOConfig())
    attached = await rt.exec_attach(container_id, "t2", stdin=False)
    rt.exec_start(container_id, "t2")
    data = await asyncio.wait_for(attached.reader.read(), 10)
    attached.writer.close()
    assert demux(data)[0] == b"65534\n"


async def test_overlay_with_many_layers(maker: Maker) -> None:
    """More lower layers than fit in one page of mount options (relative-path fallback)."""
    container_id, bundle, _, rootfs = maker.bundle(["cat", "/layer-59"])
    base_layer = maker.tmp / "layers" / "base"
    shutil.copytree(maker.lower, base_layer, symlinks=True)
    layers = []
    for i in range(60):
        layer = maker.tmp / "layers" / f"layer-with-a-long-name-{i:03d}-{'x' * 12}"
        layer.mkdir(parents=True)
        (layer / f"layer-{i}").write_text(f"{i}\n")
        layers.append(str(layer))
    base = maker.tmp / container_id
    lowers = ":".join([*reversed(layers), str(base_layer)])
    options = (f"lowerdir={lowers}", f"upperdir={base / 'upper'}", f"workdir={base / 'work'}")
    assert len(",".join(options)) > 4096
    maker.rt.create(container_id, bundle, rootfs=[Mount("overlay", "overlay", options)], io=IOConfig())
    attached = await maker.rt.attach(container_id, stdin=False, stdout=True, stderr=True)
    maker.rt.start(container_id)
    data = await asyncio.wait_for(attached.reader.read(), 10)
    attached.writer.close()
    assert demux(data) == (b"59\n", b"")
