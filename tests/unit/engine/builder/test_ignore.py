"""``.dockerignore`` on the daemon's side: which build files leave the context."""

from __future__ import annotations

from pathlib import Path

from berth.api.dockerignore import ignored as matches_or_parent_matches
from berth.api.dockerignore import read_patterns
from berth.engine.builder.ignore import remove_build_files


def test_patterns_follow_moby_patternmatcher() -> None:
    rules = read_patterns("# comment\n*.log\n!keep.log\n/build\n**/secret\ndocs/*.md\n")
    assert matches_or_parent_matches("app.log", rules) and not matches_or_parent_matches("keep.log", rules)
    assert matches_or_parent_matches("build/out/x.o", rules)  # a parent matches
    assert matches_or_parent_matches("a/b/secret", rules) and matches_or_parent_matches("secret", rules)
    assert not matches_or_parent_matches("docs/sub/readme.md", rules)


def test_the_dockerfile_and_dockerignore_leave_only_when_named(tmp_path: Path) -> None:
    for name in ("Dockerfile", ".dockerignore", "keep.txt"):
        (tmp_path / name).write_text("x")
    remove_build_files(tmp_path, "Dockerfile")  # .dockerignore names neither
    assert sorted(p.name for p in tmp_path.iterdir()) == [".dockerignore", "Dockerfile", "keep.txt"]
    (tmp_path / ".dockerignore").write_text("Dockerfile\n.dockerignore\n")
    remove_build_files(tmp_path, "Dockerfile")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
