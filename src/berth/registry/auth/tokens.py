"""TokenIssuer: ES256 JWTs for Docker token auth, signed with a key made on first start.

Claims follow distribution's docs/spec/auth/jwt.md: ``iss``, ``sub`` (empty for anonymous), ``aud``
(the service), ``exp``, ``nbf``, ``iat``, ``jti`` and ``access: [{type, name, actions}]``. A ``kind``
claim separates access tokens from refresh tokens (``docker login``'s identity token) and web sessions,
so one can never be used as another.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from berth.errors import Unauthorized
from berth.registry.accounts.service import User

ACCESS, REFRESH, SESSION = "access", "refresh", "session"


class InvalidToken(Unauthorized):
    """A bearer token, refresh token or session cookie failed verification. The client is at fault."""


def _load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise Unauthorized(f"token key {path} is not an EC private key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # two processes starting at once: the first key wins, the other loads it
    except FileExistsError:
        tmp.unlink()
        return _load_or_create_key(path)
    tmp.unlink()
    return key


def _key_id(key: ec.EllipticCurvePrivateKey) -> str:
    """libtrust-style key id: base32 of the first 240 bits of sha256(DER public key), in 4-char groups."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(b32[i : i + 4] for i in range(0, 48, 4))


class TokenIssuer:
    """Issues and verifies tokens for one service (the ``aud`` claim)."""

    def __init__(
        self, key_path: Path, *, service: str, issuer: str = "berth-registry", ttl: int = 300
    ) -> None:
        self._key = _load_or_create_key(key_path)
        self._public = self._key.public_key()
        self.kid = _key_id(self._key)
        self.service = service
        self.issuer = issuer
        self.ttl = ttl

    def issue(
        self,
        subject: str,
        access: list[dict[str, Any]],
        *,
        kind: str = ACCESS,
        ttl: int | None = None,
        stamp: str = "",
    ) -> str:
        """``stamp``: the subject's credential stamp (``User.stamp``), checked by ``check_stamp``."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + (ttl or self.ttl),
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
            "kind": kind,
        }
        if stamp:
            claims["cst"] = stamp
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self.kid})

    def verify(self, token: str, *, kind: str = ACCESS) -> dict[str, Any]:
        """The claims of a valid, unexpired token of ``kind``; InvalidToken otherwise."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public,
                algorithms=["ES256"],
                audience=self.service,
                issuer=self.issuer,
                leeway=30,
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"invalid token: {exc}") from exc
        if claims.get("kind", ACCESS) != kind:
            raise InvalidToken(f"token is not a {kind} token")
        return claims


def check_stamp(claims: dict[str, Any], user: User | None) -> None:
    """InvalidToken if the token's user has changed their password since it was issued."""
    if user is not None and claims.get("cst") != user.stamp:
        raise InvalidToken(f"token was issued before the password of {user.name} changed: log in again")
