"""``berth-registry quota …`` (and the other policy commands): their parsers and what they do.

``main`` builds the parser tree and hands the parsed arguments here; ``table`` is its column printer.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence

from berth.errors import NotFound
from berth.registry.policy.quotas import Usage, namespace_of
from berth.registry.policy.sizes import ACCEPTED, format_size, parse_size
from berth.registry.service import Registry

Table = Callable[[Sequence[Sequence[str]]], None]


def add_quota_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    quota = sub.add_parser(
        "quota", help="limit the bytes a user's or organisation's repositories hold"
    ).add_subparsers(dest="action", required=True)
    quota_set = quota.add_parser(
        "set",
        help="set (or with 0/none remove) the quota of USER|ORG",
        description="Pushes that would take the namespace over SIZE are refused (DENIED). Usage counts\n"
        "each distinct blob (layer, config, manifest) of the namespace's repositories once.",
        epilog="Examples:\n  berth-registry quota set alice 500MB\n  berth-registry quota set acme 2GiB\n"
        "  berth-registry quota set acme none",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    quota_set.add_argument("name", metavar="USER|ORG")
    quota_set.add_argument("size", metavar="SIZE", help=f"{ACCEPTED}; 0 or none removes the quota")
    show = quota.add_parser("show", help="usage and quota of every namespace, or of NAME")
    show.add_argument("name", nargs="?", metavar="NAME")
    show.add_argument("--format", choices=["table", "json"], default="table")


def _known_namespace(registry: Registry, name: str) -> None:
    if not registry.accounts.is_org(name) and registry.accounts.get_user(name) is None:
        raise NotFound(f"no such user or organisation: {name}")


def quota_command(registry: Registry, args: argparse.Namespace, table: Table) -> None:
    quotas = registry.quotas
    if args.action == "set":
        _known_namespace(registry, args.name)
        text = args.size.strip().lower()
        limit = None if text == "none" else parse_size(args.size) or None
        quotas.set(args.name, limit)
        if limit is None:
            print(f"quota of {args.name} removed")
        else:
            print(f"quota of {args.name} set to {format_size(limit)} ({limit} bytes)")
        return
    if args.name:
        if args.name not in quotas.with_quota():
            _known_namespace(registry, args.name)
        names = [args.name]
    else:
        names = sorted(set(quotas.with_quota()) | {namespace_of(r) for r in registry.repos.names()})
    _print_usage(quotas.report(names), args.format, table)


def _print_usage(report: list[Usage], fmt: str, table: Table) -> None:
    if fmt == "json":
        listed = [
            {"namespace": u.namespace, "used": u.used, "quota": u.quota, "percent": u.percent} for u in report
        ]
        print(json.dumps(listed, indent=2))
        return
    rows = [("NAMESPACE", "USED", "QUOTA", "%")]
    for u in report:
        quota = "-" if u.quota is None else format_size(u.quota)
        percent = "-" if u.percent is None else f"{u.percent:.0f}%"
        rows.append((u.namespace, format_size(u.used), quota, percent))
    table(rows)
