"""Docker's User resolution against fake passwd/group files (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.runtime.errors import UserNotFound
from berth.runtime.linux.user import ExecUser, resolve


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    passwd, group = tmp_path / "passwd", tmp_path / "group"
    passwd.write_text("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n# comment\n")
    group.write_text("root:x:0:\nwheel:x:10:app,other\napp:x:1000:\naudio:x:29:app\n")
    return passwd, group


def test_name_gives_primary_and_supplementary(files: tuple[Path, Path]) -> None:
    assert resolve("app", *files) == ExecUser(1000, 1000, (1000, 10, 29), "/home/app")


def test_uid_and_explicit_group(files: tuple[Path, Path]) -> None:
    assert resolve("1000:wheel", *files) == ExecUser(1000, 10, (), "/home/app")
    assert resolve("app:29", *files) == ExecUser(1000, 29, (), "/home/app")
    assert resolve("4242:4343", *files) == ExecUser(4242, 4343, (), "/")


def test_unknown_numeric_uid_is_allowed(files: tuple[Path, Path]) -> None:
    assert resolve("4242", *files) == ExecUser(4242, 0, (0,), "/")


def test_unknown_names_fail_like_docker(files: tuple[Path, Path]) -> None:
    with pytest.raises(UserNotFound, match="^unable to find user ghost: no matching entries in passwd file$"):
        resolve("ghost", *files)
    with pytest.raises(UserNotFound, match="unable to find group nope"):
        resolve("app:nope", *files)


def test_missing_files(tmp_path: Path) -> None:
    assert resolve("0", tmp_path / "none", tmp_path / "none") == ExecUser(0, 0, (0,), "/")
