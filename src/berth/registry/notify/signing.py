"""HMAC-SHA256 signatures of webhook bodies, in GitHub's form: ``X-Berth-Signature-256: sha256=<hex>``.

A receiver computes ``hmac.new(secret, body, sha256).hexdigest()`` over the raw body and compares it
with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Berth-Signature-256"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    return hmac.compare_digest(sign(secret, body), header)
