"""``berth build``: send a build context (tar, ``.dockerignore`` applied) to ``POST /build``, as the
docker CLI's legacy builder does: every flag of its ``docker build`` as the query it sends (``t`` and
``extrahosts`` repeated, ``buildargs``/``labels``/``cachefrom``/``ulimits`` as JSON, limits as numbers,
``rm=1``, ``version=1``), a chunked ``application/x-tar`` body and ``X-Registry-Config`` with every
stored login. ``--iidfile`` writes the new image's id. ``--secret`` values travel in the
``X-Berth-Build-Secrets`` header (never in the query, which logs keep), ``--ssh`` agent sockets in
``X-Berth-Build-Ssh`` (paths: only to a daemon on this host). ``--output`` (local, tar, image,
registry, cacheonly) and ``--cache-to type=inline`` are buildx's, done here around the build
(``berth.cli.buildoutput``); a failed RUN exits with its exit code, as the docker CLI.
"""

from __future__ import annotations

import os
import stat
import sys

from berth.cli import buildcontext
from berth.cli.buildcontext import StreamedContext
from berth.cli.command import CLIError, Context, new_parser

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any


# Go-style booleans that docker's flags allow as ``--rm=false``: (flag, default)
_GO_BOOLS = {"--rm": True, "--disable-content-trust": True}
_PROGRESS = ("auto", "plain", "tty", "quiet", "rawjson")


def _go_bools(argv: list[str]) -> tuple[list[str], dict[str, bool]]:
    """``--rm=false`` and friends out of ``argv`` (argparse has no Go booleans); their values."""
    values = dict(_GO_BOOLS)
    rest: list[str] = []
    for index, arg in enumerate(argv):
        if arg == "--":
            rest.extend(argv[index:])
            break
        flag, sep, value = arg.partition("=")
        if flag in _GO_BOOLS and (sep or arg == flag):
            lowered = value.lower() if sep else "true"
            if lowered not in ("true", "false", "1", "0", "t", "f"):
                raise CLIError(
                    f'invalid argument "{value}" for "{flag}" flag: strconv.ParseBool: parsing "{value}": invalid syntax',
                    125,
                )
            values[flag] = lowered in ("true", "1", "t")
            continue
        rest.append(arg)
    return rest, values


def _ulimit(text: str) -> dict[str, Any]:
    """``nofile=1024[:2048]`` as the Engine API's ``{"Name", "Hard", "Soft"}``."""
    name, sep, limits = text.partition("=")
    soft, _, hard = limits.partition(":")
    try:
        soft_value = int(soft)
        hard_value = int(hard) if hard else soft_value
    except ValueError:
        raise CLIError(
            f'invalid argument "{text}" for "--ulimit" flag: invalid ulimit argument: {text}', 125
        ) from None
    if not sep or not name:
        raise CLIError(f'invalid argument "{text}" for "--ulimit" flag: invalid ulimit argument: {text}', 125)
    return {"Name": name, "Hard": hard_value, "Soft": soft_value}


def _add_flags(p: Any) -> None:
    p.add_argument(
        "--add-host",
        action="append",
        default=[],
        metavar="list",
        help='Add a custom host-to-IP mapping ("host:ip")',
    )
    p.add_argument(
        "--build-arg", action="append", default=[], metavar="list", help="Set build-time variables"
    )
    p.add_argument(
        "--cache-from",
        action="append",
        default=[],
        metavar="strings",
        help="Images to consider as cache sources",
    )
    p.add_argument(
        "--cache-to",
        action="append",
        default=[],
        metavar="strings",
        help='Cache export destinations (only "type=inline": every image is a cache source)',
    )
    p.add_argument(
        "--cgroup-parent",
        default="",
        metavar="string",
        help='Set the parent cgroup for the "RUN" instructions during build',
    )
    p.add_argument("--compress", action="store_true", help="Compress the build context using gzip")
    p.add_argument(
        "--cpu-period",
        type=int,
        default=0,
        metavar="int",
        help="Limit the CPU CFS (Completely Fair Scheduler) period",
    )
    p.add_argument(
        "--cpu-quota",
        type=int,
        default=0,
        metavar="int",
        help="Limit the CPU CFS (Completely Fair Scheduler) quota",
    )
    p.add_argument(
        "-c", "--cpu-shares", type=int, default=0, metavar="int", help="CPU shares (relative weight)"
    )
    p.add_argument(
        "--cpuset-cpus", default="", metavar="string", help="CPUs in which to allow execution (0-3, 0,1)"
    )
    p.add_argument(
        "--cpuset-mems", default="", metavar="string", help="MEMs in which to allow execution (0-3, 0,1)"
    )
    p.add_argument(
        "-f",
        "--file",
        default="",
        metavar="string",
        help='Name of the Dockerfile (Default is "PATH/Dockerfile")',
    )
    p.add_argument("--force-rm", action="store_true", help="Always remove intermediate containers")
    p.add_argument("--iidfile", default="", metavar="string", help="Write the image ID to the file")
    p.add_argument("--isolation", default="", metavar="string", help="Container isolation technology")
    p.add_argument("--label", action="append", default=[], metavar="list", help="Set metadata for an image")
    p.add_argument("-m", "--memory", default="", metavar="bytes", help="Memory limit")
    p.add_argument(
        "--memory-swap",
        default="",
        metavar="bytes",
        help="Swap limit equal to memory plus swap: -1 to enable unlimited swap",
    )
    p.add_argument(
        "--network",
        default="default",
        metavar="string",
        help='Set the networking mode for the RUN instructions during build (default "default")',
    )
    p.add_argument("--no-cache", action="store_true", help="Do not use cache when building the image")
    p.add_argument(
        "-o",
        "--output",
        action="append",
        default=[],
        metavar="stringArray",
        help='Output destination (format: "type=local,dest=path"; tar, image, registry, cacheonly)',
    )
    p.add_argument(
        "--platform",
        default=os.environ.get("DOCKER_DEFAULT_PLATFORM", ""),
        metavar="string",
        help="Set platform if server is multi-platform capable",
    )
    p.add_argument(
        "--progress",
        default="auto",
        metavar="string",
        help="Set type of progress output: auto (tty on a terminal), plain, tty (a live view), quiet",
    )
    p.add_argument("--pull", action="store_true", help="Always attempt to pull a newer version of the image")
    p.add_argument(
        "-q", "--quiet", action="store_true", help="Suppress the build output and print image ID on success"
    )
    p.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="stringArray",
        help='Secret to expose to the build ("id=mysecret[,src=/local/secret]" or "id=KEY,env=VAR")',
    )
    p.add_argument("--security-opt", action="append", default=[], metavar="strings", help="Security options")
    p.add_argument("--shm-size", default="", metavar="bytes", help='Size of "/dev/shm"')
    p.add_argument("--squash", action="store_true", help="Squash newly built layers into a single new layer")
    p.add_argument(
        "--ssh",
        action="append",
        default=[],
        metavar="stringArray",
        help='SSH agent socket to expose to the build ("default|<id>[=<socket>]")',
    )
    p.add_argument(
        "-t",
        "--tag",
        action="append",
        default=[],
        metavar="list",
        help='Name and optionally a tag in the "name:tag" format',
    )
    p.add_argument("--target", default="", metavar="string", help="Set the target build stage to build.")
    p.add_argument("--ulimit", action="append", default=[], metavar="ulimit", help="Ulimit options")
    # --rm and --disable-content-trust are Go booleans (--rm=false): _go_bools takes them out of
    # argv before argparse; declared here for the help only
    p.add_argument(
        "--rm",
        action="store_true",
        help="Remove intermediate containers after a successful build (default true)",
    )
    p.add_argument(
        "--disable-content-trust", action="store_true", help="Skip image verification (default true)"
    )
    p.add_argument("path")


def _cache_from(items: list[str]) -> list[str]:
    if not items:  # buildoutput (dataclasses, re) costs the CLI ~10 ms to import
        return []
    from berth.cli.buildoutput import cache_from

    return cache_from(items)


def build_params(ns: Any, rm: bool, dockerfile: str) -> dict[str, Any]:
    """The query the docker CLI's legacy builder sends for these flags (docker/cli imageBuildOptions):
    zero and empty values included, as it does."""
    import json

    from berth.cli.runopts import ram_in_bytes

    def compact(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"))

    args: dict[str, str | None] = {}
    for item in ns.build_arg:
        key, sep, value = item.partition("=")
        args[key] = value if sep else os.environ.get(key)
    params: dict[str, Any] = {"t": ns.tag or None, "extrahosts": ns.add_host or None}
    params["securityopt"] = ns.security_opt or None
    if ns.quiet:
        params["q"] = "1"
    if ns.no_cache:
        params["nocache"] = "1"
    params["rm"] = "1" if rm else "0"
    if ns.force_rm:
        params["forcerm"] = "1"
    if ns.pull:
        params["pull"] = "1"
    if ns.squash:
        params["squash"] = "1"
    if ns.isolation and ns.isolation != "default":
        params["isolation"] = ns.isolation
    memory = ram_in_bytes(ns.memory) if ns.memory else 0
    swap = ram_in_bytes(ns.memory_swap) if ns.memory_swap else 0
    params.update(
        cpusetcpus=ns.cpuset_cpus,
        networkmode=ns.network,
        cpusetmems=ns.cpuset_mems,
        cpushares=str(ns.cpu_shares),
        cpuquota=str(ns.cpu_quota),
        cpuperiod=str(ns.cpu_period),
        memory=str(memory),
        memswap=str(swap),
        cgroupparent=ns.cgroup_parent,
        shmsize=str(ram_in_bytes(ns.shm_size) if ns.shm_size else 0),
        dockerfile=dockerfile,
        target=ns.target,
        ulimits=compact([_ulimit(u) for u in ns.ulimit] or None),
        buildargs=compact(args or None),
        labels=compact(dict(item.partition("=")[::2] for item in ns.label) or None),
        cachefrom=compact(_cache_from(ns.cache_from) or None),
    )
    if ns.platform:
        params["platform"] = ns.platform.lower()
    params["version"] = "1"
    return params


def _secret(spec: str) -> tuple[str, str]:
    """``--secret id=ID[,src=FILE|,env=VAR]`` (buildx's form) → (id, base64 of the value). Without
    ``src`` or ``env``: the environment variable named ID, else the file named ID."""
    import base64

    fields = dict(f.partition("=")[::2] for f in spec.split(","))
    secret_id = fields.get("id", "")
    if not secret_id:
        raise CLIError(f"invalid secret {spec!r}: id=… is required", 125)
    unknown = set(fields) - {"id", "src", "source", "env", "type"}
    if unknown:
        raise CLIError(f"unexpected key '{sorted(unknown)[0]}' in secret {spec!r}", 125)
    env, src = fields.get("env", ""), fields.get("src") or fields.get("source", "")
    if fields.get("type") == "env" and not env:
        env = src or secret_id
    if not env and not src:
        env, src = (secret_id, "") if secret_id in os.environ else ("", secret_id)
    if env:
        if env not in os.environ:
            raise CLIError(f"secret {secret_id}: environment variable {env} is not set", 125)
        value = os.environ[env].encode()
    else:
        try:
            with open(src, "rb") as fh:
                value = fh.read()
        except OSError as e:
            raise CLIError(f"secret {secret_id}: failed to read {src}: {e.strerror}", 125) from e
    return secret_id, base64.b64encode(value).decode()


def _ssh(spec: str) -> tuple[str, str]:
    """``--ssh default`` ($SSH_AUTH_SOCK) or ``--ssh ID=SOCKET`` → (id, absolute socket path)."""

    ssh_id, _, path = spec.partition("=")
    path = path or os.environ.get("SSH_AUTH_SOCK", "")
    if not path:
        raise CLIError(f"--ssh {spec}: no socket given and SSH_AUTH_SOCK is not set", 125)
    try:
        is_socket = stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError as e:
        raise CLIError(f"--ssh {spec}: {path}: {e.strerror}", 125) from e
    if not is_socket:
        raise CLIError(f"--ssh {spec}: {path} is not an agent socket (key files are not supported)", 125)
    return ssh_id or "default", os.path.abspath(path)


def _encode(value: dict[str, str]) -> str:
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def _errors_with_codes(messages: Any) -> Any:
    """The stream, with a failed step's error raised with its exit code (the docker CLI's exit)."""
    for msg in messages:
        if isinstance(msg, dict) and (msg.get("error") or msg.get("errorDetail")):
            detail = msg.get("errorDetail") or {}
            text = str(msg.get("error") or detail.get("message") or "unknown error")
            raise CLIError(text, int(detail.get("code") or 1), prefix="")
        yield msg


def build(ctx: Context, argv: list[str]) -> int:
    p = new_parser(
        ctx.command,
        "[OPTIONS] PATH | -",
        "Build an image from a Dockerfile",
        ["berth build -t app:1 .", "berth build -f docker/Dockerfile --build-arg V=2 -t app ."],
        aliases=["image build", "build"],
    )
    _add_flags(p)
    argv, bools = _go_bools(argv)
    ns = p.parse_args(argv)
    if ns.progress not in _PROGRESS:
        raise CLIError(f'invalid progress mode "{ns.progress}": use auto, plain, tty, quiet or rawjson', 125)
    if ns.progress != "auto" and ns.progress not in ("plain", "tty", "quiet"):
        raise CLIError(f"--progress={ns.progress} requires BuildKit", 125)
    ns.quiet = ns.quiet or ns.progress == "quiet"
    if not bools["--disable-content-trust"]:
        raise CLIError("content trust (--disable-content-trust=false) is not supported by berth", 125)
    plan = None
    if ns.output or ns.cache_to:  # buildx's flags, done around the build (berth.cli.buildoutput)
        from berth.cli import buildoutput

        plan = buildoutput.plan(ns.output, ns.cache_to, tags=ns.tag, iidfile=ns.iidfile)
    from berth.cli import config

    if ns.iidfile:
        try:  # no stale id if this build fails, as the docker CLI
            os.remove(ns.iidfile)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise CLIError(f"Removing image ID file: {e}") from e
    dockerfile = ns.file or "Dockerfile"
    if ns.path != "-" and ns.file and os.path.isabs(ns.file):
        dockerfile = os.path.relpath(ns.file, ns.path)
    params = build_params(ns, bools["--rm"], dockerfile)
    if plan is not None:
        _plan_params(params, plan)
    auths = {}
    for registry in config.load(ctx.config_dir).get("auths") or {}:
        auths[registry] = config.auth_for(ctx.config_dir, registry)
    from berth.api.auth import encode_header

    headers = {"Content-Type": "application/x-tar", "X-Registry-Config": encode_header(auths)}
    if ns.secret:
        headers["X-Berth-Build-Secrets"] = _encode({k: v for spec in ns.secret for k, v in [_secret(spec)]})
    if ns.ssh:
        if ctx.client.address.scheme != "unix":
            raise CLIError(
                "--ssh forwards an agent socket of this host: it needs a daemon on a unix socket", 125
            )
        headers["X-Berth-Build-Ssh"] = _encode(dict(_ssh(spec) for spec in ns.ssh))
    image_id = _build_with(ctx, ns, plan, params, headers, dockerfile)
    if ns.iidfile:
        if not image_id:
            raise CLIError(f"Server did not provide an image ID. Cannot write {ns.iidfile}")
        with open(ns.iidfile, "w", encoding="utf-8") as fh:
            fh.write(image_id)
    return 0


def _plan_params(params: dict[str, Any], plan: Any) -> None:
    """The query for ``--output``: the image's names, or none when no image stays (buildx ignores
    ``-t`` then: said, not silent) and no ``q``, whose stream would not name the steps' images."""
    if plan.keep:
        params["t"] = plan.names or None
        return
    if plan.tags:
        kinds = "/".join(dict.fromkeys(o.type for o in plan.outputs))
        sys.stderr.write(
            f"WARNING: --tag is ignored: --output type={kinds} keeps no image "
            "(add --output type=image to keep a tagged one too)\n"
        )
    params["t"] = None
    params.pop("q", None)


def _build_with(
    ctx: Context, ns: Any, plan: Any, params: dict[str, Any], headers: dict[str, str], dockerfile: str
) -> str:
    """Send the build, then deliver ``plan``'s outputs; returns the image id. Without an image output
    what the build made is removed, even when it fails."""
    import io

    out = io.StringIO() if ns.quiet else (sys.stderr if plan is not None and plan.to_stdout else sys.stdout)
    if plan is None:
        image_id = _send(ctx, ns, params, headers, dockerfile, out, lambda messages: messages)
        if ns.quiet:
            sys.stdout.write(image_id + "\n")
        return image_id
    from berth.cli import buildoutput

    before = set() if plan.keep else buildoutput.image_ids(ctx)
    steps = buildoutput.StepIds()
    image_id = ""
    try:
        image_id = _send(ctx, ns, params, headers, dockerfile, out, steps.watch)
        if not image_id:
            raise CLIError("the daemon did not report the built image's id: nothing to output")
        buildoutput.deliver(ctx, plan, image_id, out, quiet=ns.quiet)
    finally:
        if not plan.keep:
            buildoutput.remove_built(ctx, image_id, before, steps.ids)
    if ns.quiet and plan.keep:
        sys.stdout.write(image_id + "\n")
    return image_id


def _send(
    ctx: Context,
    ns: Any,
    params: dict[str, Any],
    headers: dict[str, str],
    dockerfile: str,
    out: Any,
    watch: Any,
) -> str:
    """``POST /build`` with the context, its stream shown on ``out`` (through ``watch``); the image id."""
    import io

    from berth.cli import progress

    with buildcontext.unnamed_file() as body, buildcontext.unnamed_file() as packed:
        sent = _context(ns, dockerfile, body, packed)
        image_id = ""

        def on_aux(aux: Any) -> None:
            nonlocal image_id
            if isinstance(aux, dict) and aux.get("ID"):
                image_id = str(aux["ID"])

        live = not ns.quiet and (ns.progress == "tty" or (ns.progress == "auto" and out.isatty()))
        if live:  # stages running at once are drawn side by side: their lines as they come
            headers = {**headers, "X-Berth-Build-Progress": "interleaved"}
        resp = ctx.client.request("POST", "/build", params, body=sent, headers=headers)
        if not ns.quiet:  # as the docker CLI: the tar's bytes, once they are sent
            from berth.cli.format import human_size

            size = (
                sent.sent
                if isinstance(sent, buildcontext.StreamedContext)
                else os.fstat(sent.fileno()).st_size
            )
            out.write(f"Sending build context to Berth daemon  {human_size(size, 4)}\n")
        try:
            if live:  # a live view of the steps (cli/buildview.py), as docker buildx draws it
                from berth.cli import buildview

                buildview.display(watch(_errors_with_codes(resp.iter_json())), out, aux=on_aux)
            else:
                progress.display(watch(_errors_with_codes(resp.iter_json())), out, aux=on_aux, terminal=False)
        except CLIError:
            if isinstance(out, io.StringIO):  # quiet: the held-back output explains the failure
                sys.stderr.write(out.getvalue())
            raise
    if isinstance(out, io.StringIO) and params.get("q"):  # q=1: the daemon's answer is just the id
        image_id = out.getvalue().strip() or image_id
    return image_id


def _context(ns: Any, dockerfile: str, body: IO[bytes], packed: IO[bytes]) -> IO[bytes] | StreamedContext:
    """The request body: the context streamed by GNU tar as it writes it, else its tar in ``body``
    (read from stdin with ``-``; gzipped into ``packed`` with ``--compress``), at its start."""
    if ns.path == "-":
        body.write(sys.stdin.buffer.read())
    else:
        if not os.path.isdir(ns.path):
            raise CLIError(f'unable to prepare context: path "{ns.path}" not found')
        streamed = buildcontext.context_body(ns.path, dockerfile)
        if streamed is None:
            buildcontext.write_context(ns.path, dockerfile, body)
        elif not ns.compress:
            return streamed
        else:
            for piece in streamed:
                body.write(piece)
    body.seek(0)
    if not ns.compress:
        return body
    import gzip  # --compress: the context tar gzipped (the daemon takes compressed contexts)
    import shutil

    with gzip.GzipFile(fileobj=packed, mode="wb") as gz:
        shutil.copyfileobj(body, gz)
    packed.seek(0)
    return packed
