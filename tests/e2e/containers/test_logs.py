"""Logs as Docker keeps them: one frame per record, logging drivers and their options (json-file,
local, none), rotation with gzip'd files read back, --details, and the C monitor and the Python shim
(``BERTH_MONITOR=python``, the reference) writing alike."""

from __future__ import annotations

import gc
import gzip
import json
import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from berth.testing.daemon import cleanup_daemon, start_daemon, unmount_under
from tests.conftest import TEST_TMP_MARK
from tests.e2e.conftest import Daemon

pytestmark = pytest.mark.root


@pytest.fixture(params=["c", "python"])
def logd(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    """A berthd whose containers are served by the C monitor, or by the Python shim."""
    if request.param == "python":
        monkeypatch.setenv("BERTH_MONITOR", "python")
    else:
        monkeypatch.delenv("BERTH_MONITOR", raising=False)
    root = Path(tempfile.mkdtemp(prefix=TEST_TMP_MARK))
    daemon = start_daemon(root, f"berth-test-{uuid.uuid4().hex[:8]}")
    try:
        daemon.berth("bootstrap", "busybox", timeout=120, check=True)
        yield daemon
    finally:
        if getattr(request.node, "failed", False):
            print("berthd log (last 40 lines):\n" + "\n".join(daemon.log_text().splitlines()[-40:]))
        cleanup_daemon(daemon)
        unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


def _api(daemon: Daemon) -> docker.APIClient:
    return docker.APIClient(base_url=daemon.host, timeout=60)


def _run_to_end(daemon: Daemon, *args: str) -> str:
    """``docker run -d ARGS`` then wait for it; the container's id."""
    container_id = daemon.docker("run", "-d", *args, check=True).stdout.strip()
    daemon.docker("wait", container_id, check=True)
    return container_id


def _log_dir(daemon: Daemon, container_id: str) -> Path:
    return daemon.data_root / "containers" / container_id


def test_each_record_is_its_own_frame(berthd: Daemon, busybox_image: str) -> None:
    """dockerd sends every log line as its own stdcopy frame (docker-py's stream=True yields one
    item per frame); they used to come back merged into one."""
    api = _api(berthd)
    script = "echo a; echo b; printf c; sleep 0.2; printf 'd\\n'; echo e >&2; echo f >&2"
    container = _run_to_end(berthd, busybox_image, "sh", "-c", script)
    assert list(api.logs(container, stream=True, stderr=False)) == [b"a\n", b"b\n", b"cd\n"]
    assert list(api.logs(container, stream=True, stdout=False)) == [b"e\n", b"f\n"]
    assert sorted(api.logs(container, stream=True)) == [b"a\n", b"b\n", b"cd\n", b"e\n", b"f\n"]
    assert list(api.logs(container, stream=True, timestamps=True, stderr=False))[1].endswith(b"Z b\n")
    assert list(api.logs(container, stream=True, tail=2, stdout=False)) == [b"e\n", b"f\n"]


def test_attach_logs_without_stream_returns_the_log(berthd: Daemon, busybox_image: str) -> None:
    """docker-py's ``attach(stream=False, logs=True)`` hung (attach ignored ``logs`` and waited on the
    live stream): it returns the stored log, of a stopped and of a running container."""
    client = docker.DockerClient(base_url=berthd.host, timeout=30)
    done = client.containers.run(busybox_image, ["sh", "-c", "echo out; echo err >&2"], detach=True)
    done.wait()
    assert done.attach(stream=False, logs=True) == b"out\nerr\n"
    assert done.attach(stream=False, logs=True, stderr=False) == b"out\n"
    running = client.containers.run(busybox_image, ["sh", "-c", "echo up; exec sleep 60"], detach=True)
    deadline = time.monotonic() + 10
    while running.logs() != b"up\n" and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    assert running.attach(stream=False, logs=True) == b"up\n"
    assert time.monotonic() - started < 5
    # logs=1 with stream=1: the stored records first, each its own frame, then the live stream.
    api = _api(berthd)
    live = api.create_container(
        busybox_image, ["sh", "-c", "echo 1; echo 2; read x; echo $x"], stdin_open=True
    )
    api.start(live)
    while api.logs(live) != b"1\n2\n":
        time.sleep(0.05)
    frames = api.attach(live, stream=True, logs=True)
    assert [next(frames), next(frames)] == [b"1\n", b"2\n"]
    socket = api.attach_socket(live, params={"stdin": 1, "stream": 1})
    socket._sock.sendall(b"three\n")
    assert list(frames) == [b"three\n"]
    socket.close()
    running.kill()
    api.close()
    client.close()
    with warnings.catch_warnings():  # docker-py leaves attach(stream=False)'s response socket open
        warnings.simplefilter("ignore", ResourceWarning)
        del frames, socket, done, running, client, api
        gc.collect()


def test_default_log_config_is_json_file(berthd: Daemon, busybox_image: str) -> None:
    """The docker CLI sends ``LogConfig: {"Type": "", "Config": null}``: inspect shows dockerd's
    filled-in default, as does a create without any LogConfig."""
    berthd.docker("create", "--name", "cli", busybox_image, "true", check=True)
    api = _api(berthd)
    api.create_container(busybox_image, ["true"], name="py")
    raw = api.create_container(
        busybox_image, ["true"], name="raw", host_config={"LogConfig": {"Type": "", "Config": None}}
    )
    for name in ("cli", "py", raw["Id"]):
        assert api.inspect_container(name)["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert "json-file" in api.info()["Plugins"]["Log"]


def test_none_driver_stores_nothing_and_logs_refuses(berthd: Daemon, busybox_image: str) -> None:
    container = _run_to_end(berthd, "--log-driver", "none", busybox_image, "echo", "hidden")
    result = berthd.docker("logs", container)
    assert result.returncode == 1
    assert "configured logging driver does not support reading" in result.stderr
    with pytest.raises(docker.errors.APIError) as raised:
        _api(berthd).logs(container)
    assert raised.value.response.status_code == 501
    with pytest.raises(docker.errors.APIError):
        _api(berthd).attach(container, stream=False, logs=True)
    assert not [p for p in _log_dir(berthd, container).rglob("*") if "log" in p.name]
    assert _api(berthd).inspect_container(container)["LogPath"] == ""


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--log-driver", "syslog"], "logger: no log driver named 'syslog' is registered"),
        (["--log-driver", "gelf"], "logger: no log driver named 'gelf' is registered"),
        (["--log-opt", "foo=bar"], "unknown log opt 'foo' for json-file log driver"),
        (["--log-driver", "local", "--log-opt", "labels=a"], "unknown log opt 'labels' for log driver local"),
        (["--log-opt", "max-size=-1"], "invalid size: '-1'"),
        (["--log-opt", "max-file=0"], "max-file cannot be less than 1"),
        (
            ["--log-opt", "max-file=1", "--log-opt", "compress=true"],
            "compress cannot be true when max-file is less than 2 or max-size is not set",
        ),
        (
            ["--log-driver", "local", "--log-opt", "max-file=1"],
            "compression cannot be enabled when max file count is 1",
        ),
        (["--log-opt", "compress=maybe"], 'strconv.ParseBool: parsing "maybe": invalid syntax'),
    ],
)
def test_bad_log_config_is_refused_at_create(
    berthd: Daemon, busybox_image: str, flags: list[str], message: str
) -> None:
    result = berthd.docker("create", *flags, busybox_image, "true")
    assert result.returncode == 1  # docker create's code for a refused request
    assert f"Error response from daemon: {message}" in result.stderr
    assert berthd.docker("ps", "-aq").stdout.strip() == ""


def test_docker_py_bad_driver_is_a_400(berthd: Daemon, busybox_image: str) -> None:
    client = docker.DockerClient(base_url=berthd.host, timeout=30)
    config = docker.types.LogConfig(type="journald")
    with pytest.raises(docker.errors.APIError) as raised:
        client.containers.create(busybox_image, ["true"], log_config=config)
    assert raised.value.response.status_code == 400
    assert "logger: no log driver named 'journald' is registered" in str(raised.value)


_WRITE_LINES = "i=0; while [ $i -lt 3000 ]; do echo line-$i-padding-padding-padding; i=$((i+1)); done"


def test_json_file_rotation_with_compression(logd: Daemon) -> None:
    """max-size/max-file/compress: rotated files are gzip'd (path.1.gz …) and ``logs`` still reads
    every kept line in order, with --tail, --since and -t working across them."""
    container = _run_to_end(
        logd,
        *("--log-opt", "max-size=20k", "--log-opt", "max-file=4", "--log-opt", "compress=true"),
        "busybox", "sh", "-c", _WRITE_LINES,
    )  # fmt: skip
    inspect = json.loads(logd.docker("inspect", container, check=True).stdout)[0]
    log = Path(inspect["LogPath"])
    assert inspect["HostConfig"]["LogConfig"]["Config"] == {
        "max-size": "20k",
        "max-file": "4",
        "compress": "true",
    }
    names = sorted(p.name[len(log.name) :] for p in log.parent.glob(log.name + "*"))
    assert names == ["", ".1.gz", ".2.gz", ".3.gz"]
    for index in (1, 2, 3):
        with gzip.open(log.with_name(f"{log.name}.{index}.gz")) as f:  # real gzip, whole lines
            assert all(json.loads(line)["log"].startswith("line-") for line in f)
    assert log.stat().st_size <= 20_000
    lines = logd.docker("logs", container, check=True).stdout.splitlines()
    numbers = [int(line.split("-")[1]) for line in lines]
    assert numbers == list(range(numbers[0], 3000))
    assert 3000 - numbers[0] > 3 * 20_000 // 100  # the gzip'd files were read, not only the newest
    assert logd.docker("logs", "--tail", "2", container, check=True).stdout.splitlines() == lines[-2:]
    stamped = logd.docker("logs", "-t", container, check=True).stdout.splitlines()
    assert [s.split(" ", 1)[1] for s in stamped] == lines
    assert (
        logd.docker("logs", "--since", "1970-01-01T00:00:00Z", container, check=True).stdout.splitlines()
        == lines
    )
    assert logd.docker("logs", "--until", "1970-01-01T00:00:00Z", container, check=True).stdout == ""


def test_json_file_rotation_without_compression_keeps_max_file(logd: Daemon) -> None:
    container = _run_to_end(
        logd, "--log-opt", "max-size=20k", "--log-opt", "max-file=2", "busybox", "sh", "-c", _WRITE_LINES
    )
    log = Path(json.loads(logd.docker("inspect", container, check=True).stdout)[0]["LogPath"])
    assert sorted(p.name[len(log.name) :] for p in log.parent.glob(log.name + "*")) == ["", ".1"]
    assert logd.docker("logs", container, check=True).stdout.splitlines()[-1].startswith("line-2999-")


def test_local_driver_defaults_and_compression(logd: Daemon) -> None:
    """local: 20 MiB × 5 files compressed by default; a smaller max-size shows the gzip'd rotation."""
    plain = _run_to_end(logd, "--log-driver", "local", "busybox", "sh", "-c", "echo one; echo two >&2")
    inspect = json.loads(logd.docker("inspect", plain, check=True).stdout)[0]
    assert inspect["HostConfig"]["LogConfig"] == {"Type": "local", "Config": {}}
    assert inspect["LogPath"] == ""  # dockerd shows a LogPath for json-file only
    result = logd.docker("logs", plain, check=True)
    assert (result.stdout, result.stderr) == ("one\n", "two\n")
    small = _run_to_end(
        logd, "--log-driver", "local", "--log-opt", "max-size=20k", "busybox", "sh", "-c", _WRITE_LINES
    )
    files = sorted(p.name for p in (_log_dir(logd, small) / "local-logs").iterdir())
    assert files == [
        "container.log",
        "container.log.1.gz",
        "container.log.2.gz",
        "container.log.3.gz",
        "container.log.4.gz",
    ]
    lines = logd.docker("logs", small, check=True).stdout.splitlines()
    assert lines[-1].startswith("line-2999-") and len(lines) > 4 * 20_000 // 100


def test_details_show_labels_env_and_tag(logd: Daemon) -> None:
    container = _run_to_end(
        logd,
        *("--label", "app=web site", "--label", "other=x", "-e", "STAGE=prod", "-e", "HIDDEN=1"),
        *("--log-opt", "labels=app", "--log-opt", "env=STAGE", "--log-opt", "tag={{.Name}}/{{.ID}}"),
        "--name", "tagged", "busybox", "echo", "hello",
    )  # fmt: skip
    details = logd.docker("logs", "--details", container, check=True).stdout
    # moby's attrsByteSlice: sorted by key (bytes: upper case first), query-escaped, then a space.
    assert details == f"STAGE=prod,app=web+site,tag=tagged%2F{container[:12]} hello\n"
    assert logd.docker("logs", container, check=True).stdout == "hello\n"
    plain = _run_to_end(logd, "busybox", "echo", "bare")
    assert logd.docker("logs", "--details", plain, check=True).stdout == " bare\n"
    stamped = logd.docker("logs", "--details", "-t", container, check=True).stdout
    assert stamped.split(" ", 1)[1] == details


def test_follow_reads_across_compressed_rotations(logd: Daemon) -> None:
    """``logs -f`` from the start of a container that rotates (and compresses) while it is followed."""
    script = "sleep 1; " + _WRITE_LINES + "; sleep 1; echo last"
    container = logd.docker(
        "run", "-d", *("--log-opt", "max-size=20k", "--log-opt", "max-file=20", "--log-opt", "compress=true"),
        "busybox", "sh", "-c", script, check=True,
    ).stdout.strip()  # fmt: skip
    followed = logd.docker("logs", "-f", container, timeout=60, check=True).stdout.splitlines()
    log = Path(json.loads(logd.docker("inspect", container, check=True).stdout)[0]["LogPath"])
    assert len(list(log.parent.glob(log.name + ".*.gz"))) >= 10  # it did rotate, many times
    assert followed[-1] == "last"
    assert [int(line.split("-")[1]) for line in followed[:-1]] == list(range(3000))
