"""COPY/ADD sources: ``.`` is the context, symlinks followed inside it, wildcards never through one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from berth.engine.builder.context import resolve_scoped, sources
from berth.errors import InvalidArgument, NotFound


def test_symlinks_resolve_as_if_the_context_were_the_root(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("f")
    os.symlink("/real", tmp_path / "abs")
    os.symlink("../../../../real", tmp_path / "up")
    os.symlink("/etc", tmp_path / "etc-link")
    root = str(tmp_path)
    assert resolve_scoped(root, "abs/f") == f"{root}/real/f"
    assert resolve_scoped(root, "up/f") == f"{root}/real/f"  # ".." stops at the context
    assert resolve_scoped(root, "etc-link/passwd") == f"{root}/etc/passwd"  # never the host's /etc
    os.symlink("loop", tmp_path / "loop")
    with pytest.raises(InvalidArgument, match="too many levels"):
        resolve_scoped(root, "loop")


def test_sources_take_the_whole_context_follow_links_and_skip_linked_wildcards(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f.txt").write_text("f")
    os.symlink("real", tmp_path / "link")
    whole = sources(tmp_path, ["."], "COPY")
    assert [(s.path, s.is_dir, s.base) for s in whole] == [(tmp_path, True, "")]
    (linked,) = sources(tmp_path, ["link"], "COPY")
    assert (linked.path, linked.base) == (tmp_path / "real", "link")
    assert [s.path for s in sources(tmp_path, ["real/*.txt"], "COPY")] == [tmp_path / "real" / "f.txt"]
    with pytest.raises(NotFound):
        sources(tmp_path, ["link/*.txt"], "COPY")  # Docker's walk does not go through the link
    with pytest.raises(InvalidArgument, match="source can't be a URL for COPY"):
        sources(tmp_path, ["http://example.invalid/x"], "COPY")
