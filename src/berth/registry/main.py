"""``berth-registry``: serve the registry, manage its users, organisations, teams and repositories,
collect garbage and check its consistency.

Every command works on the registry that ``--root``/``--config`` name. Errors print one line
(``berth-registry: …``) and exit 1; usage errors exit 2. ``check`` exits 1 while problems remain.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import json
import logging
import re
import signal
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from berth.errors import BerthError, InvalidArgument, NotFound
from berth.registry import config as config_mod
from berth.registry.api.routes import is_repository_name
from berth.registry.notify.store import Hook, LogEntry, parse_events
from berth.registry.policy import commands as policy_commands
from berth.registry.service import Registry

log = logging.getLogger("berth.registry")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="berth-registry", description="Berth's OCI image registry")
    p.add_argument("--root", type=Path, default=config_mod.DEFAULT_ROOT, help="blobs and metadata")
    p.add_argument("--config", type=Path, default=None, help="YAML: storage, auth, default visibility, TLS")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the registry in the foreground")
    serve.add_argument("--addr", default=None, help="HOST:PORT (default 127.0.0.1:5000)")

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    add = user.add_parser("add")
    add.add_argument("name")
    add.add_argument("--password-stdin", action="store_true")
    add.add_argument("--admin", action="store_true")
    user.add_parser("rm").add_argument("name")
    passwd = user.add_parser("passwd")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true")
    user.add_parser("list")

    org = sub.add_parser("org", help="manage organisations").add_subparsers(dest="action", required=True)
    org_add = org.add_parser("add")
    org_add.add_argument("name")
    org_add.add_argument("--owner", required=True)
    org.add_parser("list")

    team = sub.add_parser("team", help="manage teams").add_subparsers(dest="action", required=True)
    team_add = team.add_parser("add")
    team_add.add_argument("org")
    team_add.add_argument("team")
    members = team.add_parser("members")
    members.add_argument("org")
    members.add_argument("team")
    members.add_argument("op", choices=["add", "rm", "list"])
    members.add_argument("user", nargs="?")
    team_grant = team.add_parser("grant")
    team_grant.add_argument("org")
    team_grant.add_argument("team")
    team_grant.add_argument("repo")
    team_grant.add_argument("access", choices=["pull", "push", "admin"])

    robot = sub.add_parser("robot", help="manage an organisation's robot accounts").add_subparsers(
        dest="action", required=True
    )
    robot_add = robot.add_parser(
        "add",
        help="make robot$ORG+NAME and print its token (once)",
        epilog="Example:\n  berth-registry robot add acme ci --grant 'acme/*:pull' --grant acme/app:push",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    robot_add.add_argument("org")
    robot_add.add_argument("name")
    robot_add.add_argument(
        "--grant",
        action="append",
        required=True,
        metavar="REPO:pull|push",
        help="a repository or pattern inside ORG (app, ORG/app, ORG/*) and what the robot may do there",
    )
    robot_rm = robot.add_parser("rm", help="revoke the robot (its token stops working at once)")
    robot_rm.add_argument("org")
    robot_rm.add_argument("name")
    robot.add_parser("ls", help="list the robots of ORG and their grants").add_argument("org")

    hook = sub.add_parser("webhook", help="notify URLs of pushes, deletes and pulls").add_subparsers(
        dest="action", required=True
    )
    hook_add = hook.add_parser(
        "add",
        help="POST signed events of REPO (or of every ORG/… repository) to URL",
        epilog="Example:\n  berth-registry webhook add acme https://ci.example/hook --secret s3cret "
        "--events push,delete",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    hook_add.add_argument("target", metavar="REPO|ORG")
    hook_add.add_argument("url")
    hook_add.add_argument("--secret", required=True, help="key of the X-Berth-Signature-256 HMAC")
    hook_add.add_argument("--events", help="push, delete, pull (comma-separated; default push,delete)")
    hook_ls = hook.add_parser("ls", help="list webhooks, or with --deliveries their delivery log")
    hook_ls.add_argument("id", nargs="?", help="only this webhook")
    hook_ls.add_argument("--deliveries", action="store_true", help="the last attempts of each webhook")
    hook_ls.add_argument("--format", choices=["table", "json"], default="table")
    hook.add_parser("rm", help="remove a webhook and its pending deliveries").add_argument("id")

    repo = sub.add_parser("repo", help="manage repositories").add_subparsers(dest="action", required=True)
    vis = repo.add_parser("visibility")
    vis.add_argument("name")
    vis.add_argument("visibility", choices=["public", "private"])
    describe = repo.add_parser(
        "describe", help="set a repository's short description (one line) and, with --readme, its README"
    )
    describe.add_argument("name")
    describe.add_argument("text", help='the description ("" clears it: pushes may set it again)')
    describe.add_argument(
        "--readme", type=Path, metavar="FILE", help="a Markdown file, shown on the web page"
    )
    repo.add_parser("list")
    repo.add_parser("rm").add_argument("name")

    audit = sub.add_parser(
        "audit",
        help="print the audit log: pushes, deletes, logins, grants",
        epilog="Examples:\n  berth-registry audit\n  berth-registry audit --action login-failed --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    audit.add_argument(
        "--since", help="only records from then on: RFC 3339, unix seconds, or an age (10m, 2h)"
    )
    audit.add_argument("--action", action="append", help="only these actions (push, delete, login, …)")
    audit.add_argument("--actor", help="only what this user did")
    audit.add_argument("--format", choices=["table", "json"], default="table")
    policy_commands.add_quota_parser(sub)
    policy_commands.add_retention_parser(sub)
    gc = sub.add_parser(
        "gc", help="untag what retention policies let go, remove unreferenced blobs (safe while serving)"
    )
    gc.add_argument(
        "--dry-run", action="store_true", help="report the tags, manifests and blobs that would be removed"
    )
    gc.add_argument("--delete-untagged", action="store_true", help="also remove untagged manifests")
    gc.add_argument("--grace", type=float, default=None, help="keep blobs touched this many seconds ago")
    check = sub.add_parser(
        "check",
        help="check storage and metadata consistency (safe while serving)",
        description="Hash every blob and compare storage with the metadata: missing or corrupt blobs,\n"
        "manifests naming lost blobs, dangling tags, stale uploads, leftover files. Prints one line\n"
        "per finding and a summary; exits 0 when no problem is left, 1 otherwise.",
        epilog="Examples:\n  berth-registry check\n  berth-registry --root /srv/registry check --repair",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument(
        "--repair",
        action="store_true",
        help="fix what loses nothing pushed: drop rows of lost blobs, dangling tags, stale uploads, "
        "leftovers (unreferenced blobs are left to gc)",
    )
    return p


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise InvalidArgument("passwords do not match")
    return first


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"cannot read {path}: {exc}") from exc


def _split_addr(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise InvalidArgument(f"--addr must be HOST:PORT, not {addr!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


async def _serve(registry: Registry, addr: str) -> None:
    from berth.registry.app import build_app

    registry.tokens  # noqa: B018 - make (or load) the signing key before the first request
    host, port = _split_addr(addr)
    ssl_ctx = None
    cfg = registry.config
    if cfg.tls_certificate and cfg.tls_key:
        ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_ctx.load_cert_chain(cfg.tls_certificate, cfg.tls_key)
    from berth.registry.metrics import MetricsAccessLogger

    # the access "log" is the metrics' request counter (nothing is written to a log)
    runner = web.AppRunner(
        build_app(registry),
        access_log=logging.getLogger("berth.registry.access"),
        access_log_class=MetricsAccessLogger,
        handle_signals=False,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_ctx, backlog=1024)
    await site.start()
    scheme = "https" if ssl_ctx else "http"
    print(f"berth-registry listening on {scheme}://{host}:{port} (root {cfg.root})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def _run(args: argparse.Namespace) -> int:
    cfg = config_mod.load(args.root, args.config)
    registry = Registry(cfg)
    try:
        return _dispatch(registry, args)
    finally:
        registry.close()


def _since(text: str) -> dt.datetime:
    """``--since``: RFC 3339, unix seconds, or an age as Go durations write it (90s, 10m, 1h30m)."""
    try:
        return dt.datetime.fromtimestamp(float(text), dt.UTC)
    except ValueError:
        pass
    if re.fullmatch(r"(\d+(\.\d+)?(h|m|s|ms))+", text):
        units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
        age = sum(float(n) * units[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)(ms|h|m|s)", text))
        return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=age)
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(
            f"invalid --since {text!r}: use RFC 3339, unix seconds or an age such as 10m"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _recorded(entry: dict[str, object]) -> dt.datetime:
    return dt.datetime.fromisoformat(str(entry.get("time", "")).replace("Z", "+00:00"))


def _print_audit(registry: Registry, args: argparse.Namespace) -> None:
    since = _since(args.since) if args.since else None
    entries = [
        e
        for e in registry.audit.entries()
        if (not args.action or e.get("action") in args.action)
        and (not args.actor or e.get("actor") == args.actor)
        and (since is None or _recorded(e) >= since)
    ]
    if args.format == "json":
        for entry in entries:
            print(json.dumps(entry, separators=(",", ":")))
        return
    fixed = ("time", "action", "actor", "address", "target")
    rows: list[tuple[str, ...]] = [("TIME", "ACTION", "ACTOR", "ADDRESS", "TARGET", "DETAIL")]
    for e in entries:
        detail = " ".join(f"{k}={v}" for k, v in e.items() if k not in fixed)
        rows.append((*(str(e.get(k, "")) for k in fixed), detail))
    _print_table(rows)


def _print_table(rows: Sequence[Sequence[str]]) -> None:
    """Columns padded to their widest cell; the last one is not padded."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]).rstrip())


_CLI_AUDIT = {  # (command, action) → the audit action, for commands that change who may do what
    ("user", "add"): "user-add", ("user", "rm"): "user-remove", ("user", "passwd"): "password-change",
    ("org", "add"): "org-add", ("team", "add"): "team-add", ("team", "grant"): "grant",
    ("repo", "visibility"): "visibility", ("repo", "rm"): "repo-remove", ("repo", "describe"): "describe",
    ("robot", "add"): "robot-add", ("robot", "rm"): "robot-remove",
    ("webhook", "add"): "webhook-add", ("webhook", "rm"): "webhook-remove",
    ("quota", "set"): "quota-set", ("retention", "set"): "retention-set", ("retention", "rm"): "retention-remove",
}  # fmt: skip


def _audit_cli(registry: Registry, args: argparse.Namespace) -> None:
    cmd, action = str(args.command), str(getattr(args, "action", "") or "")
    actor = f"cli:{getpass.getuser()}"
    if cmd == "team" and action == "members" and args.op in ("add", "rm"):
        change = "member-add" if args.op == "add" else "member-remove"
        registry.audit.record(change, actor, f"{args.org}/{args.team}", user=args.user)
        return
    kind = _CLI_AUDIT.get((cmd, action))
    if kind is None:
        return
    if cmd == "team" and action == "grant":
        registry.audit.record(kind, actor, args.repo, team=f"{args.org}/{args.team}", access=args.access)
    elif cmd == "team":
        registry.audit.record(kind, actor, f"{args.org}/{args.team}")
    elif cmd == "robot":
        registry.audit.record(
            kind, actor, f"robot${args.org}+{args.name}", grants=getattr(args, "grant", None)
        )
    elif cmd == "webhook":
        registry.audit.record(
            kind, actor, getattr(args, "target", None) or args.id, url=getattr(args, "url", "")
        )
    elif cmd == "repo" and action == "visibility":
        registry.audit.record(kind, actor, args.name, visibility=args.visibility)
    elif cmd == "quota":
        registry.audit.record(kind, actor, args.name, size=args.size)
    else:
        registry.audit.record(kind, actor, args.name)


def _dispatch(registry: Registry, args: argparse.Namespace) -> int:
    code = _command(registry, args)
    _audit_cli(registry, args)  # after it succeeded (a failure raised)
    return code


def _robot_command(registry: Registry, args: argparse.Namespace) -> None:
    accounts = registry.accounts
    if args.action == "add":
        token = accounts.add_robot(args.org, args.name, args.grant)
        print(f"robot robot${args.org}+{args.name} added; its token (shown only now):", file=sys.stderr)
        print(token)
    elif args.action == "rm":
        accounts.remove_robot(args.org, args.name)
        print(f"robot robot${args.org}+{args.name} removed")
    else:
        if not accounts.is_org(args.org):
            raise NotFound(f"no such organisation: {args.org}")
        for robot in accounts.robots.of_org(args.org):
            print(f"{robot.login}  " + " ".join(f"{g.repo}:{g.access}" for g in robot.grants))


def _webhook_target(registry: Registry, target: str) -> str:
    """A repository name, or an organisation or user whose repositories all notify."""
    if "/" in target:
        if not is_repository_name(target):
            raise InvalidArgument(f"invalid repository name {target!r}")
    elif not registry.accounts.is_org(target) and registry.accounts.get_user(target) is None:
        raise NotFound(f"no such organisation or user: {target} (a repository is NAMESPACE/NAME)")
    return target


def _webhook_command(registry: Registry, args: argparse.Namespace) -> None:
    hooks = registry.webhooks
    if args.action == "add":
        events = parse_events(args.events)
        hook = hooks.add(_webhook_target(registry, args.target), args.url, args.secret, events)
        print(f"webhook {hook.id} added: {','.join(events)} of {hook.target} to {hook.url}")
    elif args.action == "rm":
        hooks.remove(args.id)
        print(f"webhook {args.id} removed")
    elif args.id and hooks.get(args.id) is None:
        raise NotFound(f"no such webhook: {args.id}")
    elif args.deliveries:
        _print_deliveries(hooks.deliveries(args.id), args.format)
    else:
        _print_hooks(registry, [h for h in hooks.hooks() if h.id == (args.id or h.id)], args.format)


def _print_hooks(registry: Registry, hooks: list[Hook], fmt: str) -> None:
    pending = {h.id: registry.webhooks.pending(h.id) for h in hooks}
    if fmt == "json":
        listed = [
            {"id": h.id, "target": h.target, "url": h.url, "events": list(h.events), "pending": pending[h.id]}
            for h in hooks
        ]
        print(json.dumps(listed, indent=2))
        return
    rows = [("ID", "TARGET", "EVENTS", "PENDING", "URL")]
    rows += [(h.id, h.target, ",".join(h.events), str(pending[h.id]), h.url) for h in hooks]
    _print_table(rows)  # the secret is never shown


def _print_deliveries(entries: list[LogEntry], fmt: str) -> None:
    def when(t: float) -> str:
        return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    if fmt == "json":
        for e in entries:
            record = {"webhook": e.hook, "time": when(e.time), "event": e.event, "attempt": e.attempt,
                      "status": e.status, "error": e.error}  # fmt: skip
            print(json.dumps(record, separators=(",", ":")))
        return
    rows = [("WEBHOOK", "TIME", "EVENT", "ATTEMPT", "RESULT")]
    for e in entries:
        result = str(e.status) if e.status is not None and not e.error else e.error
        rows.append((e.hook, when(e.time), e.event, str(e.attempt), result))
    _print_table(rows)


def _command(registry: Registry, args: argparse.Namespace) -> int:
    accounts = registry.accounts
    cmd, action = args.command, getattr(args, "action", None)
    if cmd == "audit":
        _print_audit(registry, args)
    elif cmd == "serve":
        asyncio.run(_serve(registry, args.addr or registry.config.addr))
    elif cmd == "user" and action == "add":
        accounts.add_user(args.name, _read_password(args.password_stdin), admin=args.admin)
        print(f"user {args.name} added")
    elif cmd == "user" and action == "rm":
        accounts.remove_user(args.name)
        print(f"user {args.name} removed")
    elif cmd == "user" and action == "passwd":
        accounts.set_password(args.name, _read_password(args.password_stdin))
        print(f"password of {args.name} changed")
    elif cmd == "user" and action == "list":
        for u in accounts.users():
            print(f"{u.name}{'  (admin)' if u.admin else ''}")
    elif cmd == "org" and action == "add":
        accounts.add_org(args.name, args.owner)
        print(f"organisation {args.name} added (owner {args.owner})")
    elif cmd == "org" and action == "list":
        for name, owner in accounts.orgs():
            print(f"{name}  owner={owner}")
    elif cmd == "team" and action == "add":
        accounts.add_team(args.org, args.team)
        print(f"team {args.org}/{args.team} added")
    elif cmd == "team" and action == "members":
        if args.op == "list":
            for member in accounts.members(args.org, args.team):
                print(member)
        elif not args.user:
            raise InvalidArgument(f"team members {args.op} needs a USER")
        elif args.op == "add":
            accounts.add_member(args.org, args.team, args.user)
            print(f"{args.user} added to {args.org}/{args.team}")
        else:
            accounts.remove_member(args.org, args.team, args.user)
            print(f"{args.user} removed from {args.org}/{args.team}")
    elif cmd == "team" and action == "grant":
        full = accounts.grant(args.org, args.team, args.repo, args.access)
        print(f"team {args.org}/{args.team} may {args.access} {full}")
    elif cmd == "robot":
        _robot_command(registry, args)
    elif cmd == "webhook":
        _webhook_command(registry, args)
    elif cmd == "repo" and action == "visibility":
        registry.repos.set_visibility(args.name, args.visibility)
        print(f"{args.name} is {args.visibility}")
    elif cmd == "repo" and action == "describe":
        readme = _read_text(args.readme) if args.readme else None
        registry.hub.descriptions.set(args.name, args.text, readme)
        print(
            f"description of {args.name} set"
            + (f" (README from {args.readme})" if readme is not None else "")
        )
    elif cmd == "repo" and action == "list":
        for info in registry.repos.all():
            print(f"{info.name}  {info.visibility}")
    elif cmd == "repo" and action == "rm":
        registry.repos.delete(args.name)
        print(f"repository {args.name} removed (run gc to free its blobs)")
    elif cmd == "quota":
        policy_commands.quota_command(registry, args, _print_table)
    elif cmd == "retention":
        policy_commands.retention_command(registry, args, _print_table)
    elif cmd == "gc":
        from berth.registry.gc import collect

        grace = args.grace if args.grace is not None else registry.config.gc_grace_seconds
        report = collect(registry, dry_run=args.dry_run, delete_untagged=args.delete_untagged, grace=grace)
        print(report.render(dry_run=args.dry_run))
    elif cmd == "check":
        from berth.registry.check import check

        if registry.config.storage_driver == "inmemory":
            raise InvalidArgument("check: the inmemory storage driver keeps blobs only inside `serve`")
        result = check(registry, repair=args.repair)
        print(result.render())
        return 0 if result.clean else 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return _run(args)
    except BerthError as err:
        print(f"berth-registry: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
