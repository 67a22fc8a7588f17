"""Local image commands: ``images``, ``rmi``, ``tag``, ``history``, ``image prune``, ``import``,
``load``, ``save``. Output columns and wording follow docker 28."""

from __future__ import annotations

import sys

from berth.cli.command import CLIError, Context, for_each, new_parser
from berth.cli.quickflags import Flags, Options
from berth.client.http import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

IMAGE_HEADERS = {
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "Digest": "DIGEST",
    "ID": "IMAGE ID",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "VirtualSize": "SIZE",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
    "Containers": "CONTAINERS",
}
DEFAULT_IMAGES = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
DIGEST_IMAGES = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"


def _familiar(name: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _split_tag(ref: str) -> tuple[str, str]:
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return _familiar(ref[:colon]), ref[colon + 1 :]
    return _familiar(ref), ""


def _image_row(
    image: dict[str, Any], repo: str, tag: str, digest: str, trunc: bool, now: float | None
) -> dict[str, Any]:
    from berth.cli import format as fmt

    created = image.get("Created") or 0
    size = image.get("Size") or 0
    image_id = image.get("Id", "")
    shared = image.get("SharedSize", -1)
    shared = -1 if shared is None else shared
    containers = image.get("Containers", -1)
    containers = -1 if containers is None else containers
    return {
        "Repository": repo,
        "Tag": tag,
        "Digest": digest,
        "ID": fmt.short_id(image_id) if trunc else image_id,
        "CreatedSince": fmt.time_ago(created, now) if created else "N/A",
        "CreatedAt": fmt.format_local_time(created),
        "Size": fmt.human_size(size),
        "VirtualSize": fmt.human_size(size, 4),  # docker formats this one with HumanSize (4 digits)
        "SharedSize": "N/A" if shared < 0 else fmt.human_size(shared),
        "UniqueSize": "N/A" if shared < 0 else fmt.human_size(size - shared),
        "Containers": "N/A" if containers < 0 else str(containers),
    }


def image_rows(
    images: list[dict[str, Any]], *, digests: bool, trunc: bool, now: float | None = None
) -> list[dict[str, Any]]:
    """One row per (repository, tag[, digest]) as docker's imageFormatTaggedAndDigest builds them."""
    rows: list[dict[str, Any]] = []
    for image in images:
        tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
        dgsts = [d for d in image.get("RepoDigests") or [] if d != "<none>@<none>"]
        if not tags and not dgsts:
            rows.append(_image_row(image, "<none>", "<none>", "<none>", trunc, now))
            continue
        repo_tags: dict[str, list[str]] = {}
        for ref in tags:
            repo, tag = _split_tag(ref)
            if tag:
                repo_tags.setdefault(repo, []).append(tag)
        repo_digests: dict[str, list[str]] = {}
        for ref in dgsts:
            repo, _, digest = ref.partition("@")
            repo_digests.setdefault(_familiar(repo), []).append(digest)
        for repo, rtags in repo_tags.items():
            ds = repo_digests.pop(repo, [])  # digests are never rows of their own next to a tag
            if not digests:
                ds = []
            for tag in rtags:
                if not ds:
                    rows.append(_image_row(image, repo, tag, "<none>", trunc, now))
                for d in ds:
                    rows.append(_image_row(image, repo, tag, d, trunc, now))
        for repo, ds in repo_digests.items():
            if digests:
                for d in ds:
                    rows.append(_image_row(image, repo, "<none>", d, trunc, now))
            else:
                rows.append(_image_row(image, repo, "<none>", "", trunc, now))
    return rows


_IMAGES_FLAGS = Flags(
    bools={
        "-a": "all",
        "--all": "all",
        "--digests": "digests",
        "--no-trunc": "no_trunc",
        "-q": "quiet",
        "--quiet": "quiet",
    },
    values={"-f": "filter", "--filter": "filter", "--format": "format"},
    lists={"filter"},
)


def _images_args(ctx: Context, argv: list[str]) -> Any:
    """The usual ``images [-a] [-q] [--digests] [-f F] [--format T] [REPO[:TAG]]`` by hand (see
    ``quickflags``), anything else (``--help``, flags after the reference) through argparse."""
    quick = _IMAGES_FLAGS.parse(argv, positionals=True)
    if quick is not None and len(quick[1]) <= 1 and not any(a.startswith("-") for a in quick[1]):
        return Options({**quick[0], "reference": quick[1][0] if quick[1] else ""})
    p = new_parser(
        ctx.command,
        "[OPTIONS] [REPOSITORY[:TAG]]",
        "List images",
        [
            "berth images",
            "berth images -q",
            "berth images --filter dangling=true",
            "berth images --format json",
        ],
        aliases=["image ls", "image list", "images"],
    )
    p.add_argument(
        "-a", "--all", action="store_true", help="Show all images (default hides intermediate images)"
    )
    p.add_argument("--digests", action="store_true", help="Show digests")
    p.add_argument("-f", "--filter", action="append", default=[], metavar="filter", help="Filter output")
    p.add_format()
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("reference", nargs="?", default="")
    return p.parse_args(argv)


def images(ctx: Context, argv: list[str]) -> int:
    ns = _images_args(ctx, argv)
    from berth.api import filters
    from berth.cli import format as fmt

    try:
        flt = filters.parse_cli(ns.filter)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    if ns.reference:
        flt.setdefault("reference", []).append(ns.reference)
    params: dict[str, Any] = {}
    if ns.all:
        params["all"] = "1"
    if flt:
        params["filters"] = filters.encode(flt)
    result = ctx.client.get_json("/images/json", params) or []
    rows = image_rows(result, digests=ns.digests, trunc=not ns.no_trunc)
    if ns.quiet:
        sys.stdout.write("".join(r["ID"] + "\n" for r in rows))
        return 0
    if not ns.format or ns.format == "table":  # the default table, without the template engine
        columns = ["Repository", "Tag", "Digest", "ID", "CreatedSince", "Size"]
        if not ns.digests:
            columns.remove("Digest")
        lines = [[IMAGE_HEADERS[c] for c in columns]] + [[r[c] for c in columns] for r in rows]
        sys.stdout.write(fmt.tabwrite(lines))
        return 0
    fmt.render(ns.format, rows, IMAGE_HEADERS, DEFAULT_IMAGES, type_name="formatter.imageContext")
    return 0


def rmi(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] IMAGE [IMAGE...]",
        "Remove one or more images",
        ["berth rmi busybox", "berth rmi -f app:1"],
        aliases=["image rm", "image remove", "rmi"],
    )
    p.add_argument("-f", "--force", action="store_true", help="Force removal of the image")
    p.add_argument("--no-prune", action="store_true", help="Do not delete untagged parents")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    ns = p.parse_args(argv)
    params: dict[str, Any] = {}
    if ns.force:
        params["force"] = "1"
    if ns.no_prune:
        params["noprune"] = "1"

    def remove(name: str) -> None:
        for item in ctx.client.delete(f"/images/{quote(name)}", params or None) or []:
            if item.get("Untagged"):
                sys.stdout.write(f"Untagged: {item['Untagged']}\n")
            if item.get("Deleted"):
                sys.stdout.write(f"Deleted: {item['Deleted']}\n")

    return for_each(ns.images, remove)


def tag(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
        "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
        ["berth tag busybox localhost:5000/busybox:1"],
        aliases=["image tag", "tag"],
    )
    p.add_argument("source")
    p.add_argument("target")
    ns = p.parse_args(argv)
    from berth.oci.reference import parse

    try:
        ref = parse(ns.target)
    except Exception as exc:  # noqa: BLE001 - InvalidArgument with the reason
        raise CLIError(f"invalid reference format: {exc}") from exc
    if ref.digest:
        raise CLIError("refusing to create a tag with a digest reference")
    ctx.client.post(f"/images/{quote(ns.source)}/tag", {"repo": ref.repository, "tag": ref.tag or "latest"})
    return 0


def history(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] IMAGE",
        "Show the history of an image",
        ["berth history busybox", "berth history --no-trunc -H=false busybox"],
        aliases=["image history", "history"],
    )
    p.add_format()
    p.add_argument(
        "-H",
        "--human",
        default="true",
        metavar="bool",
        nargs="?",
        const="true",
        help="Print sizes and dates in human readable format (default true)",
    )
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("image")
    ns = p.parse_args(argv)
    from berth.cli import format as fmt

    human = str(ns.human).lower() not in ("false", "0")
    trunc = not ns.no_trunc
    entries = ctx.client.get_json(f"/images/{quote(ns.image)}/history") or []
    rows = []
    for h in entries:
        created = h.get("Created") or 0
        created_by = str(h.get("CreatedBy") or "").replace("\t", " ")
        image_id = h.get("Id") or "<missing>"
        if trunc and image_id != "<missing>":
            image_id = fmt.short_id(image_id)
        if human:
            since = fmt.time_ago(created)
            size = fmt.human_size(h.get("Size") or 0)
        else:
            import time

            since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
            size = str(h.get("Size") or 0)
        rows.append(
            {
                "ID": image_id,
                "CreatedSince": since,
                "CreatedAt": fmt.format_local_time(created),
                "CreatedBy": fmt.ellipsis(created_by, 45) if trunc else created_by,
                "Size": size,
                "Comment": h.get("Comment") or "",
                "Tags": ", ".join(h.get("Tags") or []),
            }
        )
    headers = {
        "ID": "IMAGE",
        "CreatedSince": "CREATED",
        "CreatedAt": "CREATED AT",
        "CreatedBy": "CREATED BY",
        "Size": "SIZE",
        "Comment": "COMMENT",
        "Tags": "TAGS",
    }
    default = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    fmt.render(
        "{{.ID}}" if ns.quiet else ns.format, rows, headers, default, type_name="formatter.historyContext"
    )
    return 0


def prune(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command, "[OPTIONS]", "Remove unused images", ["berth image prune -f", "berth image prune -a -f"]
    )
    p.add_argument(
        "-a", "--all", action="store_true", help="Remove all unused images, not just dangling ones"
    )
    p.add_argument("--filter", action="append", default=[], metavar="filter", help="Provide filter values")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    ns = p.parse_args(argv)
    from berth.cli.lifecycle import confirm

    if ns.all:
        confirm(
            "WARNING! This will remove all images without at least one container associated to them.",
            ns.force,
        )
    else:
        confirm("WARNING! This will remove all dangling images.", ns.force)
    sys.stdout.write(prune_images(ctx, ns.all, ns.filter))
    return 0


def prune_images(ctx: Context, all_images: bool, extra: list[str]) -> str:
    """POST /images/prune; returns docker's report text."""
    from berth.api import filters
    from berth.cli.format import human_size

    flt = filters.parse_cli(extra)
    flt["dangling"] = ["false" if all_images else "true"]
    report = ctx.client.post_json("/images/prune", {"filters": filters.encode(flt)}) or {}
    out = ""
    deleted = report.get("ImagesDeleted") or []
    if deleted:
        out += "Deleted Images:\n"
        for item in deleted:
            if item.get("Untagged"):
                out += f"untagged: {item['Untagged']}\n"
            if item.get("Deleted"):
                out += f"deleted: {item['Deleted']}\n"
        out += "\n"
    return out + f"Total reclaimed space: {human_size(report.get('SpaceReclaimed') or 0)}\n"
