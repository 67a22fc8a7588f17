"""Parsers for the structured values of ``run``/``create``/``update``/``network`` flags (``--ulimit``,
``--device-read-bps``, ``--gpus``, ``--network name=…``, ``--add-host``, …), shaped as the docker CLI
sends them and refused with its words.

Each parser raises ``ValueError`` with the text pflag prints after ``invalid argument "V" for "--flag"
flag: ``. ``mountspec`` has ``--mount``; ``goparse`` the scalar types.

    ulimit("nofile=1024:2048")   # {"Name": "nofile", "Hard": 2048, "Soft": 1024}
"""

from __future__ import annotations

from berth.cli.goparse import parse_int, parse_uint, ram_in_bytes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_ULIMITS = frozenset(
    [
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ]
)


def ulimit(text: str) -> dict[str, Any]:
    """go-units ``ParseUlimit``: ``NAME=SOFT[:HARD]``."""
    name, eq, limits = text.partition("=")
    if not eq:
        raise ValueError(f"invalid ulimit argument: {text}")
    if name not in _ULIMITS:
        raise ValueError(f"invalid ulimit type: {name}")
    values = limits.split(":")
    if len(values) > 2:
        raise ValueError(f"too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`")
    hard = parse_int(values[1]) if len(values) == 2 else None
    soft = parse_int(values[0])
    if hard is None:
        hard = soft
    if hard != -1 and soft > hard:
        raise ValueError(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
    return {"Name": name, "Hard": hard, "Soft": soft}


def _device_and_value(text: str) -> tuple[str, str]:
    path, colon, value = text.partition(":")
    if not colon or not path:
        raise ValueError(f"bad format: {text}")
    if not path.startswith("/dev/"):
        raise ValueError(f"bad format for device path: {text}")
    return path, value


def throttle_bps(text: str) -> dict[str, Any]:
    """``--device-read-bps /dev/sda:1mb`` -> ``{"Path", "Rate"}`` (bytes per second)."""
    path, value = _device_and_value(text)
    try:
        rate = ram_in_bytes(value)
    except ValueError:
        rate = -1
    if rate < 0:
        raise ValueError(
            f"invalid rate for device: {text}. The correct format is <device-path>:<number>[<unit>]. "
            "Number must be a positive integer. Unit is optional and can be kb, mb, or gb"
        )
    return {"Path": path, "Rate": rate}


def throttle_iops(text: str) -> dict[str, Any]:
    """``--device-read-iops /dev/sda:100`` -> ``{"Path", "Rate"}``."""
    path, value = _device_and_value(text)
    try:
        rate = parse_uint(value)
    except ValueError:
        raise ValueError(
            f"invalid rate for device: {text}. The correct format is <device-path>:<number>. "
            "Number must be a positive integer"
        ) from None
    return {"Path": path, "Rate": rate}


def weight_device(text: str) -> dict[str, Any]:
    """``--blkio-weight-device /dev/sda:200`` -> ``{"Path", "Weight"}`` (10..1000, or 0)."""
    path, value = _device_and_value(text)
    try:
        weight = parse_uint(value, 16)
    except ValueError:
        weight = -1
    if weight < 0 or (weight > 0 and not 10 <= weight <= 1000):
        raise ValueError(f"invalid weight for device: {text}")
    return {"Path": path, "Weight": weight}


def device_cgroup_rule(text: str) -> str:
    """``TYPE MAJOR:MINOR MODE`` with type a|b|c, numbers or ``*``, mode from rwm."""
    parts = text.split(" ")
    ok = len(parts) == 3 and parts[0] in ("a", "b", "c")
    if ok:
        major, colon, minor = parts[1].partition(":")
        ok = bool(colon) and all(n == "*" or (n.isdigit() and n.isascii()) for n in (major, minor))
        ok = ok and 1 <= len(parts[2]) <= 3 and all(c in "rwm" for c in parts[2])
    if not ok:
        raise ValueError(f"invalid device cgroup format '{text}'")
    return text


_SYSCTLS = frozenset(
    [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ]
)


def sysctl(text: str) -> str:
    """docker's ``ValidateSysctl``: namespaced sysctls only (``net.*``, ``fs.mqueue.*``, IPC ``kernel.*``)."""
    name, eq, _ = text.partition("=")
    if eq and (name in _SYSCTLS or name.startswith(("net.", "fs.mqueue."))):
        return text
    raise ValueError(f"sysctl '{text}' is not allowed")


def link(text: str) -> str:
    """``NAME[:ALIAS]``."""
    if not text:
        raise ValueError("empty string specified for links")
    if text.count(":") > 1:
        raise ValueError(f"bad format for links: {text}")
    return text


def ip_address(text: str) -> str:
    """``net.ParseIP`` then its canonical form (``--dns``)."""
    import ipaddress

    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        raise ValueError(f"IP address is not correctly formatted: {text}") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def extra_host(text: str) -> str:
    """``--add-host HOST:IP`` or ``HOST=IP`` (``[v6]`` brackets allowed) -> ``HOST:IP``."""
    host, sep, ip = text.partition("=")
    if not sep:
        host, sep, ip = text.partition(":")
    if not sep or not host or ":" in host:
        raise ValueError(f'bad format for add-host: "{text}"')
    if ip != "host-gateway":
        if len(ip) > 2 and ip[0] == "[" and ip[-1] == "]":
            ip = ip[1:-1]
        try:
            ip_address(ip)
        except ValueError:
            raise ValueError(f'invalid IP address in add-host: "{ip}"') from None
    return f"{host}:{ip}"


def attach_stream(text: str) -> str:
    lowered = text.lower()
    if lowered not in ("stdin", "stdout", "stderr"):
        raise ValueError("valid streams are STDIN, STDOUT and STDERR")
    return lowered


def mac_address(text: str) -> bool:
    """Go's ``net.ParseMAC`` for the 6/8/20-byte forms, with ``:``, ``-`` or ``.`` groupings."""
    hexdigits = "0123456789abcdefABCDEF"
    if len(text) >= 14 and text[4:5] == ".":
        groups = text.split(".")
        return all(len(g) == 4 and all(c in hexdigits for c in g) for g in groups) and len(groups) in (
            3,
            4,
            10,
        )
    for sep in (":", "-"):
        groups = text.split(sep)
        if len(groups) in (6, 8, 20) and all(len(g) == 2 and all(c in hexdigits for c in g) for g in groups):
            return True
    return False


def gpu_request(text: str) -> dict[str, Any]:
    """``--gpus all|N|device=0,1,capabilities=…,driver=…,options=…`` -> a DeviceRequest."""
    from berth.cli.mountspec import csv_fields

    request: dict[str, Any] = {
        "Driver": "",
        "Count": 0,
        "DeviceIDs": None,
        "Capabilities": None,
        "Options": None,
    }
    seen: set[str] = set()
    for field in csv_fields(text):
        key, eq, value = field.partition("=")
        if key in seen:
            raise ValueError(f"gpu request key '{key}' can be specified only once")
        seen.add(key)
        if not eq:
            seen.add("count")
            request["Count"] = _gpu_count(key)
            continue
        if key == "driver":
            request["Driver"] = value
        elif key == "count":
            request["Count"] = _gpu_count(value)
        elif key == "device":
            request["DeviceIDs"] = value.split(",")
        elif key == "capabilities":
            request["Capabilities"] = [[*value.split(","), "gpu"]]
        elif key == "options":
            request["Options"] = dict(o.partition("=")[::2] for o in csv_fields(value))
        else:
            raise ValueError(f"unexpected key '{key}' in '{field}'")
    if "count" not in seen and request["DeviceIDs"] is None:
        request["Count"] = 1
    if request["Options"] is None:
        request["Options"] = {}
    if request["Capabilities"] is None:
        request["Capabilities"] = [["gpu"]]
    return request


def _gpu_count(text: str) -> int:
    if text == "all":
        return -1
    try:
        return parse_int(text)
    except ValueError:
        raise ValueError(
            f'invalid count ({text}): value must be either "all" or an integer: invalid syntax'
        ) from None


__all__ = [
    "attach_stream",
    "device_cgroup_rule",
    "extra_host",
    "gpu_request",
    "ip_address",
    "link",
    "mac_address",
    "sysctl",
    "throttle_bps",
    "throttle_iops",
    "ulimit",
    "weight_device",
]
