"""A real PostgreSQL server for the tests: Debian's binaries, started once per test session.

The server lives in a temporary folder, listens only on a unix socket there (no port to collide with
other test runs on the machine) and runs as an unprivileged user (`postgres` when the tests run as
root, since PostgreSQL refuses to run as root). Each test gets a schema of its own, named in the URL,
so tests never see each other's tables and no database has to be created per test.

On a fresh Debian machine without the binaries, the set-up installs the `postgresql` package when it
runs as root (as `.ci/run` does); otherwise it stops with the command to run.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

INSTALL = ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]


def postgresql_bin() -> Path:
    """The folder with initdb and pg_ctl (the newest installed version), installing them if needed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)
        subprocess.run(INSTALL, check=True, env=env, capture_output=True)
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise RuntimeError(
            "the tests need PostgreSQL's server binaries: run `sudo apt-get install postgresql` "
            "(or run the tests as root, and they install it)"
        )
    return Path(found[-1]).parent


class PostgresServer:
    """One throwaway PostgreSQL cluster; `url()` hands out a fresh, empty schema each time."""

    def __init__(self, root: Path | None = None) -> None:
        """A cluster in a new temporary folder, removed at `stop`; or in `root`, kept there (a benchmark's
        set-up measured again later: `start` then reuses the cluster it finds in `root`)."""
        self.bin = postgresql_bin()
        self.keep = root is not None
        # short: a socket path has ~100 bytes
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="brug-pg-"))
        self.data = self.root / "data"
        self.socket = self.root / "run"
        self.log = self.root / "server.log"
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.database = "brug"
        self._schemas = itertools.count(1)
        self._admin = None

    def _as_server_user(self, *command: str | Path) -> list[str]:
        args = [str(c) for c in command]
        return ["runuser", "-u", self.user, "--", *args] if os.geteuid() == 0 else args

    def start(self) -> PostgresServer:
        existing = (self.data / "PG_VERSION").exists()
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket.mkdir(exist_ok=existing)
        if os.geteuid() == 0:
            shutil.chown(self.root, self.user)
            shutil.chown(self.socket, self.user)
        if not existing:
            initdb = self._as_server_user(
                self.bin / "initdb", "-D", self.data, "-U", "brug", "--auth=trust", "--encoding=UTF8", "--no-sync"
            )
            subprocess.run(initdb, check=True, capture_output=True, cwd=self.root)
        options = (
            f"-k {self.socket} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=100 -c shared_buffers=16MB"
        )
        self._options = options
        start = self._as_server_user(
            self.bin / "pg_ctl", "start", "-D", self.data, "-w", "-t", "180", "-l", self.log, "-o", options
        )
        try:
            subprocess.run(start, check=True, capture_output=True, cwd=self.root)
        except subprocess.CalledProcessError:
            print(self.log.read_text(errors="replace") if self.log.exists() else "(no server log)")
            raise
        self._watch_over(os.getpid())
        if not existing:
            self._sql(f"CREATE DATABASE {self.database}", database="postgres")
        return self

    def _watch_over(self, pid: int) -> None:
        """Stop the server when the test process dies without tearing down (SIGKILL, SIGTERM, Ctrl-C twice)."""
        stop = " ".join(shlex.quote(a) for a in self._as_server_user(self.bin / "pg_ctl", "stop", "-D", self.data))
        script = (
            f"while kill -0 {pid} 2>/dev/null && [ -d {shlex.quote(str(self.data))} ]; do sleep 3; done; "
            f"[ -d {shlex.quote(str(self.data))} ] && {stop} -m immediate -w >/dev/null 2>&1"
            + ("" if self.keep else f"; rm -rf {shlex.quote(str(self.root))}")
        )
        quiet = subprocess.DEVNULL
        subprocess.Popen(["sh", "-c", script], start_new_session=True, stdout=quiet, stderr=quiet)

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
        mode = "fast" if self.keep else "immediate"  # a kept cluster shuts down cleanly, for its next start
        stop = self._as_server_user(self.bin / "pg_ctl", "stop", "-D", self.data, "-m", mode, "-w")
        subprocess.run(stop, capture_output=True, cwd=self.root)
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def halt(self) -> None:
        """Stop the server but keep its data: a database outage, until `resume`."""
        stop = self._as_server_user(self.bin / "pg_ctl", "stop", "-D", self.data, "-m", "fast", "-w")
        subprocess.run(stop, check=True, capture_output=True, cwd=self.root)

    def resume(self) -> None:
        """Start a halted server again, as it was."""
        start = self._as_server_user(
            self.bin / "pg_ctl", "start", "-D", self.data, "-w", "-t", "180", "-l", self.log, "-o", self._options
        )
        subprocess.run(start, check=True, capture_output=True, cwd=self.root)

    def _sql(self, statement: str, database: str | None = None) -> None:
        import psycopg

        target = {"host": str(self.socket), "user": "brug", "dbname": database or self.database}
        with psycopg.connect(**target, autocommit=True) as c:
            c.execute(statement)

    def disconnect_all(self) -> None:
        """End every client connection to the test database (a test's leftover pools)."""
        self._sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{self.database}' AND pid <> pg_backend_pid()"
        )

    def base_url(self) -> str:
        """The database's URL, as a user writes it in brug.toml (unix socket in `host`)."""
        return f"postgresql://brug@/{self.database}?host={quote(str(self.socket), safe='/')}"

    def url(self, schema: str | None = None) -> str:
        """A URL whose tables live in a new, empty schema of their own (or in `schema`, made if missing)."""
        if schema is None:
            schema = f"t{next(self._schemas)}"
            self._sql(f"CREATE SCHEMA {schema}")
        else:
            self._sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        return self.base_url() + "&options=" + quote(f"-csearch_path={schema}", safe="")
