"""A real, throwaway PostgreSQL server the test run starts and stops itself."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

# Where Debian's postgresql package puts its server binaries (one dir per major version).
DEBIAN_BIN_DIRS = "/usr/lib/postgresql/*/bin"
INSTALL_HINT = ("PostgreSQL server binaries (initdb, postgres) not found on PATH or in "
                f"{DEBIAN_BIN_DIRS}: `make test` installs Debian's package, "
                "or run `apt-get install postgresql`")
SUPERUSER = "postgres"
# initdb and postgres refuse to run as root; as root the cluster is run by this system user.
ROOT_RUNS_AS = "postgres"

SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",
    "shared_buffers": "32MB",
}
# Test data is throwaway: durability off makes every commit and CREATE DATABASE cheap. A benchmark keeps it on.
THROWAWAY = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class PostgresNotInstalled(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bin_dir(path: str | None = None, search: str | None = None) -> Path:
    """The directory holding initdb and postgres: PATH first, then the newest Debian install."""
    search = DEBIAN_BIN_DIRS if search is None else search
    on_path = shutil.which("initdb", path=path)
    if on_path and shutil.which("postgres", path=path):
        return Path(on_path).resolve().parent
    installed = [Path(d) for d in glob.glob(search) if (Path(d) / "initdb").exists() and (Path(d) / "postgres").exists()]
    if not installed:
        raise PostgresNotInstalled(INSTALL_HINT)
    return max(installed, key=lambda d: _version_key(d.parent.name))


def _version_key(version: str) -> tuple:
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """A PostgreSQL cluster in a temp dir: trust auth on loopback only, 127.0.0.1 and a unix socket.

    Each test gets its own database on it (`create_database`), so one
    initdb per session is all the start-up cost.
    """

    def __init__(self, path: str | None = None, search: str | None = None, durable: bool = False) -> None:
        """`durable`: commits reach the disk as in production (a benchmark), instead of throwaway speed (tests)."""
        self.bin_dir = find_bin_dir(path, search)
        self.durable = durable
        self.run_as = ROOT_RUNS_AS if os.geteuid() == 0 else None
        if self.run_as:
            try:
                pwd.getpwnam(self.run_as)
            except KeyError:
                raise PostgresNotInstalled(f"running as root, PostgreSQL needs the `{self.run_as}` system user, "
                                           "which Debian's package creates: `apt-get install postgresql`") from None
        self.directory: Path | None = None
        self.port: int | None = None
        self.process: subprocess.Popen | None = None

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "postgres.log"

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of one database on this server."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=database,
                               autocommit=True, connect_timeout=10)

    def start(self, timeout: float = 120) -> None:
        """initdb a fresh cluster and start it; returns once it accepts connections."""
        self.directory = Path(tempfile.mkdtemp(prefix="salesos-pg-"))  # short: unix socket paths max ~100 bytes
        try:
            if self.run_as:
                account = pwd.getpwnam(self.run_as)
                os.chown(self.directory, account.pw_uid, account.pw_gid)
            self._initdb()
            for _attempt in range(3):  # another process may take the free port before postgres binds it
                self.port = _free_loopback_port()
                if self._start_postmaster(timeout):
                    return
            raise RuntimeError(f"postgres did not start; its log:\n{self._log_tail()}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Immediate shutdown (the data is throwaway), then remove the cluster's directory."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=60)
        self.process = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def create_database(self, name: str) -> None:
        with self.connect() as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        """Drop it even if a test left connections open (FORCE ends them)."""
        with self.connect() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def _run_as_owner(self, argv: list[str], **kwargs) -> subprocess.Popen:
        owner = {"user": self.run_as, "group": pwd.getpwnam(self.run_as).pw_gid, "extra_groups": []} if self.run_as else {}
        # cwd: the postgres user may not be able to read the caller's working directory.
        return subprocess.Popen(argv, cwd=self.directory, stdin=subprocess.DEVNULL, **owner, **kwargs)

    def _initdb(self) -> None:
        initdb = self._run_as_owner(
            [str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust",
             "--no-locale", "--encoding=UTF8", "--no-sync", "--no-instructions"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output, _ = initdb.communicate(timeout=600)
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{output}")
        # Only the unix socket and 127.0.0.1 may connect; the default also admits ::1 and replication.
        (self.data_dir / "pg_hba.conf").write_text(
            "local all all trust\n"
            "host  all all 127.0.0.1/32 trust\n")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            settings = SETTINGS if self.durable else {**SETTINGS, **THROWAWAY}
            for name, value in {**settings, "unix_socket_directories": f"'{self.directory}'"}.items():
                conf.write(f"{name} = {value}\n")

    def _start_postmaster(self, timeout: float) -> bool:
        """Start postgres on self.port; False if it exited before accepting connections."""
        with self.log_path.open("ab") as log:
            self.process = self._run_as_owner(
                [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.connect().close()
                return True
            except psycopg.OperationalError:
                if self.process.poll() is not None:
                    return False
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postgres did not accept connections within {timeout}s; "
                                       f"its log:\n{self._log_tail()}") from None
                time.sleep(0.05)

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no log)"
