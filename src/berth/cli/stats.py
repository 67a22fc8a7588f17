"""``stats``: resource usage columns computed as docker computes them from ``/containers/X/stats``."""

from __future__ import annotations

import sys

from berth.cli.command import Context, new_parser
from berth.client.api import APIError
from berth.client.http import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


STATS_HEADERS = {
    "Container": "CONTAINER",
    "ID": "CONTAINER ID",
    "Name": "NAME",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}
STATS_FORMAT = (
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
)


def stats_row(container: str, s: dict[str, Any]) -> dict[str, str]:
    """docker's stats columns from one ``/containers/X/stats`` sample."""
    from berth.cli.format import bytes_size, human_size

    cpu = s.get("cpu_stats") or {}
    pre = s.get("precpu_stats") or {}
    cpu_delta = ((cpu.get("cpu_usage") or {}).get("total_usage") or 0) - (
        (pre.get("cpu_usage") or {}).get("total_usage") or 0
    )
    sys_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    cpu_pct = cpu_delta / sys_delta * online * 100.0 if sys_delta > 0 and cpu_delta > 0 else 0.0
    mem = s.get("memory_stats") or {}
    usage = mem.get("usage") or 0
    inner = mem.get("stats") or {}
    inactive = inner.get("inactive_file", inner.get("total_inactive_file", 0)) or 0
    if inactive < usage:
        usage -= inactive
    limit = mem.get("limit") or 0
    rx = tx = 0
    for net in (s.get("networks") or {}).values():
        rx += net.get("rx_bytes") or 0
        tx += net.get("tx_bytes") or 0
    read = write = 0
    for entry in (s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = str(entry.get("op", "")).lower()
        if op == "read":
            read += entry.get("value") or 0
        elif op == "write":
            write += entry.get("value") or 0
    name = str(s.get("name") or "").lstrip("/")
    full_id = str(s.get("id") or container)
    return {
        "Container": container,
        "ID": full_id[:12],
        "Name": name or "--",
        "CPUPerc": f"{cpu_pct:.2f}%",
        "MemUsage": f"{bytes_size(usage)} / {bytes_size(limit)}",
        "MemPerc": f"{(usage / limit * 100.0) if limit else 0.0:.2f}%",
        "NetIO": f"{human_size(rx)} / {human_size(tx)}",
        "BlockIO": f"{human_size(read)} / {human_size(write)}",
        "PIDs": str((s.get("pids_stats") or {}).get("current") or 0),
    }


def stats(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] [CONTAINER...]",
        "Display a live stream of container(s) resource usage statistics",
        ["berth stats --no-stream", "berth stats --no-stream --format '{{.Name}} {{.MemUsage}}' web"],
        aliases=["container stats", "stats"],
    )
    p.add_argument(
        "-a", "--all", action="store_true", help="Show all containers (default shows just running)"
    )
    p.add_format()
    p.add_argument(
        "--no-stream", action="store_true", help="Disable streaming stats and only pull the first result"
    )
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")
    ns = p.parse_args(argv)
    import time

    from berth.cli import format as fmt

    client = ctx.client
    while True:
        names = ns.containers or [
            c["Id"] for c in client.get_json("/containers/json", {"all": "1"} if ns.all else None) or []
        ]
        rows = []
        failed = []
        for name in names:
            try:
                sample = client.get_json(f"/containers/{quote(name)}/stats", {"stream": "0"})
            except APIError as exc:
                failed.append(f"Error response from daemon: {exc}")
                continue
            row = stats_row(name, sample or {})
            if ns.no_trunc:
                row["ID"] = str((sample or {}).get("id") or name)
            rows.append(row)
        if failed and ns.containers:
            sys.stderr.write("\n".join(failed) + "\n")
            return 1
        if not ns.no_stream:
            sys.stdout.write("\x1b[2J\x1b[H")
        fmt.render(ns.format, rows, STATS_HEADERS, STATS_FORMAT, type_name="formatter.statsContext")
        sys.stdout.flush()
        if ns.no_stream:
            return 0
        time.sleep(0.5)
