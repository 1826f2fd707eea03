"""A throwaway PostgreSQL server for tests and benchmarks: Debian's `postgresql` binaries, `initdb` and
`pg_ctl` on a free 127.0.0.1 port under a temporary directory, removed again by `destroy()`.

    cluster = PgCluster().start()          # installs Debian's postgresql package first if it is missing (root)
    url = create_database(cluster.url)     # postgresql://postgres@127.0.0.1:PORT/eventyard_...
    ...
    cluster.destroy()

Run as a script it starts a cluster, prints its URL and waits; Ctrl-C stops it:
`python -m tests.pgserver` (add `--durable` for fsync and synchronous commit, as in production).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

SERVICE_USER = "postgres"  # initdb refuses to run as root; Debian's package creates this user
ENV_URL = "EVENTYARD_TEST_PG_URL"  # a server the tests may create databases on (set: none is started)
ENV_STORES = "EVENTYARD_TEST_STORES"  # the stores the suite runs against, comma-separated
ALL_STORES = ("sqlite", "postgresql")


def selected_stores() -> list[str]:
    """The stores the suite runs against: EVENTYARD_TEST_STORES (comma-separated), by default both."""
    wanted = [s.strip() for s in os.environ.get(ENV_STORES, ",".join(ALL_STORES)).split(",") if s.strip()]
    unknown = set(wanted) - set(ALL_STORES)
    if unknown:
        raise ValueError(f"{ENV_STORES}: unknown store(s) {sorted(unknown)}; use {ALL_STORES}")
    return wanted


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries, and they could not be installed."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_bindir() -> Path | None:
    """The directory of `initdb` and `pg_ctl`: Debian keeps them out of PATH, in /usr/lib/postgresql/N/bin."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name.split(".")[0])
    )
    for folder in reversed(candidates):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(os.path.realpath(initdb)).parent
    return None


def install_postgresql() -> Path:
    """Find the binaries, or install Debian's `postgresql` package (needs root and apt-get)."""
    bindir = find_bindir()
    if bindir is not None:
        return bindir
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise PostgresUnavailable(
            "PostgreSQL is not installed: run `apt-get install postgresql` as root, or point the tests at "
            "a server with EVENTYARD_TEST_PG_URL (see docs/postgresql.md)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("installing Debian's postgresql package for the tests ...", file=sys.stderr, flush=True)
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable("installed postgresql but found no initdb/pg_ctl under /usr/lib/postgresql")
    return bindir


class PgCluster:
    """One PostgreSQL cluster owned by this process: start, stop, restart, databases, and `url`."""

    def __init__(
        self, *, durable: bool = False, max_connections: int = 300, settings: dict[str, str] | None = None
    ) -> None:
        self.durable = durable
        self.max_connections = max_connections
        self.settings = settings or {}  # more postgresql.conf settings, e.g. {"commit_delay": "100"}
        self.bindir: Path | None = None
        self.root: Path | None = None
        self.port = 0
        self.running = False
        self._watchdog: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    def _as_owner(self) -> dict[str, Any]:
        """subprocess arguments that run a command as the cluster's owner (not root)."""
        if os.geteuid() != 0:
            return {}
        return {"user": SERVICE_USER, "group": SERVICE_USER, "env": {**os.environ, "HOME": str(self.root)}}

    def start(self, timeout: float = 60.0) -> PgCluster:
        if self.root is None:
            self._init()
        attempts = 0
        while True:
            attempts += 1
            if not self.port:
                self.port = _free_port()
            try:
                self._pg_ctl_start(timeout)
                break
            except subprocess.CalledProcessError:
                if attempts >= 3:
                    raise RuntimeError(f"PostgreSQL did not start:\n{self.log()}") from None
                self.port = 0  # somebody took the port between probing and binding: try another
        self.running = True
        if self._watchdog is None:
            self._watchdog = subprocess.Popen(
                [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(self.bindir), str(self.root)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C or a kill of our process group must not reach it
            )  # fmt: skip
        return self

    def _init(self) -> None:
        self.bindir = install_postgresql()
        self.root = Path(tempfile.mkdtemp(prefix="eventyard-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, SERVICE_USER, SERVICE_USER)
        subprocess.run(
            [
                str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
            ],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **self._as_owner(),
        )  # fmt: skip

    def _pg_ctl_start(self, timeout: float) -> None:
        assert self.bindir is not None and self.root is not None
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
            "max_connections": str(self.max_connections),
            "shared_buffers": "128MB",
            "dynamic_shared_memory_type": "mmap",  # containers often have a tiny /dev/shm
        }
        if not self.durable:  # a throwaway cluster: speed over crash safety
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        settings |= self.settings
        options = " ".join(f"-c {key}={value}" for key, value in settings.items())
        subprocess.run(
            [
                str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                "-o", options, "-w", "-t", str(int(timeout)), "start",
            ],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **self._as_owner(),
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: disconnect clients; `immediate`: like a crash). Keep the data."""
        if self.running and self.bindir is not None:
            subprocess.run(
                [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"],
                check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **self._as_owner(),
            )  # fmt: skip
        self.running = False

    def destroy(self) -> None:
        """Stop the server and remove its directory."""
        self.stop("immediate")
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait()
            self._watchdog = None

    def log(self) -> str:
        path = self.root / "server.log" if self.root else None
        return path.read_text(errors="replace")[-5000:] if path and path.exists() else ""

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.destroy()


# Run beside every cluster: if the process that started it dies without destroy() (SIGKILL, a timeout), stop
# the server and remove its directory, so that no test run leaves a PostgreSQL behind.
_WATCHDOG = """
import os, shutil, subprocess, sys, time
owner, bindir, root = int(sys.argv[1]), sys.argv[2], sys.argv[3]
while True:
    try:
        os.kill(owner, 0)
    except ProcessLookupError:
        break
    time.sleep(1)
if os.path.isdir(root):
    command = [os.path.join(bindir, "pg_ctl"), "-D", os.path.join(root, "data"), "-m", "immediate", "stop"]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(root, ignore_errors=True)
"""


def database_url(server_url: str, name: str) -> str:
    """`server_url` with its database replaced by `name`."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def create_database(server_url: str, name: str | None = None) -> str:
    """Create an empty database (dropping one of that name first) and return its URL."""
    import psycopg
    from psycopg import sql

    name = name or f"eventyard_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(server_url, name)


def drop_database(server_url: str, database_url_: str) -> None:
    import psycopg
    from psycopg import sql

    name = urlsplit(database_url_).path.lstrip("/")
    try:
        with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    except psycopg.Error:
        pass  # the server went away (or is being restarted by a test): nothing left to tidy


def main() -> None:
    cluster = PgCluster(durable="--durable" in sys.argv[1:]).start()
    print(cluster.url, flush=True)

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)  # also when started in the background, where SIGINT is ignored
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
