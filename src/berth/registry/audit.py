"""AuditLog: an append-only record of what changed the registry and who got in.

One JSON object per line in ``<root>/audit.log``: ``time`` (RFC 3339, UTC), ``action`` (push, delete,
login, login-failed, grant, user-add, user-remove, password-change, member-add, member-remove,
visibility, repo-remove, robot-add, robot-remove, webhook-add, webhook-remove), ``actor`` (a user,
"anonymous", or "cli:<local user>"), ``address`` (the client's, for requests) and ``target`` (a
repository reference, a user, a team…), plus details. The file is only ever opened with O_APPEND
and each record is one write(2), so records from concurrent requests and processes never interleave
and nothing is rewritten.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

AUDIT_FILE = "audit.log"


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, action: str, actor: str, target: str, *, address: str = "", **detail: Any) -> None:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        entry = {
            "time": now,
            "action": action,
            "actor": actor or "anonymous",
            "address": address,
            "target": target,
        }
        entry.update({k: v for k, v in detail.items() if v not in (None, "")})
        line = (json.dumps(entry, separators=(",", ":"), sort_keys=False) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every record, oldest first (a torn last line, from a crash mid-write, is skipped)."""
        try:
            with self.path.open("rb") as f:
                for raw in f:
                    try:
                        entry = json.loads(raw)
                    except ValueError:
                        continue
                    if isinstance(entry, dict):
                        yield entry
        except FileNotFoundError:
            return
