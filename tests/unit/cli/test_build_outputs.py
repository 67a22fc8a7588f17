"""``berth build --output``/``--cache-to``/``--cache-from`` parsing as buildx does, the safe unpacking
of a filesystem tar into a directory, and the CLI's requests around the build (against a stub daemon
that also serves a hostile export)."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from berth.cli.buildoutput import (
    Output,
    _children_first,
    cache_from,
    check_cache_to,
    check_dest,
    parse_output,
    plan,
)
from berth.cli.command import CLIError
from berth.cli.unpackdir import extract
from tests.unit.cli.conftest import Result
from tests.unit.client.stubdaemon import Reply, StubDaemon, json_reply


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("out", Output("local", "out")),
        ("-", Output("tar", "-")),
        ("type=local,dest=d", Output("local", "d")),
        ("TYPE=local, DEST=d", Output("local", "d")),
        ('"type=local","dest=a,b"', Output("local", "a,b")),
        ("type=tar", Output("tar")),
        ("type=tar,dest=x.tar", Output("tar", "x.tar")),
        ("dest=x.tar,type=tar", Output("tar", "x.tar")),
        ("type=image", Output("image")),
        ("type=image,name=a:1,push=true", Output("image", "", ("a:1",), True)),
        ('type=image,"name=a:1,b:2"', Output("image", "", ("a:1", "b:2"))),
        ("type=docker", Output("docker")),
        ("type=registry", Output("registry", push=True)),
        ("type=cacheonly", Output("cacheonly")),
        ("type=local,dest=d,platform-split=false", Output("local", "d")),
        ("dest=x", Output("local", "dest=x")),  # buildx: one field not starting with type= is a directory
    ],
)
def test_output_specs_read_as_buildx(spec: str, expected: Output) -> None:
    assert parse_output(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("type=local,oops", "invalid value oops"),
        ("dest=x,name=y", "type is required for output"),
        ("type=ftp", 'unknown output type "ftp"'),
        ("type=local,dest=d,compression=gzip", 'type=local does not take "compression"'),
        ("type=image,push=maybe", 'invalid value "maybe" for push'),
        ("type=image,dest=x", "output x is not supported by image exporter"),
        ("type=oci,dest=x.tar", "berth save NAME -o FILE"),
        ("type=docker,dest=x.tar", "berth save NAME -o FILE"),
    ],
)
def test_bad_output_specs_are_refused(spec: str, message: str) -> None:
    with pytest.raises(CLIError, match=message.replace("(", r"\(")) as err:
        parse_output(spec)
    assert err.value.code == 125


def test_destinations_are_checked_before_the_build(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(CLIError, match="dest is required for local exporter"):
        check_dest(Output("local"), stdout_tty=False)
    with pytest.raises(CLIError, match="dest cannot be stdout for local exporter"):
        check_dest(Output("local", "-"), stdout_tty=False)
    with pytest.raises(CLIError, match="destination directory .* is a file"):
        check_dest(Output("local", str(tmp_path / "file")), stdout_tty=False)
    with pytest.raises(CLIError, match="destination file .* is a directory"):
        check_dest(Output("tar", str(tmp_path)), stdout_tty=False)
    with pytest.raises(CLIError, match="refusing to write to console"):
        check_dest(Output("tar"), stdout_tty=True)
    assert check_dest(Output("tar"), stdout_tty=False) == Output("tar", "-")
    assert check_dest(Output("local", str(tmp_path / "new")), stdout_tty=False).dest.endswith("new")


def test_plans(tmp_path: Path) -> None:
    local = str(tmp_path / "o")
    only_files = plan([local, "type=tar,dest=" + local + ".tar"], [], tags=["app:1"], iidfile="")
    assert not only_files.keep and [o.type for o in only_files.files] == ["local", "tar"]
    assert only_files.push == [] and not only_files.to_stdout
    both = plan(["type=image,name=x:1", local], ["type=inline"], tags=[], iidfile="")
    assert both.keep and both.names == ["x:1"] and both.push == []
    assert plan(["type=image,name=x:1"], [], tags=["t:1"], iidfile="").names == ["t:1"]  # buildx: tags win
    assert plan(["type=registry"], [], tags=["r/a:1"], iidfile="i").push == ["r/a:1"]
    assert plan([], ["type=inline"], tags=[], iidfile="").keep
    assert not plan(["type=cacheonly"], [], tags=[], iidfile="").keep
    for specs, cache, iid, message in (
        (["-", "type=tar"], [], "", "multiple outputs configured to write to stdout"),
        ([local], [], "iid", "local and tar exporters are incompatible with image ID file"),
        (["type=registry"], [], "", "tag is needed when pushing to registry"),
        ([local], ["type=inline"], "", "these outputs keep no image"),
    ):
        with pytest.raises(CLIError, match=message):
            plan(specs, cache, tags=[], iidfile=iid)


def test_cache_to_is_inline_only() -> None:
    assert check_cache_to(["type=inline"]) and check_cache_to(["type=inline,mode=min"])
    assert not check_cache_to([]) and not check_cache_to([""])
    for spec, message in (
        ("type=inline,mode=max", "takes only mode=min"),
        ("user/app:cache", "type=registry is not supported"),
        ("type=registry,ref=user/app:cache", "type=registry is not supported"),
        ("type=local,dest=/tmp/c", "type=local is not supported"),
        ("mode=min", 'type required for "mode=min"'),
    ):
        with pytest.raises(CLIError, match=message):
            check_cache_to([spec])


def test_cache_from_takes_names_and_registry_refs() -> None:
    assert cache_from(["a:1,b:2", "c"]) == ["a:1", "b:2", "c"]  # the docker CLI's comma-separated list
    assert cache_from(["type=registry,ref=reg/app:1"]) == ["reg/app:1"]
    for spec in ("type=local,src=/tmp/c", "type=registry", "type=registry,ref=x,mode=max"):
        with pytest.raises(CLIError, match="takes images as cache sources"):
            cache_from([spec])


def test_removal_order_is_children_first() -> None:
    parent = {"c": "b", "b": "a", "a": "", "y": "x", "x": ""}
    order = _children_first(["a", "x", "b", "c", "y"], parent)
    assert order.index("c") < order.index("b") < order.index("a") and order.index("y") < order.index("x")


# -- unpacking ---------------------------------------------------------------------------------------


def _tar(*entries: tuple[str, str, str | bytes]) -> io.BytesIO:
    """A tar of (kind, name, data-or-link-target) entries: kind is file, dir, sym, link, chr or fifo."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_000_000
            info.mode = 0o755 if kind == "dir" else 0o644
            if kind == "file":
                raw = data.encode() if isinstance(data, str) else data
                info.size = len(raw)
                tar.addfile(info, io.BytesIO(raw))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "sym": tarfile.SYMTYPE,
                "link": tarfile.LNKTYPE,
                "chr": tarfile.CHRTYPE,
                "fifo": tarfile.FIFOTYPE,
            }[kind]
            info.linkname = str(data)
            tar.addfile(info)
    buf.seek(0)
    return buf


def test_extract_writes_the_tree(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    stats = extract(
        _tar(
            ("dir", "./", ""),
            ("dir", "etc", ""),
            ("file", "etc/conf", "c"),
            ("sym", "etc/abs", "/etc/passwd"),
            ("link", "etc/hard", "etc/conf"),
            ("file", "/abs", "leading slash dropped"),
            ("chr", "dev-null", ""),
            ("fifo", "pipe", ""),
        ),
        str(dest),
    )
    assert (stats.entries, stats.skipped_devices) == (6, 1)
    assert (dest / "etc" / "conf").read_text() == "c" and (
        dest / "abs"
    ).read_text() == "leading slash dropped"
    assert os.readlink(dest / "etc" / "abs") == "/etc/passwd"  # a link's target is only text
    assert os.stat(dest / "etc" / "hard").st_ino == os.stat(dest / "etc" / "conf").st_ino
    assert stat.S_ISFIFO(os.lstat(dest / "pipe").st_mode) and not (dest / "dev-null").exists()
    assert (
        os.stat(dest / "etc").st_mtime == 1_000_000 and os.stat(dest / "etc" / "conf").st_mtime == 1_000_000
    )


def test_extract_drops_setuid_and_keeps_modes(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, mode in (("su", 0o4755), ("ro", 0o444), ("tmp", 0o1777)):
            info = tarfile.TarInfo(name)
            info.mode = mode
            if name == "tmp":
                info.type = tarfile.DIRTYPE
            tar.addfile(info, io.BytesIO(b""))
    buf.seek(0)
    extract(buf, str(tmp_path / "out"))
    modes = {n: stat.S_IMODE(os.lstat(tmp_path / "out" / n).st_mode) for n in ("su", "ro", "tmp")}
    assert modes == {"su": 0o755, "ro": 0o444, "tmp": 0o1777}


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ((("sym", "escape", "/"), ("file", "escape/tmp/owned", "x")), "escape in .* is not a directory"),
        ((("sym", "up", ".."), ("file", "up/owned", "x")), "up in .* is not a directory"),
        ((("file", "../owned", "x"),), "has a '..' component"),
        ((("file", "a/../../owned", "x"),), "has a '..' component"),
        ((("sym", "escape", "/"), ("link", "hard", "escape/etc/passwd")), "escape in .* is not a directory"),
        ((("link", "hard", "../outside/victim"),), "has a '..' component"),
    ],
)
def test_hostile_tars_write_nothing_outside(
    tmp_path: Path, entries: tuple[tuple[str, str, str], ...], message: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("intact")
    dest = tmp_path / "deep" / "out"
    with pytest.raises(CLIError, match=message):
        extract(_tar(*entries), str(dest))
    assert sorted(os.listdir(outside)) == ["victim"] and (outside / "victim").read_text() == "intact"
    assert sorted(os.listdir(tmp_path)) == ["deep", "outside"] and sorted(os.listdir(tmp_path / "deep")) == [
        "out"
    ]


def test_links_already_in_the_directory_are_replaced_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("intact")
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "f").symlink_to(outside / "victim")  # a file entry must not write through it
    (dest / "d").symlink_to(outside)  # a directory entry must not merge into it
    (dest / "old").mkdir()
    (dest / "old" / "x").write_text("replaced by a file")
    extract(
        _tar(("file", "f", "new"), ("dir", "d", ""), ("file", "d/g", "in"), ("file", "old", "o")), str(dest)
    )
    assert (outside / "victim").read_text() == "intact" and sorted(os.listdir(outside)) == ["victim"]
    assert not (dest / "f").is_symlink() and (dest / "f").read_text() == "new"
    assert not (dest / "d").is_symlink() and (dest / "d" / "g").read_text() == "in"
    assert (dest / "old").read_text() == "o"
    (dest / "keep").mkdir()
    (dest / "keep" / "mine").write_text("stays")
    extract(_tar(("dir", "keep", ""), ("file", "keep/theirs", "t")), str(dest))  # directories merge
    assert sorted(os.listdir(dest / "keep")) == ["mine", "theirs"]


def test_a_symlinked_parent_in_the_directory_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "etc").symlink_to(outside)
    with pytest.raises(CLIError, match="etc in .* is not a directory"):
        extract(_tar(("file", "etc/passwd", "x")), str(dest))  # no "etc" entry first: not replaced
    assert os.listdir(outside) == []


# -- the CLI around the build ----------------------------------------------------------------------


def _stub_build(stub: StubDaemon, export: bytes, *, images_after: list[dict[str, object]]) -> None:
    stream = [
        b'{"stream":"Step 1/2 : FROM busybox\\n"}\r\n',
        b'{"stream":" ---> 000000000001\\n"}\r\n',
        b'{"stream":"Step 2/2 : RUN true\\n"}\r\n',
        b'{"stream":" ---> 0000000000aa\\n"}\r\n',
        b'{"aux":{"ID":"sha256:0000000000bb"}}\r\n',
        b'{"stream":"Successfully built 0000000000bb\\n"}\r\n',
    ]
    listings = iter([[{"Id": "sha256:000000000001", "ParentId": "", "RepoTags": ["busybox:latest"]}]])
    stub.route("GET", "/images/json", lambda r: json_reply(next(listings, images_after)))
    stub.route("POST", "/build", lambda r: Reply(200, stream, chunked=True))
    stub.route("GET", "/containers/json", lambda r: json_reply([]))  # no export left by a killed CLI
    stub.route("POST", "/containers/create", lambda r: json_reply({"Id": "c0ffee", "Warnings": []}, 201))
    stub.route(
        "GET",
        "/containers/c0ffee/export",
        lambda r: Reply(200, export, {"Content-Type": "application/x-tar"}),
    )
    stub.route("DELETE", "/containers/c0ffee", lambda r: Reply(204))
    stub.route("DELETE", "/images/.*", lambda r: json_reply([{"Deleted": r.path.rsplit("/", 1)[-1]}]))


def _context(tmp_path: Path) -> str:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN true\n")
    return str(ctx)


AFTER = [
    {"Id": "sha256:000000000001", "ParentId": "", "RepoTags": ["busybox:latest"]},
    {"Id": "sha256:0000000000aa", "ParentId": "sha256:000000000001", "RepoTags": []},
    {"Id": "sha256:0000000000bb", "ParentId": "sha256:0000000000aa", "RepoTags": []},
]


def test_local_output_requests(stub: StubDaemon, berth: Callable[..., Result], tmp_path: Path) -> None:
    _stub_build(stub, _tar(("file", "f", "hi")).getvalue(), images_after=AFTER)
    out = tmp_path / "out"
    res = berth("build", "-q", "-t", "app:1", "-o", str(out), _context(tmp_path))
    assert res.rc == 0, res.err
    assert res.out == "" and "WARNING: --tag is ignored" in res.err  # no image stays: no id to print
    assert (out / "f").read_text() == "hi"
    build = stub.find("POST", "/build")[0]
    assert build.q("t") is None and build.q("q") is None  # the step lines name what to remove
    create = stub.find("POST", "/containers/create")[0].json()
    assert create["Image"] == "sha256:0000000000bb" and create["HostConfig"] == {"NetworkMode": "none"}
    assert stub.find("POST", "/start") == []  # never started
    removed = stub.find("DELETE", "/containers/c0ffee")[0]
    assert (removed.q("force"), removed.q("v")) == ("1", "1")
    deleted = [(r.path.rsplit("/", 1)[-1], r.q("noprune")) for r in stub.find("DELETE", "/images/")]
    assert deleted == [("sha256:0000000000bb", "1"), ("sha256:0000000000aa", "1")]  # busybox stays


def test_a_hostile_export_writes_nothing_outside_and_cleans_up(
    stub: StubDaemon, berth: Callable[..., Result], tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    hostile = _tar(("sym", "escape", str(outside)), ("file", "escape/owned", "x")).getvalue()
    _stub_build(stub, hostile, images_after=AFTER)
    res = berth("build", "-o", str(tmp_path / "out"), _context(tmp_path))
    assert res.rc == 1 and "refusing to extract 'escape/owned'" in res.err, res.err
    assert os.listdir(outside) == []
    assert stub.find("DELETE", "/containers/c0ffee") and len(stub.find("DELETE", "/images/")) == 2


def test_tar_output_on_stdout_moves_the_progress_to_stderr(
    stub: StubDaemon, berth: Callable[..., Result], tmp_path: Path
) -> None:
    _stub_build(stub, _tar(("file", "f", "hi")).getvalue(), images_after=AFTER)
    res = berth("build", "--output", "type=tar,dest=-", _context(tmp_path))
    assert res.rc == 0, res.err
    assert (
        "Step 1/2 : FROM busybox" in res.err
        and "Exported the files as a tar of 0000000000bb to stdout" in res.err
    )
    assert res.out.startswith("f\0")  # the tar's first header


def test_refusals_send_nothing(stub: StubDaemon, berth: Callable[..., Result], tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    for flags in (["-o", "type=ftp"], ["--cache-to", "type=gha"], ["--cache-from", "type=local,src=x"]):
        res = berth("build", *flags, ctx)
        assert res.rc == 125 and res.err.startswith("Error: "), (flags, res.err)
    assert stub.find("POST", "/build") == [] and stub.find("GET", "/images/json") == []


def test_image_output_keeps_the_normal_build(
    stub: StubDaemon, berth: Callable[..., Result], tmp_path: Path
) -> None:
    _stub_build(stub, b"", images_after=AFTER)
    res = berth("build", "--cache-to", "type=inline", "-o", "type=image,name=x:1", _context(tmp_path))
    assert res.rc == 0, res.err
    assert stub.find("POST", "/build")[0].query["t"] == ["x:1"]
    assert stub.find("GET", "/images/json") == [] and stub.find("DELETE", "/images/") == []
    assert json.loads(stub.find("POST", "/build")[0].q("cachefrom") or "") is None
