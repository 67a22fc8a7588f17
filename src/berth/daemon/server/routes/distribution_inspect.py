"""``GET /distribution/{name}/json``: what a registry holds for a reference, without pulling it —
the manifest's descriptor and the platforms it offers, as dockerd answers (docker-py's
``images.get_registry_data``, ``docker buildx imagetools``-style checks).

The reference resolves as a pull does (``PullService.registry_clients``: mirrors first, then the
registry; ``docker.io`` names go to ``--default-registry``). For an index the platforms are its
entries'; for a single manifest, the ``os``/``architecture`` of its config blob.

    {"Descriptor": {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:…",
                    "size": 1234},
     "Platforms": [{"architecture": "amd64", "os": "linux"}]}
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from berth.daemon.server.router import ApiRouter
from berth.daemon.server.routes.distribution import credentials_of
from berth.engine.images.pull import PullService
from berth.errors import BerthError, Forbidden, InvalidArgument, NotFound, Unauthorized, Unavailable
from berth.oci import reference
from berth.oci.image import Manifest

_PLATFORM_KEYS = ("architecture", "os", "os.version", "os.features", "variant")


def _platform(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    out = {key: value[key] for key in _PLATFORM_KEYS if value.get(key)}
    return out if out.get("os") or out.get("architecture") else None


class RemoteInspector:
    """Resolves references against registries through the pull service's clients."""

    def __init__(self, pull: PullService) -> None:
        self._pull = pull

    async def inspect(self, request: web.Request, name: str) -> dict[str, Any]:
        """``{"Descriptor", "Platforms"}`` for ``name``; NotFound, Unauthorized, Unavailable as a pull."""
        try:
            ref = reference.parse(name)
        except (ValueError, InvalidArgument) as exc:
            raise InvalidArgument(f"invalid reference format: {name}") from exc
        credentials = credentials_of(request)
        tag = ref.digest or ref.tag or "latest"
        last: BerthError = NotFound(f"{ref.familiar_name}: no registry to ask")
        clients = self._pull.registry_clients(ref.domain, credentials)
        for index, client in enumerate(clients):
            try:
                top = await client.get_manifest(ref.path, tag)
                platforms: list[dict[str, Any]] = []
                doc = json.loads(top.data)
                if top.is_index:
                    for entry in doc.get("manifests") or []:
                        found = _platform(entry.get("platform"))
                        if found is not None:
                            platforms.append(found)
                else:
                    manifest = Manifest.from_bytes(top.data)
                    try:
                        config = json.loads(await client.fetch_blob(ref.path, manifest.config))
                    except (BerthError, ValueError):
                        config = None  # dockerd too answers without a platform when the config is unreadable
                    found = _platform(config)
                    if found is not None:
                        platforms.append(found)
                descriptor = {"mediaType": top.media_type, "digest": str(top.digest), "size": len(top.data)}
                return {"Descriptor": descriptor, "Platforms": platforms}
            except (NotFound, Unauthorized, Forbidden, Unavailable) as exc:
                last = exc
                if index + 1 < len(clients):
                    continue
            finally:
                await client.close()
        raise last

    async def handle(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(await self.inspect(request, request.match_info["name"]))


def register(router: ApiRouter, pull: PullService) -> RemoteInspector:
    inspector = RemoteInspector(pull)
    router.get("/distribution/{name:.+}/json", inspector.handle)
    return inspector
