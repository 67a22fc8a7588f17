"""``berth build --output`` and ``--cache-to``, in buildx's forms, done by the CLI around the classic
builder (``POST /build`` has no exporters; the daemon still refuses its ``outputs`` parameter).

``--output`` (``-o``), CSV ``type=TYPE[,dest=…][,key=value…]`` as buildx parses it (``-o DIR`` is
``type=local,dest=DIR``, ``-o -`` is ``type=tar`` on stdout); several may be given, one on stdout:

* ``local,dest=DIR``: the files of the final stage (the target), merged into DIR (``unpackdir``);
* ``tar[,dest=FILE|-]``: the same files as one tar (stdout without dest; never onto a terminal);
* ``image`` / ``docker`` (no dest): the normal result, an image tagged with ``-t`` (or ``name=``);
  ``push=true`` then pushes every name, which ``registry`` means;
* ``cacheonly``: only the build (its intermediate images, the classic builder's cache, are removed).

How: the build runs as usual, then a container is created from the image (never started, so it holds
exactly the image's files, none of the runtime's mount points), ``GET /containers/{id}/export`` is
written or unpacked, and the container is removed. Without an image output nothing of the build
stays: the images it made (the final one, the steps' reported in the stream as `` ---> ID``, and
their new parents) are removed children first, never one that existed before the build or that
has a tag. ``-t`` without an image output names nothing (buildx ignores it): a warning says so.

``--cache-to type=inline``: BuildKit embeds cache metadata in the image for ``--cache-from`` after a
push and pull. Every Berth image already carries what ``--cache-from`` matches (its history and
layers, ``engine/builder/cache.py``), so inline is accepted and adds nothing; other types are refused.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field

from berth.cli.command import CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any, TextIO

    from berth.cli.command import Context

_TYPES = ("local", "tar", "image", "docker", "registry", "cacheonly")
_ATTRS = {  # the attributes each type takes besides type and dest
    "local": {"platform-split"},  # one platform only: splitting changes nothing
    "tar": set(),
    "image": {"name", "push"},
    "docker": {"name"},
    "registry": {"name", "push"},
    "cacheonly": set(),
}
_TRUE, _FALSE = ("1", "t", "T", "TRUE", "true", "True"), ("0", "f", "F", "FALSE", "false", "False")
_STEP_ID = re.compile(r"^ ---> ([0-9a-f]{12})\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Output:
    """One ``--output``: ``type``, ``dest`` (a directory, a file, ``-`` for stdout), image names, push."""

    type: str
    dest: str = ""
    names: tuple[str, ...] = ()
    push: bool = False

    @property
    def keeps_image(self) -> bool:
        return self.type in ("image", "docker", "registry")

    @property
    def writes_files(self) -> bool:
        return self.type in ("local", "tar")


@dataclass
class Plan:
    """What the build must do besides building: ``files`` to write, ``push`` names, and whether the
    image stays (``keep``)."""

    outputs: list[Output]
    tags: list[str]

    @property
    def keep(self) -> bool:
        return not self.outputs or any(o.keeps_image for o in self.outputs)

    @property
    def files(self) -> list[Output]:
        return [o for o in self.outputs if o.writes_files]

    @property
    def to_stdout(self) -> bool:
        return any(o.type == "tar" and o.dest == "-" for o in self.outputs)

    @property
    def names(self) -> list[str]:
        """The image's names: ``-t``'s, else the ``name=`` of its outputs (buildx: the tags win)."""
        if self.tags or not self.keep:
            return list(self.tags)
        return list(dict.fromkeys(n for o in self.outputs for n in o.names))

    @property
    def push(self) -> list[str]:
        return self.names if any(o.push for o in self.outputs) else []


def _fields(spec: str, flag: str) -> list[str]:
    """The CSV fields of ``spec`` (quotes allowed, as Go's encoding/csv)."""
    import csv

    try:
        rows = list(csv.reader([spec], skipinitialspace=False, strict=True))
    except csv.Error as exc:
        raise CLIError(f"invalid {flag} value {spec!r}: {exc}", 125) from exc
    return rows[0] if rows else []


def _bool(value: str, key: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise CLIError(f'invalid value "{value}" for {key}: strconv.ParseBool: invalid syntax', 125)


def parse_output(spec: str) -> Output:
    """One ``--output`` as buildx reads it (``-o DIR``, ``-o -``, or ``type=…,dest=…,key=value``)."""
    fields = _fields(spec, "--output")
    if len(fields) == 1 and fields[0] == spec and not spec.startswith("type="):
        return Output("tar", "-") if spec == "-" else Output("local", spec)
    kind, dest, attrs = "", "", {}
    for item in fields:
        key, sep, value = item.partition("=")
        if not sep:
            raise CLIError(f"invalid value {item}", 125)
        key = key.strip().lower()
        if key == "type":
            kind = value
        elif key == "dest":
            dest = value
        else:
            attrs[key] = value
    if not kind:
        raise CLIError("type is required for output", 125)
    return _typed(kind, dest, attrs)


def _typed(kind: str, dest: str, attrs: dict[str, str]) -> Output:
    if kind == "oci" or (kind == "docker" and dest):
        raise CLIError(
            f"--output type={kind} with a destination file is not supported by berth build: "
            "build with -t NAME, then berth save NAME -o FILE",
            125,
        )
    if kind not in _TYPES:
        raise CLIError(
            f'unknown output type "{kind}": berth build supports type=local, tar, image, docker, '
            "registry and cacheonly",
            125,
        )
    unknown = sorted(set(attrs) - _ATTRS[kind])
    if unknown:
        raise CLIError(f'--output type={kind} does not take "{unknown[0]}" in berth build', 125)
    if dest and kind not in ("local", "tar"):
        raise CLIError(f"output {dest} is not supported by {kind} exporter", 125)
    names = tuple(n for n in attrs.get("name", "").split(",") if n)
    push = kind == "registry" or _bool(attrs.get("push", "false"), "push")
    return Output(kind, dest, names, push)


def check_dest(output: Output, *, stdout_tty: bool) -> Output:
    """buildx's checks of a destination (before the build), ``tar`` without one meaning stdout."""
    if output.type == "local":
        if not output.dest:
            raise CLIError("dest is required for local exporter", 125)
        if output.dest == "-":
            raise CLIError("dest cannot be stdout for local exporter", 125)
        if os.path.exists(output.dest) and not os.path.isdir(output.dest):
            raise CLIError(f"destination directory {output.dest} is a file", 125)
    elif output.type == "tar":
        if not output.dest or output.dest == "-":
            if stdout_tty:
                raise CLIError("dest file is required for tar exporter. refusing to write to console", 125)
            return Output("tar", "-")
        if os.path.isdir(output.dest):
            raise CLIError(f"destination file {output.dest} is a directory", 125)
    return output


def plan(specs: list[str], cache_to: list[str], *, tags: list[str], iidfile: str) -> Plan:
    """The ``--output``/``--cache-to`` flags checked as buildx does, before anything is sent."""
    outputs = [check_dest(parse_output(s), stdout_tty=sys.stdout.isatty()) for s in specs if s]
    if sum(1 for o in outputs if o.dest == "-") > 1:
        raise CLIError("multiple outputs configured to write to stdout", 125)
    result = Plan(outputs, list(tags))
    if iidfile and (result.files or not result.keep):
        raise CLIError("local and tar exporters are incompatible with image ID file", 125)
    if any(o.push for o in outputs) and not result.names:
        raise CLIError("tag is needed when pushing to registry", 125)
    if check_cache_to(cache_to) and not result.keep:
        raise CLIError(
            "--cache-to type=inline puts the cache in the image, and these outputs keep no image", 125
        )
    return result


def check_cache_to(specs: list[str]) -> bool:
    """``--cache-to``: only ``type=inline`` (``mode=min``); True if one was given."""
    inline = False
    for spec in specs:
        if not spec:
            continue
        if "=" not in spec:  # buildx: a bare name is type=registry,ref=NAME
            raise _cache_type("registry")
        attrs = dict(item.partition("=")[::2] for item in _fields(spec, "--cache-to"))
        attrs = {k.lower(): v for k, v in attrs.items()}
        kind = attrs.pop("type", "")
        if not kind:
            raise CLIError(f'type required for "{spec}"', 125)
        if kind != "inline":
            raise _cache_type(kind)
        if attrs.pop("mode", "min") != "min" or attrs:
            raise CLIError(f"--cache-to {spec}: type=inline takes only mode=min (BuildKit's too)", 125)
        inline = True
    return inline


def _cache_type(kind: str) -> CLIError:
    return CLIError(
        f"--cache-to type={kind} is not supported by berth build: use type=inline and push the image "
        "(every image carries the history --cache-from matches)",
        125,
    )


def cache_from(items: list[str]) -> list[str]:
    """``--cache-from`` images: names (comma-separated, the docker CLI's form) or buildx's
    ``type=registry,ref=NAME``; other cache types are refused."""
    names: list[str] = []
    for item in items:
        if "=" not in item:
            names.extend(c for c in item.split(",") if c)
            continue
        attrs = {k.lower(): v for k, v in (f.partition("=")[::2] for f in _fields(item, "--cache-from"))}
        kind, ref = attrs.pop("type", ""), attrs.pop("ref", "")
        if kind != "registry" or not ref or attrs:
            raise CLIError(
                f"--cache-from {item}: berth build takes images as cache sources "
                "(--cache-from NAME or type=registry,ref=NAME)",
                125,
            )
        names.append(ref)
    return names


@dataclass
class StepIds:
    """The images a build's steps reported (`` ---> 0123456789ab`` lines), read off the stream."""

    ids: set[str] = field(default_factory=set)

    def watch(self, messages: Iterable[Any]) -> Iterator[Any]:
        for msg in messages:
            if isinstance(msg, dict) and isinstance(msg.get("stream"), str):
                self.ids.update(_STEP_ID.findall(msg["stream"]))
            yield msg


def image_ids(ctx: Context) -> set[str]:
    return {str(img.get("Id")) for img in ctx.client.images(all=True) or []}


def deliver(ctx: Context, plan: Plan, image_id: str, out: TextIO, *, quiet: bool) -> None:
    """After the build: write the file outputs and push (``remove_built`` follows if no image stays)."""
    if plan.files:
        export_files(ctx, image_id, plan.files, out, quiet=quiet)
    if plan.push:
        from berth.cli.registry import push_image

        for name in plan.push:
            push_image(ctx, name, out=out)


OWNER_LABEL = "berth.build-output"  # on the export's container: "NODE:PID:START" of the CLI that made it


def export_files(ctx: Context, image_id: str, outputs: list[Output], out: TextIO, *, quiet: bool) -> None:
    """The image's files through a container that is created, exported and removed, never started.
    SIGTERM and SIGHUP end the export as ^C does (the container is removed); a CLI killed outright
    leaves it, labelled with its owner, and the next ``--output`` on this host removes it."""
    import signal

    from berth.client.http import quote

    _remove_orphans(ctx)
    created = ctx.client.post_json(
        "/containers/create",
        None,
        {
            "Image": image_id,
            "Cmd": ["/berth-build-output"],
            "Labels": {OWNER_LABEL: _owner()},
            "HostConfig": {"NetworkMode": "none"},
        },
    )
    container = str(created["Id"])

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupted) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        for output in outputs:
            resp = ctx.client.request("GET", f"/containers/{quote(container)}/export")
            _write(output, resp.iter_chunks())
            if not quiet:
                where = "stdout" if output.dest == "-" else output.dest
                what = "files" if output.type == "local" else "files as a tar"
                out.write(f"Exported the {what} of {image_id.removeprefix('sha256:')[:12]} to {where}\n")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        ctx.client.delete(f"/containers/{quote(container)}", {"force": "1", "v": "1"})


def _owner(pid: int | None = None) -> str:
    """This host, a process and its start time (a PID the kernel reused is another owner)."""
    pid = os.getpid() if pid is None else pid
    with open(f"/proc/{pid}/stat", "rb") as stat:
        start = stat.read().rpartition(b")")[2].split()[19].decode()
    return f"{os.uname().nodename}:{pid}:{start}"


def _owner_gone(owner: str) -> bool:
    node, _, rest = owner.partition(":")
    pid, _, _start = rest.partition(":")
    if node != os.uname().nodename or not pid.isdigit():
        return False  # another host's CLI: not ours to judge
    try:
        return _owner(int(pid)) != owner
    except OSError:
        return True


def _remove_orphans(ctx: Context) -> None:
    """Remove export containers whose CLI was killed before it could (same host, owner gone)."""
    import json

    from berth.client.http import quote

    filters = json.dumps({"label": [OWNER_LABEL]})
    for found in ctx.client.get_json("/containers/json", {"all": "1", "filters": filters}):
        if _owner_gone(str((found.get("Labels") or {}).get(OWNER_LABEL, ""))):
            ctx.client.delete(f"/containers/{quote(str(found['Id']))}", {"force": "1", "v": "1"})


def _write(output: Output, chunks: Iterable[bytes]) -> None:
    if output.type == "tar":
        from berth.cli.archive import write_stream

        if output.dest != "-":
            os.makedirs(os.path.dirname(os.path.abspath(output.dest)), exist_ok=True)
        write_stream(chunks, "" if output.dest == "-" else output.dest)
        return
    from berth.cli.cp import _ChunkReader
    from berth.cli.unpackdir import extract

    extract(_ChunkReader(chunks), output.dest)  # type: ignore[arg-type]  # read() is all tarfile uses


def remove_built(ctx: Context, image_id: str, before: set[str], step_ids: set[str]) -> None:
    """Remove the images this build made, children first: the final one, the steps' (by short id),
    and their parents up to what existed before. Tagged or used ones (not this build's to drop) stay."""
    from berth.client.api import APIError
    from berth.client.http import quote

    listed = {str(i.get("Id")): i for i in ctx.client.images(all=True) or []}
    parent = {iid: str(i.get("ParentId") or "") for iid, i in listed.items()}
    by_short = {iid.removeprefix("sha256:")[:12]: iid for iid in listed}
    doomed: list[str] = []
    for seed in [image_id, *(by_short[s] for s in sorted(step_ids) if s in by_short)]:
        current = seed
        while current in listed and current not in before and current not in doomed:
            summary = listed[current]
            if summary.get("RepoTags") or summary.get("RepoDigests") or summary.get("Containers"):
                break  # named or used meanwhile (a failed step's container keeps its image, as dockerd)
            doomed.append(current)
            current = parent[current]
    for iid in _children_first(doomed, parent):
        try:
            ctx.client.delete(f"/images/{quote(iid)}", {"noprune": "1"})
        except APIError as exc:  # in use by someone else meanwhile: it stays, and the user hears why
            sys.stderr.write(f"WARNING: could not remove the build's image {iid[7:19]}: {exc}\n")


def _children_first(images: list[str], parent: dict[str, str]) -> list[str]:
    """``images`` ordered so that every image comes before its parent."""
    pending, ordered = list(images), []
    while pending:
        parents = {parent.get(i, "") for i in pending}
        leaves = [i for i in pending if i not in parents] or pending  # (no cycles: a guard only)
        ordered.extend(leaves)
        pending = [i for i in pending if i not in leaves]
    return ordered
