"""The body of a webhook delivery: distribution's notification envelope (docs/notifications.md).

    {"events": [{"id", "timestamp", "action": push|pull|delete,
                 "target": {"mediaType", "digest", "size", "length", "repository", "url", "tag"},
                 "request": {"id", "addr", "host", "method", "useragent"},
                 "actor": {"name"}, "source": {"addr", "instanceID"}}]}

One event per envelope. ``target.tag`` is left out when the manifest was named by digest, and a
delete by digest has no ``mediaType``/``size`` (distribution's delete events carry none either).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"
ACTIONS = ("push", "delete", "pull")
INSTANCE_ID = str(uuid.uuid4())  # this process, as distribution's source.instanceID


@dataclass(frozen=True, slots=True)
class Target:
    repository: str
    digest: str
    media_type: str = ""
    size: int | None = None
    tag: str = ""


@dataclass(frozen=True, slots=True)
class Origin:
    """The request that caused the event, and who made it."""

    addr: str
    host: str
    method: str
    useragent: str
    actor: str
    source_addr: str
    scheme: str = "http"
    request_id: str = ""


def event(action: str, target: Target, origin: Origin) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    described: dict[str, Any] = {"repository": target.repository, "digest": target.digest}
    if target.media_type:
        described["mediaType"] = target.media_type
    if target.size is not None:
        described["size"] = described["length"] = target.size
    described["url"] = f"{origin.scheme}://{origin.host}/v2/{target.repository}/manifests/{target.digest}"
    if target.tag:
        described["tag"] = target.tag
    return {
        "id": str(uuid.uuid4()),
        "timestamp": now,
        "action": action,
        "target": described,
        "request": {
            "id": origin.request_id or str(uuid.uuid4()),
            "addr": origin.addr,
            "host": origin.host,
            "method": origin.method,
            "useragent": origin.useragent,
        },
        "actor": {"name": origin.actor},
        "source": {"addr": origin.source_addr, "instanceID": INSTANCE_ID},
    }


def envelope(one: dict[str, Any]) -> bytes:
    return json.dumps({"events": [one]}, separators=(",", ":")).encode()
