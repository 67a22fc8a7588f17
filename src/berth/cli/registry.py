"""Registry commands, all client-side wrappers around daemon calls: ``pull``, ``push``, ``login``,
``logout``, ``search``. Credentials come from config.json and travel in ``X-Registry-Auth``."""

from __future__ import annotations

import io
import sys

from berth.cli import config
from berth.cli.command import CLIError, Context, new_parser
from berth.client.http import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO


def normalize(image: str) -> tuple[str, str, str]:
    """(full repository, tag or digest, familiar reference) as the docker CLI sends a pull."""
    from berth.oci.reference import parse

    try:
        ref = parse(image)
    except Exception as exc:  # noqa: BLE001 - reference errors are InvalidArgument; keep the text
        raise CLIError(f"invalid reference format: {exc}") from exc
    tag = str(ref.digest) if ref.digest else (ref.tag or "latest")
    return ref.repository, tag, ref.familiar


def pull_image(
    ctx: Context, image: str, *, out: TextIO, quiet: bool = False, platform: str = "", all_tags: bool = False
) -> str:
    """``POST /images/create?fromImage=…&tag=…`` and show its progress; returns the full reference.

    With ``all_tags`` no tag is sent (the daemon pulls every tag of the repository)."""
    from berth.cli import progress

    repo, tag, _ = normalize(image)
    params: dict[str, Any] = {"fromImage": repo, "tag": None if all_tags else tag}
    if platform:
        params["platform"] = platform
    resp = ctx.client.request(
        "POST", "/images/create", params, headers=config.auth_header(ctx.config_dir, repo)
    )
    messages = resp.iter_json()
    if quiet:
        progress.display(messages, io.StringIO())
    else:
        progress.display(messages, out)
    return f"{repo}{'@' if tag.startswith('sha256:') else ':'}{tag}"


def pull(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] NAME[:TAG|@DIGEST]",
        "Download an image from a registry",
        ["berth pull busybox", "berth pull localhost:5000/team/app:1.0"],
        aliases=["image pull", "pull"],
    )
    p.add_argument(
        "-a", "--all-tags", action="store_true", help="Download all tagged images in the repository"
    )
    p.add_argument(
        "--platform", default="", metavar="string", help="Set platform if server is multi-platform capable"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    p.add_argument("name")
    ns = p.parse_args(argv)
    if ns.all_tags and (":" in ns.name.rsplit("/", 1)[-1] or "@" in ns.name):
        raise CLIError("tag can't be used with --all-tags/-a")
    full = pull_image(
        ctx, ns.name, out=sys.stdout, quiet=ns.quiet, platform=ns.platform, all_tags=ns.all_tags
    )
    sys.stdout.write((full.rsplit(":", 1)[0] if ns.all_tags else full) + "\n")
    return 0


def push(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] NAME[:TAG]",
        "Upload an image to a registry",
        ["berth push localhost:5000/busybox:latest"],
        aliases=["image push", "push"],
    )
    p.add_argument(
        "-a", "--all-tags", action="store_true", help="Push all tags of an image to the repository"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    p.add_argument("name")
    ns = p.parse_args(argv)
    pushed = push_image(ctx, ns.name, out=io.StringIO() if ns.quiet else sys.stdout, all_tags=ns.all_tags)
    if ns.quiet:
        sys.stdout.write(pushed + "\n")
    return 0


def push_image(ctx: Context, name: str, *, out: TextIO, all_tags: bool = False) -> str:
    """``POST /images/{name}/push`` with its registry's login, its progress shown on ``out``; returns
    ``repository:tag`` (the repository alone with ``all_tags``)."""
    from berth.cli import progress
    from berth.oci.reference import parse

    try:
        ref = parse(name, default_tag=not all_tags)
    except Exception as exc:  # noqa: BLE001 - InvalidArgument with the reason
        raise CLIError(f"invalid reference format: {exc}") from exc
    params: dict[str, Any] = {"tag": ref.tag} if ref.tag else {}
    resp = ctx.client.request(
        "POST",
        f"/images/{quote(ref.familiar_name)}/push",
        params,
        headers=config.auth_header(ctx.config_dir, ref.repository),
    )
    progress.display(resp.iter_json(), out)
    return f"{ref.repository}:{ref.tag}" if ref.tag else ref.repository


def login(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] [SERVER]",
        "Authenticate to a registry",
        ["berth login -u alice --password-stdin localhost:5000 < pw.txt"],
    )
    p.add_argument("-u", "--username", default="", metavar="string", help="Username")
    p.add_argument("-p", "--password", default="", metavar="string", help="Password")
    p.add_argument("--password-stdin", action="store_true", help="Take the password from stdin")
    p.add_argument("server", nargs="?", default="")
    ns = p.parse_args(argv)
    password = ns.password
    if ns.password_stdin:
        if password:
            raise CLIError("--password and --password-stdin are mutually exclusive")
        if not ns.username:
            raise CLIError("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif password:
        sys.stderr.write("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
    username = ns.username
    if not username:
        sys.stdout.write("Username: ")
        sys.stdout.flush()
        username = sys.stdin.readline().strip()
        if not username:
            raise CLIError("Username is required")
    if not password:
        import getpass

        password = getpass.getpass("Password: ")
        if not password:
            raise CLIError("Password is required")
    server = ns.server or config.DEFAULT_INDEX
    result = ctx.client.post_json(
        "/auth", None, {"username": username, "password": password, "serveraddress": server}
    )
    from berth.api.auth import encode_basic

    data = config.load(ctx.config_dir)
    auths = data.setdefault("auths", {})
    key = config.config_key(server)
    token = (result or {}).get("IdentityToken") or ""
    if token:  # docker keeps only the user name next to an identity token
        auths[key] = {"auth": encode_basic(username, ""), "identitytoken": token}
    else:
        auths[key] = {"auth": encode_basic(username, password)}
    config.save(ctx.config_dir, data)
    sys.stdout.write(f"{(result or {}).get('Status') or 'Login Succeeded'}\n")
    return 0


def logout(ctx: Context, argv: list[str]) -> int:
    p = new_parser(ctx.command, "[SERVER]", "Log out from a registry", ["berth logout localhost:5000"])
    p.add_argument("server", nargs="?", default="")
    ns = p.parse_args(argv)
    key = config.config_key(ns.server)
    data = config.load(ctx.config_dir)
    auths = data.get("auths") or {}
    matches = [name for name in auths if config.config_key(name) == key]
    if not matches:
        sys.stdout.write(f"Not logged in to {ns.server or key}\n")
        return 0
    sys.stdout.write(f"Removing login credentials for {ns.server or key}\n")
    for name in matches:
        del auths[name]
    config.save(ctx.config_dir, data)
    return 0


def search(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] TERM",
        "Search a registry for images",
        ["berth search localhost:5000/busy", "berth search --filter is-official=true busybox"],
    )
    p.add_argument("-f", "--filter", action="append", default=[], metavar="filter", help="Filter output")
    p.add_format()
    p.add_argument("--limit", type=int, default=0, metavar="int", help="Max number of search results")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("term")
    ns = p.parse_args(argv)
    from berth.api import filters
    from berth.cli import format as fmt

    params: dict[str, Any] = {"term": ns.term}
    if ns.limit:
        params["limit"] = ns.limit
    if ns.filter:
        params["filters"] = filters.encode(filters.parse_cli(ns.filter))
    results = (
        ctx.client.get_json("/images/search", params, headers=config.auth_header(ctx.config_dir, ns.term))
        or []
    )
    rows = []
    for r in results:
        desc = str(r.get("description") or "").replace("\n", " ").replace("\r", " ")
        rows.append(
            {
                "Name": r.get("name", ""),
                "Description": desc if ns.no_trunc else fmt.ellipsis(desc, 45),
                "StarCount": str(r.get("star_count", 0)),
                "IsOfficial": "[OK]" if r.get("is_official") else "",
                "IsAutomated": "[OK]" if r.get("is_automated") else "",
            }
        )
    headers = {
        "Name": "NAME",
        "Description": "DESCRIPTION",
        "StarCount": "STARS",
        "IsOfficial": "OFFICIAL",
        "IsAutomated": "AUTOMATED",
    }
    fmt.render(
        ns.format,
        rows,
        headers,
        "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}",
        type_name="formatter.searchContext",
    )
    return 0
