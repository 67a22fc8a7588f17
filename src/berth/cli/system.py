"""System commands: ``version``, ``info``, ``system df``, ``system prune``, ``system check``, ``events``."""

from __future__ import annotations

import platform
import sys

from berth.cli.command import CLIError, Context, new_parser
from berth.client.api import APIError
from berth.errors import BerthError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _client_version() -> dict[str, Any]:
    from berth import __version__
    from berth.api.versions import CURRENT_API_VERSION

    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    return {
        "Platform": {"Name": "Berth"},
        "Version": __version__,
        "ApiVersion": CURRENT_API_VERSION,
        "DefaultAPIVersion": CURRENT_API_VERSION,
        "GitCommit": "",
        "GoVersion": f"python{platform.python_version()}",
        "Os": sys.platform,
        "Arch": arch,
        "BuildTime": "",
        "Context": "default",
    }


def _go_field_names(data: dict[str, Any]) -> dict[str, Any]:
    """Templates name Go struct fields (``{{.Server.APIVersion}}``) where the JSON says ``ApiVersion``."""
    out = dict(data)
    for side in ("Client", "Server"):
        section = out.get(side)
        if isinstance(section, dict):
            section = dict(section)
            for json_key, go_name in (("ApiVersion", "APIVersion"), ("MinAPIVersion", "MinAPIVersion")):
                if json_key in section:
                    section[go_name] = section[json_key]
            out[side] = section
    return out


def version(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS]",
        "Show the Berth version information",
        ["berth version", "berth version --format '{{.Server.Version}}'"],
    )
    p.add_argument(
        "-f", "--format", default=None, metavar="string", help="Format output using a custom template"
    )
    ns = p.parse_args(argv)
    client_info = _client_version()
    server: Any = None
    error: BerthError | None = None
    try:
        server = ctx.client.version()
    except BerthError as exc:  # docker prints the client section first, then the error
        error = exc
    data = {"Client": client_info, "Server": server}
    if ns.format:
        from berth.cli.template import render

        text = (
            _struct_json(data)
            if ns.format == "json"
            else render(ns.format.replace("\\n", "\n").replace("\\t", "\t"), _go_field_names(data))
        )
        sys.stdout.write(text + "\n")
    else:
        c = client_info
        lines = [
            "Client:",
            f" Version:           {c['Version']}",
            f" API version:       {ctx.client.api_version if server else c['ApiVersion']}",
            f" Python version:    {platform.python_version()}",
            f" OS/Arch:           {c['Os']}/{c['Arch']}",
            f" Context:           {c['Context']}",
        ]
        if server is not None:
            s = server
            name = (s.get("Platform") or {}).get("Name") or ""
            lines += ["", f"Server: {name}".rstrip(), " Engine:"]
            lines += [
                f"  Version:          {s.get('Version', '')}",
                f"  API version:      {s.get('ApiVersion', '')} (minimum version {s.get('MinAPIVersion', '')})",  # noqa: E501
                f"  Go version:       {s.get('GoVersion', '')}",
                f"  Git commit:       {s.get('GitCommit', '')}",
                f"  Built:            {s.get('BuildTime', '')}",
                f"  OS/Arch:          {s.get('Os', '')}/{s.get('Arch', '')}",
                f"  Experimental:     {str(bool(s.get('Experimental'))).lower()}",
            ]
            for comp in s.get("Components") or []:
                if comp.get("Name") == "Engine":
                    continue
                lines.append(f" {comp.get('Name', '')}:")
                lines.append(f"  Version:          {comp.get('Version', '')}")
                for key, value in sorted((comp.get("Details") or {}).items()):
                    if key.lower() == "gitcommit":
                        lines.append(f"  GitCommit:        {value}")
        sys.stdout.write("\n".join(lines) + "\n")
    if error is not None:
        raise error
    return 0


def _struct_json(value: Any) -> str:
    """Go's json.Marshal of a struct: compact, fields in their own order (not sorted), <>& escaped."""
    import json

    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def info(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS]",
        "Display system-wide information",
        ["berth info", "berth info --format '{{.Name}}'"],
        aliases=["system info", "info"],
    )
    p.add_argument(
        "-f", "--format", default=None, metavar="string", help="Format output using a custom template"
    )
    ns = p.parse_args(argv)
    try:
        data = ctx.client.info() or {}
    except BerthError:
        if not ns.format:  # docker shows the client section before the server error
            version_line = f" Version:    {_client_version()['Version']}"
            sys.stdout.write(
                f"Client:\n{version_line}\n Context:    default\n Debug Mode: {str(ctx.debug).lower()}\n\n"
            )
            sys.stdout.flush()
        raise
    if ns.format:
        from berth.cli.template import render

        full = dict(data)
        full["ClientInfo"] = {
            "Debug": ctx.debug,
            "Context": "default",
            "Version": _client_version()["Version"],
        }
        text = (
            _struct_json(full)
            if ns.format == "json"
            else render(ns.format.replace("\\n", "\n").replace("\\t", "\t"), full)
        )
        sys.stdout.write(text + "\n")
        return 0
    from berth.cli.format import bytes_size

    d = data
    lines = [
        "Client:",
        f" Version:    {_client_version()['Version']}",
        " Context:    default",
        f" Debug Mode: {str(ctx.debug).lower()}",
        "",
        "Server:",
        f" Containers: {d.get('Containers', 0)}",
        f"  Running: {d.get('ContainersRunning', 0)}",
        f"  Paused: {d.get('ContainersPaused', 0)}",
        f"  Stopped: {d.get('ContainersStopped', 0)}",
        f" Images: {d.get('Images', 0)}",
        f" Server Version: {d.get('ServerVersion', '')}",
        f" Storage Driver: {d.get('Driver', '')}",
    ]
    for pair in d.get("DriverStatus") or []:
        if len(pair) == 2:
            lines.append(f"  {pair[0]}: {pair[1]}")
    lines += [
        f" Logging Driver: {d.get('LoggingDriver', '')}",
        f" Cgroup Driver: {d.get('CgroupDriver', '')}",
        f" Cgroup Version: {d.get('CgroupVersion', '')}",
    ]
    runtimes = d.get("Runtimes") or {}
    if runtimes:
        lines.append(f" Runtimes: {' '.join(sorted(runtimes))}")
        lines.append(f" Default Runtime: {d.get('DefaultRuntime', '')}")
    security = d.get("SecurityOptions") or []
    if security:
        lines.append(" Security Options:")
        for opt in security:
            for part in str(opt).split(","):
                if part.startswith("name="):
                    lines.append(f"  {part[5:]}")
    lines += [
        f" Kernel Version: {d.get('KernelVersion', '')}",
        f" Operating System: {d.get('OperatingSystem', '')}",
        f" OSType: {d.get('OSType', '')}",
        f" Architecture: {d.get('Architecture', '')}",
        f" CPUs: {d.get('NCPU', 0)}",
        f" Total Memory: {bytes_size(d.get('MemTotal') or 0)}",
        f" Name: {d.get('Name', '')}",
        f" ID: {d.get('ID', '')}",
        f" Docker Root Dir: {d.get('DockerRootDir', '')}",
        f" Debug Mode: {str(bool(d.get('Debug'))).lower()}",
        f" Experimental: {str(bool(d.get('ExperimentalBuild'))).lower()}",
    ]
    registry = d.get("RegistryConfig") or {}
    insecure = registry.get("InsecureRegistryCIDRs") or []
    for name, index in sorted((registry.get("IndexConfigs") or {}).items()):
        if isinstance(index, dict) and not index.get("Secure", True) and name not in insecure:
            insecure = [*insecure, name]
    if insecure:
        lines.append(" Insecure Registries:")
        lines += [f"  {r}" for r in insecure]
    mirrors = registry.get("Mirrors") or []
    if mirrors:
        lines.append(" Registry Mirrors:")
        lines += [f"  {m}" for m in mirrors]
    lines.append(f" Live Restore Enabled: {str(bool(d.get('LiveRestoreEnabled'))).lower()}")
    sys.stdout.write("\n".join(lines) + "\n")
    for warning in d.get("Warnings") or []:
        sys.stderr.write(f"{warning}\n")
    return 0


def df(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command, "[OPTIONS]", "Show Berth disk usage", ["berth system df", "berth system df -v"]
    )
    p.add_format()
    p.add_argument("-v", "--verbose", action="store_true", help="Show detailed information on space usage")
    ns = p.parse_args(argv)
    from berth.cli import format as fmt

    data = ctx.client.get_json("/system/df") or {}
    images = data.get("Images") or []
    containers = data.get("Containers") or []
    volumes = data.get("Volumes") or []
    cache = data.get("BuildCache") or []

    def reclaim(reclaimable: int, total: int) -> str:
        text = fmt.human_size(reclaimable, 4)
        if total > 0:
            text += f" ({int(reclaimable * 100 / total)}%)"
        return text

    img_total = data.get("LayersSize") or sum(i.get("Size") or 0 for i in images)
    img_active = sum(1 for i in images if (i.get("Containers") or 0) > 0)
    img_used = sum(
        (i.get("Size") or 0) - max(0, i.get("SharedSize") or 0)
        for i in images
        if (i.get("Containers") or 0) > 0
    )
    ctr_total = sum(c.get("SizeRw") or 0 for c in containers)
    ctr_active = sum(1 for c in containers if c.get("State") in ("running", "paused", "restarting"))
    ctr_reclaim = sum(
        c.get("SizeRw") or 0 for c in containers if c.get("State") not in ("running", "paused", "restarting")
    )
    vol_sizes = [
        ((v.get("UsageData") or {}).get("Size") or 0, (v.get("UsageData") or {}).get("RefCount") or 0)
        for v in volumes
    ]
    vol_total = sum(max(0, s) for s, _ in vol_sizes)
    vol_active = sum(1 for _, r in vol_sizes if r > 0)
    vol_reclaim = sum(max(0, s) for s, r in vol_sizes if r == 0)
    cache_total = sum(b.get("Size") or 0 for b in cache)
    cache_active = sum(1 for b in cache if b.get("InUse"))
    rows = [
        {
            "Type": "Images",
            "TotalCount": str(len(images)),
            "Active": str(img_active),
            "Size": fmt.human_size(img_total, 4),
            "Reclaimable": reclaim(max(0, img_total - img_used), img_total),
        },
        {
            "Type": "Containers",
            "TotalCount": str(len(containers)),
            "Active": str(ctr_active),
            "Size": fmt.human_size(ctr_total, 4),
            "Reclaimable": reclaim(ctr_reclaim, ctr_total),
        },
        {
            "Type": "Local Volumes",
            "TotalCount": str(len(volumes)),
            "Active": str(vol_active),
            "Size": fmt.human_size(vol_total, 4),
            "Reclaimable": reclaim(vol_reclaim, vol_total),
        },
        {
            "Type": "Build Cache",
            "TotalCount": str(len(cache)),
            "Active": str(cache_active),
            "Size": fmt.human_size(cache_total, 4),
            "Reclaimable": fmt.human_size(sum(b.get("Size") or 0 for b in cache if not b.get("InUse")), 4),
        },
    ]
    headers = {
        "Type": "TYPE",
        "TotalCount": "TOTAL",
        "Active": "ACTIVE",
        "Size": "SIZE",
        "Reclaimable": "RECLAIMABLE",
    }
    fmt.render(
        ns.format,
        rows,
        headers,
        "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
        type_name="formatter.diskUsageContext",
    )
    return 0


def prune(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS]",
        "Remove unused data",
        ["berth system prune -f", "berth system prune -a --volumes -f"],
    )
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused images not just dangling ones")
    p.add_argument("--filter", action="append", default=[], metavar="filter", help="Provide filter values")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--volumes", action="store_true", help="Prune anonymous volumes")
    ns = p.parse_args(argv)
    from berth.api import filters
    from berth.cli.format import human_size
    from berth.cli.images import prune_images
    from berth.cli.lifecycle import confirm

    items = ["all stopped containers", "all networks not used by at least one container"]
    if ns.volumes:
        items.append("all anonymous volumes not used by at least one container")
    items.append(
        "all images without at least one container associated to them" if ns.all else "all dangling images"
    )
    items.append("all build cache" if ns.all else "unused build cache")
    confirm("WARNING! This will remove:\n" + "".join(f"  - {i}\n" for i in items), ns.force)
    params = {"filters": filters.encode(filters.parse_cli(ns.filter))} if ns.filter else None
    client = ctx.client
    reclaimed = 0
    out = []
    report = client.post_json("/containers/prune", params) or {}
    if report.get("ContainersDeleted"):
        out.append("Deleted Containers:\n" + "".join(f"{c}\n" for c in report["ContainersDeleted"]) + "\n")
    reclaimed += report.get("SpaceReclaimed") or 0
    report = client.post_json("/networks/prune", params) or {}
    if report.get("NetworksDeleted"):
        out.append("Deleted Networks:\n" + "".join(f"{n}\n" for n in report["NetworksDeleted"]) + "\n")
    if ns.volumes:
        report = client.post_json("/volumes/prune", params) or {}
        if report.get("VolumesDeleted"):
            out.append("Deleted Volumes:\n" + "".join(f"{v}\n" for v in report["VolumesDeleted"]) + "\n")
        reclaimed += report.get("SpaceReclaimed") or 0
    image_text = prune_images(ctx, ns.all, ns.filter)
    body, _, total_line = image_text.rpartition("Total reclaimed space: ")
    out.append(body)
    reclaimed += _parse_reclaimed(total_line)
    try:
        report = client.post_json("/build/prune", {"all": "1"} if ns.all else None) or {}
        reclaimed += report.get("SpaceReclaimed") or 0
    except APIError:
        pass  # builder not implemented by this daemon: nothing to prune there
    sys.stdout.write("".join(out) + f"Total reclaimed space: {human_size(reclaimed)}\n")
    return 0


def check(ctx: Context, argv: list[str]) -> int:
    """``berth system check``: one line per inconsistency of the daemon's stores; exit 1 while any
    remains (after ``--repair``: those it could not fix)."""
    p = new_parser(
        ctx.command,
        "[OPTIONS]",
        "Check the store (images, layers, snapshots, containers, volumes, networks) for inconsistencies",
        ["berth system check", "berth system check --verify", "berth system check --repair"],
    )
    p.add_argument("--repair", action="store_true", help="Fix what can be fixed without losing anything")
    p.add_argument("--verify", action="store_true", help="Hash every blob again (slow: reads all content)")
    p.add_argument("--format", default=None, metavar="string", help="Format output: json")
    ns = p.parse_args(argv)
    params = {key: "1" for key in ("repair", "verify") if getattr(ns, key)}
    report = ctx.client.post_json("/system/check", params or None) or {}
    if ns.format == "json":
        import json

        sys.stdout.write(json.dumps(report) + "\n")
    elif ns.format:
        raise CLIError(f"unsupported --format {ns.format!r}: only json")
    else:
        sys.stdout.write("".join(_finding_line(f) + "\n" for f in report.get("Findings") or []))
        found, repaired = len(report.get("Findings") or []), int(report.get("Repaired") or 0)
        if not found:
            sys.stdout.write("no problems found\n")
        elif ns.repair:
            sys.stdout.write(f"{_problems(found)} found, {repaired} repaired\n")
        else:
            fixable = sum(1 for f in report.get("Findings") or [] if f.get("Repair"))
            sys.stdout.write(f"{_problems(found)} found; --repair fixes {fixable} of them\n")
    return 1 if report.get("Remaining") else 0


def _problems(count: int) -> str:
    return f"{count} problem" if count == 1 else f"{count} problems"


def _finding_line(finding: dict[str, Any]) -> str:
    line = f"{finding.get('Area')}: {finding.get('Subject')}: {finding.get('Problem')}"
    if finding.get("Repaired"):
        return f"{line} (repaired: {finding.get('Repair')})"
    return line


def _parse_reclaimed(text: str) -> int:
    units = {"B": 1, "kB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}
    text = text.strip()
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            try:
                return int(float(text[: -len(unit)]) * units[unit])
            except ValueError:
                return 0
    return 0


def events(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS]",
        "Get real time events from the server",
        ["berth events", "berth events --since 10m --until 0s --filter type=container"],
        aliases=["system events", "events"],
    )
    p.add_argument("-f", "--filter", action="append", default=[], metavar="filter", help="Filter output")
    p.add_argument("--format", default=None, metavar="string", help="Format output using a custom template")
    p.add_argument("--since", default="", metavar="string", help="Show all events created since timestamp")
    p.add_argument("--until", default="", metavar="string", help="Stream events until this timestamp")
    ns = p.parse_args(argv)
    from berth.api import filters
    from berth.cli.interact import parse_timestamp

    params: dict[str, Any] = {}
    if ns.since:
        params["since"] = parse_timestamp(ns.since)
    if ns.until:
        params["until"] = parse_timestamp(ns.until)
    if ns.filter:
        params["filters"] = filters.encode(filters.parse_cli(ns.filter))
    resp = ctx.client.request("GET", "/events", params)
    template = None
    if ns.format and ns.format != "json":
        from berth.cli.template import Template

        template = Template(ns.format.replace("\\t", "\t").replace("\\n", "\n"))
    for event in resp.iter_json():
        if not isinstance(event, dict):
            continue
        if ns.format == "json":
            from berth.cli.template import go_json

            line = go_json(event)
        elif template is not None:
            line = template.execute(event)
        else:
            line = format_event(event)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    return 0


def format_event(event: dict[str, Any]) -> str:
    """docker's default event line: ``TIME TYPE ACTION ID (k=v, …)`` with RFC3339 nano local time."""
    import time

    nanos = event.get("timeNano") or (event.get("time") or 0) * 1_000_000_000
    secs, frac = divmod(int(nanos), 1_000_000_000)
    tm = time.localtime(secs)
    offset = time.strftime("%z", tm)
    zone = "Z" if offset in ("+0000", "-0000") else f"{offset[:3]}:{offset[3:]}"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", tm) + f".{frac:09d}{zone}"
    actor = event.get("Actor") or {}
    line = f"{stamp} {event.get('Type', '')} {event.get('Action', '')} {actor.get('ID', '')}"
    attrs = actor.get("Attributes") or {}
    if attrs:
        line += " (" + ", ".join(f"{k}={v}" for k, v in sorted(attrs.items())) + ")"
    return line
