"""The shim's control protocol on ``<state>/shim.sock``: one JSON request line, one JSON response line.

Requests: ``{"op": "start"}``, ``{"op": "attach", "stdin": b, "stdout": b, "stderr": b}``,
``{"op": "resize", "height": h, "width": w}``, ``{"op": "exec_create", "exec_id", "process", "io"}``,
``{"op": "exec_start", "exec_id"}``, ``{"op": "exec_attach", "exec_id", "stdin"}``,
``{"op": "exec_wait", "exec_id"}``, ``{"op": "exec_resize", "exec_id", "height", "width"}``.
Responses: ``{"ok": true, ...}`` or ``{"error": msg, "kind": "exec"|"notfound"|"conflict"|"internal",
"errno": n}``. After a successful attach the connection carries Docker's stream (stdcopy frames, or raw
for a TTY) from the shim and stdin bytes to it; the client's shutdown(SHUT_WR) is stdin EOF.
"""

from __future__ import annotations

import json
import struct

STDOUT = 1
STDERR = 2
STREAMS = {"stdout": STDOUT, "stderr": STDERR}


def frame(stream: int, data: bytes) -> bytes:
    """A Docker stdcopy frame: [stream, 0, 0, 0, size:uint32 BE] + payload."""
    return struct.pack(">BxxxI", stream, len(data)) + data


def encode(message: dict[str, object]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, object]:
    value = json.loads(line)
    if not isinstance(value, dict):
        raise ValueError("shim message is not an object")
    return value
