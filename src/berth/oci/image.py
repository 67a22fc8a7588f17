"""OCI image config, manifest and index as typed helpers over their JSON (image-spec config/manifest/index).

The image config stays a JSON dict (``ImageConfig``) because Docker adds fields freely; the helpers here
validate what Berth relies on (``rootfs.diff_ids``, ``architecture``, ``os``) and build the documents
Berth writes. Chain ids follow image-spec config.md: ``chain(L0) = diff(L0)``,
``chain(Ln) = sha256(chain(Ln-1) + " " + diff(Ln))``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from berth.errors import InvalidArgument
from berth.oci import mediatypes
from berth.oci.digest import Digest, is_digest, of_bytes

ImageConfig = dict[str, Any]
"""A parsed image config JSON (architecture, os, config{…}, rootfs{diff_ids}, history, created)."""

_NANOS_RE = re.compile(r"^(?P<base>[^.]+?)(?:\.(?P<frac>\d+))?(?P<tz>Z|[+-]\d\d:\d\d)?$")


@dataclass(frozen=True, slots=True)
class Descriptor:
    """An OCI content descriptor: what a manifest or index points at."""

    media_type: str
    digest: Digest
    size: int
    annotations: dict[str, str] = field(default_factory=dict)
    platform: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform:
            out["platform"] = dict(self.platform)
        return out

    @classmethod
    def from_json(cls, value: object) -> Descriptor:
        if not isinstance(value, dict):
            raise InvalidArgument("invalid descriptor: expected a JSON object")
        digest = value.get("digest")
        size = value.get("size")
        media_type = value.get("mediaType", "")
        if not isinstance(digest, str) or not is_digest(digest):
            raise InvalidArgument(f"invalid descriptor: bad digest {digest!r}")
        if not isinstance(size, int) or size < 0:
            raise InvalidArgument(f"invalid descriptor: bad size {size!r}")
        annotations = value.get("annotations") or {}
        platform = value.get("platform")
        return cls(
            str(media_type),
            Digest(digest),
            size,
            {str(k): str(v) for k, v in annotations.items()} if isinstance(annotations, dict) else {},
            {str(k): str(v) for k, v in platform.items() if isinstance(v, str)}
            if isinstance(platform, dict)
            else None,
        )


@dataclass(frozen=True, slots=True)
class Manifest:
    """An image manifest: one config and its layers, in order."""

    config: Descriptor
    layers: tuple[Descriptor, ...]
    media_type: str = mediatypes.OCI_MANIFEST
    annotations: dict[str, str] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        doc: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": self.config.to_json(),
            "layers": [layer.to_json() for layer in self.layers],
        }
        if self.annotations:
            doc["annotations"] = dict(self.annotations)
        return canonical_json(doc)

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        doc = loads_object(data, "manifest")
        media_type = str(doc.get("mediaType") or mediatypes.OCI_MANIFEST)
        if media_type not in mediatypes.MANIFESTS:
            raise InvalidArgument(f"unsupported manifest media type {media_type!r}")
        layers = doc.get("layers") or []
        if not isinstance(layers, list):
            raise InvalidArgument("invalid manifest: layers must be a list")
        return cls(
            Descriptor.from_json(doc.get("config")),
            tuple(Descriptor.from_json(layer) for layer in layers),
            media_type,
        )


@dataclass(frozen=True, slots=True)
class Index:
    """An image index (or Docker manifest list): manifests for several platforms or names."""

    manifests: tuple[Descriptor, ...]
    media_type: str = mediatypes.OCI_INDEX

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": self.media_type,
                "manifests": [m.to_json() for m in self.manifests],
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Index:
        doc = loads_object(data, "index")
        manifests = doc.get("manifests") or []
        if not isinstance(manifests, list):
            raise InvalidArgument("invalid index: manifests must be a list")
        return cls(
            tuple(Descriptor.from_json(m) for m in manifests),
            str(doc.get("mediaType") or mediatypes.OCI_INDEX),
        )


def canonical_json(value: object) -> bytes:
    """Compact JSON bytes (what Berth hashes and stores)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def loads_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise InvalidArgument(f"invalid {what} JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid {what}: expected a JSON object")
    return value


def parse_config(data: bytes) -> ImageConfig:
    """Parse and check an image config; InvalidArgument names the first problem."""
    config = loads_object(data, "image config")
    rootfs = config.get("rootfs")
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers":
        raise InvalidArgument('invalid image config: rootfs.type must be "layers"')
    diff_ids = rootfs.get("diff_ids") or []
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) and is_digest(d) for d in diff_ids):
        raise InvalidArgument("invalid image config: rootfs.diff_ids must be a list of sha256 digests")
    return config


def diff_ids(config: ImageConfig) -> list[Digest]:
    return [Digest(d) for d in (config.get("rootfs") or {}).get("diff_ids") or []]


def chain_ids(layer_diff_ids: list[Digest]) -> list[Digest]:
    """The chain id of each layer prefix (image-spec config.md "ChainID")."""
    out: list[Digest] = []
    for diff in layer_diff_ids:
        if not out:
            out.append(diff)
        else:
            out.append(Digest("sha256:" + hashlib.sha256(f"{out[-1]} {diff}".encode()).hexdigest()))
    return out


def image_id(config_bytes: bytes) -> Digest:
    """An image's id: the digest of its config JSON bytes."""
    return of_bytes(config_bytes)


def now_rfc3339() -> str:
    """The current UTC time in RFC 3339 with nanoseconds, as Docker writes ``created``."""
    now = _dt.datetime.now(_dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000Z"


def parse_rfc3339(value: object) -> float:
    """Unix seconds for an RFC 3339 timestamp (nanoseconds allowed); 0 for anything unparsable."""
    if not isinstance(value, str) or not value:
        return 0.0
    match = _NANOS_RE.match(value.strip())
    if not match:
        return 0.0
    frac = (match.group("frac") or "0")[:6]
    tz = match.group("tz") or "Z"
    try:
        moment = _dt.datetime.fromisoformat(
            f"{match.group('base')}.{frac:0<6}{'+00:00' if tz == 'Z' else tz}"
        )
    except ValueError:
        return 0.0
    return moment.timestamp()


def format_rfc3339(seconds: float) -> str:
    """RFC 3339 in UTC with nanoseconds from unix seconds (Docker's ``Created`` in inspect)."""
    moment = _dt.datetime.fromtimestamp(seconds, _dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}000Z"


_CHANGE_COMMANDS = {
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "WORKDIR",
    "USER",
    "LABEL",
    "EXPOSE",
    "VOLUME",
    "STOPSIGNAL",
    "ONBUILD",
}


def apply_changes(container_config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """Apply Dockerfile instructions (``docker import --change``/``commit --change``) to a config's
    ``config`` section; returns the new dict. InvalidArgument for anything else."""
    import shlex

    out = dict(container_config)
    for change in changes:
        change = change.strip()
        if not change:
            continue
        command, _, rest = change.partition(" ")
        command = command.upper()
        rest = rest.strip()
        if command not in _CHANGE_COMMANDS:
            raise InvalidArgument(f"{command} is not a valid change command")
        if command in ("CMD", "ENTRYPOINT"):
            out["Cmd" if command == "CMD" else "Entrypoint"] = _exec_or_shell(rest)
            if command == "ENTRYPOINT" and "Cmd" not in out:
                out["Cmd"] = None
        elif command in ("ENV", "LABEL"):
            pairs = _pairs(command, rest, shlex)
            if command == "ENV":
                env = [e for e in out.get("Env") or [] if e.split("=", 1)[0] not in {k for k, _ in pairs}]
                out["Env"] = env + [f"{k}={v}" for k, v in pairs]
            else:
                out["Labels"] = {**(out.get("Labels") or {}), **dict(pairs)}
        elif command == "WORKDIR":
            out["WorkingDir"] = rest
        elif command == "USER":
            out["User"] = rest
        elif command == "STOPSIGNAL":
            out["StopSignal"] = rest
        elif command == "EXPOSE":
            ports = dict(out.get("ExposedPorts") or {})
            for port in rest.split():
                ports[port if "/" in port else f"{port}/tcp"] = {}
            out["ExposedPorts"] = ports
        elif command == "VOLUME":
            volumes = dict(out.get("Volumes") or {})
            for path in _exec_or_shell(rest, shell=False):
                volumes[path] = {}
            out["Volumes"] = volumes
        else:
            out["OnBuild"] = [*(out.get("OnBuild") or []), rest]
    return out


def _exec_or_shell(rest: str, *, shell: bool = True) -> list[str]:
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return [str(v) for v in value]
    if shell:
        return ["/bin/sh", "-c", rest]
    return rest.split()


def _pairs(command: str, rest: str, shlex: Any) -> list[tuple[str, str]]:
    words: list[str] = shlex.split(rest)
    if not words:
        raise InvalidArgument(f"{command} requires at least one argument")
    if "=" not in words[0]:
        key, _, value = rest.partition(" ")
        return [(key, value.strip())]
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"{command} names can not be blank or malformed: {word!r}")
        pairs.append((key, value))
    return pairs
