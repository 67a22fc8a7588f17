"""scripts/fast-launcher: the `berth` script starts Python without site, with site's paths."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_the_launcher_starts_without_site_and_keeps_sites_paths(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    purelib.mkdir(parents=True)
    (venv / "bin").mkdir()
    (venv / "bin" / "python").symlink_to(sys.executable)
    source = tmp_path / "src"
    source.mkdir()
    (purelib / "__editable__.x.pth").write_text(f"{source}\n")
    (purelib / "hook.pth").write_text("import os; os.environ\n")  # a hook: site's business, not a path
    subprocess.run([sys.executable, str(REPO / "scripts" / "fast-launcher"), str(venv)], check=True)
    script = (venv / "bin" / "berth").read_text()
    assert script.splitlines()[0] == f"#!{venv / 'bin' / 'python'} -S"
    assert f"sys.path += {[str(purelib), str(source)]!r}" in script
    assert "import os" not in script


def test_the_installed_berth_runs(tmp_path: Path) -> None:
    berth = Path(sys.executable).parent / "berth"
    result = subprocess.run([str(berth), "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("Berth version"), result.stderr
