"""Registry: the one composition root that builds every store and service from a RegistryConfig."""

from __future__ import annotations

from berth.registry.accounts.service import AccountService
from berth.registry.audit import AUDIT_FILE, AuditLog
from berth.registry.auth.acl import AccessPolicy
from berth.registry.auth.logins import Logins
from berth.registry.auth.throttle import LoginThrottle
from berth.registry.auth.tokens import TokenIssuer
from berth.registry.blobs import BlobStore
from berth.registry.config import RegistryConfig
from berth.registry.hub.service import Hub
from berth.registry.manifests import ManifestService
from berth.registry.metadata import open_metadata
from berth.registry.notify.store import WebhookStore
from berth.registry.policy.quotas import Quotas
from berth.registry.policy.rules import TagPolicies
from berth.registry.proxy import UpstreamClient
from berth.registry.repositories import RepositoryService
from berth.registry.storage import paths
from berth.registry.storage.driver import StorageDriver
from berth.registry.storage.filesystem import FilesystemDriver
from berth.registry.storage.inmemory import InMemoryDriver
from berth.registry.storage.s3 import S3Driver
from berth.registry.uploads import UploadService


class Registry:
    """Everything one registry root holds, wired once; the HTTP app and the CLI both use it."""

    def __init__(self, config: RegistryConfig, *, driver: StorageDriver | None = None) -> None:
        self.config = config
        config.root.mkdir(parents=True, exist_ok=True)
        redirect = None
        if driver is None:
            if config.s3 is not None:
                s3 = S3Driver(config.s3)
                driver, redirect = s3, (s3.presigned_url if config.s3.redirect else None)
            elif config.storage_driver == "inmemory":
                driver = InMemoryDriver()
            else:
                driver = FilesystemDriver(config.root / paths.STORAGE_DIR)
        self.driver = driver
        self.db = open_metadata(
            config.metadata_driver, sqlite_path=config.root / paths.DATABASE_FILE, url=config.metadata_url
        )
        self.quotas = Quotas(self.db)
        self.blobs = BlobStore(driver, self.db, admit=self.quotas.admit, redirect=redirect)
        self.uploads = UploadService(self.blobs, self.db)
        self.manifests = ManifestService(self.blobs, self.db)
        self.tag_policies = TagPolicies(self.db)
        visibility = "public" if config.proxy else config.default_visibility
        self.repos = RepositoryService(self.db, default_visibility=visibility)
        self.hub = Hub(self.db, self.blobs, self.manifests)
        self.accounts = AccountService(self.db, bcrypt_rounds=config.bcrypt_rounds)
        self.webhooks = WebhookStore(self.db)
        self.audit = AuditLog(config.root / AUDIT_FILE)
        throttle = LoginThrottle(limit=config.login_attempts, window=config.login_window)
        self.logins = Logins(self.accounts, throttle, self.audit)
        self.policy = AccessPolicy(self.accounts, self.repos, pull_through=config.proxy is not None)
        self.upstream = UpstreamClient(config.proxy) if config.proxy else None
        self._tokens: TokenIssuer | None = None

    @property
    def tokens(self) -> TokenIssuer:
        """The token issuer; its key is made (or loaded) on first use, i.e. on the first ``serve``."""
        if self._tokens is None:
            self._tokens = TokenIssuer(
                self.config.signing_key or self.config.root / paths.TOKEN_KEY_FILE,
                service=self.config.service,
                ttl=self.config.token_ttl,
            )
        return self._tokens

    def close(self) -> None:
        try:
            self.hub.pulls.flush()  # counts pending since the last periodic flush
        finally:
            self.db.close()
            if isinstance(self.driver, S3Driver):
                self.driver.close()
