"""Legacy links (``--link NAME[:ALIAS]`` on the default bridge), as Docker sets them up (pure functions).

A parent container sees each linked child by its alias, hostname and name in its ``/etc/hosts``, and
gets the child's address, exposed ports and environment as variables (``ALIAS_PORT_80_TCP=tcp://IP:80``,
``ALIAS_NAME=/parent/alias``, ``ALIAS_ENV_X``…), in the words of moby's ``daemon/links``. The links
themselves are kept in the parent's record by alias and child id, beside its bridge endpoint
(``LINKS_KEY``): a renamed child stays linked, and inspect shows ``HostConfig.Links`` with today's
names (``/child:/parent/alias``), as Docker's link index does.
"""

from __future__ import annotations

from typing import Any

from berth.engine.containers.container import Container

LINKS_KEY = "LegacyLinks"  # in the parent's bridge endpoint: {alias: child id}
ENV_KEY = "LinkEnv"  # in the parent's bridge endpoint: the variables of its last start


def _ports(exposed: dict[str, Any] | None) -> list[tuple[int, str]]:
    out = []
    for key in exposed or {}:
        port, _, proto = str(key).partition("/")
        if port.isdigit():
            out.append((int(port), proto or "tcp"))
    return sorted(out, key=lambda p: (p[1] != "tcp", p[1], p[0]))  # tcp first, then by number


def env_vars(
    link_name: str, child_ip: str, child_env: list[str], exposed: dict[str, Any] | None
) -> list[str]:
    """The variables a parent gets for one link: ``link_name`` is ``/parent/alias``."""
    alias = link_name.rsplit("/", 1)[-1].upper().replace("-", "_")
    ports = _ports(exposed)
    env: list[str] = []
    start = end = ports[0] if ports else (0, "")
    for index, (num, proto) in enumerate(ports):
        if index == 0:
            env.append(f"{alias}_PORT={proto}://{child_ip}:{num}")
        prefix = f"{alias}_PORT_{num}_{proto.upper()}"
        env += [
            f"{prefix}={proto}://{child_ip}:{num}",
            f"{prefix}_ADDR={child_ip}",
            f"{prefix}_PORT={num}",
            f"{prefix}_PROTO={proto}",
        ]
        if num == end[0] + 1 and proto == end[1]:  # one more port of a range
            end = (num, proto)
            if index < len(ports) - 1:
                continue
        if end != start:
            first = f"{alias}_PORT_{start[0]}_{start[1].upper()}"
            env += [
                f"{first}_START={start[1]}://{child_ip}:{start[0]}",
                f"{first}_PORT_START={start[0]}",
                f"{first}_END={end[1]}://{child_ip}:{end[0]}",
                f"{first}_PORT_END={end[0]}",
            ]
        start = end = (num, proto)
    env.append(f"{alias}_NAME={link_name}")
    for entry in child_env:
        name, sep, value = entry.partition("=")
        if sep and name not in {"HOME", "PATH"}:
            env.append(f"{alias}_ENV_{name}={value}")
    return env


def hosts_names(link_name: str, child: Container) -> str:
    """The names a parent's /etc/hosts gives a linked child: its alias, hostname and (when the alias
    is not it) its name."""
    alias = link_name.rsplit("/", 1)[-1]
    names = [alias, str(child.config.get("Hostname") or child.short_id)]
    if alias != child.name.removeprefix("/"):
        names.append(child.name.removeprefix("/"))
    return " ".join(dict.fromkeys(names))


def legacy_links(container: Container) -> dict[str, str]:
    """{"/parent/alias": child id} of a container on the default bridge."""
    links = (container.endpoints.get("bridge") or {}).get(LINKS_KEY) or {}
    return {f"{container.name}/{alias}": str(child) for alias, child in links.items()}


def link_env(container: Container) -> list[str]:
    """The link variables of the container's current run (empty without legacy links)."""
    return [str(e) for e in (container.endpoints.get("bridge") or {}).get(ENV_KEY) or []]


def process_env_with_links(env: list[str], container: Container) -> list[str]:
    """``env`` (Config.Env and Docker's defaults) with the link variables it does not override."""
    extra = link_env(container)
    if not extra:
        return env
    keys = {e.split("=", 1)[0] for e in env}
    return env + [e for e in extra if e.split("=", 1)[0] not in keys]
