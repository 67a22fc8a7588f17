"""Local volumes through ``berth`` and the real docker CLI on the same berthd: create/ls/inspect/rm/
prune, data that outlives containers, ``:ro``, in-use refusal, anonymous volumes and ``rm -v``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Daemon, start_daemon, stop_daemon
from tests.e2e.results import ok

pytestmark = pytest.mark.root

CLIS = ["berth", "docker"]


def cli(berthd: Daemon, which: str, *args: str) -> subprocess.CompletedProcess[str]:
    return berthd.berth(*args) if which == "berth" else berthd.docker(*args)


@pytest.mark.parametrize("which", CLIS)
def test_create_ls_inspect_rm(berthd: Daemon, which: str) -> None:
    assert ok(cli(berthd, which, "volume", "create", "--label", "team=a", "vol1")) == "vol1\n"
    assert ok(cli(berthd, which, "volume", "create", "vol1")) == "vol1\n"  # idempotent, as Docker
    anon = ok(cli(berthd, which, "volume", "create")).strip()
    assert len(anon) == 64 and all(c in "0123456789abcdef" for c in anon)
    assert sorted(ok(cli(berthd, which, "volume", "ls", "-q")).split()) == sorted(["vol1", anon])
    table = ok(cli(berthd, which, "volume", "ls")).splitlines()
    assert table[0].split() == ["DRIVER", "VOLUME", "NAME"]
    assert ["local", "vol1"] in [line.split() for line in table[1:]]
    assert ok(cli(berthd, which, "volume", "ls", "-q", "--filter", "label=team=a")) == "vol1\n"
    assert ok(cli(berthd, which, "volume", "ls", "-q", "--filter", "name=vol")) == "vol1\n"
    assert sorted(ok(cli(berthd, which, "volume", "ls", "-q", "-f", "dangling=true")).split()) == sorted(
        ["vol1", anon]
    )
    [info] = json.loads(ok(cli(berthd, which, "volume", "inspect", "vol1")))
    assert info["Name"] == "vol1" and info["Driver"] == "local" and info["Scope"] == "local"
    assert info["Labels"] == {"team": "a"}
    assert info["Mountpoint"] == str(berthd.data_root / "volumes" / "vol1" / "_data")
    assert info["CreatedAt"].endswith("Z")
    assert (
        ok(cli(berthd, which, "volume", "inspect", "-f", "{{.Name}} {{.Driver}}", "vol1")) == "vol1 local\n"
    )
    # the generic inspect falls through containers, images and networks to volumes
    assert json.loads(ok(cli(berthd, which, "inspect", "vol1")))[0]["Name"] == "vol1"
    assert ok(cli(berthd, which, "volume", "rm", "vol1", anon)) == f"vol1\n{anon}\n"
    assert ok(cli(berthd, which, "volume", "ls", "-q")) == ""
    missing = cli(berthd, which, "volume", "rm", "vol1")
    assert missing.returncode == 1
    assert "get vol1: no such volume" in missing.stderr
    assert ok(cli(berthd, which, "volume", "rm", "-f", "vol1")) == "vol1\n"  # -f: missing is fine
    assert cli(berthd, which, "volume", "inspect", "vol1").returncode == 1


@pytest.mark.parametrize("which", CLIS)
def test_create_refuses_bad_names_drivers_and_options(berthd: Daemon, which: str) -> None:
    bad = cli(berthd, which, "volume", "create", "a/b")
    assert bad.returncode != 0 and "includes invalid characters for a local volume name" in bad.stderr
    driver = cli(berthd, which, "volume", "create", "-d", "nfsplugin", "v")
    assert driver.returncode != 0 and 'plugin "nfsplugin" not found' in driver.stderr
    short = cli(berthd, which, "volume", "create", "v")  # Docker's pattern wants two characters or more
    assert short.returncode != 0 and 'create v: "v" includes invalid characters' in short.stderr
    unknown = cli(berthd, which, "volume", "create", "-o", "colour=red", "vv")
    assert unknown.returncode != 0 and 'create vv: invalid option: "colour"' in unknown.stderr
    half = cli(berthd, which, "volume", "create", "-o", "type=tmpfs", "vv")
    assert half.returncode != 0 and 'create vv: missing required option: "device"' in half.stderr
    quota = cli(berthd, which, "volume", "create", "-o", "size=10m", "vv")
    assert quota.returncode != 0 and "create vv: quota size requested but no quota support" in quota.stderr
    assert ok(cli(berthd, which, "volume", "ls", "-q")) == ""


@pytest.mark.parametrize("which", CLIS)
def test_named_volume_persists_across_containers(berthd: Daemon, busybox_image: str, which: str) -> None:
    ok(
        cli(
            berthd, which, "run", "--rm", "-v", "data:/data", busybox_image, "sh", "-c", "echo kept > /data/f"
        )
    )
    assert "data" in ok(cli(berthd, which, "volume", "ls", "-q")).split()  # created on first use
    out = ok(cli(berthd, which, "run", "--rm", "-v", "data:/data", busybox_image, "cat", "/data/f"))
    assert out == "kept\n"
    assert (berthd.data_root / "volumes" / "data" / "_data" / "f").read_text() == "kept\n"
    ro = cli(
        berthd, which, "run", "--rm", "-v", "data:/data:ro", busybox_image, "sh", "-c", "echo x > /data/g"
    )
    assert ro.returncode != 0 and "Read-only file system" in ro.stderr
    assert (
        ok(cli(berthd, which, "run", "--rm", "-v", "data:/data:ro", busybox_image, "cat", "/data/f"))
        == "kept\n"
    )
    # --rm left the named volume alone
    assert "data" in ok(cli(berthd, which, "volume", "ls", "-q")).split()


@pytest.mark.parametrize("which", CLIS)
def test_in_use_volume_is_refused_until_the_container_goes(
    berthd: Daemon, busybox_image: str, which: str
) -> None:
    cid = ok(cli(berthd, which, "create", "-v", "busy:/data", busybox_image, "true")).strip()
    refused = cli(berthd, which, "volume", "rm", "busy")
    assert refused.returncode == 1
    assert f"remove busy: volume is in use - [{cid}]" in refused.stderr
    assert cli(berthd, which, "volume", "rm", "-f", "busy").returncode == 1  # force does not override it
    assert ok(cli(berthd, which, "volume", "ls", "-q", "-f", "dangling=false")) == "busy\n"
    assert ok(cli(berthd, which, "volume", "ls", "-q", "-f", "dangling=true")) == ""
    ok(cli(berthd, which, "rm", cid))
    assert ok(cli(berthd, which, "volume", "rm", "busy")) == "busy\n"


@pytest.mark.parametrize("which", CLIS)
def test_inspect_shows_volume_mounts(berthd: Daemon, busybox_image: str, which: str) -> None:
    ok(
        cli(
            berthd,
            which,
            "create",
            "--name",
            "mnt",
            "-v",
            "named:/data:ro",
            "-v",
            "/anon",
            busybox_image,
            "true",
        )
    )
    mounts = json.loads(ok(cli(berthd, which, "inspect", "-f", "{{json .Mounts}}", "mnt")))
    by_dest = {m["Destination"]: m for m in mounts}
    named, anon = by_dest["/data"], by_dest["/anon"]
    assert (named["Type"], named["Name"], named["Driver"], named["RW"]) == ("volume", "named", "local", False)
    assert named["Source"] == str(berthd.data_root / "volumes" / "named" / "_data")
    assert anon["Type"] == "volume" and len(anon["Name"]) == 64 and anon["RW"] is True
    ps = ok(cli(berthd, which, "ps", "-a", "--format", "{{.Mounts}}"))
    assert "named" in ps


@pytest.mark.parametrize("which", CLIS)
def test_anonymous_volumes_and_rm_on_exit(berthd: Daemon, busybox_image: str, which: str) -> None:
    ok(
        cli(
            berthd,
            which,
            "run",
            "--name",
            "a1",
            "-v",
            "/scratch",
            busybox_image,
            "sh",
            "-c",
            "echo hi > /scratch/x",
        )
    )
    [anon] = ok(cli(berthd, which, "volume", "ls", "-q")).split()
    [info] = json.loads(ok(cli(berthd, which, "volume", "inspect", anon)))
    assert info["Labels"] == {"com.docker.volume.anonymous": ""}
    assert (berthd.data_root / "volumes" / anon / "_data" / "x").read_text() == "hi\n"
    # without -v the anonymous volume stays; --rm removes it (named ones stay), as dockerd does
    ok(cli(berthd, which, "rm", "a1"))
    assert ok(cli(berthd, which, "volume", "ls", "-q")) == f"{anon}\n"
    ok(cli(berthd, which, "volume", "rm", anon))
    ok(cli(berthd, which, "run", "--name", "a2", "-v", "/scratch", "-v", "keepme:/k", busybox_image, "true"))
    ok(cli(berthd, which, "rm", "a2"))
    assert len(ok(cli(berthd, which, "volume", "ls", "-q")).split()) == 2
    ok(cli(berthd, which, "volume", "rm", *ok(cli(berthd, which, "volume", "ls", "-q")).split()))
    ok(cli(berthd, which, "run", "--rm", "-v", "/scratch", "-v", "keepme:/k", busybox_image, "true"))
    assert ok(cli(berthd, which, "volume", "ls", "-q")) == "keepme\n"


@pytest.mark.parametrize("which", CLIS)
def test_rm_v_removes_anonymous_volumes(berthd: Daemon, busybox_image: str, which: str) -> None:
    ok(
        cli(
            berthd, which, "create", "--name", "a1", "-v", "/scratch", "-v", "named:/n", busybox_image, "true"
        )
    )
    assert len(ok(cli(berthd, which, "volume", "ls", "-q")).split()) == 2
    ok(cli(berthd, which, "rm", "-v", "a1"))
    assert ok(cli(berthd, which, "volume", "ls", "-q")) == "named\n"


@pytest.mark.parametrize("which", CLIS)
def test_prune_takes_unused_anonymous_volumes_or_all(berthd: Daemon, busybox_image: str, which: str) -> None:
    ok(cli(berthd, which, "volume", "create", "named1"))
    ok(cli(berthd, which, "run", "--name", "keep", "-v", "/held", busybox_image, "true"))
    ok(
        cli(
            berthd,
            which,
            "run",
            "--name",
            "gone",
            "-v",
            "/loose",
            busybox_image,
            "sh",
            "-c",
            "echo 12345 > /loose/f",
        )
    )
    held = json.loads(ok(cli(berthd, which, "inspect", "-f", "{{json .Mounts}}", "keep")))[0]["Name"]
    loose = json.loads(ok(cli(berthd, which, "inspect", "-f", "{{json .Mounts}}", "gone")))[0]["Name"]
    ok(cli(berthd, which, "rm", "gone"))
    out = ok(cli(berthd, which, "volume", "prune", "-f"))
    assert out.startswith(f"Deleted Volumes:\n{loose}\n")
    assert "Total reclaimed space: 6B" in out
    assert sorted(ok(cli(berthd, which, "volume", "ls", "-q")).split()) == sorted(["named1", held])
    out = ok(cli(berthd, which, "volume", "prune", "-a", "-f"))
    assert "named1" in out and held not in out
    assert ok(cli(berthd, which, "volume", "ls", "-q")) == f"{held}\n"


def test_new_volume_gets_the_image_content(berthd: Daemon, busybox_image: str) -> None:
    # Docker's copy-up: a new, empty volume mounted over /bin starts with the image's /bin ...
    assert ok(berthd.berth("run", "--rm", "-v", "bins:/bin", busybox_image, "true")) == ""
    listing = ok(berthd.berth("run", "--rm", "-v", "bins:/mnt", busybox_image, "ls", "/mnt")).split()
    assert "busybox" in listing and "sh" in listing
    # ... with the image directory's mode and owner; /tmp is 1777 in the busybox image
    assert (
        ok(berthd.berth("run", "--rm", "-v", "tmpvol:/tmp", busybox_image, "stat", "-c", "%a", "/tmp"))
        == "1777\n"
    )
    # a volume that already has content is left as it is
    ok(berthd.berth("run", "--rm", "-v", "etcvol:/mnt", busybox_image, "touch", "/mnt/mine"))
    # (/etc/hostname, hosts and resolv.conf are bound over the volume, as Docker sorts mounts by depth)
    etc_files = ["hostname", "hosts", "resolv.conf"]
    listing = ok(berthd.berth("run", "--rm", "-v", "etcvol:/etc", busybox_image, "ls", "/etc")).split()
    assert listing == sorted(["mine", *etc_files])
    # and an empty volume over an image path gets /etc/passwd and /etc/group
    listing = ok(berthd.berth("run", "--rm", "-v", "etc2:/etc", busybox_image, "ls", "/etc")).split()
    assert listing == sorted(["group", "passwd", *etc_files])


def test_system_df_counts_volumes(berthd: Daemon, busybox_image: str) -> None:
    ok(
        berthd.berth(
            "run",
            "--name",
            "writer",
            "-v",
            "dfvol:/d",
            busybox_image,
            "sh",
            "-c",
            "head -c 2048 /dev/zero > /d/z",
        )
    )
    ok(berthd.berth("volume", "create", "idle"))
    rows = {line.split("  ")[0]: line for line in ok(berthd.berth("system", "df")).splitlines()}
    assert rows["Local Volumes"].split()[2:4] == ["2", "1"]
    docker_rows = ok(berthd.docker("system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}"))
    assert "Local Volumes 2 1" in docker_rows.splitlines()
    verbose = ok(berthd.docker("system", "df", "-v", "--format", "json"))
    assert "dfvol" in verbose


def test_nocopy_and_bad_modes(berthd: Daemon, busybox_image: str) -> None:
    out = ok(berthd.berth("run", "--rm", "-v", "bare:/etc:nocopy", busybox_image, "ls", "/etc"))
    assert out == "hostname\nhosts\nresolv.conf\n"  # nocopy: only the container's own /etc files
    bad = berthd.docker("run", "--rm", "-v", "bare:/etc:bogus", busybox_image, "true")
    assert bad.returncode == 125 and "invalid mode: bogus" in bad.stderr


def test_volumes_and_their_users_survive_a_daemon_restart(berthd: Daemon, busybox_image: str) -> None:
    ok(
        berthd.berth(
            "run",
            "-d",
            "--name",
            "user",
            "-v",
            "lasting:/d",
            busybox_image,
            "sh",
            "-c",
            "echo 1 > /d/f; sleep 60",
        )
    )
    stop_daemon(berthd)
    fresh = start_daemon(berthd.root, berthd.cgroup_parent)
    berthd.process = fresh.process  # the fixture's teardown now stops the new daemon
    assert ok(berthd.berth("volume", "ls", "-q")) == "lasting\n"
    assert "volume is in use" in berthd.berth("volume", "rm", "lasting").stderr
    assert ok(berthd.berth("exec", "user", "cat", "/d/f")) == "1\n"
    ok(berthd.berth("rm", "-f", "user"))
    assert ok(berthd.berth("volume", "rm", "lasting")) == "lasting\n"


def test_local_volume_bound_to_a_host_directory(berthd: Daemon, busybox_image: str, tmp_path: Path) -> None:
    """``-o type=none -o o=bind -o device=DIR``: Docker's local driver binds DIR on the volume at first
    use (the image's content is copied up into it while empty); removing the volume leaves DIR alone."""
    host_dir = tmp_path / "backing"
    host_dir.mkdir()
    ok(
        berthd.docker(
            "volume", "create", "-o", "type=none", "-o", "o=bind", "-o", f"device={host_dir}", "bound"
        )
    )
    out = ok(
        berthd.docker(
            "run",
            "--rm",
            "-v",
            "bound:/etc",
            busybox_image,
            "sh",
            "-c",
            "echo hi > /etc/new; ls /etc | wc -l",
        )
    )
    assert int(out) > 4 and (host_dir / "new").read_text() == "hi\n" and (host_dir / "passwd").exists()
    ok(berthd.docker("volume", "rm", "bound"))
    assert (host_dir / "new").read_text() == "hi\n"
    missing = tmp_path / "missing"
    ok(
        berthd.docker(
            "volume", "create", "-o", "type=none", "-o", "o=bind", "-o", f"device={missing}", "dangling"
        )
    )
    failed = berthd.docker("run", "--rm", "-v", "dangling:/x", busybox_image, "true")
    assert failed.returncode != 0 and "failed to mount local volume" in failed.stderr
