"""Independent stages of a Dockerfile build at the same time (BuildKit's step graph), shown by their
effect: two stages that each wait for the other (through a shared cache mount, the same host directory
for both) can only finish if both run at once. The classic output still reads stage after stage, in
order; a failing stage cancels the others and their containers go."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import Daemon

pytestmark = [
    pytest.mark.root,
    pytest.mark.docker_cli,
    pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="stages run at once only with two cores or more"),
]


def _meet(cache: str, mine: str, other: str) -> str:
    """A RUN that leaves ``/r/<mine>`` and waits (30 s at most) for ``/r/<other>`` in the shared cache."""
    return (
        f"RUN --mount=type=cache,id={cache},target=/r,sharing=shared touch /r/{mine} && i=0 && "
        f"while [ ! -e /r/{other} ]; do i=$((i+1)); "
        f'[ $i -lt 600 ] || {{ echo "{mine} never met {other}" >&2; exit 9; }}; sleep 0.05; done && '
        f"echo {mine}-met-{other} | tee /{mine}\n"
    )


def _dockerfile(tmp_path: Path, text: str) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(text)
    return ctx


def test_independent_stages_run_at_once_and_print_in_order(
    berthd: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    cache = f"rendezvous-{uuid.uuid4().hex[:8]}"
    ctx = _dockerfile(
        tmp_path,
        f"FROM busybox AS a\n{_meet(cache, 'a', 'b')}"
        f"FROM busybox AS b\n{_meet(cache, 'b', 'a')}"
        "FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\nCMD cat /a /b\n",
    )
    berthd.env["DOCKER_BUILDKIT"] = "0"  # the docker CLI's classic stream, printed as it comes
    built = berthd.docker("build", "-t", "met", str(ctx))
    assert built.returncode == 0, built.stderr + built.stdout
    out = built.stdout
    # stage after stage, as a build of one stage at a time prints it: nothing of b inside a's lines
    marks = [f"Step {n}/8 : " for n in range(1, 9)]
    positions = [out.index(mark) for mark in marks]
    assert positions == sorted(positions) and all(out.count(mark) == 1 for mark in marks), out
    assert positions[1] < out.index("\na-met-b\n") < positions[2] < out.index("\nb-met-a\n") < positions[4]
    assert berthd.docker("run", "--rm", "met").stdout == "a-met-b\nb-met-a\n"
    assert berthd.berth("ps", "-aq", check=True).stdout == ""


def test_a_failing_stage_cancels_the_others_and_removes_their_containers(
    berthd: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    cache = f"rendezvous-{uuid.uuid4().hex[:8]}"
    ctx = _dockerfile(
        tmp_path,
        f"FROM busybox AS slow\nRUN --mount=type=cache,id={cache},target=/r,sharing=shared "
        "touch /r/started && sleep 300\n"
        f"FROM busybox AS failing\n{_meet(cache, 'failing', 'started')}RUN echo failing-now; exit 5\n"
        "FROM busybox\nCOPY --from=slow /etc/passwd /p\nCOPY --from=failing /failing /f\n",
    )
    # the slow stage's sleep would outlast the CLI's timeout: the build ends because it was cancelled
    result = berthd.berth("build", "-t", "never", str(ctx), timeout=90)
    assert result.returncode == 5, result.stderr + result.stdout
    assert "The command '/bin/sh -c echo failing-now; exit 5' returned a non-zero code: 5" in result.stderr
    assert "\nfailing-now\n" in result.stdout and "Step 6/8" not in result.stdout
    assert result.stdout.index(" ---> Cancelled: another stage failed") < result.stdout.index("Step 3/8")
    # neither the failed step's container nor the cancelled one stays, as BuildKit's
    left = berthd.berth("ps", "-a", "--no-trunc", "--format", "{{.Command}}", check=True).stdout
    assert left == "", left
    assert berthd.berth("images", "-q", "never", check=True).stdout == ""
