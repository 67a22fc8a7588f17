"""``--mount type=bind|volume|tmpfs|image|…,source=…,target=…,…`` -> a ``HostConfig.Mounts`` entry,
exactly as the docker CLI 28 builds it (key order, omitted empty options, error wording).

    parse_mount("type=tmpfs,target=/t,tmpfs-size=1m")
    # {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1048576}}
"""

from __future__ import annotations

import os

from berth.cli.goparse import parse_bool, parse_octal, ram_in_bytes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def csv_fields(text: str) -> list[str]:
    """One record of Go's ``encoding/csv`` (comma-separated, ``"…"`` quoting with ``""`` escapes)."""
    fields: list[str] = []
    i, n = 0, len(text)
    while True:
        if i < n and text[i] == '"':
            value: list[str] = []
            i += 1
            while True:
                end = text.find('"', i)
                if end == -1:
                    raise ValueError(
                        f'parse error on line 1, column {n + 1}: extraneous or missing " in quoted-field'
                    )
                value.append(text[i:end])
                i = end + 1
                if i < n and text[i] == '"':
                    value.append('"')
                    i += 1
                    continue
                if i < n and text[i] != ",":
                    raise ValueError(
                        f'parse error on line 1, column {i + 1}: extraneous or missing " in quoted-field'
                    )
                break
            fields.append("".join(value))
        else:
            end = text.find(",", i)
            field = text[i:] if end == -1 else text[i:end]
            quote = field.find('"')
            if quote != -1:
                raise ValueError(f'parse error on line 1, column {i + quote + 1}: bare " in non-quoted-field')
            fields.append(field)
            i = n if end == -1 else end
        if i >= n:
            return fields
        i += 1  # the comma
        if i == n:
            fields.append("")
            return fields


_BIND_KEYS = (
    "Propagation",
    "NonRecursive",
    "CreateMountpoint",
    "ReadOnlyNonRecursive",
    "ReadOnlyForceRecursive",
)


def parse_mount(text: str) -> dict[str, Any]:
    """One ``--mount`` value; ValueError with docker's message when malformed."""
    mount: dict[str, Any] = {
        "Type": "volume",
        "Source": "",
        "Target": "",
        "ReadOnly": False,
        "Consistency": "",
    }
    bind: dict[str, Any] | None = None
    volume: dict[str, Any] | None = None
    image: dict[str, Any] | None = None
    tmpfs: dict[str, Any] | None = None

    def volume_options() -> dict[str, Any]:
        nonlocal volume
        if volume is None:
            volume = {
                "NoCopy": False,
                "Labels": {},
                "Subpath": "",
                "DriverConfig": {"Name": "", "Options": {}},
            }
        return volume

    def bind_options() -> dict[str, Any]:
        nonlocal bind
        if bind is None:
            bind = dict.fromkeys(_BIND_KEYS, False)
            bind["Propagation"] = ""
        return bind

    def tmpfs_options() -> dict[str, Any]:
        nonlocal tmpfs
        if tmpfs is None:
            tmpfs = {"SizeBytes": 0, "Mode": 0}
        return tmpfs

    def flag(key: str, value: str, has_value: bool) -> bool:
        if not has_value:
            return True
        try:
            return parse_bool(value)
        except ValueError:
            raise ValueError(f"invalid value for {key}: {value}") from None

    for field in csv_fields(text):
        raw_key, eq, value = field.partition("=")
        key = raw_key.lower()
        if not eq and key not in ("readonly", "ro", "volume-nocopy", "bind-nonrecursive"):
            raise ValueError(f"invalid field '{field}' must be a key=value pair")
        if key == "type":
            mount["Type"] = value.lower()
        elif key in ("source", "src"):
            mount["Source"] = os.path.abspath(value) if value == "." or value.startswith("./") else value
        elif key in ("target", "dst", "destination"):
            mount["Target"] = value
        elif key in ("readonly", "ro"):
            mount["ReadOnly"] = flag(key, value, bool(eq))
        elif key == "consistency":
            mount["Consistency"] = value.lower()
        elif key == "bind-propagation":
            bind_options()["Propagation"] = value.lower()
        elif key == "bind-nonrecursive":
            bind_options()["NonRecursive"] = flag(key, value, bool(eq))
        elif key == "bind-recursive":
            if value == "disabled":
                bind_options()["NonRecursive"] = True
            elif value == "writable":
                bind_options()["ReadOnlyNonRecursive"] = True
            elif value == "readonly":
                bind_options()["ReadOnlyForceRecursive"] = True
            elif value != "enabled":
                raise ValueError(
                    f'invalid value for {key}: {value} (must be "enabled", "disabled", "writable", or "readonly")'
                )
        elif key == "volume-subpath":
            volume_options()["Subpath"] = value
        elif key == "volume-nocopy":
            volume_options()["NoCopy"] = flag(key, value, bool(eq))
        elif key == "volume-label":
            name, _, label = value.partition("=")
            if name:
                volume_options()["Labels"][name] = label
        elif key == "volume-driver":
            volume_options()["DriverConfig"]["Name"] = value
        elif key == "volume-opt":
            name, _, option = value.partition("=")
            if name:
                volume_options()["DriverConfig"]["Options"][name] = option
        elif key == "image-subpath":
            image = {"Subpath": value}
        elif key == "tmpfs-size":
            try:
                tmpfs_options()["SizeBytes"] = ram_in_bytes(value)
            except ValueError:
                raise ValueError(f"invalid value for {key}: {value}") from None
        elif key == "tmpfs-mode":
            try:
                tmpfs_options()["Mode"] = parse_octal(value)
            except ValueError:
                raise ValueError(f"invalid value for {key}: {value}") from None
        else:
            raise ValueError(f"unexpected key '{key}' in '{field}'")

    kind = mount["Type"]
    if not kind:
        raise ValueError("type is required")
    if not mount["Target"]:
        raise ValueError("target is required")
    for options, owner, prefix in (
        (volume, "volume", "volume"),
        (bind, "bind", "bind"),
        (tmpfs, "tmpfs", "tmpfs"),
        (image, "image", "image"),
    ):
        if options is not None and kind != owner:
            raise ValueError(f"cannot mix '{prefix}-*' options with mount type '{kind}'")
    if bind is not None:
        if bind["ReadOnlyNonRecursive"] and not mount["ReadOnly"]:
            raise ValueError(
                "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction"
            )
        if bind["ReadOnlyForceRecursive"]:
            if not mount["ReadOnly"]:
                raise ValueError(
                    "option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction"
                )
            if bind["Propagation"] != "rprivate":
                raise ValueError(
                    "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in "
                    "conjunction"
                )
    out = {k: v for k, v in mount.items() if v}
    if bind is not None:
        out["BindOptions"] = {k: v for k, v in bind.items() if v}
    if volume is not None:
        volume["Labels"] = dict(sorted(volume["Labels"].items()))  # Go maps marshal sorted
        volume["DriverConfig"]["Options"] = dict(sorted(volume["DriverConfig"]["Options"].items()))
        driver = {k: v for k, v in volume["DriverConfig"].items() if v}
        out["VolumeOptions"] = {k: v for k, v in volume.items() if v and k != "DriverConfig"}
        out["VolumeOptions"]["DriverConfig"] = driver
    if image is not None:
        out["ImageOptions"] = {k: v for k, v in image.items() if v}
    if tmpfs is not None:
        out["TmpfsOptions"] = {k: v for k, v in tmpfs.items() if v}
    return out


__all__ = ["csv_fields", "parse_mount"]
