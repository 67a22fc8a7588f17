"""``berth build``: send a build context (tar, ``.dockerignore`` applied) to ``POST /build``, as the
docker CLI's legacy builder does: ``t`` (repeated), ``dockerfile``, ``buildargs`` and ``labels`` (JSON),
``version=1``, a chunked ``application/x-tar`` body and ``X-Registry-Config`` with every stored login.
"""

from __future__ import annotations

import os
import re
import sys
import tarfile
import tempfile

from berth.cli.command import CLIError, Context, new_parser

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus ``**``) as a regex over slash paths."""
    out = ""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"  # zero or more directories
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "[":
            end = pattern.find("]", i)
            if end < 0:
                out += re.escape(ch)
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                out += "[" + ("^" + body[1:] if body.startswith(("^", "!")) else body) + "]"
                i = end
        else:
            out += re.escape(ch)
        i += 1
    # a pattern matching a directory also excludes everything below it
    return re.compile(f"^{out}(/.*)?$")


def parse_dockerignore(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """(is_exception, regex) per line, in order; later lines win."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate:
            line = line[1:].strip()
        line = os.path.normpath(line).lstrip("/")
        if line == ".":
            continue
        rules.append((negate, _pattern_regex(line)))
    return rules


def is_ignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    ignored = False
    for negate, regex in rules:
        if regex.match(path):
            ignored = not negate
    return ignored


def write_context(root: str, dockerfile: str, out: IO[bytes]) -> int:
    """Tar ``root`` into ``out`` minus .dockerignore'd paths (the Dockerfile and .dockerignore always go);
    returns the number of bytes of file content."""
    rules: list[tuple[bool, re.Pattern[str]]] = []
    try:
        with open(os.path.join(root, ".dockerignore"), encoding="utf-8") as fh:
            rules = parse_dockerignore(fh.read())
    except FileNotFoundError:
        pass  # no ignore file: send everything
    always = {dockerfile, ".dockerignore"}
    total = 0
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = os.path.relpath(dirpath, root)
            rel_dir = "" if rel_dir == "." else rel_dir
            for name in sorted(dirnames + filenames):
                rel = f"{rel_dir}/{name}" if rel_dir else name
                if rel not in always and is_ignored(rel, rules):
                    if name in dirnames and not any(neg for neg, _ in rules):
                        dirnames.remove(name)  # nothing below can come back: skip the walk
                    continue
                full = os.path.join(dirpath, name)
                info = tar.gettarinfo(full, arcname=rel)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                if info.isfile():
                    total += info.size
                    with open(full, "rb") as fh:
                        tar.addfile(info, fh)
                else:
                    tar.addfile(info)
            dirnames.sort()
    return total


def build(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] PATH | -",
        "Build an image from a Dockerfile",
        ["berth build -t app:1 .", "berth build -f docker/Dockerfile --build-arg V=2 -t app ."],
        aliases=["image build", "build"],
    )
    p.add_argument(
        "--build-arg", action="append", default=[], metavar="list", help="Set build-time variables"
    )
    p.add_argument(
        "-f", "--file", default="", metavar="string", help="Name of the Dockerfile (default: PATH/Dockerfile)"
    )
    p.add_argument("--label", action="append", default=[], metavar="list", help="Set metadata for an image")
    p.add_argument(
        "--network",
        default="",
        metavar="string",
        help="Networking mode for the RUN instructions (none, host)",
    )
    p.add_argument("--no-cache", action="store_true", help="Do not use cache when building the image")
    p.add_argument(
        "--platform", default="", metavar="string", help="Set platform if server is multi-platform capable"
    )
    p.add_argument("--pull", action="store_true", help="Always attempt to pull a newer version of the image")
    p.add_argument(
        "-q", "--quiet", action="store_true", help="Suppress the build output and print image ID on success"
    )
    p.add_argument(
        "-t", "--tag", action="append", default=[], metavar="list", help="Name and optionally a tag"
    )
    p.add_argument("--target", default="", metavar="string", help="Set the target build stage to build")
    p.add_argument("path")
    ns = p.parse_args(argv)
    import json

    from berth.cli import config, progress

    params: dict[str, Any] = {}
    if ns.build_arg:
        args = {}
        for item in ns.build_arg:
            key, sep, value = item.partition("=")
            if sep:
                args[key] = value
            elif key in os.environ:
                args[key] = os.environ[key]
        params["buildargs"] = json.dumps(args, separators=(",", ":"))
    dockerfile = ns.file or "Dockerfile"
    if ns.path != "-" and ns.file and os.path.isabs(ns.file):
        dockerfile = os.path.relpath(ns.file, ns.path)
    params["dockerfile"] = dockerfile
    if ns.label:
        params["labels"] = json.dumps(
            dict(item.partition("=")[::2] for item in ns.label), separators=(",", ":")
        )
    for flag, key in ((ns.no_cache, "nocache"), (ns.pull, "pull"), (ns.quiet, "q")):
        if flag:
            params[key] = "1"
    if ns.platform:
        params["platform"] = ns.platform
    if ns.network:
        params["networkmode"] = ns.network
    params["t"] = ns.tag or None
    if ns.target:
        params["target"] = ns.target
    params["version"] = "1"
    auths = {}
    for registry in config.load(ctx.config_dir).get("auths") or {}:
        auths[registry] = config.auth_for(ctx.config_dir, registry)
    from berth.api.auth import encode_header

    headers = {"Content-Type": "application/x-tar", "X-Registry-Config": encode_header(auths)}
    with tempfile.TemporaryFile() as body:
        if ns.path == "-":
            data = sys.stdin.buffer.read()
            body.write(data)
            size = len(data)
        else:
            if not os.path.isdir(ns.path):
                raise CLIError(f'unable to prepare context: path "{ns.path}" not found')
            size = write_context(ns.path, dockerfile, body)
        body.seek(0)
        if not ns.quiet:
            from berth.cli.format import human_size

            sys.stdout.write(f"Sending build context to Berth daemon  {human_size(size, 4)}\n")
        image_id = ""

        def on_aux(aux: Any) -> None:
            nonlocal image_id
            if isinstance(aux, dict) and aux.get("ID"):
                image_id = str(aux["ID"])

        resp = ctx.client.request("POST", "/build", params, body=body, headers=headers)
        import io

        progress.display(
            resp.iter_json(), io.StringIO() if ns.quiet else sys.stdout, aux=on_aux, terminal=False
        )
    if ns.quiet and image_id:
        sys.stdout.write(image_id + "\n")
    return 0
