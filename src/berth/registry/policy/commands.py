"""``berth-registry quota …`` and ``retention …``: their parsers and what they do.

``main`` builds the parser tree and hands the parsed arguments here; ``table`` is its column printer.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import TypeAlias

from berth.errors import InvalidArgument, NotFound
from berth.registry.api.routes import is_repository_name
from berth.registry.policy.quotas import Usage, namespace_of
from berth.registry.policy.rules import TagPolicy
from berth.registry.policy.sizes import ACCEPTED, format_size, parse_size
from berth.registry.service import Registry

Table = Callable[[Sequence[Sequence[str]]], None]
Parsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _verb(
    parent: Parsers, name: str, help_: str, description: str, examples: list[str]
) -> argparse.ArgumentParser:
    """A subcommand whose --help shows ``description`` and ``examples`` as written."""
    return parent.add_parser(
        name,
        help=help_,
        description=description,
        epilog="Examples:\n" + "\n".join(f"  berth-registry {e}" for e in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_quota_parser(sub: Parsers) -> None:
    quota = sub.add_parser(
        "quota", help="limit the bytes a user's or organisation's repositories hold"
    ).add_subparsers(dest="action", required=True)
    quota_set = _verb(
        quota,
        "set",
        "set (or with 0/none remove) the quota of USER|ORG",
        "Pushes that would take the namespace over SIZE are refused (DENIED). Usage counts\n"
        "each distinct blob (layer, config, manifest) of the namespace's repositories once.",
        ["quota set alice 500MB", "quota set acme 2GiB", "quota set acme none"],
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


def add_retention_parser(sub: Parsers) -> None:
    retention = sub.add_parser(
        "retention", help="which tags gc keeps, and tags that may never move or go"
    ).add_subparsers(dest="action", required=True)
    set_ = _verb(
        retention,
        "set",
        "set the tag policy of REPO or of every repository of a namespace (NS/*)",
        "gc removes the tags no keep rule keeps (a tag is kept if any rule keeps it), then\n"
        "the manifests and blobs only they named. PATTERNs are shell globs matched against the whole\n"
        "tag (* ? [abc] [!abc]). Immutable tags are always kept, and a push may not move them nor a\n"
        "DELETE remove them. A repository's own policy replaces its namespace's. `set` replaces the\n"
        "whole policy of its target.",
        [
            "retention set alice/app --keep-last 10 --keep 'v*'",
            "retention set 'acme/*' --pulled-within 30 --immutable 'v[0-9]*'",
        ],
    )
    set_.add_argument("name", metavar="REPO|NS/*")
    set_.add_argument("--keep-last", type=int, metavar="N", help="keep the N most recently pushed tags")
    set_.add_argument("--pulled-within", type=float, metavar="DAYS", help="keep tags pulled in the last DAYS")
    set_.add_argument("--keep", action="append", default=[], metavar="PATTERN", help="keep matching tags")
    set_.add_argument(
        "--immutable", action="append", default=[], metavar="PATTERN", help="matching tags never change"
    )
    show = retention.add_parser("show", help="the tag policies, or the one of NAME")
    show.add_argument("name", nargs="?", metavar="NAME")
    show.add_argument("--format", choices=["table", "json"], default="table")
    retention.add_parser("rm", help="remove the tag policy of NAME").add_argument("name", metavar="NAME")


def _policy_target(registry: Registry, target: str) -> str:
    if target.endswith("/*"):
        _known_namespace(registry, target[:-2])
    elif not is_repository_name(target):
        raise InvalidArgument(f"invalid target {target!r}: a repository (alice/app) or a namespace (alice/*)")
    return target


def retention_command(registry: Registry, args: argparse.Namespace, table: Table) -> None:
    policies = registry.tag_policies
    if args.action == "set":
        policy = TagPolicy(
            _policy_target(registry, args.name),
            args.keep_last,
            args.pulled_within,
            tuple(args.keep),
            tuple(args.immutable),
        )
        policies.set(policy)
        print(f"tag policy of {args.name} set: {_describe(policy)}")
    elif args.action == "rm":
        policies.remove(args.name)
        print(f"tag policy of {args.name} removed")
    else:
        shown = policies.all()
        if args.name:
            shown = [p for p in shown if p.target == args.name]
            if not shown:
                raise NotFound(f"no tag policy for {args.name}")
        _print_policies(shown, args.format, table)


def _describe(p: TagPolicy) -> str:
    parts = [f"keep last {p.keep_last}"] if p.keep_last is not None else []
    parts += [f"keep pulled within {p.pulled_within:g} days"] if p.pulled_within is not None else []
    parts += [f"keep {pattern}" for pattern in p.keep]
    parts += [f"immutable {pattern}" for pattern in p.immutable]
    return ", ".join(parts)


def _print_policies(shown: list[TagPolicy], fmt: str, table: Table) -> None:
    if fmt == "json":
        listed = [
            {"target": p.target, "keep_last": p.keep_last, "pulled_within_days": p.pulled_within,
             "keep": list(p.keep), "immutable": list(p.immutable)}
            for p in shown
        ]  # fmt: skip
        print(json.dumps(listed, indent=2))
        return
    rows = [("TARGET", "KEEP-LAST", "PULLED-WITHIN", "KEEP", "IMMUTABLE")]
    for p in shown:
        rows.append((
            p.target,
            "-" if p.keep_last is None else str(p.keep_last),
            "-" if p.pulled_within is None else f"{p.pulled_within:g}d",
            ",".join(p.keep) or "-",
            ",".join(p.immutable) or "-",
        ))  # fmt: skip
    table(rows)
