"""``POST /build``: Docker's classic builder. Each Dockerfile step makes an image on top of the last:
RUN runs the command in a container from the current image and commits its changes; COPY/ADD extract
files from the context into such a container's root (resolved inside it, as ``cp`` does) and commit;
the other instructions only change the image config (an empty layer in the history). Output is the
classic builder's JSON stream (``Step 1/3 : FROM busybox``, `` ---> 1a2b3c4d5e6f``, the commands'
output, ``{"aux": {"ID": …}}``, ``Successfully built …``, ``Successfully tagged …``).

Multi-stage files build stage by stage (``--target`` stops at a stage; ``COPY --from`` reads a
finished stage's or another image's root). ``FROM`` an image with ONBUILD triggers runs them first.
The build cache (``cache.py``): a step whose parent image already has a child made by the same step
reuses it (`` ---> Using cache``); ``--cache-from`` images can serve too; ``--no-cache`` turns it off.

RUN steps run with the build's limits (memory, swap, CPU shares/quota/period, shm size, cgroup
parent), network and extra hosts. Intermediate containers are removed after each successful step
unless ``rm=0``; a failed step's container stays unless ``forcerm=1``, as Docker's. What the classic
builder cannot do (``--chmod``, ``--link``, ``RUN --mount``, heredocs, …) is refused in Docker's words.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import os
import shlex
import shutil
import tarfile
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from berth.distribution.auth import Credentials
from berth.engine.builder import cache, download
from berth.engine.builder import context as build_context
from berth.engine.builder.cache_mounts import CacheMounts
from berth.engine.builder.dockerfile import (
    BUILDKIT_ONLY,
    Instruction,
    expand,
    key_values,
    parse,
    parse_trigger,
    split_words,
)
from berth.engine.builder.ignore import remove_build_files
from berth.engine.containers import archive
from berth.engine.containers.commit import CommitService
from berth.engine.containers.service import ContainerService
from berth.engine.images import ImageRecord, ImageService
from berth.engine.images.pull import PullService
from berth.errors import BerthError, InvalidArgument, NotFound, NotSupported
from berth.oci import reference
from berth.oci.image import apply_changes

Send = Callable[[dict[str, Any]], Awaitable[None]]

_DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_CONFIG_ONLY = {"ENV", "LABEL", "WORKDIR", "USER", "EXPOSE", "VOLUME", "STOPSIGNAL"}
_DEFAULT_SHELL = ["/bin/sh", "-c"]
# Flags Docker's parser takes but its classic builder cannot honour, per instruction.
_BUILDKIT_FLAGS = {
    "COPY": ("chmod", "link", "parents", "exclude"),
    "ADD": ("chmod", "link", "checksum", "keep-git-dir", "exclude"),
    "RUN": ("mount", "network", "security"),
}
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
        self.cache_mounts = cache_mounts
        self.images = images
        self.containers = containers
        self.commits = commits
        self.pull = pull
        self._work_dir = work_dir

    async def build(self, context_tar: BinaryIO, options: BuildOptions, send: Send) -> ImageRecord:
        """Unpack the context, run the Dockerfile's steps, tag the result; ``send`` gets the stream."""
        self._work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        work = Path(tempfile.mkdtemp(prefix="build-", dir=self._work_dir))
        try:
            context = work / "context"
            context.mkdir(mode=0o700)
            await asyncio.to_thread(build_context.unpack, context_tar, context)
            steps = await asyncio.to_thread(self._read_dockerfile, context, options.dockerfile)
            return await _Build(self, context, options, send).run(steps)
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)

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
    def _read_dockerfile(context: Path, name: str) -> list[Instruction]:
        """The Dockerfile's instructions (``dockerfile`` falls back to ``dockerfile`` as dockerd's);
        then the Dockerfile and ``.dockerignore`` leave the context when ``.dockerignore`` names them."""
        name = name or "Dockerfile"
        clean = os.path.normpath("/" + name).lstrip("/")
        path = context / clean
        if clean == "Dockerfile" and not path.exists() and (context / "dockerfile").is_file():
            clean, path = "dockerfile", context / "dockerfile"
        if not path.resolve().is_relative_to(context.resolve()) or not path.is_file():
            raise InvalidArgument(f"Cannot locate specified Dockerfile: {name}")
        steps = parse(path.read_text(encoding="utf-8", errors="replace"))
        remove_build_files(context, clean)
        return steps


class _Build:
    """One build's state and steps."""

    def __init__(self, service: BuildService, context: Path, options: BuildOptions, send: Send) -> None:
        self.s = service
        self.context = context
        self.options = options
        self._send = send
        self.global_args: dict[str, str] = {}  # ARGs before the first FROM
        self.stage = _Stage("", {}, started=False)
        self.alias = ""  # of the current stage (FROM … AS alias)
        self.stage_names: dict[str, str] = {}  # alias → the image a finished stage made
        self.stages: list[str] = []  # the images finished stages made, in order (COPY --from=0)
        self.held: list[dict[str, Any]] = []  # with q=1: the output, sent only if the build fails
        self.cache_sources: cache.CacheSources | None = None
        self._downloads = 0  # ADD's downloads so far, each in its own directory
        self.declared: set[str] = set()  # every ARG's name: other --build-args are reported unused

    async def say(self, text: str) -> None:
        await self.emit({"stream": text})

    async def emit(self, message: dict[str, Any]) -> None:
        """Send one message, or hold it back with q=1 (dockerd buffers the quiet build's output)."""
        if self.options.quiet:
            self.held.append(message)
        else:
            await self._send(message)

    async def run(self, steps: list[Instruction]) -> ImageRecord:
        try:
            return await self._run(steps)
        except BerthError:
            for message in self.held:  # a quiet build that fails shows what it did, as dockerd's
                await self._send(message)
            self.held.clear()
            raise

    async def _run(self, steps: list[Instruction]) -> ImageRecord:
        tags = [_tag_reference(tag) for tag in self.options.tags]
        steps = self._until_target(steps)
        if not self.options.no_cache:
            self.cache_sources = await asyncio.to_thread(
                cache.CacheSources.of, self.s.images, self.options.cache_from
            )
        total = len(steps)
        for number, step in enumerate(steps, 1):
            await self.say(f"Step {number}/{total} : {step.original}\n")
            await self.step(step)
            if self.stage.started:  # (FROM scratch shows an empty id, as dockerd)
                await self.say(f" ---> {_short(self.stage.image_id)}\n")
        unused = sorted(set(self.options.build_args) - self.declared - _BUILTIN_ARGS)
        if unused:
            await self.say(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        if not self.stage.image_id:
            raise InvalidArgument("No image was generated. Is your Dockerfile empty?")
        if self.options.labels:
            config = dict(self.stage.config)
            config["Labels"] = {**(config.get("Labels") or {}), **self.options.labels}
            await self.commit_config(
                config, "LABEL " + " ".join(f"{k}={v}" for k, v in self.options.labels.items())
            )
        record = self.s.images.resolve(self.stage.image_id)
        await self.emit({"aux": {"ID": record.image_id}})
        await self.say(f"Successfully built {_short(record.image_id)}\n")
        for ref in tags:
            await asyncio.to_thread(self.s.images.tag, record.image_id, ref.repository, ref.tag or "latest")
            await self.say(f"Successfully tagged {ref.familiar_name}:{ref.tag or 'latest'}\n")
        if self.options.quiet:  # dockerd's q=1 answer: only the id (the docker CLI prints it)
            self.held.clear()
            await self._send({"stream": record.image_id + "\n"})
        return record

    def _until_target(self, steps: list[Instruction]) -> list[Instruction]:
        if not self.options.target:
            return steps
        for index, step in enumerate(steps):
            if step.command == "FROM":
                words = step.args.split()
                if (
                    len(words) == 3
                    and words[1].lower() == "as"
                    and words[2].lower() == self.options.target.lower()
                ):
                    end = next(
                        (i for i in range(index + 1, len(steps)) if steps[i].command == "FROM"), len(steps)
                    )
                    return steps[:end]
        raise InvalidArgument(f'target stage "{self.options.target}" could not be found')

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
            config["OnBuild"] = [*(config.get("OnBuild") or []), step.args]
            await self.commit_config(config, f"ONBUILD {step.args}")
        else:  # the parser refuses unknown instructions: this is a new one not handled here
            raise InvalidArgument(f"{command} is not supported by the Berth builder")

    def _require_stage(self, command: str) -> None:
        if not self.stage.started:
            raise InvalidArgument(f"{command} before FROM: no build stage in current context")

    def _shell(self) -> list[str]:
        return list(self.stage.config.get("Shell") or _DEFAULT_SHELL)

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
        name = expand(words[0], {**self.global_args}, escape=step.escape)
        if len(words) == 3 and words[1].lower() == "as":
            alias = words[2].lower()
        elif len(words) == 1:
            alias = ""
        else:
            raise InvalidArgument(f"FROM requires either one or three arguments: {step.args}")
        if self.stage.started:
            self.stages.append(self.stage.image_id)
            if self.alias:
                self.stage_names[self.alias] = self.stage.image_id
        if name.lower() == "scratch":
            self.stage = _Stage("", {})
        elif name.lower() in self.stage_names:
            image_id = self.stage_names[name.lower()]
            self.stage = _Stage(image_id, dict(self.s.images.resolve(image_id).config.get("config") or {}))
        else:
            record = await self._image(name)
            self._check_platform(name, record)
            self.stage = _Stage(record.image_id, dict(record.config.get("config") or {}))
        self.alias = alias  # a stage sees global ARGs only when it declares them again (arg())
        triggers = list(self.stage.config.pop("OnBuild", None) or [])
        if triggers:  # the base image's ONBUILD steps run now; the new image does not keep them
            await self.say(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
            for trigger in triggers:
                await self.step(parse_trigger(str(trigger), escape=step.escape))

    def _check_platform(self, name: str, record: ImageRecord) -> None:
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

    async def _stage_image(self, name: str) -> str:
        """``COPY --from``: a finished stage by name or index, else an image (local, else pulled)."""
        if name.lower() in self.stage_names:
            return self.stage_names[name.lower()]
        if name.isdigit():
            if int(name) >= len(self.stages) or not self.stages[int(name)]:
                raise InvalidArgument(f"invalid from flag value {name}: no such build stage")
            return self.stages[int(name)]
        return (await self._image(name)).image_id

    async def _image(self, name: str) -> ImageRecord:
        if not self.options.pull:
            with contextlib.suppress(NotFound):
                return self.s.images.resolve(name)
        if self.s.pull is None:
            raise NotFound(f"pull access denied for {name}: this daemon cannot pull")
        ref = reference.parse(name)
        auth = self.options.registry_auths.get(ref.domain) or {}
        credentials = Credentials.from_auth_config(auth) if auth else Credentials()
        await self.s.pull.pull(
            ref, credentials=credentials, progress=self._send, platform=self.options.platform
        )
        return self.s.images.resolve(str(ref))

    async def arg(self, step: Instruction) -> None:
        """ARG: before the first FROM a global one; in a stage it is declared and, as dockerd does,
        committed (``ARG K=default`` in the history, an empty layer): even ``FROM scratch`` plus an
        ARG makes an image."""
        declared: list[str] = []
        for key, default in key_values("ARG", step.args, escape=step.escape):
            self.declared.add(key)
            if not self.stage.started:
                value = self.options.build_args.get(
                    key, expand(default, self.global_args, escape=step.escape) if default is not None else ""
                )
                self.global_args[key] = value
                continue
            shown = expand(default, self.env(), escape=step.escape) if default is not None else None
            declared.append(key if shown is None else f"{key}={shown}")
            if key in self.options.build_args:
                self.stage.args[key] = self.options.build_args[key]
            elif default is not None:
                self.stage.args[key] = expand(default, self.env(), escape=step.escape)
            elif key in self.global_args:
                self.stage.args[key] = self.global_args[key]
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

    async def _container(self, cmd: list[str], image: str = "") -> str:
        """A (not yet started) container of the current image, or of ``image``, for one step."""
        body = {
            "Image": image or self.stage.image_id,
            "Cmd": cmd,
            "Entrypoint": [""],
            "Env": self._run_env(),
            "AttachStdout": True,
            "AttachStderr": True,
            "HostConfig": self._host_config(),
        }
        if not body["Image"]:
            raise InvalidArgument(
                "a step that needs a container cannot run on scratch before any COPY or ADD"
            )
        container = await self.s.containers.create(body, None)
        return container.container_id

    def _host_config(self) -> dict[str, Any]:
        host: dict[str, Any] = dict(self.options.host_config)
        if self.options.network_mode:
            host["NetworkMode"] = self.options.network_mode
        if self.options.extra_hosts:
            host["ExtraHosts"] = list(self.options.extra_hosts)
        return host

    async def _remove(self, container_id: str) -> None:
        with contextlib.suppress(BerthError):
            await self.s.containers.remove(container_id, force=True)

    async def run_(self, step: Instruction) -> None:
        self._require_stage("RUN")
        _refuse_buildkit_flags(step)
        if step.json is not None:
            cmd = list(step.json)
            shown = " ".join(cmd)
        else:
            cmd = [*self._shell(), step.args]
            shown = " ".join(cmd)
        if self.stage.args:  # build args change what RUN does: Docker's "|N K=V … cmd" in the history
            pairs = " ".join(f"{k}={v}" for k, v in sorted(self.stage.args.items()))
            created_by = f"|{len(self.stage.args)} {pairs} {shown}"
        else:
            created_by = shown
        if await self._use_cache(created_by, self.stage.config):
            return
        container_id = await self._container(cmd)
        done = False
        try:
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
            container = await self.s.containers.wait(container_id, "not-running")
            if container.exit_code != 0:
                raise BuildFailed(
                    f"The command '{shown}' returned a non-zero code: {container.exit_code}",
                    container.exit_code or 1,
                )
            record = await self.s.commits.image_of(
                container, dict(self.stage.config), {"created_by": created_by}
            )
            done = True
        finally:
            await self._finish(container_id, done)
        self.stage.image_id, self.stage.config = record.image_id, dict(record.config.get("config") or {})

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
        """Remove a step's container as dockerd does: after success unless ``rm=0``; after a
        failure only with ``forcerm=1`` (it stays to be looked at)."""
        if self.options.force_remove or (succeeded and self.options.remove):
            await self._remove(container_id)
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
        _refuse_buildkit_flags(step)
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
        *patterns, dest = words
        source_image = await self._stage_image(step.flags["from"]) if "from" in step.flags else ""
        downloaded: list[build_context.Source] = []
        if command == "ADD":  # http(s) sources: the daemon downloads them now, as dockerd's
            for url in [p for p in patterns if download.is_remote(p)]:
                self._downloads += 1
                downloaded.append(
                    await download.fetch(url, self.context.parent / f"download-{self._downloads}")
                )
                await self.say("\n")
            patterns = [p for p in patterns if not download.is_remote(p)]
        if source_image:  # an image never changes: its id (and the paths) identify the files
            what = f"--from={source_image} {' '.join(patterns)}"
        else:  # resolved before any container is made: a missing file fails early
            srcs = (
                await asyncio.to_thread(build_context.sources, self.context, patterns, command)
                if patterns
                else []
            )
            what = await asyncio.to_thread(build_context.content_digest, [*srcs, *downloaded])
        chown = f"--chown={step.flags['chown']} " if step.flags.get("chown") else ""
        created_by = f"/bin/sh -c #(nop) {command} {chown}{what} in {dest} "
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
                    context = self.context
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
                    )

            await asyncio.to_thread(apply)
            record = await self.s.commits.image_of(
                container, dict(self.stage.config), {"created_by": created_by}
            )
        finally:
            for container_id in made:
                await self._remove(container_id)
        self.stage.image_id, self.stage.config = record.image_id, dict(record.config.get("config") or {})


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


def _refuse_buildkit_flags(step: Instruction) -> None:
    """Docker's classic-builder error for the first flag only BuildKit can honour."""
    refused = _BUILDKIT_FLAGS.get(step.command, ())
    for name in step.flags:
        if name in refused:
            raise InvalidArgument(f"the --{name} option requires BuildKit. {BUILDKIT_ONLY}")


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
