"""The transition table and typed errors (pure)."""

from __future__ import annotations

import errno

import pytest

from berth.errors import Conflict, InvalidArgument
from berth.runtime import state
from berth.runtime.errors import ExecFailed, InvalidTransition
from berth.runtime.types import Status


def test_transition_table() -> None:
    assert state.can_start(Status.CREATED) and not state.can_start(Status.RUNNING)
    assert state.can_pause(Status.RUNNING) and not state.can_pause(Status.PAUSED)
    assert state.can_resume(Status.PAUSED) and not state.can_resume(Status.RUNNING)
    assert (
        state.can_kill(Status.CREATED)
        and state.can_kill(Status.PAUSED)
        and not state.can_kill(Status.STOPPED)
    )
    assert state.can_delete(Status.STOPPED) and not state.can_delete(Status.RUNNING)
    assert state.can_exec(Status.RUNNING) and not state.can_exec(Status.PAUSED)


def test_bad_transition_names_both() -> None:
    with pytest.raises(Conflict) as info:
        state.check("c1", "start", Status.RUNNING)
    assert isinstance(info.value, InvalidTransition)
    assert str(info.value) == "cannot start container c1: container is running"
    assert (info.value.action, info.value.status) == ("start", "running")


def test_exec_failed_messages() -> None:
    err = ExecFailed.for_errno("nope", errno.ENOENT)
    assert isinstance(err, InvalidArgument)
    assert str(err) == 'exec: "nope": executable file not found in $PATH'
    assert (err.errno, err.exit_code) == (errno.ENOENT, 127)
    err = ExecFailed.for_errno("/etc", errno.EACCES)
    assert str(err) == 'exec: "/etc": permission denied' and err.exit_code == 126
