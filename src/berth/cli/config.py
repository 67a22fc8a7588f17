"""The client config file, ``CONFIG_DIR/config.json``, in Docker's format::

    {"auths": {"localhost:5000": {"auth": "dXNlcjpwYXNz"}, "reg.example": {"identitytoken": "…"}}}

Keys are registry hosts (``https://index.docker.io/v1/`` for the default registry, as docker writes it).
"""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_INDEX = "https://index.docker.io/v1/"
_DEFAULT_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io", DEFAULT_INDEX)


def config_path(config_dir: str) -> str:
    return os.path.join(config_dir, "config.json")


def load(config_dir: str) -> dict[str, Any]:
    """The parsed config (``{}`` if absent); CLIError if it is not valid JSON."""
    path = config_path(config_dir)
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        from berth.cli.command import CLIError

        raise CLIError(f"loading config file {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def save(config_dir: str, data: dict[str, Any]) -> None:
    """Write atomically with mode 0600 (it holds credentials)."""
    os.makedirs(config_dir, mode=0o700, exist_ok=True)
    path = config_path(config_dir)
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent="\t")
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def config_key(registry: str) -> str:
    """The ``auths`` key for a registry host (the default registry uses docker's index URL)."""
    host = registry.removeprefix("https://").removeprefix("http://").rstrip("/")
    if not registry or host in _DEFAULT_ALIASES or host == "index.docker.io/v1":
        return DEFAULT_INDEX
    return host


def registry_of(image: str) -> str:
    """The registry host of an image name (``docker.io`` when it names none)."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def auth_for(config_dir: str, registry: str) -> dict[str, Any]:
    """``{username,password,serveraddress}`` or ``{identitytoken,…}`` for X-Registry-Auth, ``{}`` if none."""
    from berth.api.auth import decode_basic

    auths = load(config_dir).get("auths") or {}
    key = config_key(registry)
    entry = auths.get(key)
    if entry is None:
        for name, value in auths.items():
            if config_key(name) == key:
                entry = value
                break
    if not isinstance(entry, dict):
        return {}
    out: dict[str, Any] = {"serveraddress": key}
    if entry.get("auth"):
        try:
            out["username"], out["password"] = decode_basic(entry["auth"])
        except ValueError:
            return {}
    elif entry.get("username"):
        out["username"] = entry["username"]
        out["password"] = entry.get("password", "")
    if entry.get("identitytoken"):
        out["identitytoken"] = entry["identitytoken"]
    return out


def auth_header(config_dir: str, image: str) -> dict[str, str]:
    """The ``X-Registry-Auth`` header for pulling or pushing ``image``."""
    from berth.api.auth import encode_header

    return {"X-Registry-Auth": encode_header(auth_for(config_dir, registry_of(image)))}
