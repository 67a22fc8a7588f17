"""``POST /build``: Docker's builder, speaking the Dockerfile syntax of BuildKit's ``docker/dockerfile:1``
frontend. Each Dockerfile step makes an image on top of the last:
RUN runs the command in a container from the current image and commits its changes; COPY/ADD extract
files from the context into such a container's root (resolved inside it, as ``cp`` does) and commit;
the other instructions only change the image config (an empty layer in the history). Output is the
classic builder's JSON stream (``Step 1/3 : FROM busybox``, `` ---> 1a2b3c4d5e6f``, the commands'
output, ``{"aux": {"ID": …}}``, ``Successfully built …``, ``Successfully tagged …``).

Multi-stage files are a graph (``stages.py``): only the stages the target needs are built, and they
run at the same time (``schedule.py``, at most ``os.cpu_count()`` at once), each stage as soon as
the stages its FROM, ``COPY --from`` and ``RUN --mount=from=`` name have finished; the output still
reads stage after stage in the Dockerfile's order (a later stage's is held until the earlier ones
have finished), and the first failure cancels the other stages. ``COPY --from`` reads a finished
stage's or another image's root. ``FROM`` an image with ONBUILD triggers runs them first.
BuildKit's syntax: heredocs (``RUN <<EOF``, ``COPY <<EOF /f``), ``RUN
--mount`` of every type (``run_mounts.py``, ``step_mounts.py``), ``RUN --network``, ``COPY --chmod``
(``chmod.py``), ``--exclude``, ``--parents``, ``--link``, ``ADD`` of git repositories (``git.py``)
and ``--checksum``, the automatic platform ARGs.
The build cache (``cache.py``): a step whose parent image already has a child made by the same step
reuses it (`` ---> Using cache``); ``--cache-from`` images can serve too; ``--no-cache`` turns it off.

RUN steps run with the build's limits (memory, swap, CPU shares/quota/period, shm size, cgroup
parent), network and extra hosts. Intermediate containers are removed after each successful step
unless ``rm=0``; a failed step's container is always removed, as BuildKit's (Docker 28's builder): a
failed build leaves no container behind (the classic builder kept it unless ``forcerm=1``).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import dataclasses
import itertools
import json
import os
import posixpath
import re
import shlex
import shutil
import tarfile
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from berth.api.dockerignore import read_patterns
from berth.distribution.auth import Credentials
from berth.engine.builder import cache, context_tar, download, git, run_mounts, schedule, step_mounts
from berth.engine.builder import chmod as chmod_mode
from berth.engine.builder import context as build_context
from berth.engine.builder import stages as stage_graph
from berth.engine.builder.cache_mounts import CacheMounts
from berth.engine.builder.context_tar import ContextTar
from berth.engine.builder.dockerfile import (
    Heredoc,
    Instruction,
    copy_sources,
    directives,
    expand,
    expand_heredoc,
    key_values,
    parse,
    parse_trigger,
    run_script,
    split_words,
    with_heredocs,
)
from berth.engine.builder.ignore import remove_build_files
from berth.engine.builder.step_mounts import StepMounts
from berth.engine.containers import archive
from berth.engine.containers.commit import CommitService
from berth.engine.containers.container import BUILD_STEP_LABEL, Container
from berth.engine.containers.service import ContainerService
from berth.engine.images import ImageRecord, ImageService
from berth.engine.images.pull import PullService
from berth.errors import BerthError, InvalidArgument, NotFound, NotSupported
from berth.oci import platform as oci_platform
from berth.oci import reference
from berth.oci.image import apply_changes
from berth.util.faults import crash_point

Send = Callable[[dict[str, Any]], Awaitable[None]]

_DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_CONFIG_ONLY = {"ENV", "LABEL", "WORKDIR", "USER", "EXPOSE", "VOLUME", "STOPSIGNAL"}
_DEFAULT_SHELL = ["/bin/sh", "-c"]
# build args any RUN sees without an ARG (dockerd's BuiltinAllowedBuildArgs)
_BUILTIN_ARGS = frozenset(
    {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
     "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"}
)  # fmt: skip
_STDERR_START, _STDERR_END = "\033[91m", "\033[0m"  # how dockerd marks a step's stderr in the stream


class BuildFailed(BerthError):
    """A RUN step exited non-zero, in Docker's words (``The command '/bin/sh -c false' returned a
    non-zero code: 1``); ``code`` is the exit code (the stream's ``errorDetail.code``). The
    Dockerfile's author is at fault."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class BuildOptions:
    tags: list[str] = field(default_factory=list)
    dockerfile: str = "Dockerfile"
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    target: str = ""
    quiet: bool = False
    no_cache: bool = False
    pull: bool = False
    platform: str = ""
    network_mode: str = ""  # RUN's network: "" (the default bridge), "none" or "host"
    registry_auths: dict[str, Any] = field(default_factory=dict)
    extra_hosts: list[str] = field(default_factory=list)  # "name:address", for RUN's /etc/hosts
    cache_from: list[str] = field(default_factory=list)
    remove: bool = True  # intermediate containers of successful steps
    force_remove: bool = False  # ... and of a failed one
    # RUN containers' limits, as HostConfig fields (Memory, MemorySwap, CpuShares, CpuPeriod,
    # CpuQuota, ShmSize, CgroupParent)
    host_config: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, bytes] = field(default_factory=dict, repr=False)  # RUN --mount=type=secret
    ssh: dict[str, str] = field(default_factory=dict)  # RUN --mount=type=ssh: id → agent socket
    interleaved: bool = False  # stages' output as it comes, each line behind "[stage] " (a live view)


@dataclass
class _Stage:
    """What the steps so far have made: the image (``""`` for scratch) and its config section."""

    image_id: str
    config: dict[str, Any]
    args: dict[str, str] = field(default_factory=dict)
    started: bool = True  # False before the first FROM
    cmd_set: bool = False  # this stage has its own CMD


class BuildService:
    def __init__(
        self,
        *,
        images: ImageService,
        containers: ContainerService,
        commits: CommitService,
        pull: PullService | None,
        work_dir: Path,
        cache_mounts: CacheMounts | None = None,
    ) -> None:
        self.images = images
        self.containers = containers
        self.commits = commits
        self.pull = pull
        self._work_dir = work_dir
        self.cache_mounts = cache_mounts
        # The daemon's bound on stages running steps, shared by every build (as BuildKit's worker's
        # max-parallelism): two builds at once share the cores instead of taking them twice over.
        self.stage_slots = asyncio.Semaphore(os.cpu_count() or 1)

    async def build(self, context_tar_stream: BinaryIO, options: BuildOptions, send: Send) -> ImageRecord:
        """Unpack the context, run the Dockerfile's steps, tag the result; ``send`` gets the stream."""
        self._work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        work = Path(tempfile.mkdtemp(prefix="build-", dir=self._work_dir))
        try:
            (work / "context").mkdir(mode=0o700)
            await context_tar.spool(context_tar_stream, work / "context.tar")
            context = ContextTar(work / "context.tar", work / "context")  # unpacked when a step reads it
            try:
                steps, notes = await self._read_dockerfile(context, options.dockerfile)
                for note in notes if not options.quiet else []:
                    await send({"stream": note + "\n"})
                return await _Build(self, context, options, send).run(steps)
            finally:
                await context.close()
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)
            if self.cache_mounts is not None:  # builder.gc: the cache kept within its limit
                await asyncio.to_thread(self.cache_mounts.gc)

    async def build_remote(self, url: str, options: BuildOptions, send: Send) -> ImageRecord:
        """``remote=URL``: the context (an archive, or a Dockerfile alone) is downloaded first."""
        if download.is_git(url) or not download.is_remote(url):
            raise NotSupported(
                "remote build contexts from git repositories are not supported by this daemon: "
                "clone it and send the context as the request body"
            )
        self._work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        work = Path(tempfile.mkdtemp(prefix="remote-", dir=self._work_dir))
        try:
            fetched = work / "context"
            if await download.fetch_context(url, fetched):  # a Dockerfile: the only file of the context
                options.dockerfile = "Dockerfile"
                fetched = await asyncio.to_thread(_dockerfile_context, fetched, work / "context.tar")
            with fetched.open("rb") as stream:
                return await self.build(stream, options, send)
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)

    @staticmethod
    async def _read_dockerfile(context: ContextTar, name: str) -> tuple[list[Instruction], list[str]]:
        """The Dockerfile's instructions (``Dockerfile`` falls back to ``dockerfile`` as dockerd's)
        and what to tell the user about its directives, read from the tar when it can be (the
        context is not unpacked for it); the Dockerfile and ``.dockerignore`` leave the context's
        files when ``.dockerignore`` names them."""
        name = name or "Dockerfile"
        clean = os.path.normpath("/" + name).lstrip("/")
        data = await asyncio.to_thread(context.read_file, clean)
        if data is not None:
            text = data.decode("utf-8", errors="replace")
        else:  # a link, a compressed context, ``dockerfile``: the unpacked files answer
            files = await context.files()
            text, clean = await asyncio.to_thread(_dockerfile_text, files, clean, name)
        context.dockerfile = clean
        return parse(text), _syntax_notes(directives(text).get("syntax", ""))


class _Build:
    """One build's state: what all its stages share. Each stage is a ``_StageBuild`` of its own;
    the stages the target needs run at the same time, each as soon as the stages it names have
    finished (``results``), at most ``os.cpu_count()`` stages of all builds at once (``slots``)."""

    def __init__(self, service: BuildService, context: ContextTar, options: BuildOptions, send: Send) -> None:
        self.s = service
        self.context = context
        self.options = options
        self._send = send
        # ARGs before the first FROM; BuildKit's platform ARGs are there from the start
        self.global_args: dict[str, str] = platform_args(options.platform)
        self.aliases: dict[int, str] = {}  # a kept stage's index → its name ("" without AS)
        self.results: dict[int, asyncio.Future[str]] = {}  # a kept stage's index → the image it made
        self.slots = service.stage_slots
        self.output: schedule.OrderedOutput | schedule.InterleavedOutput = schedule.OrderedOutput(
            [], self._out
        )
        self.total = 0  # the steps kept: the M of "Step N/M"
        self.held: list[dict[str, Any]] = []  # with q=1: the output, sent only if the build fails
        self.cache_sources: cache.CacheSources | None = None
        self.declared: set[str] = set()  # every ARG's name: other --build-args are reported unused
        self._roots: dict[str, Path] = {}  # image id → its root, mounted for RUN --mount=from=
        self._roots_lock = asyncio.Lock()  # two stages mounting one image's root mount it once
        self._held_roots = contextlib.AsyncExitStack()
        self._scratch_numbers = itertools.count(1)  # each step's directories get their own number

    async def say(self, text: str) -> None:
        await self.emit({"stream": text})

    async def emit(self, message: dict[str, Any]) -> None:
        """Send one message, or hold it back with q=1 (dockerd buffers the quiet build's output)."""
        if self.options.quiet:
            self.held.append(message)
        else:
            await self._send(message)

    async def _out(self, message: dict[str, Any], raw: bool) -> None:
        await (self._send(message) if raw else self.emit(message))

    def scratch(self, kind: str) -> Path:
        """A new directory's path for one step's files (``next`` on the shared counter: no two
        stages get the same one)."""
        return self.context.directory.parent / f"{kind}-{next(self._scratch_numbers)}"

    async def run(self, steps: list[Instruction]) -> ImageRecord:
        try:
            return await self._run(steps)
        except BerthError:
            for message in self.held:  # a quiet build that fails shows what it did, as dockerd's
                await self._send(message)
            self.held.clear()
            raise
        finally:
            await self._held_roots.aclose()

    async def mounted_root(self, image_id: str) -> Path:
        """An image's root, mounted read-only until the build ends (``RUN --mount=from=``)."""
        async with self._roots_lock:
            if image_id not in self._roots:
                self._roots[image_id] = await self._mount_root(image_id)
            return self._roots[image_id]

    async def _mount_root(self, image_id: str) -> Path:
        container_id = await self.create_container(image_id, ["/"], [_DEFAULT_PATH], self.host_config())
        self._held_roots.push_async_callback(self.remove, container_id)
        container = self.s.containers.get(container_id)
        mounts = await asyncio.to_thread(self.s.images.snapshotter.mounts, container.snapshot_key)
        fd = self._held_roots.enter_context(archive.container_root(0, mounts, container.directory))
        return Path(os.readlink(f"/proc/self/fd/{fd}"))

    async def _run(self, steps: list[Instruction]) -> ImageRecord:
        tags = [_tag_reference(tag) for tag in self.options.tags]
        globals_, stages = self._plan(steps)
        if not self.options.no_cache:
            self.cache_sources = await asyncio.to_thread(
                cache.CacheSources.of, self.s.images, self.options.cache_from
            )
        numbered = _numbered(globals_, stages)
        self.total = sum(len(part) for part in numbered)
        await _StageBuild(self, -1).run_steps(numbered[0])  # the global ARGs: no stage yet
        if not stages:
            raise InvalidArgument("No image was generated. Is your Dockerfile empty?")
        final = await self._run_stages(stages, numbered[1:])
        unused = sorted(set(self.options.build_args) - self.declared - _BUILTIN_ARGS)
        if unused:
            await self.say(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        if not final.stage.image_id:
            raise InvalidArgument("No image was generated. Is your Dockerfile empty?")
        if self.options.labels:
            config = dict(final.stage.config)
            config["Labels"] = {**(config.get("Labels") or {}), **self.options.labels}
            await final.commit_config(
                config, "LABEL " + " ".join(f"{k}={v}" for k, v in self.options.labels.items())
            )
        record = self.s.images.resolve(final.stage.image_id)
        await self.emit({"aux": {"ID": record.image_id}})
        await self.say(f"Successfully built {_short(record.image_id)}\n")
        for ref in tags:
            await asyncio.to_thread(self.s.images.tag, record.image_id, ref.repository, ref.tag or "latest")
            await self.say(f"Successfully tagged {ref.familiar_name}:{ref.tag or 'latest'}\n")
        if self.options.quiet:  # dockerd's q=1 answer: only the id (the docker CLI prints it)
            self.held.clear()
            await self._send({"stream": record.image_id + "\n"})
        return record

    def _plan(self, steps: list[Instruction]) -> tuple[list[Instruction], list[stage_graph.Stage]]:
        """The global ARGs and the stages the target needs, in order (BuildKit's graph: a stage
        nothing needs is not built); the target is the last."""
        args = {**platform_args(self.options.platform), **self.options.build_args}

        def expand_global(word: str) -> str:
            return expand(word, args)

        globals_, stages = stage_graph.split(steps, expand_global)
        target = stage_graph.target_index(stages, self.options.target)
        wanted = stage_graph.needed(stages, target, expand_global) if stages else set()
        return globals_, [stage for stage in stages if stage.index in wanted]

    async def _run_stages(
        self, stages: list[stage_graph.Stage], numbered: list[list[tuple[int, Instruction]]]
    ) -> _StageBuild:
        """Every kept stage at once (each waits for what it names); the target's state."""
        loop = asyncio.get_running_loop()
        for stage in stages:
            self.aliases[stage.index] = stage.name
            self.results[stage.index] = loop.create_future()
        if self.options.interleaved and len(stages) > 1:
            names = {stage.index: stage.name or f"stage-{stage.index}" for stage in stages}
            self.output = schedule.InterleavedOutput(names, self._out)
        else:
            self.output = schedule.OrderedOutput([stage.index for stage in stages], self._out)
        done = await schedule.run_all(
            {
                stage.index: self._stage(stage.index, steps)
                for stage, steps in zip(stages, numbered, strict=True)
            },
            self.output.failed,
        )
        return done[stages[-1].index]

    async def _stage(self, index: int, steps: list[tuple[int, Instruction]]) -> _StageBuild:
        builder = _StageBuild(self, index)
        async with builder.slot.held():
            await builder.run_steps(steps)
        self.results[index].set_result(builder.stage.image_id)
        await self.output.finished(index)
        return builder

    def named_stage(self, name: str, before: int) -> int | None:
        """The latest kept stage called ``name`` before stage ``before`` (a later one is no stage
        to it: the name is an image's, as for the classic builder), or None."""
        wanted = name.lower()
        return max(
            (i for i, alias in self.aliases.items() if alias and alias == wanted and i < before), default=None
        )

    async def image(self, name: str, progress: Send) -> ImageRecord:
        """A local image, else (or with ``pull``) pulled; ``progress`` gets the pull's messages."""
        if not self.options.pull:
            with contextlib.suppress(NotFound):
                return self.s.images.resolve(name)
        if self.s.pull is None:
            raise NotFound(f"pull access denied for {name}: this daemon cannot pull")
        ref = reference.parse(name)
        auth = self.options.registry_auths.get(ref.domain) or {}
        credentials = Credentials.from_auth_config(auth) if auth else Credentials()
        await self.s.pull.pull(
            ref, credentials=credentials, progress=progress, platform=self.options.platform
        )
        return self.s.images.resolve(str(ref))

    def check_platform(self, name: str, record: ImageRecord) -> None:
        """``platform``: the base image must be of it (Berth runs only its own platform's binaries)."""
        if not self.options.platform:
            return
        wanted = self.options.platform.split("/")
        actual = [str(record.config.get("os") or "linux"), str(record.config.get("architecture") or "")]
        if wanted[:2] != actual:
            raise InvalidArgument(
                f"image with reference {name} was found but does not match the specified platform: "
                f"wanted {self.options.platform}, actual: {'/'.join(actual)}"
            )

    async def create_container(
        self, image_id: str, cmd: list[str], env: Sequence[str], host: dict[str, Any]
    ) -> str:
        """A (not yet started) container for one step."""
        body = {
            "Image": image_id,
            "Cmd": cmd,
            "Entrypoint": [""],
            "Env": list(env),
            "AttachStdout": True,
            "AttachStderr": True,
            "HostConfig": host,
        }
        if self.options.remove or self.options.force_remove:  # gone after the step: so after a crash
            body["Labels"] = {BUILD_STEP_LABEL: "1"}
        container = await self.s.containers.create(body, None)
        return container.container_id

    def host_config(self) -> dict[str, Any]:
        host: dict[str, Any] = dict(self.options.host_config)
        if self.options.network_mode:
            host["NetworkMode"] = self.options.network_mode
        if self.options.extra_hosts:
            host["ExtraHosts"] = list(self.options.extra_hosts)
        return host

    async def remove(self, container_id: str) -> None:
        with contextlib.suppress(BerthError):
            await self.s.containers.remove(container_id, force=True)


class _StageBuild:
    """One stage's state and steps: ``stage`` is what its steps so far have made. Index -1 is the
    part before the first FROM (the global ARGs)."""

    def __init__(self, build: _Build, index: int) -> None:
        self.b = build
        self.s = build.s
        self.options = build.options
        self.context = build.context
        self.index = index
        self.stage = _Stage("", {}, started=False)
        self.alias = ""  # FROM … AS alias
        self.slot = schedule.Slot(build.slots)
        # each stage its own view: a --cache-from image one stage follows binds no other stage
        sources = build.cache_sources
        self.cache_sources = dataclasses.replace(sources) if sources is not None else None

    async def say(self, text: str) -> None:
        await self.emit({"stream": text})

    async def emit(self, message: dict[str, Any]) -> None:
        await self.b.output.send(self.index, message)

    async def _progress(self, message: dict[str, Any]) -> None:
        """A pull's messages: in the stage's place in the stream, and never held back by q=1."""
        await self.b.output.send(self.index, message, raw=True)

    async def run_steps(self, steps: list[tuple[int, Instruction]]) -> None:
        for number, step in steps:
            await self.say(f"Step {number}/{self.b.total} : {step.original}\n")
            try:
                await self.step(step)
            except BuildFailed:
                raise  # Docker's own words for a failed RUN (clients read its exit code from them)
            except BerthError as exc:
                located = _at_line(exc, step)
                if located is exc:
                    raise
                raise located from exc
            if self.stage.started:  # (FROM scratch shows an empty id, as dockerd)
                await self.say(f" ---> {_short(self.stage.image_id)}\n")

    async def _context_for(self, mounts: Sequence[run_mounts.RunMount]) -> Path:
        """The context's directory for a RUN's mounts: unpacked first when one binds from it."""
        if any(m.type == "bind" and not m.from_ for m in mounts):
            return await self.context.files()
        return self.context.directory

    async def root_of(self, name: str) -> Path:
        """``RUN --mount=from=``: a stage's or an image's root, mounted read-only until the build ends."""
        return await self.b.mounted_root(await self._stage_image(name))

    async def _stage_image(self, name: str) -> str:
        """``COPY --from``: an earlier stage by name or index (waited for), else an image (local,
        else pulled)."""
        index = self.b.named_stage(name, self.index)
        if index is not None:
            return await self._wait_for(index)
        if name.isdigit():
            number = int(name)
            earlier = number in self.b.results and number < self.index
            image_id = await self._wait_for(number) if earlier else ""
            if not image_id:
                raise InvalidArgument(f"invalid from flag value {name}: no such build stage")
            return image_id
        return (await self.b.image(name, self._progress)).image_id

    async def _wait_for(self, index: int) -> str:
        """The image stage ``index`` made, once it has finished; this stage's slot is someone
        else's meanwhile."""
        result = self.b.results[index]
        if not result.done():
            async with self.slot.given_back():
                await asyncio.shield(result)  # this stage cancelled: the result stays for others
        return result.result()

    # -- the steps --------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """Variables for expansion: the stage's ARGs, then its ENV (ENV wins, as in Docker)."""
        values = dict(self.stage.args)
        for item in self.stage.config.get("Env") or []:
            key, _, value = item.partition("=")
            values[key] = value
        return values

    async def step(self, step: Instruction) -> None:
        command = step.command
        if command == "FROM":
            await self.from_(step)
        elif command == "ARG":
            await self.arg(step)
        elif command == "RUN":
            await self.run_(step)
        elif command in ("COPY", "ADD"):
            await self.copy(step)
        elif command in ("CMD", "ENTRYPOINT"):
            await self.command_line(step)
        elif command in _CONFIG_ONLY:
            self._require_stage(command)
            change = self._change(step)
            config = apply_changes(dict(self.stage.config), [change])
            await self.commit_config(config, change)
        elif command == "SHELL":
            if step.json is None:
                raise InvalidArgument("SHELL requires the arguments to be in JSON form")
            await self.commit_config(
                {**self.stage.config, "Shell": step.json}, f"SHELL {json.dumps(step.json)}"
            )
        elif command == "HEALTHCHECK":
            await self.healthcheck(step)
        elif command == "MAINTAINER":
            await self.commit_config(dict(self.stage.config), f"MAINTAINER {step.args}")
        elif command == "ONBUILD":
            config = dict(self.stage.config)
            config["OnBuild"] = [*(config.get("OnBuild") or []), with_heredocs(step)]  # bodies kept
            await self.commit_config(config, f"ONBUILD {step.args}")
        else:  # the parser refuses unknown instructions: this is a new one not handled here
            raise InvalidArgument(f"{command} is not supported by the Berth builder")

    def _require_stage(self, command: str) -> None:
        if not self.stage.started:
            raise InvalidArgument(f"{command} before FROM: no build stage in current context")

    def _shell(self) -> list[str]:
        return list(self.stage.config.get("Shell") or _DEFAULT_SHELL)

    async def _fetch_sources(
        self, step: Instruction, patterns: list[str], checksum: str
    ) -> list[build_context.Source]:
        """ADD's remote sources: git repositories checked out (a directory: its files go into the
        destination), http(s) files downloaded; ``--checksum`` verified for either."""
        keep = step.flags.get("keep-git-dir")
        if keep is not None and not any(git.is_git_source(p) for p in patterns):
            raise InvalidArgument("--keep-git-dir is only valid for ADD of a git repository")
        fetched: list[build_context.Source] = []
        for source in patterns:
            directory = self.b.scratch("download")
            if git.is_git_source(source):  # before is_remote: https://….git is a repository
                checkout = await git.fetch_git(
                    git.parse_git_ref(source), directory, keep_git_dir=None if keep is None else keep == "true",
                    checksum=checksum, allow_file=os.environ.get("BERTH_BUILD_FILE_GIT") == "1",
                )  # fmt: skip
                fetched.append(
                    build_context.Source(checkout.path, f"{git.redact(source)}#{checkout.commit}", "")
                )
            elif download.is_remote(source):
                file = await download.fetch(source, directory)
                if checksum:
                    await asyncio.to_thread(download.verify_checksum, file.path, checksum, source)
                fetched.append(file)
                await self.say("\n")
        return fetched

    def _heredoc_file(self, doc: Heredoc, env: Mapping[str, str]) -> build_context.Source:
        """``COPY <<EOF /dest``: the body as a file named after the heredoc (mode 0644 unless
        ``--chmod``), expanded with the step's variables unless its delimiter was quoted."""
        directory = self.b.scratch("heredoc")
        directory.mkdir(mode=0o700)
        path = directory / posixpath.basename(doc.name)
        path.write_text(expand_heredoc(doc.content, env) if doc.expand else doc.content)
        os.chmod(path, 0o644)
        return build_context.Source(path, f"<<{doc.name}", path.name)

    async def command_line(self, step: Instruction) -> None:
        """CMD and ENTRYPOINT: the exec form as it is, the shell form behind the current SHELL."""
        self._require_stage(step.command)
        if step.json is not None:
            words: list[str] | None = list(step.json)
        else:
            words = [*self._shell(), step.args]
        config = dict(self.stage.config)
        if step.command == "CMD":
            config["Cmd"] = words
            self.stage.cmd_set = self.stage.cmd_set or bool(words)
        else:
            config["Entrypoint"] = words or None  # ENTRYPOINT [] clears it
            if not self.stage.cmd_set:
                config["Cmd"] = None  # the base image's CMD does not outlive a new ENTRYPOINT (Docker)
        await self.commit_config(config, f"{step.command} {_go_quoted(words or [])}")

    def _change(self, step: Instruction) -> str:
        """The instruction as an ``apply_changes`` line, variables expanded where Docker expands them."""
        env = self.env()
        if step.command in ("ENV", "LABEL"):
            pairs = [
                (key, expand(value or "", env, escape=step.escape))
                for key, value in key_values(step.command, step.args, escape=step.escape)
            ]
            return f"{step.command} " + " ".join(
                f"{expand(k, env, escape=step.escape)}={shlex.quote(v)}" for k, v in pairs
            )
        if step.command == "VOLUME" and step.json is not None:
            return f"VOLUME {json.dumps([expand(w, env, escape=step.escape) for w in step.json])}"
        words = [expand(word, env, escape=step.escape) for word in split_words(step.args, escape=step.escape)]
        if step.command == "WORKDIR":
            current = self.stage.config.get("WorkingDir") or "/"
            return f"WORKDIR {os.path.normpath(os.path.join(current, ' '.join(words)))}"
        return f"{step.command} {' '.join(words)}"

    async def from_(self, step: Instruction) -> None:
        words = split_words(step.args, escape=step.escape)
        name = expand(words[0], {**self.b.global_args}, escape=step.escape)
        if step.flags.get("platform"):
            self._check_from_platform(expand(step.flags["platform"], self.b.global_args, escape=step.escape))
        if len(words) == 3 and words[1].lower() == "as":
            alias = words[2].lower()
        elif len(words) == 1:
            alias = ""
        else:
            raise InvalidArgument(f"FROM requires either one or three arguments: {step.args}")
        base = self.b.named_stage(name, self.index)
        if name.lower() == "scratch":
            self.stage = _Stage("", {})
        elif base is not None:  # an earlier stage: once it has finished
            image_id = await self._wait_for(base)
            self.stage = _Stage(image_id, dict(self.s.images.resolve(image_id).config.get("config") or {}))
        else:
            record = await self.b.image(name, self._progress)
            self.b.check_platform(name, record)
            self.stage = _Stage(record.image_id, dict(record.config.get("config") or {}))
        self.alias = alias  # a stage sees global ARGs only when it declares them again (arg())
        triggers = list(self.stage.config.pop("OnBuild", None) or [])
        if triggers:  # the base image's ONBUILD steps run now; the new image does not keep them
            await self.say(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
            for trigger in triggers:
                await self.step(parse_trigger(str(trigger), escape=step.escape))

    @staticmethod
    def _check_from_platform(wanted: str) -> None:
        """``FROM --platform=``: Berth runs only this host's binaries; another platform is refused
        (not silently built for the host's)."""
        platform, host = oci_platform.parse(wanted), oci_platform.host()
        if (platform.os, platform.architecture) != (host.os, host.architecture):
            raise NotSupported(
                f"FROM --platform={wanted}: this daemon builds only for its own platform, {host}"
            )

    async def arg(self, step: Instruction) -> None:
        """ARG: before the first FROM a global one; in a stage it is declared and, as dockerd does,
        committed (``ARG K=default`` in the history, an empty layer): even ``FROM scratch`` plus an
        ARG makes an image."""
        declared: list[str] = []
        for key, default in key_values("ARG", step.args, escape=step.escape):
            self.b.declared.add(key)
            if not self.stage.started:
                value = self.options.build_args.get(
                    key,
                    expand(default, self.b.global_args, escape=step.escape) if default is not None else "",
                )
                self.b.global_args[key] = value
                continue
            shown = expand(default, self.env(), escape=step.escape) if default is not None else None
            declared.append(key if shown is None else f"{key}={shown}")
            if key in self.options.build_args:
                self.stage.args[key] = self.options.build_args[key]
            elif default is not None:
                self.stage.args[key] = expand(default, self.env(), escape=step.escape)
            elif key in self.b.global_args:
                self.stage.args[key] = self.b.global_args[key]
        if declared:
            await self.commit_config(dict(self.stage.config), "ARG " + " ".join(declared))

    async def commit_config(self, config: dict[str, Any], change: str) -> None:
        created_by = f"/bin/sh -c #(nop)  {change}"
        if await self._use_cache(created_by, config):
            return
        record = await asyncio.to_thread(
            self.s.images.create_image,
            None,
            parent=self.stage.image_id,
            config=config,
            history={"created_by": created_by},
        )
        self.stage.image_id, self.stage.config = record.image_id, config

    async def _use_cache(self, created_by: str, config: Mapping[str, Any]) -> bool:
        """Move to an image that this step made before on the current image (``cache.py``): an
        earlier build's, or a ``--cache-from`` image's; False when there is none."""
        if self.options.no_cache:
            return False
        record = await asyncio.to_thread(
            cache.probe, self.s.images, self.cache_sources, self.stage.image_id, created_by, config
        )
        if record is None:
            return False
        await self.say(" ---> Using cache\n")
        self.stage.image_id, self.stage.config = record.image_id, dict(record.config.get("config") or {})
        return True

    async def healthcheck(self, step: Instruction) -> None:
        words = step.args.split(None, 1)
        config = dict(self.stage.config)
        if words and words[0].upper() == "NONE":
            config["Healthcheck"] = {"Test": ["NONE"]}
        elif words and words[0].upper() == "CMD":
            rest = words[1] if len(words) > 1 else ""
            test = ["CMD", *step.json] if step.json is not None else ["CMD-SHELL", rest]
            check: dict[str, Any] = {"Test": test}
            for flag, key in (
                ("interval", "Interval"),
                ("timeout", "Timeout"),
                ("start-period", "StartPeriod"),
                ("retries", "Retries"),
            ):
                if flag in step.flags:
                    check[key] = (
                        _retries(step.flags[flag]) if key == "Retries" else _duration_ns(step.flags[flag])
                    )
            config["Healthcheck"] = check
        else:
            raise InvalidArgument("HEALTHCHECK requires NONE or CMD")
        await self.commit_config(config, f"HEALTHCHECK {step.args}")

    # -- steps that run a container ---------------------------------------------------------------

    def _run_env(self) -> list[str]:
        env = list(self.stage.config.get("Env") or [])
        keys = {e.partition("=")[0] for e in env}
        if "PATH" not in keys:
            env.append(_DEFAULT_PATH)
        env.extend(f"{k}={v}" for k, v in self.stage.args.items() if k not in keys)
        # proxy variables reach RUN without an ARG (and stay out of the history), as dockerd's
        env.extend(
            f"{k}={v}"
            for k, v in self.options.build_args.items()
            if k in _BUILTIN_ARGS and k not in keys and k not in self.stage.args
        )
        return env

    async def _container(
        self, cmd: list[str], image: str = "", *, host: dict[str, Any] | None = None, env: Sequence[str] = ()
    ) -> str:
        """A (not yet started) container of the current image, or of ``image``, for one step;
        ``host``: its HostConfig (the build's by default), ``env``: variables for this step only."""
        if not (image or self.stage.image_id):
            raise InvalidArgument(
                "a step that needs a container cannot run on scratch before any COPY or ADD"
            )
        return await self.b.create_container(
            image or self.stage.image_id,
            cmd,
            [*self._run_env(), *env],
            host if host is not None else self.b.host_config(),
        )

    async def run_(self, step: Instruction) -> None:
        self._require_stage("RUN")
        env = self.env()
        mounts = run_mounts.parse(step.flags.get("mount", ""), lambda v: expand(v, env, escape=step.escape))
        network = run_mounts.network_mode(step.flags["network"]) if "network" in step.flags else None
        security = step.flags.get("security", "sandbox")
        if security == "insecure":
            raise NotSupported(
                "RUN --security=insecure is not supported: Berth grants no insecure entitlement"
            )
        if security != "sandbox":
            raise InvalidArgument(f"unsupported security mode {security!r}: use sandbox or insecure")
        script = run_script(step)
        if script is not None:  # heredocs: the script, or the line and its bodies for the shell
            cmd = [*self._shell(), script.command]
        else:
            cmd = list(step.json) if step.json is not None else [*self._shell(), step.args]
        shown = " ".join(cmd)
        scratch = self.b.scratch("step")
        async with StepMounts(
            mounts, context=await self._context_for(mounts), scratch=scratch, root_of=self.root_of, secrets=self.options.secrets,
            ssh=self.options.ssh, caches=self.s.cache_mounts, description=f"exec {shown}"[:200],
        ) as prepared:  # fmt: skip
            if script is not None and script.script is not None:  # "#!": run as a file of its own
                prepared.add_file(script.script, script.command, 0o755)
            flags = " ".join(
                [*([f"--network={step.flags['network']}"] if network is not None else []), prepared.key()]
            ).strip()
            command = f"{flags} {shown}" if flags else shown
            if self.stage.args:  # build args change what RUN does: Docker's "|N K=V … cmd" in the history
                pairs = " ".join(f"{k}={v}" for k, v in sorted(self.stage.args.items()))
                created_by = f"|{len(self.stage.args)} {pairs} {command}"
            else:
                created_by = command
            if await self._use_cache(created_by, self.stage.config):
                return
            host = {
                **self.b.host_config(),
                **({"NetworkMode": network or "default"} if network is not None else {}),
            }
            if prepared.host_mounts:
                host["Mounts"] = prepared.host_mounts
            container_id = await self._container(cmd, host=host, env=prepared.env)
            record = await self._run_container(container_id, shown, created_by, mounts)
        self.stage.image_id, self.stage.config = record.image_id, dict(record.config.get("config") or {})

    async def _run_container(
        self, container_id: str, shown: str, created_by: str, mounts: list[run_mounts.RunMount]
    ) -> ImageRecord:
        """Start the step's container, relay its output, commit its changes (without the mount
        points its mounts needed); the container is removed as dockerd does (``_finish``), or at
        once when the step is cancelled (another stage failed: nothing to look at here)."""
        done = cancelled = False
        targets = [m.target for m in mounts if m.target]
        try:
            container = self.s.containers.get(container_id)
            kept = await self._existing(container, targets)
            container = await self._start_and_relay(container_id)
            if container.exit_code != 0:
                raise BuildFailed(
                    f"The command '{shown}' returned a non-zero code: {container.exit_code}",
                    container.exit_code or 1,
                )
            if targets:
                upper = self.s.images.snapshotter.fs(container.snapshot_key)
                await schedule.to_the_end(asyncio.to_thread(step_mounts.scrub, upper, targets, kept))
            record = await schedule.to_the_end(
                self.s.commits.image_of(container, dict(self.stage.config), {"created_by": created_by})
            )
            done = True
            crash_point("build.step-committed")
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            await (self.b.remove(container_id) if cancelled else self._finish(container_id, done))
        return record

    async def _existing(self, container: Container, targets: list[str]) -> set[str]:
        """Which mount points the image already has (the others are scrubbed from the commit)."""
        if not targets:
            return set()
        snapshot = await asyncio.to_thread(self.s.images.snapshotter.mounts, container.snapshot_key)

        def look() -> set[str]:
            with archive.container_root(0, snapshot, container.directory) as root_fd:
                return step_mounts.existing(root_fd, targets)

        return await schedule.to_the_end(asyncio.to_thread(look))

    async def _start_and_relay(self, container_id: str) -> Container:
        """Run the step's container with its output in the stream; the container once it exits."""
        await self.say(f" ---> Running in {container_id[:12]}\n")
        attach = asyncio.create_task(
            self.s.containers.attach(container_id, stdin=False, stdout=True, stderr=True)
        )
        await asyncio.sleep(0)  # the attach is registered before the process can write
        await self.s.containers.start(container_id)
        attached = await attach
        try:
            await self._relay(attached.reader)
        finally:
            attached.writer.close()
        return await self.s.containers.wait(container_id, "not-running")

    async def _scratch_base(self) -> None:
        """An empty image to make COPY/ADD's container from on scratch: an earlier build's (so that
        the step can be found in the cache), else a new one."""
        created_by, config = "/bin/sh -c #(nop)  scratch", dict(self.stage.config)
        record = None
        if not self.options.no_cache:
            record = await asyncio.to_thread(cache.local_child, self.s.images, "", created_by, config)
        if record is None:
            record = await asyncio.to_thread(
                self.s.images.create_image, None, parent="", config=config, history={"created_by": created_by}
            )
        self.stage.image_id, self.stage.config = record.image_id, config

    async def _finish(self, container_id: str, succeeded: bool) -> None:
        """Remove a step's container: after success unless ``rm=0`` (as the classic builder), after a
        failure always (as BuildKit: a failed build leaves nothing behind)."""
        if not succeeded or self.options.force_remove or self.options.remove:
            await self.b.remove(container_id)
            await self.say(f" ---> Removed intermediate container {container_id[:12]}\n")

    async def _relay(self, reader: asyncio.StreamReader) -> None:
        """The container's stdcopy frames as ``stream`` messages; stderr's between dockerd's red
        colour codes (``\\033[91m … \\033[0m``). One incremental decoder per stream: a character
        split across two frames stays whole."""
        decoders = {kind: codecs.getincrementaldecoder("utf-8")(errors="replace") for kind in (1, 2)}
        while True:
            try:
                header = await reader.readexactly(8)
            except asyncio.IncompleteReadError:
                break
            size = int.from_bytes(header[4:8], "big")
            data = await reader.readexactly(size)
            kind = 2 if header[0] == 2 else 1
            text = decoders[kind].decode(data)
            if text:
                await self.say(_STDERR_START + text + _STDERR_END if kind == 2 else text)
        for kind, decoder in decoders.items():
            if tail := decoder.decode(b"", final=True):
                await self.say(_STDERR_START + tail + _STDERR_END if kind == 2 else tail)

    async def copy(self, step: Instruction) -> None:
        command = step.command
        self._require_stage(command)
        if "from" in step.flags and command == "ADD":
            raise InvalidArgument("ADD does not support --from: use COPY --from")
        env = self.env()
        words = [
            expand(w, env, escape=step.escape)
            for w in (step.json if step.json is not None else split_words(step.args, escape=step.escape))
        ]
        if len(words) < 2:
            raise InvalidArgument(
                f"{command} requires at least two arguments, but only one was provided. "
                "Destination could not be determined."
            )
        dest = words[-1]
        given = copy_sources(step)
        patterns = [w for w, src in zip(words, given, strict=False) if isinstance(src, str)]
        inline = [self._heredoc_file(src, env) for src in given if isinstance(src, Heredoc)]
        source_image = await self._stage_image(step.flags["from"]) if "from" in step.flags else ""
        downloaded: list[build_context.Source] = list(inline)  # files, copied as they are
        checksum = expand(step.flags.get("checksum", ""), env, escape=step.escape)
        if checksum:
            download.check_checksum_use(command, patterns)
        if command == "ADD":  # git and http(s) sources: the daemon fetches them now
            downloaded.extend(await self._fetch_sources(step, patterns, checksum))
            patterns = [p for p in patterns if not (git.is_git_source(p) or download.is_remote(p))]
        if source_image:  # what it copies, not the stage's image id: a stage rebuilt to the same
            # files (say, after an unrelated change in it) leaves this step cached, as BuildKit
            root = await self.b.mounted_root(source_image)
            found = await asyncio.to_thread(build_context.sources, root, patterns, command)
            what = "--from " + await asyncio.to_thread(build_context.content_digest, found)
        else:  # resolved before any container is made: a missing file fails early
            srcs = (
                await asyncio.to_thread(build_context.sources, await self.context.files(), patterns, command)
                if patterns
                else []
            )
            what = await asyncio.to_thread(build_context.content_digest, [*srcs, *downloaded])
        rules = _copy_rules(step, env)
        shown_flags = "".join(
            f"--{name}={step.flags[name]} " if name != "exclude" else f"--exclude={p} "
            for name in ("chown", "chmod", "exclude", "parents", "link")
            if step.flags.get(name)
            for p in (step.flags[name].split("\n") if name == "exclude" else [""])
        )
        created_by = f"/bin/sh -c #(nop) {command} {shown_flags}{what} in {dest} "
        if await self._use_cache(created_by, self.stage.config):
            return
        if not self.stage.image_id:  # scratch: an empty image to hold the first files
            await self._scratch_base()
            if await self._use_cache(created_by, self.stage.config):
                return
        made: list[str] = []  # a means of writing (and reading, --from) image roots: dockerd uses none
        try:
            made.append(await self._container(["/"]))
            container = self.s.containers.get(made[0])
            mounts = await asyncio.to_thread(self.s.images.snapshotter.mounts, container.snapshot_key)
            source = None
            if source_image:  # COPY --from: that image's root is the context
                made.append(await self._container(["/"], image=source_image))
                source = self.s.containers.get(made[1])
                source_mounts = await asyncio.to_thread(self.s.images.snapshotter.mounts, source.snapshot_key)
            chown = step.flags.get("chown", "")
            workdir = str(self.stage.config.get("WorkingDir") or "/")

            def apply() -> None:
                with contextlib.ExitStack() as stack:
                    root_fd = stack.enter_context(archive.container_root(0, mounts, container.directory))
                    context = self.context.directory
                    if source is not None:
                        source_fd = stack.enter_context(
                            archive.container_root(0, source_mounts, source.directory)
                        )
                        context = Path(f"/proc/self/fd/{source_fd}")
                    build_context.copy_into(
                        root_fd,
                        context,
                        patterns,
                        dest,
                        workdir,
                        chown,
                        command,
                        container.directory,
                        downloaded,
                        self.s.containers.id_shift(container),
                        rules,
                        parents=step.flags.get("parents") == "true",
                    )

            # to the end even when cancelled: the thread has the roots mounted in their containers
            await schedule.to_the_end(asyncio.to_thread(apply))
            record = await schedule.to_the_end(
                self.s.commits.image_of(container, dict(self.stage.config), {"created_by": created_by})
            )
        finally:
            for container_id in made:
                await self.b.remove(container_id)
        self.stage.image_id, self.stage.config = record.image_id, dict(record.config.get("config") or {})


# Frontend images whose syntax is the one this builder speaks (BuildKit's docker/dockerfile:1)
_DOCKERFILE_FRONTENDS = re.compile(
    r"^(?:docker\.io/)?docker/dockerfile(?:-upstream)?(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?$"
)


def _syntax_notes(syntax: str) -> list[str]:
    """``# syntax=``: no frontend image is ever pulled; a user naming another one is told so."""
    if not syntax or _DOCKERFILE_FRONTENDS.match(syntax):
        return []
    return [
        f"# syntax={syntax}: not pulled or run; Berth's builder reads the Dockerfile itself, "
        "in the syntax of docker/dockerfile:1"
    ]


def platform_args(wanted: str) -> dict[str, str]:
    """BuildKit's automatic platform ARGs (global scope; a stage sees one after ``ARG NAME``): the
    target is ``--platform`` or this host, the build platform this host."""
    build = oci_platform.host()
    target = oci_platform.parse(wanted) if wanted else build
    out: dict[str, str] = {}
    for prefix, value in (("TARGET", target), ("BUILD", build)):
        out[f"{prefix}PLATFORM"] = str(value)
        out[f"{prefix}OS"], out[f"{prefix}ARCH"], out[f"{prefix}VARIANT"] = (
            value.os, value.architecture, value.variant
        )  # fmt: skip
    return out


def _numbered(
    globals_: list[Instruction], stages: list[stage_graph.Stage]
) -> list[list[tuple[int, Instruction]]]:
    """The kept steps numbered in the Dockerfile's order (the N of "Step N/M", whichever stage
    runs first): the global ARGs', then each stage's."""
    numbers = itertools.count(1)
    return [[(next(numbers), step) for step in part] for part in [globals_, *(s.steps for s in stages)]]


def _at_line(exc: BerthError, step: Instruction) -> BerthError:
    """The error of a step, naming the Dockerfile line and instruction it came from."""
    if str(exc).startswith("Dockerfile:"):
        return exc
    shown = step.original if len(step.original) <= 80 else step.original[:77] + "..."
    try:
        return type(exc)(f"Dockerfile:{step.line}: {shown}: {exc}")
    except TypeError:  # an error type with other arguments: as it is
        return exc


def _dockerfile_text(context: Path, clean: str, name: str) -> tuple[str, str]:
    """The Dockerfile in the unpacked context and its name there (``dockerfile`` when there is no
    ``Dockerfile``); it then leaves the files if ``.dockerignore`` names it."""
    path = context / clean
    if clean == "Dockerfile" and not path.exists() and (context / "dockerfile").is_file():
        clean, path = "dockerfile", context / "dockerfile"
    if not path.resolve().is_relative_to(context.resolve()) or not path.is_file():
        raise InvalidArgument(f"Cannot locate specified Dockerfile: {name}")
    text = path.read_text(encoding="utf-8", errors="replace")
    remove_build_files(context, clean)
    return text, clean


def _dockerfile_context(dockerfile: Path, tarball: Path) -> Path:
    """A context tar holding only ``dockerfile``, as ``Dockerfile``."""
    with tarfile.open(tarball, "w") as tar:
        tar.add(dockerfile, arcname="Dockerfile")
    return tarball


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _go_quoted(words: list[str]) -> str:
    """A list as Go's ``%q`` prints one (``["ls" "-l"]``): dockerd's history line for CMD/ENTRYPOINT."""
    return "[" + " ".join(json.dumps(word, ensure_ascii=False) for word in words) + "]"


def _copy_rules(step: Instruction, env: Mapping[str, str]) -> build_context.CopyFilter:
    """``--chmod`` and ``--exclude`` of a COPY/ADD (``--link`` changes nothing in Berth's result:
    the files are the same; ``--parents`` goes to the copy plan)."""
    chmod = step.flags.get("chmod", "")
    excludes = [expand(p, env, escape=step.escape) for p in step.flags.get("exclude", "").split("\n") if p]
    return build_context.CopyFilter(
        chmod=chmod_mode.parse(expand(chmod, env, escape=step.escape)) if chmod else None,
        exclude=read_patterns("\n".join(excludes)),
    )


def _tag_reference(tag: str) -> reference.Reference:
    """A ``-t`` value as dockerd checks it before building: a name, optionally a tag, no digest."""
    ref = reference.parse(tag)
    if ref.digest:
        raise InvalidArgument("build tag cannot contain a digest")
    return ref


def _retries(text: str) -> int:
    if not text.isdigit():
        raise InvalidArgument(f"invalid HEALTHCHECK --retries {text!r}")
    return int(text)


def _duration_ns(text: str) -> int:
    units = {
        "ns": 1,
        "us": 1_000,
        "ms": 1_000_000,
        "s": 1_000_000_000,
        "m": 60_000_000_000,
        "h": 3_600_000_000_000,
    }
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            try:
                return int(float(text[: -len(unit)]) * units[unit])
            except ValueError:
                break
    raise InvalidArgument(f"invalid duration {text!r}")


def decode_auths(value: Mapping[str, Any]) -> dict[str, Any]:
    """``X-Registry-Config`` (registry → auth config) with Docker Hub's names folded to the domain."""
    return {str(k).removeprefix("https://").removeprefix("http://").rstrip("/"): v for k, v in value.items()}
