"""RegistryConfig: the ``--config`` YAML file, with defaults for everything.

storage:  {driver: filesystem | inmemory | s3,  # filesystem lives under --root/storage
           s3: {endpoint: URL, region: R, bucket: B, access_key: K, secret_key: S,
                path_style: true, redirect: false}}
                                               # keys (and region, endpoint) also from AWS_* variables
metadata: {driver: sqlite | postgres, url: "postgres://USER:PASSWORD@HOST:PORT/DB"}
                                               # sqlite lives in --root/registry.db
auth:     {service: berth-registry, token_ttl: 300, realm: URL, bcrypt_rounds: 12,
          login_attempts: 5, login_window: 300, signing_key: FILE}
                                               # signing_key: a PEM EC key shared by replicas
                                               # (made on first start if absent; default --root/auth/token.key)
                                                   # realm defaults to the request's scheme://host/token
default_visibility: private | public
tls:      {certificate: FILE, key: FILE}       # serve HTTPS
addr:     HOST:PORT                            # default for `serve --addr`
gc:       {grace_seconds: 3600}                # blobs touched this recently are never collected
proxy:    {remote_url: URL, username: U, password: P}   # pull-through cache of another registry
metrics:  {enabled: true, allow: [127.0.0.0/8, ::1/128]}   # who may GET /metrics
notifications: {attempts: 5, backoff: 1.0, backoff_max: 300, timeout: 10}
                                               # webhook retries: backoff doubles after each failure
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from berth.errors import InvalidArgument
from berth.registry.notify.worker import DeliveryPolicy
from berth.registry.proxy import ProxyConfig
from berth.registry.storage.s3 import S3Settings

DEFAULT_ROOT = Path("/var/lib/berth-registry")
DEFAULT_ADDR = "127.0.0.1:5000"
_LOOPBACK = ("127.0.0.0/8", "::1/128")


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """The ``metrics:`` section: whether ``/metrics`` is served, and to which client networks."""

    enabled: bool = True
    allow: tuple[str, ...] = _LOOPBACK


@dataclass(frozen=True, slots=True)
class RegistryConfig:
    root: Path = DEFAULT_ROOT
    storage_driver: str = "filesystem"
    s3: S3Settings | None = None
    metadata_driver: str = "sqlite"
    metadata_url: str | None = None  # postgres://…; holds a password: never logged
    signing_key: Path | None = None  # None: --root/auth/token.key
    service: str = "berth-registry"
    token_ttl: int = 300
    realm: str | None = None
    default_visibility: str = "private"
    tls_certificate: Path | None = None
    tls_key: Path | None = None
    addr: str = DEFAULT_ADDR
    gc_grace_seconds: float = 3600.0
    bcrypt_rounds: int = 12
    login_attempts: int = 5  # failed logins of one user from one address before a lock-out
    login_window: float = 300.0  # seconds a failure counts (and the longest lock-out)
    proxy: ProxyConfig | None = None
    notifications: DeliveryPolicy = DeliveryPolicy()
    metrics: MetricsSettings = MetricsSettings()


def _section(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key) or {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"config: {key} must be a mapping")
    return value


def _proxy(section: dict[str, Any]) -> ProxyConfig | None:
    if not section:
        return None
    url = section.get("remote_url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InvalidArgument("config: proxy.remote_url must be an http:// or https:// URL")
    username, password = section.get("username"), section.get("password")
    return ProxyConfig(url, str(username) if username else None, str(password) if password else None)


def _notifications(section: dict[str, Any]) -> DeliveryPolicy:
    unknown = set(section) - {"attempts", "backoff", "backoff_max", "timeout"}
    if unknown:
        raise InvalidArgument(f"config: unknown notifications key {sorted(unknown)[0]!r}")
    try:
        policy = DeliveryPolicy(
            attempts=int(section.get("attempts", 5)),
            backoff=float(section.get("backoff", 1.0)),
            backoff_max=float(section.get("backoff_max", 300)),
            timeout=float(section.get("timeout", 10)),
        )
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"config: notifications: {exc}") from exc
    if policy.attempts < 1 or policy.backoff < 0 or policy.timeout <= 0:
        raise InvalidArgument("config: notifications needs attempts >= 1, backoff >= 0, timeout > 0")
    return policy


def _metrics(section: dict[str, Any]) -> MetricsSettings:
    unknown = set(section) - {"enabled", "allow"}
    if unknown:
        raise InvalidArgument(f"config: unknown metrics key {sorted(unknown)[0]!r}")
    enabled = section.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidArgument("config: metrics.enabled must be true or false")
    allow = section.get("allow", list(_LOOPBACK))
    if not isinstance(allow, list) or not all(isinstance(net, str) for net in allow):
        raise InvalidArgument(
            "config: metrics.allow must be a list of networks (127.0.0.0/8, 10.0.0.0/8, ::1/128)"
        )
    for net in allow:
        try:
            ipaddress.ip_network(net)
        except ValueError as exc:
            raise InvalidArgument(f"config: metrics.allow: {exc}") from exc
    return MetricsSettings(enabled=enabled, allow=tuple(allow))


_S3_KEYS = {"endpoint", "region", "bucket", "access_key", "secret_key", "path_style", "redirect"}


def _s3(section: dict[str, Any], env: Mapping[str, str]) -> S3Settings:
    """``storage.s3``; what it leaves out comes from AWS_* variables (as boto3 reads them)."""
    unknown = set(section) - _S3_KEYS
    if unknown:
        raise InvalidArgument(f"config: unknown storage.s3 key {sorted(unknown)[0]!r}")
    bucket = section.get("bucket")
    if not isinstance(bucket, str) or not bucket:
        raise InvalidArgument("config: storage.s3.bucket is required")
    endpoint = section.get("endpoint") or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint is not None and not str(endpoint).startswith(("http://", "https://")):
        raise InvalidArgument("config: storage.s3.endpoint must be an http:// or https:// URL")
    access_key = section.get("access_key") or env.get("AWS_ACCESS_KEY_ID")
    secret_key = section.get("secret_key") or env.get("AWS_SECRET_ACCESS_KEY")
    if bool(access_key) != bool(secret_key):
        raise InvalidArgument("config: storage.s3 needs both access_key and secret_key (or neither)")
    for flag in ("path_style", "redirect"):
        if flag in section and not isinstance(section[flag], bool):
            raise InvalidArgument(f"config: storage.s3.{flag} must be true or false")
    region = section.get("region") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    return S3Settings(
        bucket=bucket,
        endpoint=str(endpoint) if endpoint else None,
        region=str(region),
        access_key=str(access_key) if access_key else None,
        secret_key=str(secret_key) if secret_key else None,
        path_style=bool(section.get("path_style", True)),
        redirect=bool(section.get("redirect", False)),
    )


def _metadata(section: dict[str, Any]) -> tuple[str, str | None]:
    unknown = set(section) - {"driver", "url"}
    if unknown:
        raise InvalidArgument(f"config: unknown metadata key {sorted(unknown)[0]!r}")
    driver = str(section.get("driver", "sqlite"))
    url = section.get("url")
    if driver == "sqlite":
        if url is not None:
            raise InvalidArgument("config: metadata.url applies to the postgres driver only")
        return driver, None
    if driver != "postgres":
        raise InvalidArgument(f"config: unknown metadata driver {driver!r} (sqlite or postgres)")
    if not isinstance(url, str) or not url.startswith(("postgres://", "postgresql://")):
        raise InvalidArgument("config: metadata.url must be a postgres:// URL for the postgres driver")
    return driver, url


def load(root: Path, path: Path | None) -> RegistryConfig:
    """Defaults, overridden by the YAML file at ``path`` if given; InvalidArgument names a bad key."""
    if path is None:
        return RegistryConfig(root=root)
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidArgument(f"cannot read config {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidArgument(f"config {path}: top level must be a mapping")
    storage, metadata, auth, tls, gc, proxy, notifications, metrics = (
        _section(doc, k)
        for k in ("storage", "metadata", "auth", "tls", "gc", "proxy", "notifications", "metrics")
    )
    metadata_driver, metadata_url = _metadata(metadata)
    visibility = str(doc.get("default_visibility", "private"))
    if visibility not in ("public", "private"):
        raise InvalidArgument(f"config: default_visibility must be public or private, not {visibility!r}")
    driver = str(storage.get("driver", "filesystem"))
    if driver not in ("filesystem", "inmemory", "s3"):
        raise InvalidArgument(f"config: unknown storage driver {driver!r}")
    unknown_storage = set(storage) - {"driver", "s3"}
    if unknown_storage:
        raise InvalidArgument(f"config: unknown storage key {sorted(unknown_storage)[0]!r}")
    if "s3" in storage and driver != "s3":
        raise InvalidArgument(f"config: storage.s3 is set but storage.driver is {driver!r}")
    return RegistryConfig(
        root=root,
        storage_driver=driver,
        s3=_s3(_section(storage, "s3"), os.environ) if driver == "s3" else None,
        metadata_driver=metadata_driver,
        metadata_url=metadata_url,
        signing_key=Path(auth["signing_key"]) if auth.get("signing_key") else None,
        service=str(auth.get("service", "berth-registry")),
        token_ttl=int(auth.get("token_ttl", 300)),
        login_attempts=int(auth.get("login_attempts", 5)),
        login_window=float(auth.get("login_window", 300)),
        realm=auth.get("realm"),
        default_visibility=visibility,
        tls_certificate=Path(tls["certificate"]) if tls.get("certificate") else None,
        tls_key=Path(tls["key"]) if tls.get("key") else None,
        addr=str(doc.get("addr", DEFAULT_ADDR)),
        gc_grace_seconds=float(gc.get("grace_seconds", 3600)),
        bcrypt_rounds=int(auth.get("bcrypt_rounds", 12)),
        proxy=_proxy(proxy),
        notifications=_notifications(notifications),
        metrics=_metrics(metrics),
    )
