"""Mounts as Docker 28 makes them, checked from inside the container (``/proc/self/mountinfo``, writes,
owners): ``--mount`` bind/volume/tmpfs/image, ``-v`` modes and propagation, ``--volumes-from``,
volumes of a created container, copy-up ownership, ``--volume-driver``/``--storage-opt`` and
inspect's ``Mounts``. Driven by the docker CLI and docker-py against berthd."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from tests.e2e.conftest import DOCKER, Daemon
from tests.e2e.results import ok
from tests.e2e.results import refused as fails

pytestmark = pytest.mark.root


def run(berthd: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    """``docker run --rm ARGS`` where ARGS end with ``busybox sh -c SCRIPT``."""
    return berthd.docker("run", "--rm", *args)


def mountinfo_line(text: str, destination: str) -> str:
    lines = [line for line in text.splitlines() if line.split()[4] == destination]
    assert lines, f"{destination} not in\n{text}"
    return lines[-1]


def _mount(*args: str | Path) -> None:
    subprocess.run(["mount", *[str(a) for a in args]], check=True, capture_output=True)


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-R", "-l", str(path)], check=False, capture_output=True)


@pytest.fixture
def shared_dir(tmp_path: Path) -> Iterator[Path]:
    """A host directory that is a shared mount of its own (the host's / here is private)."""
    directory = tmp_path / "shared"
    directory.mkdir()
    _mount("--bind", directory, directory)
    try:
        _mount("--make-shared", directory)
        yield directory
    finally:
        _umount(directory)


@pytest.fixture
def with_submount(tmp_path: Path) -> Iterator[Path]:
    """A host directory with a tmpfs mounted at ``sub`` inside it (for recursive/read-only binds)."""
    directory = tmp_path / "tree"
    (directory / "sub").mkdir(parents=True)
    (directory / "top").write_text("top\n")
    _mount("-t", "tmpfs", "tmpfs", directory / "sub")
    try:
        (directory / "sub" / "inner").write_text("inner\n")
        yield directory
    finally:
        _umount(directory / "sub")


# -------------------------------------------------------------------- --mount type=bind


def test_mount_bind_source_must_exist_unless_create_mountpoint(
    berthd: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    missing = tmp_path / "nope"
    fails(
        run(berthd, "--mount", f"type=bind,src={missing},dst=/x", busybox_image, "true"),
        f'invalid mount config for type "bind": bind source path does not exist: {missing}',
    )
    # -v is different: Docker creates a missing host directory
    ok(run(berthd, "-v", f"{tmp_path / 'made-by-v'}:/v", busybox_image, "touch", "/v/f"))
    assert (tmp_path / "made-by-v" / "f").exists()
    # the docker CLI has no flag for it: docker-py sends BindOptions.CreateMountpoint
    client = docker.from_env(environment=berthd.env)
    try:
        mount = {
            "Type": "bind",
            "Source": str(missing),
            "Target": "/x",
            "BindOptions": {"CreateMountpoint": True},
        }
        out = client.containers.run(
            busybox_image, ["sh", "-c", "echo made > /x/f && cat /x/f"], remove=True, mounts=[mount]
        )
    finally:
        client.close()
    assert out == b"made\n" and (missing / "f").read_text() == "made\n"


def test_mount_bind_readonly_is_recursive_unless_asked_otherwise(
    berthd: Daemon, busybox_image: str, with_submount: Path
) -> None:
    script = "cat /m/sub/inner; touch /m/a 2>/dev/null && echo top-rw || echo top-ro; touch /m/sub/b 2>/dev/null && echo sub-rw || echo sub-ro"
    base = f"type=bind,src={with_submount},dst=/m"
    assert ok(run(berthd, "--mount", f"{base},readonly", busybox_image, "sh", "-c", script)) == (
        "inner\ntop-ro\nsub-ro\n"
    )
    writable = ok(
        run(berthd, "--mount", f"{base},readonly,bind-recursive=writable", busybox_image, "sh", "-c", script)
    )
    assert writable == "inner\ntop-ro\nsub-rw\n"
    # bind-recursive=disabled (and the older bind-nonrecursive): the submount is not there at all
    for option in ("bind-recursive=disabled", "bind-nonrecursive"):
        out = ok(
            run(berthd, "--mount", f"{base},{option}", busybox_image, "sh", "-c", "ls /m/sub; cat /m/top")
        )
        assert out == "top\n"
    forced = run(
        berthd,
        "--mount",
        f"{base},readonly,bind-recursive=readonly,bind-propagation=rprivate",
        busybox_image,
        "sh",
        "-c",
        script,
    )
    assert ok(forced) == "inner\ntop-ro\nsub-ro\n"
    # clients older than API 1.44 get what Docker gave them then: read-only binds are not recursive
    old = {**berthd.env, "DOCKER_API_VERSION": "1.43"}
    for flag in (["--mount", f"{base},readonly"], ["-v", f"{with_submount}:/m:ro"]):
        done = subprocess.run(
            [DOCKER, "run", "--rm", *flag, busybox_image, "sh", "-c", script],
            env=old,
            capture_output=True,
            text=True,
        )
        assert ok(done) == "inner\ntop-ro\nsub-rw\n"
    api = docker.APIClient(base_url=berthd.host, version="1.43")  # the docker CLI refuses it itself
    try:
        mount = {"Type": "bind", "Source": str(with_submount), "Target": "/m", "ReadOnly": True,
                 "BindOptions": {"ReadOnlyForceRecursive": True}}  # fmt: skip
        with pytest.raises(docker.errors.APIError) as refused:
            api.create_container(busybox_image, "true", host_config=api.create_host_config(mounts=[mount]))
        assert refused.value.status_code == 400
        assert "BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer" in str(refused.value.explanation)
    finally:
        api.close()


def test_bind_propagation_shared_and_slave_reach_the_container(
    berthd: Daemon, busybox_image: str, shared_dir: Path, tmp_path: Path
) -> None:
    """rshared/rslave binds keep their peer group with the host: mountinfo shows ``shared:N`` /
    ``master:N``, and a mount made on the host afterwards appears inside the running container."""
    ids = {}
    for mode in ("rshared", "rslave"):
        ids[mode] = ok(
            berthd.docker("run", "-d", "--mount", f"type=bind,src={shared_dir},dst=/m,bind-propagation={mode}",
                          busybox_image, "sleep", "60")
        ).strip()  # fmt: skip
    info = {
        mode: mountinfo_line(ok(berthd.docker("exec", cid, "cat", "/proc/self/mountinfo")), "/m")
        for mode, cid in ids.items()
    }
    assert "shared:" in info["rshared"]
    assert "master:" in info["rslave"] and "shared:" not in info["rslave"]
    (shared_dir / "later").mkdir()
    _mount("-t", "tmpfs", "tmpfs", shared_dir / "later")
    try:
        (shared_dir / "later" / "f").write_text("from the host\n")
        for cid in ids.values():
            assert ok(berthd.docker("exec", cid, "cat", "/m/later/f")) == "from the host\n"
        # inspect says what was asked for
        mounts = json.loads(ok(berthd.docker("inspect", "-f", "{{json .Mounts}}", ids["rshared"])))
        assert mounts == [
            {
                "Type": "bind",
                "Source": str(shared_dir),
                "Destination": "/m",
                "Mode": "",
                "RW": True,
                "Propagation": "rshared",
            }
        ]
    finally:
        for cid in ids.values():
            berthd.docker("rm", "-f", cid)
        _umount(shared_dir / "later")
    private = tmp_path / "private"
    private.mkdir()
    fails(
        run(berthd, "-v", f"{private}:/m:rshared", busybox_image, "true"),
        f"path {private} is mounted on / but it is not a shared mount",
    )
    fails(
        run(berthd, "-v", f"{private}:/m:slave", busybox_image, "true"),
        f"path {private} is mounted on / but it is not a shared or slave mount",
    )


def test_v_modes_propagation_labels_and_nocopy(berthd: Daemon, busybox_image: str, shared_dir: Path) -> None:
    cid = ok(
        berthd.docker(
            "create", "-v", f"{shared_dir}:/m:rshared,z", busybox_image, "cat", "/proc/self/mountinfo"
        )
    ).strip()
    [mount] = json.loads(ok(berthd.docker("inspect", "-f", "{{json .Mounts}}", cid)))
    assert (mount["Mode"], mount["Propagation"], mount["RW"]) == ("rshared,z", "rshared", True)
    assert "shared:" in mountinfo_line(ok(berthd.docker("start", "-a", cid)), "/m")
    ok(berthd.docker("rm", cid))
    # :Z is accepted and ignored without SELinux, as by Docker; :nocopy skips the copy-up
    assert ok(run(berthd, "-v", "labelled:/etc/x:Z", busybox_image, "sh", "-c", "echo ok")) == "ok\n"
    assert (
        ok(run(berthd, "-v", "bare:/etc:nocopy", busybox_image, "sh", "-c", "ls /etc | wc -l")).strip() == "3"
    )
    assert int(ok(run(berthd, "-v", "full:/etc", busybox_image, "sh", "-c", "ls /etc | wc -l")).strip()) > 3
    fails(
        run(berthd, "-v", "named:/data:rshared", busybox_image, "true"),
        "invalid volume specification: 'named:/data:rshared': invalid mount config for type \"volume\": "
        "field BindOptions must not be specified",
    )
    fails(run(berthd, "-v", "/tmp:/data:rw,ro", busybox_image, "true"), "invalid mode: rw,ro")


# -------------------------------------------------------------------- --mount type=volume / tmpfs / image


def test_mount_volume_options(berthd: Daemon, busybox_image: str) -> None:
    script = "cat /data/sub/f; touch /data/new 2>/dev/null && echo rw || echo ro"
    ok(
        run(
            berthd, "-v", "vol:/data", busybox_image, "sh", "-c", "mkdir /data/sub && echo deep > /data/sub/f"
        )
    )
    assert ok(
        run(berthd, "--mount", "type=volume,src=vol,dst=/data,readonly", busybox_image, "sh", "-c", script)
    ) == ("deep\nro\n")
    sub = ok(
        run(berthd, "--mount", "type=volume,src=vol,dst=/s,volume-subpath=sub", busybox_image, "cat", "/s/f")
    )
    assert sub == "deep\n"
    fails(
        run(berthd, "--mount", "type=volume,src=vol,dst=/s,volume-subpath=../x", busybox_image, "true"),
        'invalid mount config for type "volume": subpath must be a relative path within the volume',
    )
    # nocopy: the image's /etc is not copied into a fresh volume
    assert ok(
        run(berthd, "--mount", "type=volume,src=fresh,dst=/etc,volume-nocopy", busybox_image, "ls", "/etc")
    ) == ("hostname\nhosts\nresolv.conf\n")
    # driver options as `volume create -o` takes them; labels on the new volume
    out = run(
        berthd, "--mount",
        "type=volume,src=fast,dst=/fast,volume-opt=type=tmpfs,volume-opt=device=tmpfs,"
        "volume-opt=o=size=2m,volume-label=speed=high",
        busybox_image, "cat", "/proc/self/mountinfo",
    )  # fmt: skip
    line = mountinfo_line(ok(out), "/fast")
    assert " - tmpfs tmpfs " in line and "size=2048k" in line
    [volume] = json.loads(ok(berthd.docker("volume", "inspect", "fast")))
    assert volume["Labels"] == {"speed": "high"}
    assert volume["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=2m"}
    fails(
        run(berthd, "--mount", "type=volume,src=x1,dst=/x,volume-driver=nfsplugin", busybox_image, "true"),
        'error looking up volume plugin nfsplugin: plugin "nfsplugin" not found',
    )
    fails(
        run(berthd, "--mount", "type=volume,dst=/x,readonly", busybox_image, "true"),
        'invalid mount config for type "volume": must not set ReadOnly mode when using anonymous volumes',
    )
    cid = ok(berthd.docker("create", "--mount", "type=volume,dst=/anon", busybox_image, "true")).strip()
    [mount] = json.loads(ok(berthd.docker("inspect", "-f", "{{json .Mounts}}", cid)))
    [anon] = json.loads(ok(berthd.docker("volume", "inspect", mount["Name"])))
    assert anon["Labels"] == {"com.docker.volume.anonymous": ""}
    ok(berthd.docker("rm", "-v", cid))
    assert mount["Name"] not in ok(berthd.docker("volume", "ls", "-q"))


def test_mount_tmpfs_size_and_mode(berthd: Daemon, busybox_image: str) -> None:
    out = ok(run(
        berthd, "--mount", "type=tmpfs,dst=/scratch,tmpfs-size=1m,tmpfs-mode=1770", busybox_image,
        "sh", "-c", "stat -c %a /scratch; cat /proc/self/mountinfo",
    ))  # fmt: skip
    mode, _, info = out.partition("\n")
    assert mode == "1770"
    line = mountinfo_line(info, "/scratch")
    assert "size=1024k" in line and "mode=1770" in line and "noexec" in line and "nosuid" in line
    fails(
        run(berthd, "--mount", "type=tmpfs,src=x,dst=/scratch", busybox_image, "true"),
        'invalid mount config for type "tmpfs": field Source must not be specified',
    )


def test_mount_image_and_unknown_types(berthd: Daemon, busybox_image: str) -> None:
    out = run(
        berthd, "--mount", f"type=image,src={busybox_image},dst=/img", busybox_image,
        "sh", "-c", "ls /img/bin/busybox && touch /img/x 2>/dev/null && echo rw || echo ro",
    )  # fmt: skip
    assert ok(out) == "/img/bin/busybox\nro\n"
    for kind in ("npipe", "cluster"):
        fails(
            run(berthd, "--mount", f"type={kind},src=x,dst=/x", busybox_image, "true"),
            f'invalid mount config for type "{kind}": mount type unknown',
        )


def test_duplicate_mount_points(berthd: Daemon, busybox_image: str, tmp_path: Path) -> None:
    fails(
        run(berthd, "-v", f"{tmp_path}:/x", "-v", "vol:/x", busybox_image, "true"),
        "Duplicate mount point: /x",
    )
    fails(
        run(
            berthd,
            "-v",
            f"{tmp_path}:/x",
            "--mount",
            f"type=bind,src={tmp_path},dst=/x",
            busybox_image,
            "true",
        ),
        "Duplicate mount point: /x",
    )
    fails(run(berthd, "-v", "vol:/x", "--tmpfs", "/x", busybox_image, "true"), "Duplicate mount point: /x")
    # an anonymous volume (the image's VOLUME, or -v /path) cannot go over a file of the image
    fails(run(berthd, "-v", "/etc/passwd", busybox_image, "true"), "cannot mount volume over existing file")


# -------------------------------------------------------------------- --volumes-from


def test_volumes_from(berthd: Daemon, busybox_image: str, tmp_path: Path) -> None:
    (tmp_path / "h").mkdir()
    ok(berthd.docker(
        "create", "--name", "store", "-v", "shared:/data", "-v", f"{tmp_path / 'h'}:/h", "-v", "/anon",
        busybox_image, "true",
    ))  # fmt: skip
    ok(
        run(
            berthd,
            "--volumes-from",
            "store",
            busybox_image,
            "sh",
            "-c",
            "echo one > /data/f; echo two > /h/g; echo three > /anon/a",
        )
    )
    assert (tmp_path / "h" / "g").read_text() == "two\n"
    script = "cat /data/f /anon/a; echo x > /data/f 2>/dev/null && echo rw || echo ro"
    assert (
        ok(run(berthd, "--volumes-from", "store:ro", busybox_image, "sh", "-c", script)) == "one\nthree\nro\n"
    )
    cid = ok(berthd.docker("create", "--volumes-from", "store:ro", busybox_image, "true")).strip()
    mounts = json.loads(ok(berthd.docker("inspect", "-f", "{{json .Mounts}}", cid)))
    by_dest = {m["Destination"]: m for m in mounts}
    assert set(by_dest) == {"/data", "/h", "/anon"}
    assert by_dest["/data"]["Name"] == "shared" and by_dest["/data"]["RW"] is False
    assert by_dest["/h"]["Type"] == "bind" and by_dest["/h"]["Source"] == str(tmp_path / "h")
    assert by_dest["/h"]["Propagation"] == "rprivate" and by_dest["/h"]["Mode"] == ""
    # the volumes stay in use while a container holds them through --volumes-from
    ok(berthd.docker("rm", "store"))
    fails(berthd.docker("volume", "rm", "shared"), "volume is in use")
    ok(berthd.docker("rm", cid))
    fails(run(berthd, "--volumes-from", "nope", busybox_image, "true"), "No such container: nope")
    fails(run(berthd, "--volumes-from", "x:rshared", busybox_image, "true"), "invalid mode: rshared")


# -------------------------------------------------------------------- image volumes, copy-up, cp


APP_IMAGE = """FROM busybox
RUN echo 'app:x:1234:1234::/:/bin/sh' >> /etc/passwd && mkdir /data && echo seed > /data/seed && chown -R 1234 /data && chmod 700 /data
USER app
VOLUME /data
CMD ["sh", "-c", "stat -c '%U %a' /data; cat /data/*"]
"""


@pytest.fixture
def app_image(berthd: Daemon, busybox_image: str, tmp_path: Path) -> str:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(APP_IMAGE)
    ok(berthd.berth("build", "-q", "-t", "volapp", str(context), timeout=180))
    return "volapp"


def test_fresh_volume_takes_the_image_directory_owner_and_mode(berthd: Daemon, app_image: str) -> None:
    out = ok(
        berthd.docker(
            "run",
            "--rm",
            app_image,
            "sh",
            "-c",
            "touch /data/mine && stat -c '%U %a' /data && cat /data/seed",
        )
    )
    assert out == "app 700\nseed\n"
    out = ok(
        berthd.docker(
            "run",
            "--rm",
            "-v",
            "appdata:/data",
            app_image,
            "sh",
            "-c",
            "touch /data/mine && stat -c '%U %a' /data",
        )
    )
    assert out == "app 700\n"
    # an existing, non-empty volume is left as it is
    ok(
        berthd.docker(
            "run",
            "--rm",
            "-u",
            "0",
            "-v",
            "mine:/data",
            "busybox",
            "sh",
            "-c",
            "rm -rf /data/* && echo root > /data/r",
        )
    )
    out = ok(
        berthd.docker(
            "run", "--rm", "-u", "0", "-v", "mine:/data", app_image, "sh", "-c", "ls /data; stat -c %U /data"
        )
    )
    assert out == "r\nroot\n"


def test_cp_into_a_created_containers_volume(berthd: Daemon, app_image: str, tmp_path: Path) -> None:
    cid = ok(berthd.docker("create", app_image)).strip()
    (tmp_path / "file").write_text("copied\n")
    ok(berthd.docker("cp", str(tmp_path / "file"), f"{cid}:/data/"))
    client = docker.DockerClient(base_url=berthd.host)
    try:
        payload = io.BytesIO()
        with tarfile.open(fileobj=payload, mode="w") as tar:
            info = tarfile.TarInfo("viapy")
            info.size = 3
            tar.addfile(info, io.BytesIO(b"py\n"))
        assert client.api.put_archive(cid, "/data", payload.getvalue())
    finally:
        client.close()
    assert ok(berthd.docker("start", "-a", cid)) == "app 700\ncopied\nseed\npy\n"  # file, seed, viapy
    ok(berthd.docker("rm", "-v", cid))


# -------------------------------------------------------------------- HostConfig.VolumeDriver, StorageOpt


def test_volume_driver_and_storage_opt(berthd: Daemon, busybox_image: str) -> None:
    fails(
        run(berthd, "--volume-driver", "nfsplugin", "-v", "v1:/x", busybox_image, "true"),
        'error looking up volume plugin nfsplugin: plugin "nfsplugin" not found',
    )
    assert (
        ok(run(berthd, "--volume-driver", "local", "-v", "v1:/x", busybox_image, "sh", "-c", "echo ok"))
        == "ok\n"
    )
    fails(
        run(berthd, "--storage-opt", "size=1G", busybox_image, "true"),
        "--storage-opt is supported only for overlay over xfs with 'pquota' mount option",
    )


# -------------------------------------------------------------------- inspect's Mounts


def test_inspect_mounts_of_every_kind(berthd: Daemon, busybox_image: str, tmp_path: Path) -> None:
    cid = ok(berthd.docker(
        "create", "-v", f"{tmp_path}:/b:ro", "-v", "named:/n", "--mount", "type=tmpfs,dst=/t",
        "--mount", f"type=bind,src={tmp_path},dst=/mb,bind-propagation=rslave", "--mount", "type=volume,src=mv,dst=/mv",
        busybox_image, "true",
    )).strip()  # fmt: skip
    mounts = json.loads(ok(berthd.docker("inspect", "-f", "{{json .Mounts}}", cid)))
    for wanted in ("named", "/mv", str(tmp_path)):  # ps --filter volume=NAME|SOURCE|DESTINATION
        assert ok(berthd.docker("ps", "-aq", "--no-trunc", "--filter", f"volume={wanted}")).split() == [cid]
    assert ok(berthd.docker("ps", "-aq", "--filter", "volume=other")) == ""
    volumes = berthd.data_root / "volumes"
    assert sorted(mounts, key=lambda m: m["Destination"]) == [
        {"Type": "bind", "Source": str(tmp_path), "Destination": "/b", "Mode": "ro", "RW": False, "Propagation": "rprivate"},
        {"Type": "bind", "Source": str(tmp_path), "Destination": "/mb", "Mode": "", "RW": True, "Propagation": "rslave"},
        {"Type": "volume", "Name": "mv", "Source": str(volumes / "mv" / "_data"), "Destination": "/mv",
         "Driver": "local", "Mode": "z", "RW": True, "Propagation": ""},
        {"Type": "volume", "Name": "named", "Source": str(volumes / "named" / "_data"), "Destination": "/n",
         "Driver": "local", "Mode": "z", "RW": True, "Propagation": ""},
        {"Type": "tmpfs", "Source": "", "Destination": "/t", "Mode": "", "RW": True, "Propagation": ""},
    ]  # fmt: skip
    ok(berthd.docker("rm", cid))


def test_volume_events(berthd: Daemon, busybox_image: str) -> None:
    ok(run(berthd, "-v", "evvol:/data", busybox_image, "true"))
    shown = ok(berthd.docker(
        "events", "--since", "0", "--until", str(int(time.time()) + 2), "--filter", "type=volume",
        "--format", "{{.Action}} {{.Actor.ID}} {{index .Actor.Attributes \"destination\"}}",
    ))  # fmt: skip
    assert shown.splitlines() == ["create evvol ", "mount evvol /data", "unmount evvol "]
