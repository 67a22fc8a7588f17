"""The live build view, fed the classic stream berthd sends (plain and with stage prefixes)."""

from __future__ import annotations

import io

import pytest

from berth.cli import buildview
from berth.cli.command import CLIError

STREAM = [
    "Step 1/3 : FROM busybox\n", " ---> 1a2b3c4d5e6f\n",
    "Step 2/3 : RUN echo hi\n", " ---> Running in 0123456789ab\n", "hi\n",
    " ---> Removed intermediate container 0123456789ab\n", " ---> 2b3c4d5e6f70\n",
    "Step 3/3 : LABEL a=b\n", " ---> Using cache\n", " ---> 3c4d5e6f7081\n",
    "Successfully built 3c4d5e6f7081\n",
]  # fmt: skip


def test_steps_are_followed_to_their_end_and_cached_ones_marked() -> None:
    view = buildview.BuildView()
    for text in STREAM:
        view.feed(text)
    assert [s.title for s in view.steps] == ["1/3 FROM busybox", "2/3 RUN echo hi", "3/3 LABEL a=b"]
    assert view.done == 3 and view.total == 3
    assert [s.cached for s in view.steps] == [False, False, True]
    assert view.steps[1].output == ["hi"]
    assert view.messages == ["Successfully built 3c4d5e6f7081"]


def test_stages_running_at_once_each_keep_their_step() -> None:
    view = buildview.BuildView()
    for text in [
        "[a] Step 2/5 : RUN sleep 1\n",
        "[b] Step 3/5 : RUN make\n",
        "[a] out of a\n",
        "[b] out of b\n",
    ]:
        view.feed(text)
    assert set(view.open) == {"[a] ", "[b] "}
    assert view.open["[a] "].output == ["out of a"] and view.open["[b] "].output == ["out of b"]


def test_the_view_draws_and_a_failure_shows_the_failed_steps_output() -> None:
    out = io.StringIO()
    ids: list[str] = []
    buildview.display(
        [{"stream": s} for s in STREAM] + [{"aux": {"ID": "sha256:x"}}],
        out,
        aux=lambda a: ids.append(a["ID"]),
    )
    text = out.getvalue()
    assert "Building" in text and "RUN echo hi" in text and "CACHED" in text and ids == ["sha256:x"]
    assert "Successfully built 3c4d5e6f7081" in text

    def failing() -> object:
        yield {"stream": "Step 1/1 : RUN false\n"}
        yield {"stream": "it broke here\n"}
        raise CLIError("The command '/bin/sh -c false' returned a non-zero code: 1", 1)

    broken = io.StringIO()
    with pytest.raises(CLIError):
        buildview.display(failing(), broken)  # type: ignore[arg-type]
    assert broken.getvalue().rstrip().endswith("it broke here")
