"""``berth`` against a real berthd: the commands of issues #2/#3, their output and exit codes,
and side-by-side checks with the real docker CLI on the same daemon."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import tarfile

import pytest

from tests.e2e.conftest import BERTH, Daemon
from tests.e2e.results import ok

pytestmark = pytest.mark.root


def test_version_and_info(berthd: Daemon) -> None:
    out = ok(berthd.berth("version"))
    assert "API version:      1.50 (minimum version 1.24)" in out
    assert ok(berthd.berth("version", "--format", "{{.Server.ApiVersion}}")) == "1.50\n"
    assert ok(berthd.berth("info", "--format", "{{.OSType}}")) == "linux\n"
    assert "Server Version:" in ok(berthd.berth("info"))


def test_pinned_api_versions(berthd: Daemon) -> None:
    for version in ("1.24", "1.41", "1.50"):
        env = dict(berthd.env, BERTH_API_VERSION=version)
        result = subprocess.run([BERTH, "ps", "-q"], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr


def test_cannot_connect(berthd: Daemon) -> None:
    result = berthd.berth("-H", f"unix://{berthd.root}/absent.sock", "ps")
    assert result.returncode == 1
    assert (
        result.stderr
        == f"Cannot connect to the Berth daemon at unix://{berthd.root}/absent.sock. Is berthd running?\n"
    )


def test_bootstrap_busybox_image(berthd: Daemon, busybox_image: str) -> None:
    rows = ok(berthd.berth("images", "--format", "{{.Repository}}:{{.Tag}}")).split()
    assert "busybox:latest" in rows
    assert ok(berthd.berth("image", "inspect", "-f", "{{json .Config.Cmd}}", busybox_image)) == '["sh"]\n'
    image_id = ok(berthd.berth("images", "-q", "--no-trunc", busybox_image)).split()[0]
    assert image_id.startswith("sha256:")
    listing = ok(berthd.berth("run", "--rm", busybox_image, "ls", "/bin"))
    assert "sh" in listing.split() and "busybox" in listing.split()


def test_run_output_exit_codes_and_streams(berthd: Daemon, busybox_image: str) -> None:
    assert ok(berthd.berth("run", "--rm", busybox_image, "echo", "hello")) == "hello\n"
    result = berthd.berth("run", "--rm", busybox_image, "sh", "-c", "echo out; echo err >&2; exit 5")
    assert (result.returncode, result.stdout, result.stderr) == (5, "out\n", "err\n")
    result = berthd.berth("run", "-i", "--rm", busybox_image, "cat", input=b"through stdin\n")
    assert (result.returncode, result.stdout) == (0, "through stdin\n")
    result = berthd.berth("run", "--rm", busybox_image, "/no/such/binary")
    assert result.returncode == 127
    assert result.stderr.startswith("berth: Error response from daemon:")


def test_run_flags_reach_the_container(berthd: Daemon, busybox_image: str) -> None:
    out = ok(
        berthd.berth(
            "run",
            "--rm",
            "-e",
            "GREETING=hi",
            "-w",
            "/tmp",
            "-h",
            "boxhost",
            "-u",
            "65534",
            busybox_image,
            "sh",
            "-c",
            'echo "$GREETING $(pwd) $(hostname) $(id -u)"',
        )
    )
    assert out == "hi /tmp boxhost 65534\n"
    out = ok(berthd.berth("run", "--rm", "--entrypoint", "echo", busybox_image, "via", "entrypoint"))
    assert out == "via entrypoint\n"


def test_detached_lifecycle(berthd: Daemon, busybox_image: str) -> None:
    cid = ok(
        berthd.berth(
            "run",
            "-d",
            "--name",
            "web",
            "-l",
            "role=test",
            busybox_image,
            "sh",
            "-c",
            "echo started; sleep 300",
        )
    ).strip()
    assert len(cid) == 64
    assert ok(berthd.berth("ps", "--format", "{{.Names}} {{.State}}")) == "web running\n"
    assert ok(berthd.berth("ps", "-q")) == cid[:12] + "\n"
    assert ok(berthd.berth("ps", "--filter", "label=role=test", "-q")) == cid[:12] + "\n"
    assert "started" in ok(berthd.berth("logs", "web"))
    result = berthd.berth("exec", "web", "sh", "-c", "echo inside; exit 3")
    assert (result.returncode, result.stdout) == (3, "inside\n")
    assert (
        ok(berthd.berth("exec", "-e", "X=1", "-w", "/tmp", "web", "sh", "-c", 'echo "$X $(pwd)"'))
        == "1 /tmp\n"
    )
    assert ok(berthd.berth("inspect", "-f", "{{.State.Running}} {{.Name}}", "web")) == "true /web\n"
    assert ok(berthd.berth("stop", "-t", "1", "web")) == "web\n"
    status = ok(berthd.berth("ps", "-a", "--format", "{{.Status}}"))
    assert status.startswith("Exited (")
    assert ok(berthd.berth("wait", "web")).strip().isdigit()
    assert ok(berthd.berth("rm", "web")) == "web\n"
    assert ok(berthd.berth("ps", "-aq")) == ""


def test_create_then_start_attached(berthd: Daemon, busybox_image: str) -> None:
    cid = ok(
        berthd.berth("create", "--name", "once", busybox_image, "sh", "-c", "echo attached; exit 2")
    ).strip()
    assert len(cid) == 64
    result = berthd.berth("start", "-a", "once")
    assert (result.returncode, result.stdout) == (2, "attached\n")
    ok(berthd.berth("rm", "once"))


def test_inspect_not_found_chain(berthd: Daemon) -> None:
    result = berthd.berth("inspect", "ghost")
    assert (result.returncode, result.stdout, result.stderr) == (1, "[]\n", "Error: No such object: ghost\n")


def test_tag_rmi_save_load(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.berth("tag", busybox_image, "localhost:5000/team/bb:1"))
    assert "localhost:5000/team/bb" in ok(berthd.berth("images"))
    archive = berthd.root / "bb.tar"
    ok(berthd.berth("save", "-o", str(archive), "localhost:5000/team/bb:1"))
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "manifest.json" in names and "index.json" in names
    assert ok(berthd.berth("rmi", "localhost:5000/team/bb:1")).startswith(
        "Untagged: localhost:5000/team/bb:1"
    )
    assert "Loaded image: localhost:5000/team/bb:1" in ok(berthd.berth("load", "-i", str(archive)))


def test_import_from_stdin_with_changes(berthd: Daemon) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"hello from import\n"
        info = tarfile.TarInfo("greeting.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    result = berthd.berth(
        "import",
        "-c",
        'CMD ["/bin/sh"]',
        "-c",
        "ENV A=1",
        "-m",
        "msg",
        "-",
        "imported:1",
        input=buf.getvalue(),
    )
    image_id = ok(result).strip()
    assert image_id.startswith("sha256:")
    inspected = json.loads(ok(berthd.berth("image", "inspect", "imported:1")))[0]
    assert inspected["Config"]["Cmd"] == ["/bin/sh"] and "A=1" in inspected["Config"]["Env"]


def test_tables_match_the_docker_cli(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.berth("create", "--name", "idle", busybox_image, "sleep", "1"))
    for args in (
        ["images"],
        ["ps", "-a"],
        ["history", busybox_image],
        ["ps", "-a", "--format", "{{json .Names}}"],
    ):
        ours = ok(berthd.berth(*args))
        theirs = ok(berthd.docker(*args))
        # same column titles (widths follow "N seconds ago", which may tick between the two runs)
        assert re.split(r"\s{2,}", ours.splitlines()[0]) == re.split(r"\s{2,}", theirs.splitlines()[0]), args
        assert len(ours.splitlines()) == len(theirs.splitlines()), args
    # whole tables, minus the humanised times that may tick between the two runs
    for args in (
        ["images", "--format", "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}"],
        ["ps", "-a", "--format", "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.Names}}"],
    ):
        assert ok(berthd.berth(*args)) == ok(berthd.docker(*args)), args


def test_volumes(berthd: Daemon) -> None:
    assert ok(berthd.berth("volume", "create", "data1")) == "data1\n"
    assert "data1" in ok(berthd.berth("volume", "ls", "-q")).split()
    assert ok(berthd.berth("volume", "inspect", "-f", "{{.Name}} {{.Driver}}", "data1")) == "data1 local\n"
    assert ok(berthd.berth("volume", "rm", "data1")) == "data1\n"


def test_networks(berthd: Daemon) -> None:
    assert {"host", "none"} <= set(ok(berthd.berth("network", "ls", "--format", "{{.Name}}")).split())
    assert ok(berthd.berth("network", "inspect", "-f", "{{.Name}} {{.Driver}}", "none")) == "none null\n"
    assert len(ok(berthd.berth("network", "create", "testnet")).strip()) == 64
    assert ok(berthd.berth("network", "rm", "testnet")) == "testnet\n"


def test_system_df(berthd: Daemon, busybox_image: str) -> None:
    out = ok(berthd.berth("system", "df"))
    assert out.splitlines()[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]


def test_cp_both_ways(berthd: Daemon, busybox_image: str) -> None:
    ok(berthd.berth("run", "-d", "--name", "files", busybox_image, "sleep", "300"))
    src = berthd.root / "in.txt"
    src.write_text("payload\n")
    os.chmod(src, 0o640)
    ok(berthd.berth("cp", str(src), "files:/tmp/copied.txt"))
    assert ok(berthd.berth("exec", "files", "cat", "/tmp/copied.txt")) == "payload\n"
    dest = berthd.root / "out.txt"
    ok(berthd.berth("cp", "files:/tmp/copied.txt", str(dest)))
    assert dest.read_text() == "payload\n"
    assert (dest.stat().st_mode & 0o777) == 0o640
    ok(berthd.berth("rm", "-f", "files"))


def test_bootstrap_prints_only_the_id_on_stdout(berthd: Daemon) -> None:
    result = berthd.berth("bootstrap", "busybox", "-t", "bb:test")
    assert result.returncode == 0, result.stderr
    image_id = result.stdout.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71 and "\n" not in image_id
    assert "bb:test" in result.stderr
    inspected = json.loads(ok(berthd.berth("image", "inspect", "bb:test")))[0]
    assert inspected["Id"] == image_id and inspected["Config"]["Cmd"] == ["sh"]


def test_run_exit_codes_match_the_docker_cli(berthd: Daemon, busybox_image: str) -> None:
    cases = [
        ["run", "--rm", busybox_image, "sh", "-c", "echo out; echo err >&2; exit 7"],
        ["run", "--rm", busybox_image, "/no/such/binary"],
        ["run", "--rm", "--name", "dup", busybox_image, "true"],
    ]
    for args in cases:
        ours, theirs = berthd.berth(*args), berthd.docker(*args)
        assert ours.returncode == theirs.returncode, (args, ours.stderr, theirs.stderr)
        assert ours.stdout == theirs.stdout, args


PARITY_CASES = [
    ["inspect", "--format", "json", "busybox"],
    ["inspect", "-f", "{{.Config.Labels}} {{.State.Running}}", "web"],
    ["ps", "--format", "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.Ports}}\t{{.Names}}"],
    ["ps", "-a", "--filter", "status=exited", "--format", "{{.Names}} {{.Labels}}"],
    ["ps", "-q", "--no-trunc"],
    ["images", "-q", "--no-trunc"],
    ["image", "inspect", "-f", "{{.RootFS.Type}} {{json .Config.Cmd}}", "busybox"],
    ["logs", "-t", "done"],
    ["logs", "--tail", "1", "done"],
    ["port", "web"],
    ["port", "web", "81"],
    ["diff", "done"],
    ["wait", "done"],
    ["rm", "nonexist"],
    ["stop", "nonexist"],
    ["start", "nonexist"],
    ["inspect", "nonexist"],
    ["rmi", "nonexist"],
    ["logs", "nonexist"],
    ["exec", "nonexist", "ls"],
    ["image", "inspect", "nonexist"],
    ["container", "inspect", "nonexist"],
    ["history", "nonexist"],
    ["tag", "nonexist", "x:1"],
    ["create", "--name", "web", "busybox"],
    ["exec", "web", "sh", "-c", "echo in; exit 4"],
    ["exec", "web", "/nonexist"],
    ["run", "--rm", "busybox", "sh", "-c", "echo out; exit 9"],
]


def test_output_parity_with_docker(berthd: Daemon, busybox_image: str) -> None:
    """Same stdout, stderr (program name aside) and exit status as docker 28.2.2 on the same daemon."""
    ok(
        berthd.berth(
            "run", "-d", "--name", "web", "-l", "a=b", "-p", "18081:80", busybox_image, "sleep", "300"
        )
    )
    ok(
        berthd.berth(
            "run", "--name", "done", "-l", "k=v", busybox_image, "sh", "-c", "echo one; echo two; touch /x"
        )
    )
    for args in PARITY_CASES:
        ours, theirs = berthd.berth(*args), berthd.docker(*args)
        our_err = ours.stderr.replace("berth", "docker").replace("Berth", "Docker")
        assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout), args
        if args[0] != "run":  # run errors: one line here, docker adds "Run 'docker run --help'…"
            assert our_err == theirs.stderr, args
