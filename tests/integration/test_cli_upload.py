"""`landing upload` end to end against `landing serve`: a checksummed PUT, parallel multipart parts, a resume
after a failure, and the exit status following the verdicts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from landing.client import upload as client_upload
from landing.client.api import Api, ApiError
from landing.client.upload import Uploader
from tests.conftest import rows
from tests.support.serve import Served, landing_serve

MIB = 1024**2


@pytest.fixture(scope="module")
def served():
    # Multipart from 5 MiB on, so a 12 MiB file goes in three parts.
    with landing_serve(MULTIPART_THRESHOLD=str(5 * MIB), MULTIPART_PART_SIZE=str(5 * MIB)) as server:
        yield server


def landing_upload(served: Served, *files: Path, state: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(state)}
    return subprocess.run(
        [sys.executable, "-m", "landing", "upload", "--api", served.url, *map(str, files)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_small_and_multipart_files_end_uploaded_and_the_exit_status_is_0(served, clean_db, tmp_path):
    small = tmp_path / "notes.txt"
    small.write_text("hello from landing upload\n")
    big = tmp_path / "disk.bin"
    big.write_bytes(os.urandom(12 * MIB))
    started = time.perf_counter()
    done = landing_upload(served, small, big, state=tmp_path / "cache")
    seconds = time.perf_counter() - started
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{small}: uploaded" in done.stdout and f"{big}: uploaded" in done.stdout
    decided = {r["filename"]: r for r in rows("SELECT filename, method, size, status FROM uploads")}
    assert decided["notes.txt"]["method"] == "PUT" and decided["disk.bin"]["method"] == "MULTIPART"
    assert decided["disk.bin"]["size"] == 12 * MIB
    assert not list((tmp_path / "cache").rglob("*.json")), "nothing left to resume"
    print(f"landing upload, 26 B (PUT) + 12 MiB (3 parts) through landing serve: {seconds:.2f} s")


def test_a_rejected_file_makes_the_exit_status_1_with_the_reason(served, clean_db, tmp_path):
    fake = tmp_path / "readme.txt"
    fake.write_bytes(b"MZ\x90\x00" + b"\x00" * 200)  # an executable calling itself text
    done = landing_upload(served, fake, state=tmp_path / "cache")
    assert done.returncode == 1
    assert f"{fake}: rejected" in done.stdout and "executable" in done.stdout.lower()


def test_a_file_the_api_refuses_is_failed_and_exit_1(served, clean_db, tmp_path):
    odd = tmp_path / "tool.exe"
    odd.write_bytes(b"x")
    done = landing_upload(served, odd, state=tmp_path / "cache")
    assert done.returncode == 1 and "failed" in done.stdout and "not allowed" in done.stdout


def test_an_interrupted_multipart_upload_resumes_with_the_parts_s3_holds(
    served, clean_db, tmp_path, monkeypatch
):
    big = tmp_path / "resume.bin"
    big.write_bytes(os.urandom(12 * MIB))
    sent: list[int] = []
    failed: list[str] = []
    real_send = client_upload.send

    def flaky(method: str, url: str, data: bytes, headers: dict[str, str]) -> dict[str, str]:
        if "partNumber=3" in url and not failed:
            failed.append(url)
            raise ApiError(500, "s3_refused", "connection lost")
        sent.append(len(data))
        return real_send(method, url, data, headers)

    monkeypatch.setattr(client_upload, "send", flaky)
    uploader = Uploader(Api(served.url), parallel=1, wait_s=60, state_dir=tmp_path / "state")
    first = uploader.upload(big)
    assert first.status == "failed" and "connection lost" in (first.reason or "")
    assert (sent, len(failed)) == ([5 * MIB, 5 * MIB], 1), "parts 1 and 2 reached S3 before part 3 failed"
    assert list((tmp_path / "state").glob("*.json")), "the upload is remembered for a rerun"

    sent.clear()
    second = uploader.upload(big)
    assert second.status == "uploaded", second
    assert sent == [2 * MIB], "only the missing part is sent again"
    assert rows("SELECT count(*) AS n FROM uploads")[0]["n"] == 1, "the same upload, resumed"


def test_landing_serve_puts_the_reason_in_the_status_line_for_uppy(served, clean_db):
    """Uppy shows only "Companion request failed: <statusText>"; locally that text is the API's message."""
    import requests

    answer = requests.get(
        f"{served.url}/s3/params",
        params={"filename": "run.exe", "type": "application/x-msdownload"},
        timeout=10,
    )
    assert answer.status_code == 415
    assert answer.reason.startswith("content_type 'application/x-msdownload' is not allowed")
    assert answer.json()["error"]["code"] == "unsupported_media_type"
    limits = requests.get(f"{served.url}/s3/limits", timeout=10).json()
    assert limits["max_size"] > 100 * MIB, "the anonymous owner may go multipart locally"


def test_with_a_jwt_authorizer_the_token_makes_the_owner_and_none_is_refused(clean_db, tmp_path):
    from landing_local.authorizer import JwtAuthorizer

    secret = tmp_path / "jwt.key"
    secret.write_text("a local signing key for this test only")
    token = JwtAuthorizer(secret.read_text(), issuer="landing-serve").token(
        {"sub": "carol", "exp": int(time.time()) + 600}
    )
    note = tmp_path / "note.txt"
    note.write_text("signed in\n")
    with landing_serve("--jwt-secret-file", str(secret)) as server:
        anonymous = landing_upload(server, note, state=tmp_path / "cache")
        token_file = tmp_path / "token"
        token_file.write_text(token)
        signed_in = subprocess.run(
            [
                sys.executable,
                "-m",
                "landing",
                "upload",
                "--api",
                server.url,
                "--token-file",
                str(token_file),
                str(note),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")},
            timeout=300,
            check=False,
        )
    assert anonymous.returncode == 1 and "failed" in anonymous.stdout and "401" in anonymous.stdout
    assert signed_in.returncode == 0, signed_in.stdout + signed_in.stderr
    (row,) = rows("SELECT owner, status FROM uploads")
    assert row["status"] == "uploaded" and "carol" in row["owner"]
