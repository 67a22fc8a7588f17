"""From a ``POST /containers/create`` body and an image to a new container's record and files.

Docker's merge rules (NOTES.md §5.1): run-time Env wins per key; ``--entrypoint`` replaces the image's
Entrypoint *and* clears its Cmd; run-time args replace Cmd; labels, ports and volumes are merged.
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Any

from berth.engine.containers import resources
from berth.engine.containers.container import Container, now_rfc3339
from berth.errors import InvalidArgument, NotFound
from berth.oci.platform import normalize as normalize_platform
from berth.oci.platform import parse as parse_platform

BASE_HOSTS = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)

_RESTART_POLICIES = {"", "no", "always", "unless-stopped", "on-failure"}


def new_container_id() -> str:
    return secrets.token_hex(32)


def _union(image: dict[str, Any] | None, asked: dict[str, Any] | None) -> dict[str, Any] | None:
    """The image's entries, then the request's; the request's own dict when the image has none
    (a range of 10,000 exposed ports is not copied)."""
    if not image:
        return asked or None
    return {**image, **(asked or {})}


def _merge_env(image_env: list[str], run_env: list[str]) -> list[str]:
    merged: dict[str, str] = {}
    for entry in [*image_env, *run_env]:
        key = entry.split("=", 1)[0]
        merged[key] = entry
    return list(merged.values())


def merge_config(body: dict[str, Any], image_config: dict[str, Any]) -> dict[str, Any]:
    """Docker's Config for a new container: the request's fields over the image's."""
    img = image_config.get("config") or {}
    config = {k: v for k, v in body.items() if k not in {"HostConfig", "NetworkingConfig"}}
    entrypoint = body.get("Entrypoint")
    cmd = body.get("Cmd")
    if isinstance(entrypoint, str):
        entrypoint = [entrypoint]
    if isinstance(cmd, str):
        cmd = [cmd]
    if entrypoint is not None:
        # An explicit entrypoint (even "") drops the image's Cmd as well (NOTES.md §5.1).
        entrypoint = [e for e in entrypoint if e != ""] if entrypoint != [""] else []
        cmd = cmd or []
    else:
        entrypoint = img.get("Entrypoint") or []
        if not cmd:
            cmd = img.get("Cmd") or []
    config["Entrypoint"] = entrypoint or None
    config["Cmd"] = cmd or None
    config["Env"] = _merge_env(list(img.get("Env") or []), list(body.get("Env") or []))
    config["WorkingDir"] = body.get("WorkingDir") or img.get("WorkingDir") or ""
    config["User"] = body.get("User") or img.get("User") or ""
    config["Labels"] = {**(img.get("Labels") or {}), **(body.get("Labels") or {})}
    config["ExposedPorts"] = _union(img.get("ExposedPorts"), body.get("ExposedPorts"))
    config["Volumes"] = {**(img.get("Volumes") or {}), **(body.get("Volumes") or {})} or None
    config["StopSignal"] = body.get("StopSignal") or img.get("StopSignal") or None
    if body.get("Healthcheck") or img.get("Healthcheck"):
        config["Healthcheck"] = body.get("Healthcheck") or img.get("Healthcheck")
    for key in ("Tty", "OpenStdin", "StdinOnce", "AttachStdin", "AttachStdout", "AttachStderr"):
        config[key] = bool(body.get(key))
    config.setdefault("Hostname", "")
    config.setdefault("Domainname", "")
    return config


def check_platform(wanted: str, ref: str, image_config: dict[str, Any]) -> None:
    """``create?platform=``: the image must be of that platform (dockerd answers 404 otherwise, and
    the docker CLI then tries to pull that platform)."""
    if not wanted:
        return
    platform = parse_platform(wanted)
    os_name, arch = str(image_config.get("os") or ""), str(image_config.get("architecture") or "")
    if not platform.matches(os_name, arch, str(image_config.get("variant") or "")):
        actual = str(normalize_platform(os_name or "linux", arch, str(image_config.get("variant") or "")))
        raise NotFound(
            f"image with reference {ref} was found but does not match the specified platform: "
            f"wanted {platform}, actual: {actual}"
        )


def validate_host_config(host: dict[str, Any]) -> list[str]:
    """Check (and normalise, in place) a create's HostConfig; returns dockerd's warnings."""
    if not isinstance(host.get("RestartPolicy") or {}, dict):
        raise resources.wrong_type(
            "HostConfig", "RestartPolicy", host["RestartPolicy"], "container.RestartPolicy"
        )
    policy = (host.get("RestartPolicy") or {}).get("Name", "")
    if policy not in _RESTART_POLICIES:
        raise InvalidArgument(f"invalid restart policy '{policy}'")
    if policy in {"always", "unless-stopped"} and host.get("AutoRemove"):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    resources.adapt(host)
    warnings = resources.verify(host)  # cgroup limits (engine/containers/resources.py)
    _validate_name_files(host)
    return warnings


def _validate_name_files(host: dict[str, Any]) -> None:
    """What goes into the container's hosts and resolv.conf: addresses must parse and names be single
    words, so that no value can add lines of its own to those files."""
    for entry in host.get("ExtraHosts") or []:
        name, _, address = str(entry).partition(":")
        if not is_word(name):
            raise InvalidArgument(f'invalid extra host: "{entry}": a name, a colon, an address')
        _address(address.strip("[]"), f'invalid IP address in add-host: "{address}"')
    for server in host.get("Dns") or []:
        _address(str(server), f"invalid IP address: {server}")
    for value in [*(host.get("DnsSearch") or []), *(host.get("DnsOptions") or [])]:
        if not is_word(str(value)):
            raise InvalidArgument(f"invalid DNS search domain or option: {value!r}")


def is_word(value: str) -> bool:
    """One printable word: no spaces, no control characters (a hosts or resolv.conf field)."""
    return bool(value) and len(value) <= 255 and all(c.isprintable() and not c.isspace() for c in value)


def _address(text: str, message: str) -> None:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise InvalidArgument(message) from None


def new_record(
    directory: Path,
    container_id: str,
    name: str,
    image: str,
    image_id: str,
    config: dict[str, Any],
    host: dict[str, Any],
) -> Container:
    argv = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
    if not argv:
        raise InvalidArgument("no command specified")
    if not config.get("Hostname"):
        config["Hostname"] = container_id[:12]
    config["Image"] = image
    host.setdefault("NetworkMode", "default")
    host.setdefault("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0})
    host.setdefault("LogConfig", {"Type": "json-file", "Config": {}})
    return Container(
        container_id=container_id,
        name="/" + name,
        created=now_rfc3339(),
        image=image,
        image_id=image_id,
        config=config,
        host_config=host,
        path=argv[0],
        args=argv[1:],
        directory=directory,
    )


def extra_hosts(container: Container) -> str:
    """``--add-host name:address`` entries, as /etc/hosts lines."""
    lines = []
    for entry in container.host_config.get("ExtraHosts") or []:
        name, sep, address = str(entry).partition(":")
        if sep and name and address:
            lines.append(f"{address.strip('[]')}\t{name}\n")
    return "".join(lines)


def write_network_files(container: Container) -> None:
    """hostname, hosts and resolv.conf, bind-mounted into the container (NOTES.md §5.4)."""
    directory = container.directory
    host_network = container.host_config.get("NetworkMode") == "host"
    (directory / "hostname").write_text(container.config["Hostname"] + "\n")
    base = Path("/etc/hosts").read_text() if host_network else BASE_HOSTS
    (directory / "hosts").write_text(base + extra_hosts(container))
    try:
        resolv = Path("/etc/resolv.conf").read_text()
    except OSError:
        resolv = ""
    (directory / "resolv.conf").write_text(resolv_conf(resolv, container.host_config))


def resolv_conf(host_text: str, host_config: dict[str, Any]) -> str:
    """The host's resolv.conf with ``--dns``, ``--dns-search`` and ``--dns-option`` replacing its own
    nameserver, search and options lines (as Docker does: each flag replaces only its kind)."""
    replace = {
        "nameserver": [f"nameserver {s}" for s in host_config.get("Dns") or []],
        "search": [f"search {' '.join(host_config['DnsSearch'])}"] if host_config.get("DnsSearch") else [],
        "options": [f"options {' '.join(host_config['DnsOptions'])}"]
        if host_config.get("DnsOptions")
        else [],
    }
    kept = [
        line for line in host_text.splitlines()
        if not (line.split() and line.split()[0] in replace and replace[line.split()[0]])
    ]  # fmt: skip
    added = [line for lines in replace.values() for line in lines]
    return "".join(f"{line}\n" for line in [*kept, *added])
