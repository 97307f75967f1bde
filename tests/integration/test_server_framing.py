"""`landing serve` over a real socket (issue 29): a body over the limit is a 413 whatever its framing,
and what werkzeug or http.server refuse themselves (malformed chunks, a request line over 64 KiB, a
failing handler) is answered in the API's JSON error shape, never an HTML page."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from landing_local.server import MAX_BODY_BYTES, Application, Invoker, JsonErrorsRequestHandler

HEAD = b"Host: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n"


class Recorder:
    def __init__(self) -> None:
        self.bodies: list[str] = []

    def __call__(self, event, context):  # the uploads handler's place
        if event["rawPath"] == "/uploads/00000000-0000-0000-0000-000000000000":
            raise RuntimeError("a handler that fails")
        self.bodies.append(event.get("body") or "")
        return {"statusCode": 201, "headers": {"content-type": "application/json"}, "body": "{}"}


@pytest.fixture
def served() -> Iterator[tuple[int, Recorder]]:
    recorder = Recorder()
    server = make_server(
        "127.0.0.1",
        0,
        Application(Invoker(), recorder),
        threaded=True,
        request_handler=JsonErrorsRequestHandler,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port, recorder
    server.shutdown()
    server.server_close()


def exchange(port: int, data: bytes) -> tuple[int | None, str, dict]:
    """Send raw bytes, read the whole answer: (status, Content-Type, JSON body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/"):  # an HTTP/0.9-style answer: the body alone
        return None, "", json.loads(answer)
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers.get("content-type", ""), json.loads(body)


def chunked(payload: bytes, size: int = 64 * 1024) -> bytes:
    pieces = [payload[i : i + size] for i in range(0, len(payload), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def test_a_chunked_body_over_the_limit_is_413_not_cut(served):
    port, recorder = served
    # Valid JSON once the padding is cut off at the limit: it used to reach the handler as a 201.
    payload = b'{"filename": "a.txt"}' + b" " * MAX_BODY_BYTES
    status, content_type, body = exchange(
        port, b"POST /uploads HTTP/1.1\r\n" + HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(payload)
    )
    assert (status, body["error"]["code"]) == (413, "body_too_large")
    assert content_type == "application/json"
    assert recorder.bodies == []


def test_a_chunked_body_at_the_limit_reaches_the_handler_whole(served):
    port, recorder = served
    payload = b"{}" + b" " * (MAX_BODY_BYTES - 2)
    status, _, _ = exchange(
        port, b"POST /uploads HTTP/1.1\r\n" + HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(payload)
    )
    assert status == 201
    assert [len(b) for b in recorder.bodies] == [MAX_BODY_BYTES]


def test_a_declared_length_over_the_limit_is_413(served):
    port, recorder = served
    status, _, body = exchange(
        port,
        b"POST /uploads HTTP/1.1\r\n" + HEAD + b"Content-Length: %d\r\n\r\n{}" % (MAX_BODY_BYTES + 1),
    )
    assert (status, body["error"]["code"]) == (413, "body_too_large")
    assert recorder.bodies == []


@pytest.mark.parametrize("framing", [b"zz\r\nabc\r\n0\r\n\r\n", b"5\r\nab", b"-1\r\nabc\r\n0\r\n\r\n"])
def test_malformed_chunked_framing_is_a_json_400(served, framing):
    port, recorder = served
    status, content_type, body = exchange(
        port, b"POST /uploads HTTP/1.1\r\n" + HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + framing
    )
    assert (status, body["error"]["code"]) == (400, "invalid_body_framing")
    assert content_type == "application/json"
    assert recorder.bodies == []


def test_a_url_over_64_kib_is_a_json_414(served):
    port, _ = served
    status, content_type, body = exchange(
        port, b"GET /uploads?cursor=" + b"a" * 65536 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    assert (status, content_type, body["error"]["code"]) == (414, "application/json", "uri_too_long")


def test_a_malformed_request_line_is_answered_in_json(served):
    port, _ = served
    # http.server cannot tell such a client's version, so it answers as to HTTP/0.9: the body alone.
    status, _, body = exchange(port, b"GET /uploads HTTP/1.1 extra\r\n\r\n")
    assert (status, body["error"]["code"]) == (None, "bad_request")


def test_too_many_headers_is_a_json_431(served):
    port, _ = served
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(101))
    status, content_type, body = exchange(
        port, b"GET /uploads HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n"
    )
    assert (status, content_type, body["error"]["code"]) == (431, "application/json", "headers_too_large")


def test_a_failing_handler_is_a_json_500(served):
    port, _ = served
    status, content_type, body = exchange(
        port, b"GET /uploads/00000000-0000-0000-0000-000000000000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    assert (status, content_type, body["error"]["code"]) == (500, "application/json", "internal_error")
