"""Logging drivers: ``HostConfig.LogConfig`` checked at create as dockerd checks it, and what a
container's monitor is told at start (``LogSettings``).

Drivers: ``json-file`` (the default), ``local`` (Docker's defaults: 20 MiB × 5 files, compressed; its
on-disk format is internal to Docker, so Berth stores json-file lines under ``local-logs/``) and
``none`` (nothing stored; ``logs`` answers "configured logging driver does not support reading").
Any other driver is refused at create with dockerd's message for a driver it does not have::

    normalize({"LogConfig": {"Type": "", "Config": None}})   # -> {"Type": "json-file", "Config": {}}
    normalize({"LogConfig": {"Type": "syslog"}})   # InvalidArgument: logger: no log driver named …
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.engine.containers.container import Container
from berth.errors import InvalidArgument, NotSupported

DEFAULT_DRIVER = "json-file"
# Options every driver takes (moby's builtInLogOpts).
_COMMON = frozenset({"mode", "max-buffer-size"})
_OPTIONS = {
    "json-file": frozenset(
        {"max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag"}
    ),
    "local": frozenset({"max-file", "max-size", "compress"}),
    "none": frozenset(),
}
_LOCAL_MAX_SIZE = 20 * 1024 * 1024
_LOCAL_MAX_FILES = 5
_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
_TAG_FIELD = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")


class ReadingNotSupported(NotSupported):
    """``logs`` or ``attach --logs`` of a container whose driver stores nothing (``none``): the
    client's request cannot be served (dockerd's 501)."""

    def __init__(self) -> None:
        super().__init__("configured logging driver does not support reading")


@dataclass(frozen=True, slots=True)
class LogSettings:
    """What the monitor writes: ``path`` None means no log; ``max_size`` 0 never rotates; ``attrs``
    is the JSON object (or "") every record carries as ``attrs`` (labels, env, tag log-opts)."""

    driver: str
    path: Path | None
    max_size: int
    max_files: int
    compress: bool
    attrs: str


def _human_size(value: str) -> int:
    """go-units FromHumanSize: decimal multiples ("10m" is 10,000,000 bytes)."""
    match = _SIZE.match(value)
    if match is None:
        raise InvalidArgument(f"invalid size: '{value}'")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "").lower()])


def _atoi(value: str) -> int:
    try:
        return int(value, 10)
    except ValueError:
        raise InvalidArgument(f'strconv.Atoi: parsing "{value}": invalid syntax') from None


def _parse_bool(value: str) -> bool:
    if value in {"1", "t", "T", "TRUE", "true", "True"}:
        return True
    if value in {"0", "f", "F", "FALSE", "false", "False"}:
        return False
    raise InvalidArgument(f'strconv.ParseBool: parsing "{value}": invalid syntax')


def normalize(host: dict[str, Any], *, default_max_size: int, default_max_files: int) -> None:
    """Fill ``host["LogConfig"]`` as dockerd does (Type "" → json-file, Config null → {}) and refuse
    an unknown driver or option, or a bad value, with dockerd's message (400)."""
    log_config = host.get("LogConfig") or {}
    if not isinstance(log_config, dict):
        raise InvalidArgument("json: cannot unmarshal into Go struct field HostConfig.LogConfig")
    driver = log_config.get("Type") or DEFAULT_DRIVER
    options = log_config.get("Config") or {}
    if not isinstance(driver, str) or not isinstance(options, dict):
        raise InvalidArgument("json: cannot unmarshal into Go struct field LogConfig.Type of type string")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in options.items()):
        raise InvalidArgument("json: cannot unmarshal into Go struct field LogConfig.Config of type string")
    host["LogConfig"] = {"Type": driver, "Config": options}
    if driver == "none":
        return  # dockerd checks no options for "none"
    mode = options.get("mode", "")
    if mode not in {"", "blocking"}:
        # Berth's monitor always writes the log before passing output on (Docker's blocking mode).
        raise InvalidArgument(f"logger: logging mode not supported: {mode}")
    if "max-buffer-size" in options:
        raise InvalidArgument("logger: max-buffer-size option is only supported with 'mode=non-blocking'")
    if driver not in _OPTIONS:
        raise InvalidArgument(f"logger: no log driver named '{driver}' is registered")
    for key in options:
        if key in _COMMON:
            continue
        if key not in _OPTIONS[driver]:
            if driver == "json-file":
                raise InvalidArgument(f"unknown log opt '{key}' for json-file log driver")
            raise InvalidArgument(f"unknown log opt '{key}' for log driver {driver}")
    _limits(driver, options, default_max_size, default_max_files)
    for key in ("labels-regex", "env-regex"):
        if options.get(key):
            try:
                re.compile(options[key])
            except re.error as exc:
                raise InvalidArgument(f"error parsing regexp: {exc}: `{options[key]}`") from None
    for field in _TAG_FIELD.findall(options.get("tag", "")):
        if field not in _TAG_VALUES:
            raise InvalidArgument(
                f'template: log-tag:1: executing "log-tag" at <.{field}>: '
                f"can't evaluate field {field} in type *logger.Info"
            )


def _limits(
    driver: str, options: dict[str, str], default_max_size: int, default_max_files: int
) -> tuple[int, int, bool]:
    """(max size in bytes, 0 for unlimited; files kept; compress) with each driver's defaults and
    checks (moby's jsonfilelog.New and local.newConfig)."""
    if driver == "local":
        max_size, max_files, compress = _LOCAL_MAX_SIZE, _LOCAL_MAX_FILES, True
        if "max-size" in options:
            try:
                max_size = _human_size(options["max-size"])
            except InvalidArgument as exc:
                raise InvalidArgument(f"invalid value for max-size: {options['max-size']}: {exc}") from None
        if "max-file" in options:
            try:
                max_files = _atoi(options["max-file"])
            except InvalidArgument as exc:
                raise InvalidArgument(f"invalid value for max-file: {options['max-file']}: {exc}") from None
        if "compress" in options:
            try:
                compress = _parse_bool(options["compress"])
            except InvalidArgument as exc:
                raise InvalidArgument(f"invalid boolean value for compress: {exc}") from None
        if max_size < 0:
            raise InvalidArgument("max-size must not be negative")
        if max_files < 0:
            raise InvalidArgument("max-file must not be negative")
        if compress and max_files <= 1:
            raise InvalidArgument("compression cannot be enabled when max file count is 1")
        return max_size, max(1, max_files), compress
    # json-file: the daemon's defaults (Berth rotates by default) stand for absent options.
    max_size, max_files, compress = default_max_size, default_max_files, False
    if "max-size" in options:
        max_size = _human_size(options["max-size"])
        if max_size <= 0:
            raise InvalidArgument("max-size must be a positive number")
    if "max-file" in options:
        max_files = _atoi(options["max-file"])
        if max_files < 1:
            raise InvalidArgument("max-file cannot be less than 1")
    if "compress" in options:
        compress = _parse_bool(options["compress"])
        if compress and (max_files == 1 or max_size <= 0):
            raise InvalidArgument(
                "compress cannot be true when max-file is less than 2 or max-size is not set"
            )
    return max_size, max_files, compress


_TAG_VALUES: dict[str, Callable[[Container], str]] = {
    "ID": lambda c: c.container_id[:12],
    "FullID": lambda c: c.container_id,
    "Name": lambda c: c.name.removeprefix("/"),
    "ImageID": lambda c: c.image_id.removeprefix("sha256:")[:12],
    "ImageFullID": lambda c: c.image_id,
    "ImageName": lambda c: c.image,
    "DaemonName": lambda c: "docker",
    "Hostname": lambda c: str(c.config.get("Hostname") or ""),
    "Command": lambda c: " ".join([c.path, *c.args]),
}


def _attrs(container: Container, options: dict[str, str]) -> dict[str, str]:
    """moby's ``logger.Info.ExtraAttributes`` (labels, labels-regex, env, env-regex) plus ``tag``."""
    labels: dict[str, str] = container.config.get("Labels") or {}
    extra: dict[str, str] = {}
    for key in filter(None, options.get("labels", "").split(",")):
        if key in labels:
            extra[key] = labels[key]
    if options.get("labels-regex"):
        pattern = re.compile(options["labels-regex"])
        extra.update({k: v for k, v in labels.items() if pattern.search(k)})
    env = dict(e.split("=", 1) for e in container.config.get("Env") or [] if "=" in e)
    for key in filter(None, options.get("env", "").split(",")):
        if key in env:
            extra[key] = env[key]
    if options.get("env-regex"):
        pattern = re.compile(options["env-regex"])
        extra.update({k: v for k, v in env.items() if pattern.search(k)})
    if options.get("tag"):
        tag = _TAG_FIELD.sub(lambda m: _TAG_VALUES[m.group(1)](container), options["tag"])
        if tag:
            extra["tag"] = tag
    return extra


def driver_of(container: Container) -> str:
    return str((container.host_config.get("LogConfig") or {}).get("Type") or DEFAULT_DRIVER)


def log_file(container: Container) -> Path | None:
    """Where the container's log is (or would be) stored; None for a driver that stores nothing."""
    driver = driver_of(container)
    if driver == "none":
        return None
    if driver == "local":
        return container.directory / "local-logs" / "container.log"
    return container.log_path


def readable_log(container: Container) -> Path:
    """The log ``logs`` and ``attach --logs`` read, or dockerd's 501 for a driver without one."""
    path = log_file(container)
    if path is None:
        raise ReadingNotSupported()
    return path


def settings(container: Container, *, default_max_size: int, default_max_files: int) -> LogSettings:
    """What the monitor is told at start (the options were checked at create)."""
    driver = driver_of(container)
    options = (container.host_config.get("LogConfig") or {}).get("Config") or {}
    path = log_file(container)
    if path is None:
        return LogSettings(driver, None, 0, 1, False, "")
    path.parent.mkdir(exist_ok=True)
    max_size, max_files, compress = _limits(driver, options, default_max_size, default_max_files)
    attrs = _attrs(container, options) if driver == "json-file" else {}
    encoded = json.dumps(attrs, sort_keys=True, separators=(",", ":"), ensure_ascii=False) if attrs else ""
    return LogSettings(driver, path, max_size, max_files, compress, encoded)


__all__ = ["LogSettings", "ReadingNotSupported", "log_file", "normalize", "readable_log", "settings"]
