"""What the functions reach from their container: Postgres (TLS and plain), S3 (moto), a CloudFormation endpoint."""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import socketserver
import ssl
import struct
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# PostgreSQL's SSLRequest: length 8, code 80877103. A client that wants TLS sends it before anything else.
SSL_REQUEST = struct.pack("!ii", 8, 80877103)


def bridge_gateway() -> str:
    """The host's address on Docker's default bridge: what a container reaches the host at."""
    inspect = ["docker", "network", "inspect", "bridge", "-f"]
    gateway = _run(*inspect, "{{range .IPAM.Config}}{{.Gateway}}{{end}}")
    if gateway:
        return gateway
    # Older daemons leave the default bridge's gateway out of IPAM: it is the bridge interface's address.
    interface = _run(*inspect, '{{index .Options "com.docker.network.bridge.name"}}') or "docker0"
    match = re.search(r"inet ([0-9.]+)/", _run("ip", "-4", "-o", "addr", "show", "dev", interface))
    if not match:
        raise RuntimeError(f"no IPv4 address on Docker's bridge {interface}")
    return match.group(1)


def _run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def make_certificates(directory: Path, ip: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for ``ip`` signed by it: (ca.pem, server.pem, server.key)."""
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key, csr = directory / "server.pem", directory / "server.key", directory / "server.csr"
    ext = directory / "server.ext"
    ext.write_text(f"subjectAltName=IP:{ip}\nbasicConstraints=CA:FALSE\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args, "-days", "2"], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=landing sam-local CA",
            "-keyout", str(ca_key), "-out", str(ca))  # fmt: skip
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={ip}",
            "-keyout", str(key), "-out", str(csr))  # fmt: skip
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
            "-extfile", str(ext), "-out", str(cert))  # fmt: skip
    return ca, cert, key


class PostgresForwarder(socketserver.ThreadingTCPServer):
    """TCP on the Docker bridge to the embedded server's unix socket (which listens on no TCP port).

    With a TLS context it answers PostgreSQL's SSLRequest as a TLS-enabled server does and refuses a
    plaintext startup (like a ``hostssl``-only pg_hba); without one it declines TLS, like a server
    without it, so a client that insists on TLS fails.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, unix_socket: str, tls: ssl.SSLContext | None) -> None:
        self.unix_socket = unix_socket
        self.tls = tls
        super().__init__((host, 0), _ForwardHandler)
        self.port: int = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _ForwardHandler(socketserver.BaseRequestHandler):
    server: PostgresForwarder

    def handle(self) -> None:
        client: socket.socket = self.request
        first = _recv_exactly(client, 8)
        if first == SSL_REQUEST:
            if self.server.tls is None:
                client.sendall(b"N")
            else:
                client.sendall(b"S")
                client = self.server.tls.wrap_socket(client, server_side=True)
            first = b""
        elif self.server.tls is not None:
            return
        with socket.socket(socket.AF_UNIX) as upstream:
            upstream.connect(self.server.unix_socket)
            upstream.sendall(first)
            _pump(client, upstream)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _pump(a: socket.socket, b: socket.socket) -> None:
    # One thread per link: an SSL socket must not be read and written from two threads at once.
    peers = {a: b, b: a}
    with contextlib.suppress(OSError):
        while True:
            # Bytes already decrypted inside the SSL object do not make the socket readable.
            ready = [s for s in peers if isinstance(s, ssl.SSLSocket) and s.pending()]
            for sock in ready or select.select(list(peers), [], [])[0]:
                data = sock.recv(65536)
                if not data:
                    return
                peers[sock].sendall(data)


class CloudFormationEndpoint(ThreadingHTTPServer):
    """Receives the custom resource responses MigrateFunction PUTs to its ResponseURL."""

    def __init__(self, host: str) -> None:
        self.responses: list[dict[str, Any]] = []
        super().__init__((host, 0), _ResponseHandler)
        self.url = f"http://{host}:{self.server_address[1]}/response"
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _ResponseHandler(BaseHTTPRequestHandler):
    server: CloudFormationEndpoint

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.responses.append(json.loads(body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass
