"""Debian's PostgreSQL server on a temporary data directory and a loopback port, for tests and benches.

    with postgres_server() as pg:
        url = pg.create_database("reg1")      # postgres://berth:…@127.0.0.1:PORT/reg1

The server runs as the ``postgres`` system user (it refuses root), so its directory is one of its own
under /tmp (pytest's are root's alone); it takes only password logins on 127.0.0.1, and is stopped by
its PID (SIGINT: PostgreSQL's fast shutdown) and its directory removed when the block ends.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from berth.testing.registry import free_port

PG_BIN_ROOT = Path("/usr/lib/postgresql")
_USER = "berth"


def pg_bin() -> Path | None:
    """The newest installed server's bin directory (``postgresql-NN``), or None."""
    versions = sorted(
        (p for p in PG_BIN_ROOT.glob("*/bin") if (p / "postgres").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return versions[-1] if versions else None


@dataclass
class PostgresServer:
    directory: Path
    port: int
    password: str
    process: subprocess.Popen[bytes]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{_USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new, empty database owned by the test user; its URL."""
        self.sql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def create_schema(self, name: str, database: str = "postgres") -> str:
        """A new, empty schema (a third of a database's cost to make); a URL whose tables land in it."""
        self.sql(f'CREATE SCHEMA "{name}"', database)
        return f"{self.url(database)}?options=-csearch_path%3D{name}"

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement through psql as the test user; its unaligned output."""
        bin_dir = pg_bin()
        assert bin_dir is not None
        return subprocess.run(
            [str(bin_dir / "psql"), "-X", "-qAt", "-d", self.url(database), "-c", statement],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown: roll back, close, exit
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _as_postgres() -> tuple[int, int]:
    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


def _demote(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = pg_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL's server is not installed (Debian package postgresql)")
    uid, gid = _as_postgres()
    directory = Path(tempfile.mkdtemp(prefix="berth-pg-"))
    data, run = directory / "data", directory / "run"
    for path in (directory, data, run):
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, uid, gid)
    password = secrets.token_hex(12)
    pwfile = directory / "pwfile"
    pwfile.write_text(password + "\n")
    os.chown(pwfile, uid, gid)
    subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            _USER,
            "--pwfile",
            str(pwfile),
            "-A",
            "scram-sha-256",
        ],
        preexec_fn=lambda: _demote(uid, gid),
        capture_output=True,
        check=True,
        timeout=120,
    )
    pwfile.unlink()
    port = free_port()
    log = open(directory / "postgres.log", "ab")  # noqa: SIM115 - outlives this block's statements
    process = subprocess.Popen(
        [
            str(bin_dir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={run}",
            "-c",
            "fsync=off",  # a throwaway server: its durability is not what the tests measure
            "-c",
            "max_connections=200",
        ],
        preexec_fn=lambda: _demote(uid, gid),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    server = PostgresServer(directory, port, password, process)
    try:
        _wait_ready(server, bin_dir)
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _wait_ready(server: PostgresServer, bin_dir: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"PostgreSQL exited: {(server.directory / 'postgres.log').read_text()[-2000:]}"
            )
        ready = subprocess.run(
            [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(server.port)], check=False
        )
        if ready.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError("PostgreSQL did not accept connections within 60 s")
