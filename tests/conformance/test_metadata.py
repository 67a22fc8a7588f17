"""One suite for every metadata back end (SQLite, PostgreSQL): what the registry's services rely on.

The services' own tests (``tests/unit/registry``) run on both back ends as well; these pin the contract
underneath them: rows, transactions, the writers' order across processes, types, migrations, errors.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from berth.errors import Internal, Unavailable
from berth.registry.metadata import SCHEMA_VERSION, MetadataDB, open_metadata
from berth.registry.metadata.schema import BASE_SCHEMA, postgres_ddl, statements
from berth.testing.postgres import PostgresServer

Opener = Callable[[], MetadataDB]


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens the same database again each call: two calls are two processes (or replicas) sharing it."""
    if request.param == "sqlite":
        return lambda: open_metadata("sqlite", sqlite_path=tmp_path / "registry.db")
    url = request.getfixturevalue("postgres_url")
    return lambda: open_metadata("postgres", sqlite_path=tmp_path / "unused.db", url=url)


@pytest.fixture
def db(opener: Opener) -> Iterator[MetadataDB]:
    handle = opener()
    yield handle
    handle.close()


def _add_repo(db: MetadataDB, name: str, created: float = 1.0) -> int:
    return db.execute(
        "INSERT INTO repositories (name, visibility, created) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (name, "public", created),
    )


def test_a_new_database_is_at_the_current_version(db: MetadataDB) -> None:
    row = db.query_one("SELECT value FROM meta WHERE key = 'schema_version'")
    assert row is not None and row["value"] == str(SCHEMA_VERSION) and row[0] == str(SCHEMA_VERSION)


def test_rows_by_name_and_position_and_as_dicts(db: MetadataDB) -> None:
    _add_repo(db, "alice/app", 12.5)
    row = db.query_one("SELECT name, created AS made FROM repositories WHERE name = ?", ("alice/app",))
    assert row is not None
    assert (row["name"], row[0], row["made"], row[1]) == ("alice/app", "alice/app", 12.5, 12.5)
    assert row.keys() == ["name", "made"]
    assert dict(zip(row.keys(), row, strict=True)) == {"name": "alice/app", "made": 12.5}
    assert db.query_one("SELECT name FROM repositories WHERE name = ?", ("nobody",)) is None
    assert db.query("SELECT name FROM repositories WHERE name = ?", ("nobody",)) == []


def test_upserts_and_rows_changed(db: MetadataDB) -> None:
    assert _add_repo(db, "a/b") == 1
    assert _add_repo(db, "a/b") == 0  # ON CONFLICT DO NOTHING changes nothing
    for digest in ("sha256:1", "sha256:1"):
        db.execute(
            "INSERT INTO tags (repo, tag, digest, updated) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (repo, tag) DO UPDATE SET digest = excluded.digest, updated = excluded.updated",
            ("a/b", "v1", digest, 2.0),
        )
    db.execute(
        "INSERT INTO tags (repo, tag, digest, updated) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (repo, tag) DO UPDATE SET digest = excluded.digest, updated = excluded.updated",
        ("a/b", "v1", "sha256:2", 3.0),
    )
    assert [tuple(r) for r in db.query("SELECT digest, updated FROM tags")] == [("sha256:2", 3.0)]
    assert db.execute("UPDATE tags SET updated = ? WHERE repo = ?", (4.0, "a/b")) == 1
    assert db.execute("DELETE FROM tags WHERE repo = ?", ("nope",)) == 0


def test_values_keep_their_type_and_precision(db: MetadataDB) -> None:
    now = time.time()
    big = 5 * 1024**3 + 7  # a 5 GiB layer: past a 32-bit integer
    db.execute("INSERT INTO blobs (digest, size, touched) VALUES (?, ?, ?)", ("sha256:big", big, now))
    row = db.query_one("SELECT size, touched FROM blobs")
    assert row is not None and row["size"] == big and row["touched"] == now  # float8, not float4
    body = bytes(range(256)) * 4
    db.execute(
        "INSERT INTO webhook_queue (hook, event, body, attempt, due) VALUES (?, ?, ?, ?, ?)",
        ("h1", "push", body, 1, now),
    )
    db.execute(
        "INSERT INTO webhook_queue (hook, event, body, attempt, due) VALUES (?, ?, ?, ?, ?)",
        ("h1", "push", b"", 1, now),
    )
    rows = db.query("SELECT id, body FROM webhook_queue ORDER BY id")
    assert bytes(rows[0]["body"]) == body and rows[1]["id"] > rows[0]["id"]  # ids grow
    name = "ünï/cödé ☃"
    _add_repo(db, name)
    assert db.query_one("SELECT name FROM repositories WHERE name = ?", (name,)) is not None


def test_question_marks_and_percents_inside_literals_are_text(db: MetadataDB) -> None:
    _add_repo(db, "a/100%")
    row = db.query_one(
        "SELECT 'what?' AS q, '50%' AS p, name FROM repositories WHERE name LIKE '%100!%' ESCAPE '!' "
        "AND name = ?",
        ("a/100%",),
    )
    assert row is not None and (row["q"], row["p"], row["name"]) == ("what?", "50%", "a/100%")


def test_numbered_placeholders_take_their_values_by_position(db: MetadataDB) -> None:
    _add_repo(db, "a/one", 1.0)
    _add_repo(db, "a/two", 2.0)
    rows = db.query(
        "SELECT name FROM repositories WHERE (name = ?2 AND created > ?1) OR name = ?3 ORDER BY name",
        (1.5, "a/two", "a/one"),
    )
    assert [r["name"] for r in rows] == ["a/one", "a/two"]


def test_reserved_words_are_quoted_columns(db: MetadataDB) -> None:
    db.execute('INSERT INTO stars (repo, "user", created) VALUES (?, ?, ?)', ("a/b", "alice", 1.0))
    row = db.query_one('SELECT "user" FROM stars WHERE "user" = ?', ("alice",))
    assert row is not None and row["user"] == "alice"  # not the connection's role (PostgreSQL's `user`)


def test_a_bare_user_column_is_refused_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    """PostgreSQL would read it as CURRENT_USER and answer wrongly without an error."""
    db = open_metadata("postgres", sqlite_path=tmp_path / "unused.db", url=postgres_url)
    try:
        with pytest.raises(Internal, match='quote the column "user"'):
            db.query("SELECT team FROM team_members WHERE user = ?", ("alice",))
        assert db.query("SELECT 'user' AS word, \"user\" FROM stars") == []  # literals and quoted: fine
    finally:
        db.close()


def test_a_write_commits_whole_or_not_at_all(db: MetadataDB) -> None:
    with db.write():
        _add_repo(db, "kept/one")
        with db.write():  # nested: part of the outer transaction
            _add_repo(db, "kept/two")
    with pytest.raises(RuntimeError), db.write():
        _add_repo(db, "gone/one")
        with db.write():
            _add_repo(db, "gone/two")
        raise RuntimeError("the caller failed half-way")
    names = [r["name"] for r in db.query("SELECT name FROM repositories ORDER BY name")]
    assert names == ["kept/one", "kept/two"]


def test_a_failed_statement_is_internal_and_the_handle_works_on(db: MetadataDB) -> None:
    with pytest.raises(Internal, match="registry database"):
        db.query("SELECT nosuchcolumn FROM repositories")
    with pytest.raises(Internal), db.write():
        _add_repo(db, "a/first")
        db.execute("INSERT INTO nosuchtable VALUES (1)")
    assert db.query("SELECT name FROM repositories") == []  # the first insert was rolled back
    _add_repo(db, "a/after")
    assert len(db.query("SELECT name FROM repositories")) == 1


def test_writers_of_two_processes_take_turns(opener: Opener) -> None:
    """While one replica is inside write(), another's write waits; its reads do not."""
    first, second, reader = opener(), opener(), opener()
    try:
        order: list[str] = []
        entered = threading.Event()

        def other_writer() -> None:
            entered.wait(10)
            with second.write():
                order.append("second")
                _add_repo(second, "b/two")

        thread = threading.Thread(target=other_writer)
        thread.start()
        with first.write():
            _add_repo(first, "a/one")
            entered.set()
            time.sleep(0.3)  # the other writer is blocked meanwhile
            assert reader.query("SELECT name FROM repositories") == []  # reads see committed data only
            order.append("first")
        thread.join(20)
        assert order == ["first", "second"]
        assert [r["name"] for r in first.query("SELECT name FROM repositories ORDER BY name")] == [
            "a/one",
            "b/two",
        ]
    finally:
        for handle in (first, second, reader):
            handle.close()


def test_replicas_opening_a_new_database_together_make_it_once(opener: Opener) -> None:
    handles: list[MetadataDB] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            handles.append(opener())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        assert errors == [] and len(handles) == 4
        rows = handles[0].query("SELECT value FROM meta WHERE key = 'schema_version'")
        assert [r["value"] for r in rows] == [str(SCHEMA_VERSION)]
    finally:
        for handle in handles:
            handle.close()


def _version_1(kind: str, tmp_path: Path, url: str | None) -> Callable[[str], None]:
    """A database as a version-1 berth-registry left it; returns a runner of raw SQL on it."""
    if kind == "sqlite":

        def run(sql: str) -> None:
            with sqlite3.connect(tmp_path / "registry.db") as conn:
                conn.executescript(sql)

        run(BASE_SCHEMA)
    else:
        assert url is not None

        def run(sql: str) -> None:
            with psycopg.connect(url, autocommit=True) as conn:
                for statement in statements(sql):
                    conn.execute(statement.encode())

        run(postgres_ddl(BASE_SCHEMA))
    run("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
    run(
        "INSERT INTO repositories (name, visibility, description, created) VALUES ('alice/app', 'public', 'old', 1.0)"
    )
    run("INSERT INTO tags (repo, tag, digest, updated) VALUES ('alice/app', 'v1', 'sha256:aa', 200.0)")
    return run


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_an_old_database_is_migrated_at_open_and_a_newer_one_refused(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = request.getfixturevalue("postgres_url") if kind == "postgres" else None
    run = _version_1(kind, tmp_path, url)
    db = open_metadata(kind, sqlite_path=tmp_path / "registry.db", url=url)
    try:
        row = db.query_one("SELECT value FROM meta WHERE key = 'schema_version'")
        assert row is not None and row["value"] == str(SCHEMA_VERSION)
        repo = db.query_one("SELECT description, description_source, last_pushed FROM repositories")
        assert repo is not None and tuple(repo) == ("old", "push", 200.0)  # rows kept, steps applied
        assert db.query("SELECT * FROM stars") == [] and db.query("SELECT * FROM webhooks") == []
    finally:
        db.close()
    run("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(Unavailable, match="knows only up to"):
        open_metadata(kind, sqlite_path=tmp_path / "registry.db", url=url)


def test_postgres_comes_back_after_the_server_drops_the_connection(
    postgres: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    db = open_metadata("postgres", sqlite_path=tmp_path / "unused.db", url=postgres_url)
    try:
        _add_repo(db, "a/before")
        postgres.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE usename = current_user AND pid <> pg_backend_pid() AND query NOT LIKE '%pg_stat_activity%'"
        )
        assert len(db.query("SELECT name FROM repositories")) == 1  # a read reconnects and retries
        postgres.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE usename = current_user AND pid <> pg_backend_pid() AND query NOT LIKE '%pg_stat_activity%'"
        )
        with db.write():  # so does the start of a write (nothing was done yet)
            _add_repo(db, "a/after")
        assert len(db.query("SELECT name FROM repositories")) == 2
    finally:
        db.close()


def test_postgres_refuses_an_unreachable_server_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="cannot connect to the registry database") as info:
        open_metadata("postgres", sqlite_path=tmp_path / "x.db", url="postgresql://u:secretpw@127.0.0.1:1/db")
    assert "secretpw" not in str(info.value) and "\n" not in str(info.value)
