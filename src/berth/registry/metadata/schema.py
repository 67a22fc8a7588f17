"""The registry's metadata schema, written once for SQLite and PostgreSQL alike.

Tables (version in ``meta.schema_version``)::

    repositories  name PK, visibility ('public'|'private'), description, created; (v3:) readme,
                  description_source ('manual' set by an owner | 'push' | ''), last_pushed
    blobs         digest PK, size, touched          verified bytes present under storage/blobs/
    repo_blobs    repo, digest  PK(repo, digest)    blob links: what a repository may serve
    manifests     repo, digest, media_type, size, artifact_type, subject, annotations (JSON), created
                  PK(repo, digest)
    manifest_refs repo, manifest, child  PK(...)    descriptors a manifest names (config, layers,
                                                    index children): the edges gc marks along
    tags          repo, tag, digest, updated  PK(repo, tag)
    uploads       id PK, repo, started              open upload sessions (bytes in storage/uploads/)
    users         name PK, password_hash (bcrypt), admin, created
    orgs          name PK, owner, created
    teams         org, name  PK(org, name)
    team_members  org, team, user  PK(org, team, user)
    grants        org, team, repo, access ('pull'|'push'|'admin')  PK(org, team, repo)
    robots        org, name, token_hash (bcrypt), created  PK(org, name)                    (v2)
    robot_grants  org, name, repo (a name or fnmatch pattern inside org), access ('pull'|'push')
                  PK(org, name, repo)                                                      (v2)
    webhooks      id PK, target (REPO or ORG), url, secret, events ('push,delete'), created  (v2)
    webhook_queue id PK, hook, event, body (JSON envelope), attempt, due   not yet delivered  (v2)
    webhook_log   id PK, hook, event, attempt, time, status (HTTP code or NULL), error
                  the last deliveries of each hook (notify/store.py keeps it bounded)        (v2)
    pulls         repo, tag, count, last_pulled  PK(repo, tag)  tag '' counts every pull   (v3)
    stars         repo, user, created  PK(repo, user)                                      (v3)
    quotas        namespace PK, limit_bytes, updated     a user's or organisation's quota  (v4)
    tag_policies  target PK (REPO or NS/*), keep_last, pulled_within (days), keep, immutable
                  (JSON lists of tag globs), updated     retention and immutable tags      (v4)

Versions: a new database gets ``BASE_SCHEMA`` (version 1) and then every step of ``MIGRATIONS``;
an older one only the steps it lacks, each in one transaction with its version bump.

The text is SQLite's dialect restricted to what PostgreSQL also takes; ``postgres_ddl`` maps the types
SQLite treats loosely onto PostgreSQL's (``REAL`` is a float8 there, not a float4; sizes need ``BIGINT``).
Identifiers that PostgreSQL reserves (``user``) are quoted everywhere.
"""

from __future__ import annotations

import re

SCHEMA_VERSION = 4

BASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repositories (
    name TEXT PRIMARY KEY, visibility TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (digest TEXT PRIMARY KEY, size INTEGER NOT NULL, touched REAL NOT NULL);
CREATE TABLE IF NOT EXISTS repo_blobs (repo TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (repo, digest));
CREATE INDEX IF NOT EXISTS repo_blobs_digest ON repo_blobs (digest);
CREATE TABLE IF NOT EXISTS manifests (
    repo TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,
    artifact_type TEXT, subject TEXT, annotations TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL,
    PRIMARY KEY (repo, digest));
CREATE INDEX IF NOT EXISTS manifests_subject ON manifests (repo, subject);
CREATE INDEX IF NOT EXISTS manifests_digest ON manifests (digest);
CREATE TABLE IF NOT EXISTS manifest_refs (
    repo TEXT NOT NULL, manifest TEXT NOT NULL, child TEXT NOT NULL, PRIMARY KEY (repo, manifest, child));
CREATE INDEX IF NOT EXISTS manifest_refs_child ON manifest_refs (child);
CREATE TABLE IF NOT EXISTS tags (
    repo TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL, updated REAL NOT NULL,
    PRIMARY KEY (repo, tag));
CREATE TABLE IF NOT EXISTS uploads (id TEXT PRIMARY KEY, repo TEXT NOT NULL, started REAL NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, admin INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS orgs (name TEXT PRIMARY KEY, owner TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS teams (org TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (org, name));
CREATE TABLE IF NOT EXISTS team_members (
    org TEXT NOT NULL, team TEXT NOT NULL, "user" TEXT NOT NULL, PRIMARY KEY (org, team, "user"));
CREATE TABLE IF NOT EXISTS grants (
    org TEXT NOT NULL, team TEXT NOT NULL, repo TEXT NOT NULL, access TEXT NOT NULL,
    PRIMARY KEY (org, team, repo));
"""

# MIGRATIONS[n] takes a version-n database to version n + 1.
MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE IF NOT EXISTS robots (
    org TEXT NOT NULL, name TEXT NOT NULL, token_hash TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (org, name));
CREATE TABLE IF NOT EXISTS robot_grants (
    org TEXT NOT NULL, name TEXT NOT NULL, repo TEXT NOT NULL, access TEXT NOT NULL,
    PRIMARY KEY (org, name, repo));
CREATE TABLE IF NOT EXISTS webhooks (
    id TEXT PRIMARY KEY, target TEXT NOT NULL, url TEXT NOT NULL, secret TEXT NOT NULL,
    events TEXT NOT NULL, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS webhooks_target ON webhooks (target);
CREATE TABLE IF NOT EXISTS webhook_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT, hook TEXT NOT NULL, event TEXT NOT NULL, body BLOB NOT NULL,
    attempt INTEGER NOT NULL, due REAL NOT NULL);
CREATE INDEX IF NOT EXISTS webhook_queue_due ON webhook_queue (due);
CREATE TABLE IF NOT EXISTS webhook_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, hook TEXT NOT NULL, event TEXT NOT NULL,
    attempt INTEGER NOT NULL, time REAL NOT NULL, status INTEGER, error TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS webhook_log_hook ON webhook_log (hook, id);
""",
    # The hub (hub/): a description that came with a push (the only kind before) may be replaced
    # by the next push; last_pushed starts from the newest tag.
    2: """
ALTER TABLE repositories ADD COLUMN readme TEXT NOT NULL DEFAULT '';
ALTER TABLE repositories ADD COLUMN description_source TEXT NOT NULL DEFAULT '';
ALTER TABLE repositories ADD COLUMN last_pushed REAL;
UPDATE repositories SET description_source = 'push' WHERE description != '';
UPDATE repositories SET last_pushed = (SELECT MAX(updated) FROM tags WHERE tags.repo = repositories.name);
CREATE TABLE IF NOT EXISTS pulls (
    repo TEXT NOT NULL, tag TEXT NOT NULL, count INTEGER NOT NULL DEFAULT 0, last_pulled REAL,
    PRIMARY KEY (repo, tag));
CREATE TABLE IF NOT EXISTS stars (
    repo TEXT NOT NULL, "user" TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (repo, "user"));
CREATE INDEX IF NOT EXISTS stars_user ON stars ("user");
""",
    # Storage policy (policy/): quotas per namespace, retention and immutable tags per repository
    # or namespace. Nothing existing changes: no quota and no policy is what older versions did.
    3: """
CREATE TABLE IF NOT EXISTS quotas (
    namespace TEXT PRIMARY KEY, limit_bytes INTEGER NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tag_policies (
    target TEXT PRIMARY KEY, keep_last INTEGER, pulled_within REAL, keep TEXT NOT NULL DEFAULT '[]',
    immutable TEXT NOT NULL DEFAULT '[]', updated REAL NOT NULL);
""",
}


# Seeds the version of a database made from BASE_SCHEMA; a no-op on one that has it.
SEED_VERSION = "INSERT INTO meta (key, value) VALUES ('schema_version', '1') ON CONFLICT DO NOTHING"

_PG_TYPES = (
    (re.compile(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b"), "BIGSERIAL PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
)


def statements(script: str) -> list[str]:
    """The statements of a schema script (none of ours holds a ``;`` inside a literal)."""
    return [s.strip() for s in script.split(";") if s.strip()]


def postgres_ddl(script: str) -> str:
    """A schema script in PostgreSQL's types."""
    for pattern, replacement in _PG_TYPES:
        script = pattern.sub(replacement, script)
    return script
