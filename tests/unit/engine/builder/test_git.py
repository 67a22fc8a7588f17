"""ADD of a git repository: which sources are git (BuildKit's rules), their fragments and queries,
and checkouts of local ``file://`` repositories made here (nothing leaves the machine)."""

from __future__ import annotations

import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from berth.engine.builder import git
from berth.engine.builder.git import GitRef, fetch_git, is_git_source, parse_git_ref, resolve_git
from berth.errors import Forbidden, InvalidArgument

_WHEN = 1577836800  # 2020-01-01T00:00:00Z, every test commit's time


def _git(cwd: Path, *args: str) -> str:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_DATE": f"@{_WHEN} +0000",
        "GIT_COMMITTER_DATE": f"@{_WHEN} +0000",
    }
    config = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    config += ["-c", "protocol.file.allow=always"]
    done = subprocess.run(
        ["git", *config, *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@dataclass(frozen=True)
class Repo:
    url: str  # file:///…/src.git
    first: str  # the commit v1 tags (not a branch tip)
    main: str  # main's tip
    feature: str  # feature's tip
    dup_branch: str  # the branch "dup" (a tag "dup" names another commit)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    top = tmp_path_factory.mktemp("git")
    path = top / "src.git"  # a working repository whose directory ends in .git
    path.mkdir()
    _git(path, "init", "-q")
    (path / "a.txt").write_text("a\n")
    (path / "run.sh").write_text("#!/bin/sh\n")
    (path / "run.sh").chmod(0o755)
    (path / "sub" / "deep").mkdir(parents=True)
    (path / "sub" / "b.txt").write_text("b\n")
    (path / "sub" / "deep" / "d.txt").write_text("d\n")
    os.symlink("a.txt", path / "link")
    os.symlink("/etc", path / "etc-link")
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "first")
    first = _git(path, "rev-parse", "HEAD")
    _git(path, "tag", "-a", "v1", "-m", "v1")
    _git(path, "tag", "dup")  # a tag "dup" at the first commit …
    _git(path, "checkout", "-qb", "feature")
    (path / "f.txt").write_text("f\n")
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "feature")
    feature = _git(path, "rev-parse", "HEAD")
    _git(path, "branch", "dup")  # … and a branch "dup" at feature's tip
    _git(path, "checkout", "-q", "main")
    (path / "c.txt").write_text("c\n")
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "second")
    main = _git(path, "rev-parse", "HEAD")
    return Repo(f"file://{path}", first, main, feature, feature)


def _names(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# --- which sources are git -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "src",
    [
        "https://github.com/moby/buildkit.git",
        "https://github.com/moby/buildkit.git#v0.10.1",
        "https://github.com/moby/buildkit.git#v0.14.1:docs",
        "https://github.com/moby/buildkit.git?tag=v0.14.1&subdir=docs",
        "http://example.com/foo.git",
        "https://foo:bar@github.com/moby/buildkit.git",
        "git@github.com:moby/buildkit.git",
        "git@github.com:moby/buildkit",
        "git@git.example.com:foo/bar.git#main:dir",
        "git://example.com/foo",
        "ssh://git@example.com/foo",
        "file:///srv/repo.git",
        "file:///srv/repo.git#main:sub",
    ],
)
def test_git_sources(src: str) -> None:
    assert is_git_source(src)


@pytest.mark.parametrize(
    "src",
    [
        "https://example.com/",
        "https://example.com/foo",
        "https://example.com/foo.git/",
        "https://example.com/foo.git.bar",
        "http://github.com/docker/docker.git:#branch",
        "https://github.com/moby/buildkit",
        "https://example.com:port/foo.git",
        "github.com/moby/buildkit",  # a local path for ADD, as BuildKit
        "custom.xyz/moby/buildkit.git",
        "./.git",
        ".git",
        "host:path",  # scp-like needs a user
        "ftp://example.com/foo.git",
        "file:///srv/repo",
        "file://host/srv/repo.git",
        "src/app.py",
    ],
)
def test_not_git_sources(src: str) -> None:
    assert not is_git_source(src)


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("https://github.com/foo/bar.git", GitRef("https://github.com/foo/bar.git")),
        (
            "https://github.com/foo/bar.git#baz/qux:quux/quuz",
            GitRef("https://github.com/foo/bar.git", "baz/qux", "quux/quuz"),
        ),
        (
            "https://github.com/docker/docker.git#:myfolder",
            GitRef("https://github.com/docker/docker.git", "", "myfolder"),
        ),
        (
            "git@github.com:moby/buildkit.git#v1:docs",
            GitRef("git@github.com:moby/buildkit.git", "v1", "docs"),
        ),
        ("https://h/r.git?ref=v1.0.0&subdir=/subdir", GitRef("https://h/r.git", "v1.0.0", "/subdir")),
        ("https://h/r.git?tag=v1", GitRef("https://h/r.git", "refs/tags/v1")),
        ("https://h/r.git?branch=main&subdir=d", GitRef("https://h/r.git", "refs/heads/main", "d")),
        ("https://h/r.git?tag=v1&checksum=abc1", GitRef("https://h/r.git", "refs/tags/v1", checksum="abc1")),
        ("https://h/r.git?commit=abc1", GitRef("https://h/r.git", "abc1", checksum="abc1")),
        ("https://h/r.git?keep-git-dir", GitRef("https://h/r.git", keep_git_dir=True)),
        (
            "https://h/r.git?keep-git-dir=false&submodules=0",
            GitRef("https://h/r.git", keep_git_dir=False, submodules=False),
        ),
        ("https://h/r.git#v1?ref=v1", GitRef("https://h/r.git", "v1?ref=v1")),  # the fragment comes last
        ("git@h:r.git?branch=dev#", GitRef("git@h:r.git", "refs/heads/dev")),
        ("file:///srv/r.git#main:sub", GitRef("file:///srv/r.git", "main", "sub")),
    ],
)
def test_parse_git_ref(src: str, expected: GitRef) -> None:
    assert parse_git_ref(src) == expected


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ("https://h/r.git?ref=a&ref=b", 'query "ref" has multiple values'),
        ("https://h/r.git?ref=", 'query "ref" has no value'),
        ("https://h/r.git#a?ref=b", None),  # "?ref=b" is part of the fragment: no conflict
        ("https://h/r.git?foo=1", 'unexpected query "foo"'),
        ("https://h/r.git?tag=v1&branch=main", "branch conflicts with tag"),
        ("https://h/r.git?subdir=a#x:b", 'subdir conflicts: "b" vs "a"'),
        ("https://h/r.git?keep-git-dir=maybe", 'invalid keep-git-dir value: "maybe"'),
        ("https://h/r.git?ref=v2&tag=v1", 'ref conflicts: "v2" vs "refs/tags/v1"'),
        ("https://example.com/foo", "not a git repository URL: https://example.com/foo"),
    ],
)
def test_parse_git_ref_refuses_in_buildkit_words(src: str, message: str | None) -> None:
    if message is None:
        parse_git_ref(src)
        return
    with pytest.raises(InvalidArgument) as caught:
        parse_git_ref(src)
    assert str(caught.value) == message


def test_the_source_names_itself_without_a_password() -> None:
    ref = parse_git_ref("https://u:secret@h/r.git#main:docs")
    assert ref.remote == "https://u:secret@h/r.git"
    assert str(ref) == "https://u:xxxxx@h/r.git#main:docs"
    assert parse_git_ref("http://h/r.git").unencrypted and not parse_git_ref("https://h/r.git").unencrypted


# --- checkouts -------------------------------------------------------------------------------------


async def test_default_branch_checkout_without_git_dir(repo: Repo, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    checkout = await fetch_git(parse_git_ref(repo.url), dest, keep_git_dir=None, allow_file=True)
    assert (checkout.path, checkout.commit, checkout.ref) == (dest, repo.main, "refs/heads/main")
    assert checkout.commit_time == _WHEN
    assert _names(dest) == {
        "a.txt",
        "c.txt",
        "run.sh",
        "link",
        "etc-link",
        "sub",
        "sub/b.txt",
        "sub/deep",
        "sub/deep/d.txt",
    }
    assert stat.S_IMODE(os.stat(dest / "a.txt").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(dest / "run.sh").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(dest / "sub").st_mode) == 0o755
    assert os.readlink(dest / "etc-link") == "/etc"  # a link stays a link
    assert not list(tmp_path.glob(".git-*"))  # the work directory is gone


async def test_tag_branch_and_commit(repo: Repo, tmp_path: Path) -> None:
    tagged = await fetch_git(
        parse_git_ref(repo.url + "#v1"), tmp_path / "tag", keep_git_dir=None, allow_file=True
    )
    assert (tagged.commit, tagged.ref) == (repo.first, "refs/tags/v1")  # the annotated tag peeled
    assert "c.txt" not in _names(tagged.path)
    branch = await fetch_git(
        parse_git_ref(repo.url + "#feature"), tmp_path / "b", keep_git_dir=None, allow_file=True
    )
    assert (branch.commit, branch.ref) == (repo.feature, "refs/heads/feature")
    assert (branch.path / "f.txt").read_text() == "f\n"
    by_sha = await fetch_git(
        parse_git_ref(f"{repo.url}#{repo.first}"), tmp_path / "s", keep_git_dir=None, allow_file=True
    )
    assert (by_sha.commit, by_sha.ref) == (repo.first, repo.first)
    assert "a.txt" in _names(by_sha.path) and "c.txt" not in _names(by_sha.path)
    query = await fetch_git(
        parse_git_ref(repo.url + "?tag=v1"), tmp_path / "q", keep_git_dir=None, allow_file=True
    )
    assert query.commit == repo.first


async def test_a_branch_wins_over_a_tag_of_the_same_name(repo: Repo, tmp_path: Path) -> None:
    checkout = await fetch_git(
        parse_git_ref(repo.url + "#dup"), tmp_path / "o", keep_git_dir=None, allow_file=True
    )
    assert (checkout.commit, checkout.ref) == (repo.dup_branch, "refs/heads/dup")


async def test_subdir_of_a_ref(repo: Repo, tmp_path: Path) -> None:
    dest = tmp_path / "o"
    dest.mkdir()  # an empty destination may exist
    checkout = await fetch_git(parse_git_ref(repo.url + "#v1:sub"), dest, keep_git_dir=True, allow_file=True)
    assert _names(checkout.path) == {"b.txt", "deep", "deep/d.txt"}  # no .git with a subdir
    deep = await fetch_git(
        parse_git_ref(repo.url + "#:/sub/deep/"), tmp_path / "d", keep_git_dir=None, allow_file=True
    )
    assert _names(deep.path) == {"d.txt"}
    up = await fetch_git(
        parse_git_ref(repo.url + "#:../sub/deep"), tmp_path / "u", keep_git_dir=None, allow_file=True
    )
    assert _names(up.path) == {"d.txt"}  # ".." stops at the tree


@pytest.mark.parametrize(
    ("subdir", "why"),
    [
        ("nope", "no such file or directory"),
        ("a.txt", "not a directory"),
        ("etc-link", "etc-link is a symbolic link"),
    ],
)
async def test_bad_subdirs(repo: Repo, tmp_path: Path, subdir: str, why: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await fetch_git(
            parse_git_ref(f"{repo.url}#main:{subdir}"), tmp_path / "o", keep_git_dir=None, allow_file=True
        )
    assert (
        str(caught.value)
        == f"failed to fetch git repository {repo.url}#main:{subdir}: failed to open subdir {subdir}: {why}"
    )
    assert not (tmp_path / "o").exists()


async def test_keep_git_dir(repo: Repo, tmp_path: Path) -> None:
    dest = tmp_path / "o"
    checkout = await fetch_git(parse_git_ref(repo.url + "#feature"), dest, keep_git_dir=True, allow_file=True)
    assert (dest / ".git").is_dir()
    assert _git(dest, "rev-parse", "HEAD") == repo.feature
    assert _git(dest, "rev-parse", "refs/heads/feature") == repo.feature
    assert _git(dest, "remote", "get-url", "origin") == repo.url
    assert _git(dest, "status", "--porcelain") == ""  # the tree is the commit's
    assert not (dest / ".git" / "FETCH_HEAD").exists()
    assert checkout.commit == repo.feature
    by_query = await fetch_git(
        parse_git_ref(repo.url + "?keep-git-dir=true"), tmp_path / "q", keep_git_dir=None, allow_file=True
    )
    assert (by_query.path / ".git").is_dir()
    with pytest.raises(InvalidArgument, match="^inconsistent keep-git-dir configuration$"):
        await fetch_git(
            parse_git_ref(repo.url + "?keep-git-dir=true"),
            tmp_path / "x",
            keep_git_dir=False,
            allow_file=True,
        )


async def test_commit_mtimes_on_request(repo: Repo, tmp_path: Path) -> None:
    checkout = await fetch_git(
        parse_git_ref(repo.url), tmp_path / "o", keep_git_dir=None, commit_mtime=True, allow_file=True
    )
    times = {os.lstat(p).st_mtime for p in [checkout.path, *checkout.path.rglob("*")]}
    assert times == {_WHEN}


async def test_a_sha_a_shallow_fetch_cannot_get(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # protocol v0 serves only advertised tips: the first commit comes by the full fetch
    monkeypatch.setattr(git, "_BASE_CONFIG", (*git._BASE_CONFIG, "protocol.version=0"))
    checkout = await fetch_git(
        parse_git_ref(f"{repo.url}#{repo.first}"), tmp_path / "o", keep_git_dir=None, allow_file=True
    )
    assert checkout.commit == repo.first
    missing = "0" * 40
    with pytest.raises(InvalidArgument) as caught:
        await fetch_git(
            parse_git_ref(f"{repo.url}#{missing}"), tmp_path / "x", keep_git_dir=None, allow_file=True
        )
    assert str(caught.value) == (
        f"failed to fetch git repository {repo.url}#{missing}: "
        f"error: Server does not allow request for unadvertised object {missing}"
    )


async def test_unknown_ref_and_missing_repository(repo: Repo, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await fetch_git(parse_git_ref(repo.url + "#nope"), tmp_path / "o", keep_git_dir=None, allow_file=True)
    assert (
        str(caught.value)
        == f"failed to fetch git repository {repo.url}#nope: fatal: couldn't find remote ref nope"
    )
    missing = tmp_path / "missing.git"
    with pytest.raises(InvalidArgument) as caught:
        await fetch_git(
            parse_git_ref(f"file://{missing}"), tmp_path / "o", keep_git_dir=None, allow_file=True
        )
    assert str(caught.value) == (
        f"failed to fetch git repository file://{missing}: fatal: '{missing}' does not appear to be a git repository"
    )
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob(".git-*"))


async def test_file_sources_need_the_callers_consent(repo: Repo, tmp_path: Path) -> None:
    with pytest.raises(Forbidden, match="file:// git repository is not allowed"):
        await fetch_git(parse_git_ref(repo.url), tmp_path / "o", keep_git_dir=None)
    with pytest.raises(Forbidden):
        await resolve_git(parse_git_ref(repo.url))


async def test_checksum_is_a_commit_prefix(repo: Repo, tmp_path: Path) -> None:
    ok = await fetch_git(
        parse_git_ref(repo.url + "#v1"),
        tmp_path / "a",
        keep_git_dir=None,
        checksum=repo.first[:7].upper(),
        allow_file=True,
    )
    assert ok.commit == repo.first
    with pytest.raises(InvalidArgument) as caught:
        await fetch_git(
            parse_git_ref(repo.url + "#feature"),
            tmp_path / "b",
            keep_git_dir=None,
            checksum="deadbeef",
            allow_file=True,
        )
    assert str(caught.value) == f"expected checksum to match deadbeef, got {repo.feature}"
    with pytest.raises(
        InvalidArgument, match="^invalid checksum sha256:ab for Git URL, expected hex commit hash$"
    ):
        await fetch_git(
            parse_git_ref(repo.url), tmp_path / "c", keep_git_dir=None, checksum="sha256:ab", allow_file=True
        )
    with pytest.raises(InvalidArgument, match='^checksum mismatch "abc" != "def"$'):
        await fetch_git(
            parse_git_ref(repo.url + "?checksum=def"),
            tmp_path / "d",
            keep_git_dir=None,
            checksum="abc",
            allow_file=True,
        )
    with pytest.raises(InvalidArgument, match="^expected checksum to match beef, got "):
        await fetch_git(
            parse_git_ref(f"{repo.url}#{repo.first}"),
            tmp_path / "e",
            keep_git_dir=None,
            checksum="beef",
            allow_file=True,
        )


async def test_resolve_git_names_the_commit_without_a_checkout(repo: Repo) -> None:
    assert await resolve_git(parse_git_ref(repo.url), allow_file=True) == repo.main
    assert await resolve_git(parse_git_ref(repo.url + "#v1"), allow_file=True) == repo.first
    assert await resolve_git(parse_git_ref(f"{repo.url}#{repo.first}"), allow_file=True) == repo.first
    with pytest.raises(InvalidArgument, match="repository does not contain ref nope$"):
        await resolve_git(parse_git_ref(repo.url + "#nope"), allow_file=True)


async def test_submodules_come_along(repo: Repo, tmp_path: Path) -> None:
    top = tmp_path / "top.git"
    top.mkdir()
    _git(top, "init", "-q")
    (top / "own.txt").write_text("own\n")
    _git(top, "add", "-A")
    _git(top, "commit", "-qm", "own")
    _git(top, "submodule", "-q", "add", repo.url, "vendor/src")
    _git(top, "commit", "-qm", "submodule")
    checkout = await fetch_git(
        parse_git_ref(f"file://{top}"), tmp_path / "o", keep_git_dir=None, allow_file=True
    )
    assert (checkout.path / "vendor" / "src" / "c.txt").read_text() == "c\n"
    assert not [p for p in checkout.path.rglob(".git")]  # the submodule's .git file too
    kept = await fetch_git(parse_git_ref(f"file://{top}"), tmp_path / "k", keep_git_dir=True, allow_file=True)
    assert (kept.path / "vendor" / "src" / ".git").is_file() and (kept.path / ".git" / "modules").is_dir()
    bare = await fetch_git(
        parse_git_ref(f"file://{top}"), tmp_path / "n", keep_git_dir=None, submodules=False, allow_file=True
    )
    assert list((bare.path / "vendor" / "src").iterdir()) == []


async def test_destination_must_be_empty(repo: Repo, tmp_path: Path) -> None:
    dest = tmp_path / "o"
    dest.mkdir()
    (dest / "x").write_text("x")
    with pytest.raises(FileExistsError):
        await fetch_git(parse_git_ref(repo.url), dest, keep_git_dir=None, allow_file=True)


async def test_the_daemons_git_config_is_not_read(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text('[url "file:///nonexistent/"]\n\tinsteadOf = file://\n')
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    checkout = await fetch_git(parse_git_ref(repo.url), tmp_path / "o", keep_git_dir=None, allow_file=True)
    assert checkout.commit == repo.main
