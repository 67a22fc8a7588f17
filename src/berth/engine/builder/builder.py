"""``POST /build``: Docker's classic builder. Each Dockerfile step makes an image on top of the last:
RUN runs the command in a container from the current image and commits its changes; COPY/ADD extract
files from the context into such a container's root (resolved inside it, as ``cp`` does) and commit;
the other instructions only change the image config (an empty layer in the history). Output is the
classic builder's JSON stream (``Step 1/3 : FROM busybox``, `` ---> 1a2b3c4d5e6f``, the commands'
output, ``{"aux": {"ID": …}}``, ``Successfully built …``, ``Successfully tagged …``).

Multi-stage files build stage by stage (``--target`` stops at a stage; ``COPY --from`` reads a
finished stage's or another image's root). The build cache: a step whose parent image already has
a child made by the same step (same history line, which for COPY/ADD holds a digest of the files,
and same config) reuses it (`` ---> Using cache``); ``--no-cache`` turns that off.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import os
import shlex
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from berth.distribution.auth import Credentials
from berth.engine.builder import context as build_context
from berth.engine.builder.dockerfile import Instruction, expand, key_values, parse, split_words
from berth.engine.containers import archive
from berth.engine.containers.commit import CommitService
from berth.engine.containers.service import ContainerService
from berth.engine.images import ImageRecord, ImageService
from berth.engine.images.pull import PullService
from berth.errors import BerthError, InvalidArgument, NotFound
from berth.oci import reference
from berth.oci.image import apply_changes

Send = Callable[[dict[str, Any]], Awaitable[None]]

_DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_CONFIG_ONLY = {"ENV", "LABEL", "WORKDIR", "USER", "EXPOSE", "VOLUME", "STOPSIGNAL", "CMD", "ENTRYPOINT"}


class BuildFailed(BerthError):
    """A step failed, in Docker's words (``The command '/bin/sh -c false' returned a non-zero code: 1``)."""


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
    ) -> None:
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

    @staticmethod
    def _read_dockerfile(context: Path, name: str) -> list[Instruction]:
        clean = os.path.normpath("/" + (name or "Dockerfile")).lstrip("/")
        path = context / clean
        if not path.resolve().is_relative_to(context.resolve()) or not path.is_file():
            raise InvalidArgument(f"Cannot locate specified Dockerfile: {name or 'Dockerfile'}")
        return parse(path.read_text(encoding="utf-8", errors="replace"))


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

    async def say(self, text: str) -> None:
        if not self.options.quiet:
            await self._send({"stream": text})

    async def run(self, steps: list[Instruction]) -> ImageRecord:
        steps = self._until_target(steps)
        total = len(steps)
        for number, step in enumerate(steps, 1):
            await self.say(f"Step {number}/{total} : {step.original}\n")
            await self.step(step)
            if self.stage.image_id:
                await self.say(f" ---> {_short(self.stage.image_id)}\n")
        if not self.stage.image_id:
            raise InvalidArgument("No image was generated. Is your Dockerfile empty?")
        if self.options.labels:
            config = dict(self.stage.config)
            config["Labels"] = {**(config.get("Labels") or {}), **self.options.labels}
            await self.commit_config(
                config, "LABEL " + " ".join(f"{k}={v}" for k, v in self.options.labels.items())
            )
        record = self.s.images.resolve(self.stage.image_id)
        await self._send({"aux": {"ID": record.image_id}})
        if self.options.quiet:  # the docker CLI's -q prints the stream it got: just the id
            await self._send({"stream": record.image_id + "\n"})
        await self.say(f"Successfully built {_short(record.image_id)}\n")
        for tag in self.options.tags:
            ref = reference.parse(tag)
            await asyncio.to_thread(self.s.images.tag, record.image_id, ref.repository, ref.tag or "latest")
            await self.say(f"Successfully tagged {ref.familiar_name}:{ref.tag or 'latest'}\n")
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
        raise InvalidArgument(f"failed to reach build target {self.options.target} in Dockerfile")

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
            self.arg(step)
        elif command == "RUN":
            await self.run_(step)
        elif command in ("COPY", "ADD"):
            await self.copy(step)
        elif command in _CONFIG_ONLY:
            self._require_stage(command)
            change = self._change(step)
            config = apply_changes(dict(self.stage.config), [change])
            if command == "CMD":
                self.stage.cmd_set = True
            elif command == "ENTRYPOINT" and not self.stage.cmd_set:
                config["Cmd"] = None  # the base image's CMD does not outlive a new ENTRYPOINT (Docker)
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

    def _change(self, step: Instruction) -> str:
        """The instruction as an ``apply_changes`` line, variables expanded where Docker expands them."""
        if step.command in ("CMD", "ENTRYPOINT"):
            return f"{step.command} {json.dumps(step.json) if step.json is not None else step.args}"
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
            self.stage = _Stage(record.image_id, dict(record.config.get("config") or {}))
        self.alias = alias  # a stage sees global ARGs only when it declares them again (arg())

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

    def arg(self, step: Instruction) -> None:
        for key, default in key_values("ARG", step.args, escape=step.escape):
            if not self.stage.started:
                value = self.options.build_args.get(
                    key, expand(default, self.global_args, escape=step.escape) if default is not None else ""
                )
                self.global_args[key] = value
                continue
            if key in self.options.build_args:
                self.stage.args[key] = self.options.build_args[key]
            elif default is not None:
                self.stage.args[key] = expand(default, self.env(), escape=step.escape)
            elif key in self.global_args:
                self.stage.args[key] = self.global_args[key]

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
        """Move to an image an earlier build made from this one by the same step (same history line,
        same resulting config), as the classic builder's cache does; False when there is none."""
        if self.options.no_cache or not self.stage.image_id:
            return False
        parent = self.stage.image_id

        def find() -> ImageRecord | None:
            for record in sorted(self.s.images.children(parent), key=lambda r: -r.created):
                history = record.config.get("history") or []
                if (
                    history
                    and history[-1].get("created_by") == created_by
                    and (record.config.get("config") or {}) == config
                ):
                    return record
            return None

        record = await asyncio.to_thread(find)
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
            "HostConfig": {"NetworkMode": self.options.network_mode} if self.options.network_mode else {},
        }
        if not body["Image"]:
            raise InvalidArgument(
                "a step that needs a container cannot run on scratch before any COPY or ADD"
            )
        container = await self.s.containers.create(body, None)
        return container.container_id

    async def _remove(self, container_id: str) -> None:
        with contextlib.suppress(BerthError):
            await self.s.containers.remove(container_id, force=True)

    async def run_(self, step: Instruction) -> None:
        self._require_stage("RUN")
        if step.json is not None:
            cmd = list(step.json)
            shown = " ".join(cmd)
        else:
            shell = list(self.stage.config.get("Shell") or ["/bin/sh", "-c"])
            cmd = [*shell, step.args]
            shown = " ".join(cmd)
        if self.stage.args:  # build args change what RUN does: Docker's "|N K=V … cmd" in the history
            pairs = " ".join(f"{k}={v}" for k, v in sorted(self.stage.args.items()))
            created_by = f"|{len(self.stage.args)} {pairs} {shown}"
        else:
            created_by = shown
        if await self._use_cache(created_by, self.stage.config):
            return
        container_id = await self._container(cmd)
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
                raise BuildFailed(f"The command '{shown}' returned a non-zero code: {container.exit_code}")
            record = await self.s.commits.image_of(
                container, dict(self.stage.config), {"created_by": created_by}
            )
        finally:
            await self._remove(container_id)
        await self.say(f"Removing intermediate container {container_id[:12]}\n")
        self.stage.image_id, self.stage.config = record.image_id, dict(record.config.get("config") or {})

    async def _relay(self, reader: asyncio.StreamReader) -> None:
        """The container's stdcopy frames as ``stream`` messages (stdout and stderr alike, as Docker).
        One incremental decoder per stream: a character split across two frames stays whole."""
        decoders = {kind: codecs.getincrementaldecoder("utf-8")(errors="replace") for kind in (1, 2)}
        while True:
            try:
                header = await reader.readexactly(8)
            except asyncio.IncompleteReadError:
                break
            size = int.from_bytes(header[4:8], "big")
            data = await reader.readexactly(size)
            text = decoders.get(header[0], decoders[1]).decode(data)
            if text:
                await self.say(text)
        for decoder in decoders.values():
            if tail := decoder.decode(b"", final=True):
                await self.say(tail)

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
        *patterns, dest = words
        source_image = await self._stage_image(step.flags["from"]) if "from" in step.flags else ""
        if source_image:  # an image never changes: its id (and the paths) identify the files
            what = f"--from={source_image} {' '.join(patterns)}"
        else:  # resolved before any container is made: a missing file fails early
            srcs = await asyncio.to_thread(build_context.sources, self.context, patterns, command)
            what = await asyncio.to_thread(build_context.content_digest, srcs)
        chown = f"--chown={step.flags['chown']} " if step.flags.get("chown") else ""
        created_by = f"/bin/sh -c #(nop) {command} {chown}{what} in {dest} "
        if await self._use_cache(created_by, self.stage.config):
            return
        if not self.stage.image_id:  # scratch: an empty image to hold the first files
            await self.commit_config(dict(self.stage.config), "scratch")
        made: list[str] = []
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
                        root_fd, context, patterns, dest, workdir, chown, command, container.directory
                    )

            await asyncio.to_thread(apply)
            record = await self.s.commits.image_of(
                container, dict(self.stage.config), {"created_by": created_by}
            )
        finally:
            for container_id in made:
                await self._remove(container_id)
        self.stage.image_id, self.stage.config = record.image_id, dict(record.config.get("config") or {})


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


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
