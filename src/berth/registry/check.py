"""Consistency check of one registry root (``berth-registry check [--repair]``): storage against metadata.

What is compared, in the order findings are reported and repaired::

    blobs table  <-> storage/blobs/…/data   every row has bytes of its size, every stored object hashes
                                            to its digest, an intact object without a row gets one
    repo_blobs   ->  blobs                  a link names a blob the registry has
    manifests    ->  blobs                  a manifest's own bytes are intact; the config and layers it
                                            names are intact and linked to its repository, its child
                                            manifests exist, and manifest_refs holds every edge gc marks
    tags         ->  manifests              a tag names a manifest of its repository
    uploads      <-> storage/uploads/<id>/  no session older than gc keeps one, no data without a session
    storage      leftovers                  the driver's temp files, gc's trash/, objects outside the layout

Blobs nothing references are notices, not problems: gc collects them, so ``--repair`` leaves them to
gc. ``--repair`` never deletes bytes that hash to their digest nor a manifest whose bytes are intact;
it removes what is already lost or half-written (metadata rows of missing or corrupt bytes, so that a
push stores them again; dangling tags; stale uploads; leftovers), and a manifest that names a lost
blob stays (it is reported until the image is pushed again).

Concurrency: reading needs no lock, so ``check`` runs beside ``serve``. The read pass can see a push or
a gc half-way; every repair therefore re-checks its finding inside a metadata write transaction (the
``BEGIN IMMEDIATE`` lock that ``BlobStore.publish`` and gc's sweep take), and only removes leftovers
older than ``LEFTOVER_AGE``, so nothing a running registry is writing is touched.
"""

from __future__ import annotations

import contextlib
import enum
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from berth.errors import NotFound
from berth.registry import digests
from berth.registry.api.errors import RegistryError
from berth.registry.manifests import ParsedManifest, parse
from berth.registry.service import Registry
from berth.registry.storage import paths
from berth.registry.storage.driver import FileInfo

#: Orphan upload data, temp files and trash younger than this may belong to a write in flight.
LEFTOVER_AGE = 3600.0
#: Upload sessions older than this are stale (gc purges them after max(grace, 24 h) too).
STALE_UPLOAD_AGE = 24 * 3600.0

_HASH_CHUNK = 4 << 20
_BLOB_RE = re.compile(r"^/blobs/(sha256|sha512)/([0-9a-f]{2})/([0-9a-f]{64}|[0-9a-f]{128})/data$")
_UPLOAD_RE = re.compile(r"^/uploads/([^/]+)/")
_TEMP_RE = re.compile(r"^\..+\.[0-9a-f]{32}\.tmp$")  # FilesystemDriver.put_content's ".<name>.<uuid>.tmp"


def _blob_digest(path: str) -> str | None:
    """The digest a ``/blobs/<algorithm>/<xx>/<hex>/data`` path holds, or None for any other path."""
    m = _BLOB_RE.match(path)
    if m is None or not m.group(3).startswith(m.group(2)):
        return None
    digest = f"{m.group(1)}:{m.group(3)}"
    return digest if digests.is_valid(digest) else None


class Severity(enum.StrEnum):
    """Whether a finding makes the check fail."""

    PROBLEM = "problem"  # an inconsistency: exit 1 unless --repair fixed it
    NOTICE = "notice"  # worth knowing, not wrong (unreferenced blobs: gc collects them)


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding: ``subject`` names the thing, ``problem`` what is wrong with it, and ``fix`` says
    what ``--repair`` does about it (None: it cannot; ``problem`` then says what would, such as a push)."""

    subject: str
    problem: str
    severity: Severity = Severity.PROBLEM
    fix: str | None = None

    def __str__(self) -> str:
        return f"{self.subject}: {self.problem}"


@dataclass(slots=True)
class CheckReport:
    """What ``check`` found and, with ``repair``, did; ``remaining`` are the problems still there."""

    repair: bool
    findings: list[Finding] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    remaining: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.PROBLEM]

    @property
    def clean(self) -> bool:
        """True when no problem is left (notices do not count): the CLI exits 0."""
        return not self.remaining

    def summary(self) -> str:
        problems = self.problems
        notices = len(self.findings) - len(problems)
        if not problems:
            text = "no problems found"
        elif self.repair:
            text = f"{_count(len(problems), 'problem')} found, {len(problems) - len(self.remaining)} repaired"
        else:
            fixable = sum(1 for f in problems if f.fix)
            text = f"{_count(len(problems), 'problem')} found, {fixable} can be repaired with --repair"
        return f"{text}; {_count(notices, 'notice')}" if notices else text

    def render(self) -> str:
        """One line per finding, one per repair done, then the summary line."""
        return "\n".join([*map(str, self.findings), *self.repairs, self.summary()])


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@dataclass(slots=True)
class _Blob:
    row_size: int | None = None  # size in the blobs table; None: no row
    stored: FileInfo | None = None  # the object under blobs/; None: no bytes
    intact: bool = False  # the stored bytes hash to the digest


# A repair re-checks its finding under the write lock: a line saying what it did, or None if the
# finding no longer holds (a concurrent push or gc changed it), so it is left alone.
_Fix = Callable[[], str | None]


def check(registry: Registry, *, repair: bool = False) -> CheckReport:
    """Compare storage with metadata; with ``repair``, fix what is safe. Safe to repeat: a check
    after a repair reports only the problems it could not fix, and the notices."""
    return _Checker(registry).run(repair=repair)


class _Checker:
    def __init__(self, registry: Registry) -> None:
        self.db = registry.db
        self.driver = registry.driver
        self.proxy = registry.config.proxy is not None
        self.now = time.time()
        self.blobs: defaultdict[str, _Blob] = defaultdict(_Blob)
        self.upload_data: dict[str, float] = {}  # upload id -> newest mtime of its files
        self.leftovers: list[tuple[FileInfo, str]] = []
        self.strangers: list[FileInfo] = []
        # (repo, digest) -> what the manifest names; None if its bytes are lost or unreadable
        self.manifests: dict[tuple[str, str], ParsedManifest | None] = {}
        self.unreadable: dict[tuple[str, str], str] = {}
        self.items: list[tuple[Finding, _Fix | None]] = []

    def add(
        self,
        subject: str,
        problem: str,
        what: str | None = None,
        fix: _Fix | None = None,
        *,
        severity: Severity = Severity.PROBLEM,
    ) -> None:
        """Record a finding; ``what`` says in words what ``--repair`` does, and ``fix`` does it."""
        self.items.append((Finding(subject, problem, severity, what), fix))

    def run(self, *, repair: bool) -> CheckReport:
        # Storage first, rows after: a publish moves bytes and inserts the row in one transaction,
        # so bytes seen here have their row by the time the tables are read.
        self._scan_storage()
        for row in self.db.query("SELECT digest, size FROM blobs"):
            self.blobs[str(row["digest"])].row_size = int(row["size"])
        self._verify_blobs()
        self._read_manifests()
        self._check_blobs()
        self._check_links()
        self._check_manifests()
        self._check_tags()
        self._check_uploads()
        self._check_leftovers()
        report = CheckReport(repair=repair, findings=[f for f, _ in self.items])
        for finding, fix in self.items:
            if finding.severity is Severity.PROBLEM and (not repair or fix is None):
                report.remaining.append(finding)
            elif repair and fix is not None:
                done = fix()
                if done is None:
                    report.repairs.append(f"left alone: {finding.subject} changed meanwhile (check again)")
                    if finding.severity is Severity.PROBLEM:
                        report.remaining.append(finding)
                else:
                    report.repairs.append(done)
        return report

    # -- reading ------------------------------------------------------------------------------------

    def _scan_storage(self) -> None:
        for info in self.driver.walk("/"):
            name = info.path.rsplit("/", 1)[-1]
            digest = _blob_digest(info.path)
            upload = _UPLOAD_RE.match(info.path)
            if digest is not None:
                self.blobs[digest].stored = info
            elif upload:
                upload_id = upload.group(1)
                self.upload_data[upload_id] = max(self.upload_data.get(upload_id, 0.0), info.mtime)
            elif info.path.startswith(paths.TRASH_ROOT + "/"):
                self.leftovers.append((info, "left in trash by an interrupted gc"))
            elif _TEMP_RE.match(name):
                self.leftovers.append((info, "temporary file of an interrupted write"))
            else:
                self.strangers.append(info)

    def _verify_blobs(self) -> None:
        # Every stored blob is hashed, always: a size check misses bit rot and same-size overwrites,
        # and check is a maintenance command whose point is to find exactly those; reading the whole
        # store once is the price (a sequential read at disk speed, nothing held locked meanwhile).
        for digest, blob in self.blobs.items():
            if blob.stored is None:
                continue
            algorithm = digests.algorithm_of(digest)  # each blob is verified by its own algorithm
            hasher = digests.hasher(algorithm)
            try:
                with self.driver.reader(blob.stored.path) as f:
                    while chunk := f.read(_HASH_CHUNK):
                        hasher.update(chunk)
            except NotFound:  # gc swept it while we looked
                blob.stored = None
                continue
            blob.intact = f"{algorithm}:{hasher.hexdigest()}" == digest

    def _stat(self, path: str) -> FileInfo | None:
        try:
            return self.driver.stat(path)
        except NotFound:
            return None

    def _row_size(self, digest: str) -> int | None:
        row = self.db.query_one("SELECT size FROM blobs WHERE digest = ?", (digest,))
        return None if row is None else int(row["size"])

    def _unchanged(self, seen: FileInfo) -> bool:
        """The bytes we judged are still in place: under the write lock nothing in the registry may
        replace a blob's bytes, so the same size and mtime mean the same bytes (no second hash)."""
        now = self._stat(seen.path)
        return now is not None and (now.size, now.mtime) == (seen.size, seen.mtime)

    def _has_manifest(self, repo: str, digest: str) -> bool:
        sql = "SELECT 1 FROM manifests WHERE repo = ? AND digest = ?"
        return self.db.query_one(sql, (repo, digest)) is not None

    def _read_manifests(self) -> None:
        rows = self.db.query("SELECT repo, digest, media_type FROM manifests ORDER BY repo, digest")
        for row in rows:
            key = (str(row["repo"]), str(row["digest"]))
            self.manifests[key] = None
            if self._state(key[1]) is not None:
                continue
            try:
                data = self.driver.get_content(paths.blob_data(key[1]))
                self.manifests[key] = parse(data, str(row["media_type"]))
            except (RegistryError, NotFound) as exc:
                self.unreadable[key] = str(exc)

    def _referenced(self) -> set[str]:
        """Manifests, and what manifests name: by their bytes, and by manifest_refs (gc's view)."""
        named = {str(r[0]) for r in self.db.query("SELECT child FROM manifest_refs")}
        for (_, digest), parsed in self.manifests.items():
            named.add(digest)
            if parsed is not None:
                named.update(d.digest for d in [*parsed.blobs, *parsed.children])
        return named

    def _state(self, digest: str) -> str | None:
        """None if ``digest``'s bytes are intact, else how they are not."""
        blob = self.blobs.get(digest)
        if blob is None or blob.stored is None:
            return "missing from storage"
        return None if blob.intact else "corrupt"

    # -- blobs and links ----------------------------------------------------------------------------

    def _check_blobs(self) -> None:
        referenced = self._referenced()
        for digest in sorted(self.blobs):
            blob = self.blobs[digest]
            if blob.stored is None and blob.row_size is not None:
                # Re-read: gc may have swept the row and its bytes between the two reads.
                if self._row_size(digest) is not None and self._stat(paths.blob_data(digest)) is None:
                    self.add(
                        f"blob {digest} in metadata",
                        "bytes missing from storage",
                        "remove its metadata rows so a push stores it again",
                        partial(self._drop_missing, digest),
                    )
            elif blob.stored is not None and not blob.intact:
                problem = "bytes do not match the digest"
                if blob.row_size is not None and blob.row_size != blob.stored.size:
                    problem += f" ({blob.stored.size} bytes, metadata says {blob.row_size})"
                self.add(
                    f"blob {digest} in storage",
                    problem,
                    "delete the bytes and their metadata rows so a push stores them again",
                    partial(self._drop_corrupt, digest, blob.stored, blob.row_size is None),
                )
            elif blob.stored is not None and blob.row_size not in (None, blob.stored.size):
                self.add(
                    f"blob {digest} in metadata",
                    f"size {blob.row_size} does not match its {blob.stored.size} intact bytes",
                    "correct the size",
                    partial(self._fix_size, digest, blob.stored),
                )
            elif blob.stored is not None and blob.row_size is None:
                fix = partial(self._adopt, digest, blob.stored)
                if digest in referenced:
                    self.add(
                        f"blob {digest} in storage",
                        "has no metadata row, though a manifest names it",
                        "record it in the metadata",
                        fix,
                    )
                else:
                    self.add(
                        f"blob {digest} in storage",
                        "unreferenced and without a metadata row (gc cannot see it)",
                        "record it in the metadata, so gc will collect it",
                        fix,
                        severity=Severity.NOTICE,
                    )
            elif digest not in referenced:
                self.add(
                    f"blob {digest} in storage", "unreferenced, gc will collect it", severity=Severity.NOTICE
                )

    def _drop_missing(self, digest: str) -> str | None:
        with self.db.write():
            if self._row_size(digest) is None or self._stat(paths.blob_data(digest)) is not None:
                return None
            self.db.execute("DELETE FROM blobs WHERE digest = ?", (digest,))
            links = self.db.execute("DELETE FROM repo_blobs WHERE digest = ?", (digest,))
        return f"removed the metadata of missing blob {digest} ({_count(links, 'repository link')})"

    def _drop_corrupt(self, digest: str, seen: FileInfo, had_no_row: bool) -> str | None:
        # Deleted rather than moved aside: bytes that do not hash to their digest are nobody's
        # content, and the layout has no place where kept-aside bytes would ever be cleaned up.
        with self.db.write():
            if (self._row_size(digest) is None) != had_no_row or not self._unchanged(seen):
                return None
            self.driver.delete(seen.path)
            self.db.execute("DELETE FROM blobs WHERE digest = ?", (digest,))
            self.db.execute("DELETE FROM repo_blobs WHERE digest = ?", (digest,))
        return f"deleted the corrupt bytes of blob {digest} and their metadata (a push stores them again)"

    def _fix_size(self, digest: str, seen: FileInfo) -> str | None:
        with self.db.write():
            if self._row_size(digest) is None or not self._unchanged(seen):
                return None
            self.db.execute("UPDATE blobs SET size = ? WHERE digest = ?", (seen.size, digest))
        return f"corrected the size of blob {digest} to {seen.size} bytes"

    def _adopt(self, digest: str, seen: FileInfo) -> str | None:
        with self.db.write():
            if self._row_size(digest) is not None or not self._unchanged(seen):
                return None
            self.db.execute(
                "INSERT INTO blobs (digest, size, touched) VALUES (?, ?, ?)", (digest, seen.size, self.now)
            )
        return f"recorded blob {digest} in the metadata ({seen.size} bytes)"

    def _check_links(self) -> None:
        rows = self.db.query(
            "SELECT l.repo, l.digest FROM repo_blobs l "
            "WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = l.digest) ORDER BY l.repo, l.digest"
        )
        for row in rows:
            repo, digest = str(row["repo"]), str(row["digest"])
            if self._state(digest) is None:
                continue  # intact bytes without a row: recorded above, which makes the link right
            self.add(
                f"blob link {repo} -> {digest}",
                "names a blob the registry does not have",
                "remove the link",
                partial(self._drop_link, repo, digest),
            )

    def _drop_link(self, repo: str, digest: str) -> str | None:
        removed = self.db.execute(
            "DELETE FROM repo_blobs WHERE repo = ? AND digest = ? "
            "AND NOT EXISTS (SELECT 1 FROM blobs WHERE digest = ?)",
            (repo, digest, digest),
        )
        return f"removed the link of {repo} to missing blob {digest}" if removed else None

    # -- manifests and tags -------------------------------------------------------------------------

    def _check_manifests(self) -> None:
        tags: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
        for r in self.db.query("SELECT repo, tag, digest FROM tags ORDER BY tag"):
            tags[(str(r["repo"]), str(r["digest"]))].append(str(r["tag"]))
        edges = {tuple(map(str, r)) for r in self.db.query("SELECT repo, manifest, child FROM manifest_refs")}
        links = {tuple(map(str, r)) for r in self.db.query("SELECT repo, digest FROM repo_blobs")}
        for (repo, digest), parsed in self.manifests.items():
            subject = f"manifest {repo}@{digest}"
            state = self._state(digest)
            if state is not None:
                tagged = f" (tagged {', '.join(tags[(repo, digest)])})" if tags[(repo, digest)] else ""
                self.add(
                    subject,
                    f"its bytes are {state}{tagged}",
                    "remove the manifest and its tags, so a push stores it again",
                    partial(self._drop_manifest, repo, digest),
                )
                continue
            if parsed is None:
                self.add(subject, f"cannot be read: {self.unreadable.get((repo, digest), 'unknown error')}")
                continue
            if not self.proxy:  # a pull-through cache fetches what manifests name lazily
                for i, blob in enumerate(parsed.blobs):
                    kind = "config" if i == 0 else "layer"
                    if blob.foreign:
                        continue
                    if (missing := self._state(blob.digest)) is not None:
                        self.add(subject, f"its {kind} {blob.digest} is {missing} (push the image again)")
                    elif (repo, blob.digest) not in links:
                        self.add(
                            subject,
                            f"its {kind} {blob.digest} is not linked to {repo}",
                            "link the blob to the repository",
                            partial(self._link, repo, blob.digest),
                        )
                for child in parsed.children:
                    if self.manifests.get((repo, child.digest)) is None:
                        self.add(
                            subject, f"its child manifest {child.digest} is missing (push the image again)"
                        )
            named = [d.digest for d in [*parsed.blobs, *parsed.children]]
            lacking = sorted({d for d in named if (repo, digest, d) not in edges})
            if lacking:
                self.add(
                    subject,
                    f"{_count(len(lacking), 'reference')} missing from manifest_refs (gc would not keep "
                    f"{'it' if len(lacking) == 1 else 'them'})",
                    "record the references",
                    partial(self._add_edges, repo, digest, lacking),
                )

    def _drop_manifest(self, repo: str, digest: str) -> str | None:
        key = (repo, digest)
        with self.db.write():
            if not self._has_manifest(repo, digest) or (
                self._row_size(digest) is not None and self._stat(paths.blob_data(digest)) is not None
            ):
                return None  # gone already, or its bytes are back
            tags = [
                str(r["tag"])
                for r in self.db.query("SELECT tag FROM tags WHERE repo = ? AND digest = ?", key)
            ]
            self.db.execute("DELETE FROM tags WHERE repo = ? AND digest = ?", key)
            self.db.execute("DELETE FROM manifests WHERE repo = ? AND digest = ?", key)
            self.db.execute("DELETE FROM manifest_refs WHERE repo = ? AND manifest = ?", key)
            self.db.execute("DELETE FROM repo_blobs WHERE repo = ? AND digest = ?", key)
        tagged = f" and its tag{'s' if len(tags) > 1 else ''} {', '.join(tags)}" if tags else ""
        return f"removed manifest {repo}@{digest}{tagged} (its bytes were lost)"

    def _link(self, repo: str, digest: str) -> str | None:
        with self.db.write():
            if self._row_size(digest) is None:
                return None
            self.db.execute(
                "INSERT INTO repo_blobs (repo, digest) VALUES (?, ?) ON CONFLICT DO NOTHING", (repo, digest)
            )
        return f"linked blob {digest} to {repo}"

    def _add_edges(self, repo: str, digest: str, children: list[str]) -> str | None:
        with self.db.write():
            if not self._has_manifest(repo, digest):
                return None
            for child in children:
                self.db.execute(
                    "INSERT INTO manifest_refs (repo, manifest, child) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    (repo, digest, child),
                )
        return f"recorded {_count(len(children), 'reference')} of manifest {repo}@{digest} for gc"

    def _check_tags(self) -> None:
        rows = self.db.query(
            "SELECT t.repo, t.tag, t.digest FROM tags t WHERE NOT EXISTS "
            "(SELECT 1 FROM manifests m WHERE m.repo = t.repo AND m.digest = t.digest) ORDER BY t.repo, t.tag"
        )
        for row in rows:
            repo, tag, digest = str(row["repo"]), str(row["tag"]), str(row["digest"])
            self.add(
                f"tag {repo}:{tag}",
                f"points to manifest {digest}, which does not exist",
                "remove the tag",
                partial(self._drop_tag, repo, tag, digest),
            )

    def _drop_tag(self, repo: str, tag: str, digest: str) -> str | None:
        removed = self.db.execute(
            "DELETE FROM tags WHERE repo = ? AND tag = ? AND digest = ? AND NOT EXISTS "
            "(SELECT 1 FROM manifests WHERE repo = ? AND digest = ?)",
            (repo, tag, digest, repo, digest),
        )
        return f"removed tag {repo}:{tag} (its manifest {digest} does not exist)" if removed else None

    # -- uploads and leftovers ----------------------------------------------------------------------

    def _check_uploads(self) -> None:
        # Read after the storage walk: a session's row is inserted before its data file is made.
        sessions = self.db.query("SELECT id, repo, started FROM uploads ORDER BY started")
        stale = self.now - STALE_UPLOAD_AGE
        for row in sessions:
            upload_id, started = str(row["id"]), float(row["started"])
            if started < stale:
                hours = (self.now - started) / 3600
                self.add(
                    f"upload {upload_id} ({row['repo']})",
                    f"stale session, started {hours:.0f} hours ago",
                    "remove the session",
                    partial(self._drop_session, upload_id, stale),
                )
        known = {str(r["id"]) for r in sessions}
        for upload_id, mtime in sorted(self.upload_data.items()):
            if upload_id in known or mtime >= self.now - LEFTOVER_AGE:
                continue
            if self.db.query_one("SELECT 1 FROM uploads WHERE id = ?", (upload_id,)) is None:
                self.add(
                    f"upload data {paths.upload_dir(upload_id)} in storage",
                    "no upload session owns it",
                    "delete it",
                    partial(self._drop_upload_data, upload_id),
                )

    def _drop_session(self, upload_id: str, stale: float) -> str | None:
        if self.db.execute("DELETE FROM uploads WHERE id = ? AND started < ?", (upload_id, stale)) == 0:
            return None
        with contextlib.suppress(NotFound):  # a session that never got bytes has no directory
            self.driver.delete(paths.upload_dir(upload_id))
        return f"removed stale upload session {upload_id}"

    def _drop_upload_data(self, upload_id: str) -> str | None:
        if self.db.query_one("SELECT 1 FROM uploads WHERE id = ?", (upload_id,)) is not None:
            return None
        try:
            self.driver.delete(paths.upload_dir(upload_id))
        except NotFound:
            return None
        return f"deleted orphan upload data {paths.upload_dir(upload_id)}"

    def _check_leftovers(self) -> None:
        for info, what in self.leftovers:
            if info.mtime < self.now - LEFTOVER_AGE:
                self.add(
                    f"object {info.path} in storage",
                    what,
                    "delete it",
                    partial(self._drop_leftover, info.path),
                )
        for info in self.strangers:
            self.add(
                f"object {info.path} in storage",
                "not part of the registry's layout (remove it by hand if nothing needs it)",
            )

    def _drop_leftover(self, path: str) -> str | None:
        try:
            self.driver.delete(path)
        except NotFound:
            return None
        return f"deleted leftover {path}"
