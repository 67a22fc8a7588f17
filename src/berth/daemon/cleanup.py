"""``berthd --cleanup``: remove what Berth made on the host — its nftables table, its bridges, and the
IP forwarding it turned on — and say so, one line each. Refused while containers of this data root
run: their NAT and published ports live in that table.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from berth.daemon.config import DaemonConfig
from berth.errors import Conflict
from berth.network import links, netns, sysctl
from berth.network.firewall import Firewall


def _running(data_root: Path) -> list[str]:
    """Containers whose record says running and whose init still lives."""
    out = []
    for record in sorted((data_root / "containers").glob("*/config.v2.json")):
        with contextlib.suppress(OSError, ValueError, KeyError):
            raw = json.loads(record.read_text())
            if raw["Status"] in {"running", "paused"} and raw["Pid"] > 0 and _alive(int(raw["Pid"])):
                out.append(str(raw["Name"]).removeprefix("/"))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _bridges(config: DaemonConfig) -> list[str]:
    names = [config.bridge]
    for record in sorted((config.data_root / "networks").glob("*.json")):
        with contextlib.suppress(OSError, ValueError, KeyError):
            device = str(json.loads(record.read_text())["Device"])
            if device:
                names.append(device)
    return names


def cleanup(config: DaemonConfig) -> list[str]:
    """Do it; what was done, as lines for the user."""
    running = _running(config.data_root)
    if running:
        shown = ", ".join(running[:5]) + (", …" if len(running) > 5 else "")
        raise Conflict(
            f"{len(running)} container(s) still running ({shown}): stop them first, "
            "their NAT and published ports are in Berth's nftables table"
        )
    done = []
    firewall = Firewall(config.bridge)
    if firewall.available():
        guarded = firewall.guarded()
        if firewall.delete():
            done.append(f"removed nftables table inet {firewall.name}")
        last = not firewall.others()
        for family, path, name in (("ipv4", sysctl.IPV4_FORWARD, "net.ipv4.ip_forward"),
                                   ("ipv6", sysctl.IPV6_FORWARD, "net.ipv6.conf.all.forwarding")):  # fmt: skip
            if family in guarded and last:
                sysctl.write_flag(path, False)
                done.append(f"{name} back to 0 (berthd had turned it on)")
    for name in _bridges(config):
        if Path("/sys/class/net", name).exists():  # cheaper than netlink for the common "none left"
            links.delete_link(name)
            done.append(f"removed bridge {name}")
    for path in sorted((config.exec_root / "netns").glob("*")) if config.exec_root.exists() else []:
        netns.delete(path)
        done.append(f"removed network namespace {path.name[:12]}")
    return done or ["nothing of Berth's to remove"]
