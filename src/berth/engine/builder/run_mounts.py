"""``RUN --mount=…`` as BuildKit's Dockerfile frontend reads it: the comma-separated ``key=value``
options of each mount, checked and typed (``parse``), and ``RUN --network`` (``network_mode``).

    type=bind    target, source, from (a stage, an image; default the context), rw
    type=cache   target, id (default the target), sharing=shared|private|locked, mode, uid, gid, ro
    type=tmpfs   target, size
    type=secret  id (default the target's base name), target (default /run/secrets/<id>), env,
                 required, mode (default 0400), uid, gid
    type=ssh     id (default "default"), target (default /run/buildkit/ssh_agent.<n>), required,
                 mode (default 0600), uid, gid

Unknown keys and values are refused in BuildKit's words, never dropped.
"""

from __future__ import annotations

import csv
import posixpath
from collections.abc import Callable
from dataclasses import dataclass

from berth.errors import InvalidArgument

MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING = ("shared", "private", "locked")
NETWORKS = {"default": "", "none": "none", "host": "host"}  # RUN --network → the container's mode

_TARGET = ("target", "dst", "destination")
_KEYS: dict[str, frozenset[str]] = {
    "bind": frozenset({"type", *_TARGET, "source", "src", "from", "rw", "readwrite", "ro", "readonly"}),
    "cache": frozenset(
        {"type", *_TARGET, "id", "sharing", "mode", "uid", "gid", "ro", "readonly", "from", "source", "src"}
    ),
    "tmpfs": frozenset({"type", *_TARGET, "size"}),
    "secret": frozenset({"type", *_TARGET, "id", "env", "required", "mode", "uid", "gid"}),
    "ssh": frozenset({"type", *_TARGET, "id", "required", "mode", "uid", "gid"}),
}
_FLAGS = frozenset({"rw", "readwrite", "ro", "readonly", "required"})  # may stand alone: true


@dataclass(frozen=True, slots=True)
class RunMount:
    type: str
    target: str  # absolute, cleaned ("" for a secret given only as env)
    source: str = ""  # bind/cache: the path inside ``from`` (or the context)
    from_: str = ""  # bind/cache: a stage's name or index, or an image; "" the context (bind)
    readonly: bool = True
    id: str = ""  # cache, secret, ssh
    sharing: str = "shared"
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    size: int = 0  # tmpfs: bytes, 0 unlimited
    required: bool = False
    env: str = ""  # secret: also (or only) as this environment variable


def parse(flag: str, expand: Callable[[str], str]) -> list[RunMount]:
    """Every ``--mount`` of one RUN (the parser joins repeated flags with newlines); ``expand``
    substitutes the build's variables in each value, as BuildKit does."""
    mounts = [_one(line, expand) for line in flag.split("\n") if line.strip()]
    ssh_count = 0
    numbered = []
    for mount in mounts:  # ssh sockets without a target are numbered in order, as BuildKit's
        if mount.type == "ssh" and not mount.target:
            mount = _replace(mount, target=f"/run/buildkit/ssh_agent.{ssh_count}")
            ssh_count += 1
        numbered.append(mount)
    targets = [m.target for m in numbered if m.target]
    if len(set(targets)) != len(targets):
        duplicate = next(t for t in targets if targets.count(t) > 1)
        raise InvalidArgument(f"mount destination {duplicate} is used more than once")
    return numbered


def network_mode(value: str) -> str:
    """``RUN --network=``: the step container's network mode ("" for the build's default)."""
    if value not in NETWORKS:
        raise InvalidArgument(f"unsupported network mode {value!r}: use default, none or host")
    return NETWORKS[value]


def _one(text: str, expand: Callable[[str], str]) -> RunMount:
    try:
        fields = next(csv.reader([text]))
    except (csv.Error, StopIteration):
        raise InvalidArgument(f"failed to parse mount {text!r}") from None
    options: dict[str, str] = {}
    for field in fields:
        key, has_value, value = field.strip().partition("=")
        key = key.lower()
        if not has_value:
            if key not in _FLAGS:
                raise InvalidArgument(f"unexpected key '{key}' in '{field}'")
            value = "true"
        options[key] = expand(value)
    kind = options.get("type", "bind")
    if kind not in _KEYS:
        raise InvalidArgument(f"unsupported mount type {kind!r}")
    for key in options:
        if key not in _KEYS[kind]:
            raise InvalidArgument(f"unexpected key '{key}' for mount type {kind}")
    target = next((options[k] for k in _TARGET if k in options), "")
    if target:
        target = posixpath.normpath(posixpath.join("/", target))
    return _typed(kind, options, target)


def _typed(kind: str, options: dict[str, str], target: str) -> RunMount:
    source = options.get("source", options.get("src", ""))
    if kind == "bind":
        _need_target(kind, target)
        writable = _bool(options, "rw") or _bool(options, "readwrite")
        return RunMount(kind, target, source=source, from_=options.get("from", ""), readonly=not writable)
    if kind == "cache":
        _need_target(kind, target)
        sharing = options.get("sharing", "shared")
        if sharing not in SHARING:
            raise InvalidArgument(f"unsupported sharing value {sharing!r}")
        readonly = _bool(options, "ro") or _bool(options, "readonly")
        return RunMount(
            kind, target, source=source, from_=options.get("from", ""), readonly=readonly,
            id=options.get("id") or target, sharing=sharing, mode=_mode(options, 0o755),
            uid=_id(options, "uid"), gid=_id(options, "gid"),
        )  # fmt: skip
    if kind == "tmpfs":
        _need_target(kind, target)
        return RunMount(kind, target, readonly=False, size=_size(options.get("size", "")))
    if kind == "secret":
        env = options.get("env", "")
        secret_id = options.get("id") or (posixpath.basename(target) if target else "")
        if not secret_id:
            raise InvalidArgument("secret ID missing from mount options")
        if not target and not env:
            target = f"/run/secrets/{secret_id}"
        return RunMount(
            kind, target, id=secret_id, env=env, required=_bool(options, "required"),
            mode=_mode(options, 0o400), uid=_id(options, "uid"), gid=_id(options, "gid"),
        )  # fmt: skip
    return RunMount(
        kind, target, id=options.get("id") or "default", required=_bool(options, "required"),
        mode=_mode(options, 0o600), uid=_id(options, "uid"), gid=_id(options, "gid"),
    )  # fmt: skip


def _need_target(kind: str, target: str) -> None:
    if not target:
        raise InvalidArgument(f"mount type {kind} requires a target (target=PATH)")
    if target == "/":
        raise InvalidArgument(f"mount type {kind} cannot be mounted over /")


def _bool(options: dict[str, str], key: str) -> bool:
    value = options.get(key, "false").lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0", ""):
        return False
    raise InvalidArgument(f"invalid value for {key}: {value!r}")


def _mode(options: dict[str, str], default: int) -> int:
    raw = options.get("mode", "")
    if not raw:
        return default
    try:
        mode = int(raw, 8)
    except ValueError:
        raise InvalidArgument(f"invalid mode {raw!r}: an octal number") from None
    if not 0 <= mode <= 0o7777:
        raise InvalidArgument(f"invalid mode {raw!r}")
    return mode


def _id(options: dict[str, str], key: str) -> int:
    raw = options.get(key, "0")
    if not raw.isdigit():
        raise InvalidArgument(f"invalid {key} {raw!r}: a number")
    return int(raw)


_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kb": 1 << 10,
    "m": 1 << 20,
    "mb": 1 << 20,
    "g": 1 << 30,
    "gb": 1 << 30,
}


def _size(raw: str) -> int:
    """tmpfs ``size``: bytes, or with a unit (``64m``, ``1g``)."""
    text = raw.strip().lower()
    number = text.rstrip("kmgb")
    unit = text[len(number) :]
    if not text:
        return 0
    try:
        return int(float(number) * _UNITS[unit])
    except (ValueError, KeyError):
        raise InvalidArgument(f"invalid size {raw!r} for a tmpfs mount") from None


def _replace(mount: RunMount, *, target: str) -> RunMount:
    from dataclasses import replace

    return replace(mount, target=target)
