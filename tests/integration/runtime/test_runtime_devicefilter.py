"""The cgroup v2 device program, loaded into the kernel and attached to a real cgroup2 directory (this
machine's unified mount, or /sys/fs/cgroup on a v2 host): a process moved there can open only what
the rules allow, with the last matching rule winning, as v1's devices files."""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from runtime_helpers import errno_in_child

from berth.runtime.cgroups import devicefilter

pytestmark = pytest.mark.root


def _cgroup2_root() -> Path:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[fields.index("-") + 1] == "cgroup2":
            return Path(fields[4])
    pytest.skip("no cgroup2 mount")


@pytest.fixture
def cgroup() -> Iterator[Path]:
    own = next(line for line in Path("/proc/self/cgroup").read_text().splitlines() if line.startswith("0::"))
    directory = _cgroup2_root() / own[3:].lstrip("/") / f"berth-test-dev-{uuid.uuid4().hex[:8]}"
    directory.mkdir()
    try:
        yield directory
    finally:
        directory.rmdir()


def _open_in(cgroup: Path, path: str, flags: int) -> int:
    """errno of open(path, flags) in a child moved into ``cgroup`` (0: it opened)."""

    def body() -> None:
        (cgroup / "cgroup.procs").write_text(str(os.getpid()))
        os.close(os.open(path, flags))

    return errno_in_child(body)


DENY_ALL = {"allow": False, "access": "rwm"}
NULL = {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}


def test_only_the_allowed_devices_open(cgroup: Path) -> None:
    devicefilter.attach(
        cgroup, [DENY_ALL, NULL, {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"}]
    )
    assert _open_in(cgroup, "/dev/null", os.O_WRONLY) == 0
    assert _open_in(cgroup, "/dev/zero", os.O_RDONLY) == 0
    assert _open_in(cgroup, "/dev/zero", os.O_WRONLY) == errno.EPERM  # read only
    assert _open_in(cgroup, "/dev/full", os.O_RDONLY) == errno.EPERM  # not listed
    assert _open_in(cgroup, "/etc/hostname", os.O_RDONLY) == 0  # not a device: not the filter's business
    assert os.open("/dev/full", os.O_RDONLY) >= 0  # the test process itself is untouched


def test_the_last_matching_rule_wins_and_wildcards(cgroup: Path) -> None:
    rules = [
        {"allow": True, "access": "rwm"},  # everything (privileged's rule)...
        {"allow": False, "type": "c", "major": 1, "access": "w"},  # ...but no writes to any c 1:*
    ]
    devicefilter.attach(cgroup, rules)
    assert _open_in(cgroup, "/dev/null", os.O_RDONLY) == 0
    assert _open_in(cgroup, "/dev/null", os.O_WRONLY) == errno.EPERM
    assert _open_in(cgroup, "/dev/tty", os.O_RDONLY) in (0, errno.ENXIO)  # c 5:0: allowed (ENXIO: no tty)


def test_programs_are_a_whole_number_of_instructions() -> None:
    code = devicefilter.program([DENY_ALL, NULL])
    assert len(code) % 8 == 0 and code[-8] == 0x95  # ends with exit
