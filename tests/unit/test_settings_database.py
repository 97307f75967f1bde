"""Database settings: TLS always verified off loopback and in Lambda, credentials configured one way."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from landing import settings
from landing.db import engine as db
from landing.settings import SettingsError

REMOTE = "postgresql+pg8000://landing@db.example.internal:5432/landing"
LOCAL = "postgresql+pg8000://postgres@127.0.0.1:5432/landing"
LAMBDA = {"AWS_LAMBDA_FUNCTION_NAME": "IngestFunction"}


def test_remote_database_defaults_to_verified_tls():
    config = settings.load({"DATABASE_URL": REMOTE})
    assert config.database_tls == "verify-full"
    context = db.tls_context(config)
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname is True
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_plaintext_is_refused_for_a_remote_database():
    with pytest.raises(SettingsError, match="only allowed for a database on loopback"):
        settings.load({"DATABASE_URL": REMOTE, "DATABASE_TLS": "disable"})


def test_plaintext_is_refused_in_lambda_even_on_loopback():
    with pytest.raises(SettingsError, match="verify-full in AWS Lambda"):
        settings.load({"DATABASE_URL": LOCAL, **LAMBDA})
    with pytest.raises(SettingsError, match="verify-full in AWS Lambda"):
        settings.load({"DATABASE_URL": LOCAL, "DATABASE_TLS": "disable", **LAMBDA})
    assert settings.load({"DATABASE_URL": REMOTE, **LAMBDA}).database_tls == "verify-full"


def test_sam_local_may_reach_the_docker_host_in_plaintext():
    # sam local invoke runs the function in a container: the developer's database is the Docker host.
    docker_host = "postgresql+pg8000://postgres@host.docker.internal:5432/landing"
    env = {"DATABASE_URL": docker_host, "AWS_SAM_LOCAL": "true", **LAMBDA}
    assert settings.load(env).database_tls == "disable"
    with pytest.raises(SettingsError):
        settings.load({"DATABASE_URL": docker_host, "DATABASE_TLS": "disable"})
    with pytest.raises(SettingsError):
        settings.load({"DATABASE_URL": REMOTE, "DATABASE_TLS": "disable", "AWS_SAM_LOCAL": "true"})


def test_unknown_tls_mode_is_rejected():
    # pg8000's own "prefer" behaviour (try TLS, fall back to plaintext) is deliberately not offered.
    with pytest.raises(SettingsError, match="DATABASE_TLS must be one of"):
        settings.load({"DATABASE_URL": REMOTE, "DATABASE_TLS": "prefer"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {
                "DATABASE_IAM_AUTH": "true",
                "DATABASE_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:x",
            },
            "not both",
        ),
        (
            {"DATABASE_IAM_AUTH": "true", "DATABASE_URL": "postgresql+pg8000://db.example:5432/x"},
            "user and host",
        ),
        (
            {"DATABASE_IAM_AUTH": "true", "DATABASE_URL": "postgresql+pg8000://u@/x?unix_sock=/tmp/s"},
            "user and host",
        ),
        ({"DATABASE_IAM_AUTH": "true", "DATABASE_URL": "postgresql+pg8000://u:pw@db.example/x"}, "password"),
        ({"DATABASE_IAM_AUTH": "maybe"}, "boolean"),
        ({"DATABASE_CA_BUNDLE": "/nonexistent/rds-global-bundle.pem"}, "not a readable file"),
    ],
)
def test_inconsistent_database_credentials_are_rejected(env, message):
    with pytest.raises(SettingsError, match=message):
        settings.load({"DATABASE_URL": REMOTE, **env})


def test_iam_auth_settings_accept_a_proxy_url():
    config = settings.load({"DATABASE_URL": REMOTE, "DATABASE_IAM_AUTH": "true", **LAMBDA})
    assert config.database_iam_auth is True
    assert config.database_tls == "verify-full"


# --- TLS behaviour on the wire: a fake server that speaks just enough of the protocol ---------------


def _certificate(tmp_path: Path, name: str, san: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``san`` (a host name or an IP address) and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, san)])
    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(san))
    except ValueError:
        alt = x509.DNSName(san)
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class FakePostgres:
    """Answers the SSLRequest ('N', or 'S' and a TLS handshake), records what happened, hangs up."""

    def __init__(self, tls: ssl.SSLContext | None) -> None:
        self.tls = tls
        self.events: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._listener.accept()
        with conn:
            conn.settimeout(5)
            self.events.append("ssl-request" if conn.recv(8)[4:] == b"\x04\xd2\x16\x2f" else "plaintext")
            if self.tls is None:
                conn.sendall(b"N")
                # A client that fell back to plaintext would now send its startup message.
                data = conn.recv(1024)
                self.events.append("startup-in-plaintext" if data else "closed")
                return
            conn.sendall(b"S")
            try:
                with self.tls.wrap_socket(conn, server_side=True):
                    self.events.append("handshake-ok")
            except (ssl.SSLError, OSError):
                self.events.append("handshake-refused")

    def close(self) -> None:
        self._listener.close()
        self._thread.join(5)


@pytest.fixture
def fake_server() -> Iterator[list[FakePostgres]]:
    servers: list[FakePostgres] = []
    yield servers
    for server in servers:
        server.close()


def _connect_failure(config: settings.Settings) -> str:
    """Connect through the product engine; return the failure's messages along its cause chain."""
    engine = db.build_engine(config)
    try:
        with engine.connect() as conn:
            conn.execute(select(1))
    except Exception as error:
        messages = []
        current: BaseException | None = error
        while current is not None:
            messages.append(f"{type(current).__name__}: {current}")
            current = current.__cause__ or current.__context__
        return "\n".join(messages)
    finally:
        engine.dispose()
    raise AssertionError("connected, but the fake server cannot complete a login")


def _server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def test_verified_tls_never_falls_back_to_plaintext(fake_server):
    # Given a server that refuses TLS (pg8000's default would carry on in plaintext)
    server = FakePostgres(tls=None)
    fake_server.append(server)
    url = f"postgresql+pg8000://landing@127.0.0.1:{server.port}/landing"
    config = settings.load({"DATABASE_URL": url, "DATABASE_TLS": "verify-full"})

    assert "Server refuses SSL" in _connect_failure(config)

    server.close()
    assert server.events == ["ssl-request", "closed"]


def test_verified_tls_refuses_an_untrusted_certificate(fake_server, tmp_path):
    cert, key = _certificate(tmp_path, "self-signed", "127.0.0.1")
    server = FakePostgres(tls=_server_context(cert, key))
    fake_server.append(server)
    url = f"postgresql+pg8000://landing@127.0.0.1:{server.port}/landing"

    failure = _connect_failure(settings.load({"DATABASE_URL": url, "DATABASE_TLS": "verify-full"}))

    assert "CERTIFICATE_VERIFY_FAILED" in failure
    assert "self-signed" in failure


def test_verified_tls_refuses_a_trusted_certificate_for_another_host(fake_server, tmp_path):
    # The CA bundle (as for direct RDS) trusts the certificate, but it names another host.
    cert, key = _certificate(tmp_path, "other-host", "db.other.internal")
    server = FakePostgres(tls=_server_context(cert, key))
    fake_server.append(server)
    url = f"postgresql+pg8000://landing@127.0.0.1:{server.port}/landing"
    config = settings.load(
        {"DATABASE_URL": url, "DATABASE_TLS": "verify-full", "DATABASE_CA_BUNDLE": str(cert)}
    )

    failure = _connect_failure(config)

    assert "CERTIFICATE_VERIFY_FAILED" in failure
    assert "not valid for '127.0.0.1'" in failure


def test_ca_bundle_makes_a_matching_certificate_trusted(fake_server, tmp_path):
    cert, key = _certificate(tmp_path, "rds-like", "127.0.0.1")
    server = FakePostgres(tls=_server_context(cert, key))
    fake_server.append(server)
    url = f"postgresql+pg8000://landing@127.0.0.1:{server.port}/landing"
    config = settings.load(
        {"DATABASE_URL": url, "DATABASE_TLS": "verify-full", "DATABASE_CA_BUNDLE": str(cert)}
    )

    # The fake server hangs up after the handshake, so the login fails, but not on the certificate.
    assert "CERTIFICATE_VERIFY_FAILED" not in _connect_failure(config)
    server.close()
    assert server.events == ["ssl-request", "handshake-ok"]
