"""``berth update``: change a container's resources and restart policy (``POST /containers/{id}/update``),
with docker 28.2.2's flags and the request body it sends (every Resources field; unset ones zero or null).
"""

from __future__ import annotations

from berth.cli import goparse
from berth.cli.command import CLIError, Context, for_each, new_parser
from berth.cli.runflags import Flag, check, register
from berth.client.http import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_int = goparse.parse_int
_bytes = goparse.ram_in_bytes


def _value(names: tuple[str, ...], metavar: str, help: str, **kw: Any) -> Flag:  # noqa: A002
    return Flag(names, "value", metavar=metavar, help=help, **kw)


UPDATE_FLAGS = (
    _value(
        ("--blkio-weight",),
        "uint16",
        "Block IO (relative weight), between 10 and 1000, or 0 to disable",
        default=0,
        check=lambda v: goparse.parse_uint(v, 16),
    ),
    _value(
        ("--cpu-period",), "int", "Limit CPU CFS (Completely Fair Scheduler) period", default=0, check=_int
    ),
    _value(("--cpu-quota",), "int", "Limit CPU CFS (Completely Fair Scheduler) quota", default=0, check=_int),
    _value(
        ("--cpu-rt-period",), "int", "Limit the CPU real-time period in microseconds", default=0, check=_int
    ),
    _value(
        ("--cpu-rt-runtime",), "int", "Limit the CPU real-time runtime in microseconds", default=0, check=_int
    ),
    _value(("-c", "--cpu-shares"), "int", "CPU shares (relative weight)", default=0, check=_int),
    _value(("--cpus",), "decimal", "Number of CPUs", default=0, check=goparse.nano_cpus),
    _value(("--cpuset-cpus",), "string", "CPUs in which to allow execution (0-3, 0,1)", default=""),
    _value(("--cpuset-mems",), "string", "MEMs in which to allow execution (0-3, 0,1)", default=""),
    _value(("-m", "--memory"), "bytes", "Memory limit", default=0, check=_bytes),
    _value(("--memory-reservation",), "bytes", "Memory soft limit", default=0, check=_bytes),
    _value(
        ("--memory-swap",),
        "bytes",
        "Swap limit equal to memory plus swap: -1 to enable unlimited swap",
        default=0,
        check=goparse.swap_bytes,
    ),
    _value(
        ("--pids-limit",), "int", "Tune container pids limit (set -1 for unlimited)", default=None, check=_int
    ),
    _value(("--restart",), "string", "Restart policy to apply when a container exits", default=""),
)


def update_body(ns: Any) -> dict[str, Any]:
    """The body docker sends (captured in tests/unit/cli/docker_requests.json)."""
    from berth.cli.hostconfig import restart_policy

    return {
        "CpuShares": ns.cpu_shares,
        "Memory": ns.memory,
        "NanoCpus": ns.cpus,
        "CgroupParent": "",
        "BlkioWeight": ns.blkio_weight,
        "BlkioWeightDevice": None,
        "BlkioDeviceReadBps": None,
        "BlkioDeviceWriteBps": None,
        "BlkioDeviceReadIOps": None,
        "BlkioDeviceWriteIOps": None,
        "CpuPeriod": ns.cpu_period,
        "CpuQuota": ns.cpu_quota,
        "CpuRealtimePeriod": ns.cpu_rt_period,
        "CpuRealtimeRuntime": ns.cpu_rt_runtime,
        "CpusetCpus": ns.cpuset_cpus,
        "CpusetMems": ns.cpuset_mems,
        "Devices": None,
        "DeviceCgroupRules": None,
        "DeviceRequests": None,
        "MemoryReservation": ns.memory_reservation,
        "MemorySwap": ns.memory_swap,
        "MemorySwappiness": None,
        "OomKillDisable": None,
        "PidsLimit": ns.pids_limit,
        "Ulimits": None,
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "RestartPolicy": restart_policy(ns.restart),
    }


def update(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] CONTAINER [CONTAINER...]",
        "Update configuration of one or more containers",
        [
            "berth update --memory 256m --memory-swap 512m web",
            "berth update --cpus 0.5 web db",
            "berth update --restart on-failure:3 web",
        ],
        aliases=["container update", "update"],
    )
    register(p, UPDATE_FLAGS)
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    ns = p.parse_args(argv)
    given = any(a.startswith("-") and a not in ("-", "--") for a in argv)
    check(vars(ns), UPDATE_FLAGS, p.usage or "")
    if not given:
        raise CLIError("you must provide one or more flags when using this command", prefix="")
    from berth.cli.runopts import RunFlagError

    try:
        body = update_body(ns)
    except RunFlagError as exc:
        raise CLIError(str(exc), prefix="") from exc

    def act(name: str) -> str:
        result = ctx.client.post_json(f"/containers/{quote(name)}/update", None, body) or {}
        for warning in result.get("Warnings") or []:
            import sys

            sys.stderr.write(f"{warning}\n")
        return name

    return for_each(ns.containers, act)
