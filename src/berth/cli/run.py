"""``create`` and ``run``, following the docker CLI's request order (NOTES.md §3):

create (404 -> "Unable to find image" -> pull -> create) -> attach (hijack) ->
``wait?condition=next-exit|removed`` -> start -> copy streams -> exit code = wait's ``StatusCode``.
"""

from __future__ import annotations

import sys

from berth.cli.command import EXIT_CANNOT_INVOKE, EXIT_DAEMON, EXIT_NOT_FOUND, CLIError, Context, new_parser
from berth.cli.runopts import build_create_body, parse_run_args
from berth.client.api import APIError, APINotFound, APINotModified
from berth.client.http import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from berth.client.http import Pending


def _parser(ctx: Context, run: bool) -> Any:
    verb = "Create and run a new container from an image" if run else "Create a new container"
    examples = (
        [
            "berth run --rm busybox echo hello",
            "berth run -d --name web -p 8080:80 busybox httpd -f",
            "echo hi | berth run -i --rm busybox cat",
            "berth run -it --rm busybox sh",
            "berth run --rm --mount type=tmpfs,target=/scratch,tmpfs-size=64m busybox df /scratch",
            "berth run -d --cidfile /tmp/web.cid --ulimit nofile=1024:2048 -m 256m busybox sleep 600",
        ]
        if run
        else [
            "berth create --name box busybox sleep 60",
            "berth create --network name=mynet,alias=db --cpus 0.5 busybox",
            "berth start -a box",
        ]
    )
    p = new_parser(
        ctx.command,
        "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        verb,
        examples,
        aliases=[f"container {'run' if run else 'create'}", "run" if run else "create"],
        add_help=False,
    )
    from berth.cli import runflags

    runflags.add_to_parser(p, run)
    p.add_argument("image", metavar="IMAGE")
    return p


_WAIT_ARMED_TIMEOUT = 2.0


def _fail(message: str, code: int = EXIT_DAEMON) -> CLIError:
    return CLIError(message, code, prefix="berth: ")


def create_container(ctx: Context, ns: argparse.Namespace, body: dict[str, Any]) -> str:
    """Create, pulling the image first if the daemon does not have it (unless ``--pull never``).

    As the docker CLI: ``--cidfile`` must not exist yet and gets the ID; ``-q`` hides the pull's
    progress; ``--platform`` goes in the query; ``--use-api-socket`` mounts the daemon's socket and
    copies the registry logins into the container."""
    params: dict[str, Any] = {"name": ns.name} if ns.name else {}
    if ns.platform:
        params["platform"] = ns.platform
    if not ns.disable_content_trust:
        raise _fail(f"content trust is not supported by Berth: cannot verify '{ns.image}'")
    cidfile = _CidFile(ns.cidfile)
    auths = _use_api_socket(ctx, ns, body) if ns.use_api_socket else None
    try:
        if ns.pull == "always":
            _pull_for_run(ctx, ns)
        try:
            result = ctx.client.post_json("/containers/create", params or None, body)
        except APINotFound as exc:
            if ns.pull == "never":
                raise _fail(f"Error response from daemon: {exc}") from exc
            if not ns.quiet:
                from berth.cli.registry import normalize

                sys.stderr.write(f"Unable to find image '{normalize(ns.image)[2]}' locally\n")
            _pull_for_run(ctx, ns)
            result = ctx.client.post_json("/containers/create", params or None, body)
    except BaseException:
        cidfile.discard()
        raise
    container_id = str(result["Id"])
    for warning in (result or {}).get("Warnings") or []:
        sys.stderr.write(f"WARNING: {warning}\n")
    cidfile.write(container_id)
    if auths is not None:
        _copy_auths(ctx, container_id, auths)
    return container_id


class _CidFile:
    """docker's ``--cidfile``: refused if the file exists, created before the create request, removed
    if the create fails, holds the container ID afterwards."""

    def __init__(self, path: str) -> None:
        self.path = path
        if not path:
            return
        import os

        if os.path.exists(path):
            raise CLIError(
                f"container ID file found, make sure the other container isn't running or delete {path}",
                prefix="",
            )
        try:
            with open(path, "x"):
                pass
        except OSError as exc:
            raise _fail(f"failed to create the container ID file: {exc}") from exc

    def write(self, container_id: str) -> None:
        if self.path:
            with open(self.path, "w") as fh:
                fh.write(container_id)

    def discard(self) -> None:
        if self.path:
            import contextlib
            import os

            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


_API_SOCKET = "/var/run/docker.sock"
_SECRETS_DIR = "/run/secrets/docker"


def _use_api_socket(ctx: Context, ns: Any, body: dict[str, Any]) -> dict[str, Any] | None:
    """Bind the daemon's unix socket at /var/run/docker.sock; with registry logins, point
    DOCKER_CONFIG at the copy ``_copy_auths`` puts in the container. Returns those logins."""
    address = ctx.client.address
    if address.scheme != "unix":
        raise _fail(f"flag --use-api-socket can only be used with unix sockets: {address}")
    host = body["HostConfig"]
    socket_mount = {"Type": "bind", "Source": address.path, "Target": _API_SOCKET, "BindOptions": {}}
    if "Mounts" in host:
        host["Mounts"].append(socket_mount)
    else:  # Mounts sits just before MaskedPaths in docker's key order
        items = list(host.items())
        at = next(i for i, (key, _) in enumerate(items) if key == "MaskedPaths")
        body["HostConfig"] = dict([*items[:at], ("Mounts", [socket_mount]), *items[at:]])
    from berth.cli import config

    auths = config.load(ctx.config_dir).get("auths") or {}
    if not auths:
        return None
    body["Env"] = [*(body.get("Env") or []), f"DOCKER_CONFIG={_SECRETS_DIR}"]
    kept = ("auth", "identitytoken")
    return {"auths": {reg: {k: v for k, v in entry.items() if k in kept} for reg, entry in auths.items()}}


def _copy_auths(ctx: Context, container_id: str, auths: dict[str, Any]) -> None:
    import io
    import json
    import tarfile
    import time

    data = json.dumps(auths, indent="\t").encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(f"{_SECRETS_DIR}/config.json")
        info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
        tar.addfile(info, io.BytesIO(data))
    ctx.client.request(
        "PUT",
        f"/containers/{container_id}/archive",
        {"path": "/", "noOverwriteDirNonDir": "true"},
        body=buf.getvalue(),
        headers={"Content-Type": "application/x-tar"},
    ).read()


def _pull_for_run(ctx: Context, ns: Any) -> None:
    """A failed pull inside ``run``/``create`` is a daemon failure: exit 125, as docker does."""
    from berth.cli.registry import pull_image

    try:
        pull_image(ctx, ns.image, out=sys.stderr, quiet=ns.quiet, platform=ns.platform)
    except CLIError as exc:
        raise _fail(str(exc)) from exc


def _parse(ctx: Context, argv: list[str], run: bool) -> Any:
    """Flags and body, with docker's errors: pflag's (usage shown) or runconfig's (help hint)."""
    from berth.cli.command import UsageError
    from berth.cli.runopts import RunFlagError

    try:
        ns = parse_run_args(argv, run=run, make_parser=lambda: _parser(ctx, run))
        if run and ns.detach and ns.attach:
            raise CLIError("conflicting options: cannot specify both --attach and --detach", prefix="")
        body = build_create_body(ns, detach=run and ns.detach)
    except UsageError as exc:
        exc.usage = exc.usage or f"berth {ctx.command} [OPTIONS] IMAGE [COMMAND] [ARG...]"
        raise
    except RunFlagError as exc:
        raise _fail(f"{exc}\n\nRun 'berth {ctx.command} --help' for more information") from exc
    return ns, body


def create(ctx: Context, argv: list[str]) -> int:
    ns, body = _parse(ctx, argv, run=False)
    # unlike run (125, "berth: " prefix), docker's create reports daemon errors plainly with status 1
    container_id = create_container(ctx, ns, body)
    sys.stdout.write(container_id + "\n")
    return 0


def start_exit_code(message: str) -> int:
    """docker's mapping of a start failure to run's exit code (126 cannot invoke, 127 not found)."""
    lowered = message.lower()
    if "executable file not found" in lowered or "no such file or directory" in lowered:
        return EXIT_NOT_FOUND
    if "permission denied" in lowered:
        return EXIT_CANNOT_INVOKE
    return EXIT_DAEMON


def run(ctx: Context, argv: list[str]) -> int:
    from berth.cli import streams

    ns, body = _parse(ctx, argv, run=True)
    streams.check_tty(ns.tty and ns.interactive and not ns.detach)
    hint = f"\n\nRun 'berth {ctx.command} --help' for more information"  # docker: only for create's errors
    try:
        container_id = create_container(ctx, ns, body)
    except APIError as exc:
        raise _fail(f"Error response from daemon: {exc}{hint}") from exc
    except CLIError as exc:  # a found --cidfile, a failed pull: docker run reports them the same way
        raise _fail(f"{exc}{hint}") from exc
    client = ctx.client
    path = f"/containers/{container_id}"
    if ns.detach:
        try:
            client.post(f"{path}/start")
        except APIError as exc:
            raise _fail(f"Error response from daemon: {exc}", start_exit_code(str(exc))) from exc
        sys.stdout.write(container_id + "\n")
        return 0
    return attach_start_wait(
        ctx,
        container_id,
        tty=ns.tty,
        stdin=body["AttachStdin"],  # -i, or -a stdin
        stdout=body["AttachStdout"],  # all but stdin unless -a names them
        stderr=body["AttachStderr"],
        auto_remove=ns.rm,
        detach_keys=ns.detach_keys,
        sig_proxy=ns.sig_proxy and not ns.tty,
        error_prefix="berth: ",
    )


def attach_start_wait(
    ctx: Context,
    container_id: str,
    *,
    tty: bool,
    stdin: bool,
    auto_remove: bool,
    stdout: bool = True,
    stderr: bool = True,
    detach_keys: str | None = None,
    sig_proxy: bool = True,
    start: bool = True,
    error_prefix: str = "",
) -> int:
    """Attach, send wait, start, copy the streams; the container's exit code (``run`` and ``start -a``)."""
    from berth.cli import streams

    client = ctx.client
    path = f"/containers/{quote(container_id)}"
    params: dict[str, Any] = {"stream": "1"}
    if stdout:
        params["stdout"] = "1"
    if stderr:
        params["stderr"] = "1"
    if stdin:
        params["stdin"] = "1"
    if detach_keys is not None:
        params["detachKeys"] = detach_keys
    conn = client.hijack(f"{path}/attach", params)
    condition = "removed" if auto_remove else "next-exit"
    pending = client.begin("POST", f"{path}/wait", {"condition": condition})
    # The daemon sends the wait's headers once the wait is armed; waiting for them (bounded) closes the
    # race where a short-lived container exits before the wait is registered.
    pending.wait_head(_WAIT_ARMED_TIMEOUT)
    # Raw before start, as docker: the first keys typed reach the container as typed, not echoed.
    with streams.RawTerminal(0, enabled=tty and stdin):
        return _start_and_pump(
            client,
            conn,
            pending,
            path,
            start=start,
            tty=tty,
            stdin=stdin,
            detach_keys=detach_keys,
            sig_proxy=sig_proxy,
            error_prefix=error_prefix,
        )


def _start_and_pump(
    client: Any,
    conn: Any,
    pending: Pending,
    path: str,
    *,
    start: bool,
    tty: bool,
    stdin: bool,
    detach_keys: str | None,
    sig_proxy: bool,
    error_prefix: str,
) -> int:
    from berth.cli import streams

    if start:
        try:
            client.post(f"{path}/start")
        except APINotModified:
            pass  # already running (start -a of a running container): just stay attached
        except APIError as exc:
            conn.close()
            pending.cancel()
            raise CLIError(
                f"Error response from daemon: {exc}", start_exit_code(str(exc)), prefix=error_prefix
            ) from exc
    fork = client.fork()
    if tty and streams.terminal_size(1):
        streams.watch_resize(streams.resizer(fork, path))
    if sig_proxy:
        streams.proxy_signals(streams.killer(fork, path))
    if streams.pump_session(conn, tty=tty, stdin=stdin, detach_keys=detach_keys, raw_done=True):
        pending.cancel()
        return 0  # detached: the container keeps running
    return wait_status(client, pending)


def wait_status(client: Any, pending: Pending) -> int:
    """Read a ``wait`` response sent earlier: its StatusCode, or 125 with the daemon's error."""
    try:
        result = client.finish(pending).json() or {}
    except APIError as exc:
        raise CLIError(f"Error response from daemon: {exc}", EXIT_DAEMON) from exc
    error = result.get("Error") or {}
    if error.get("Message"):
        raise CLIError(str(error["Message"]), EXIT_DAEMON)
    return int(result.get("StatusCode", 0))
