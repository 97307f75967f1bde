"""`landing upload`: announce each file, send it (a checksummed PUT, or parallel parts that resume), wait for the verdict."""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landing.client.api import Api, ApiError, send
from landing.client.progress import Progress

FINAL = frozenset({"uploaded", "rejected", "expired", "quarantined"})
CHUNK = 1024**2


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one file: the upload's final status (or "failed" / still "pending") and why."""

    path: str
    status: str
    upload_id: str | None = None
    key: str | None = None
    reason: str | None = None


def default_state_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "landing" / "uploads"


class State:
    """A multipart upload in flight, kept on disk until its verdict so that a rerun resumes it."""

    def __init__(self, directory: Path, api: Api, path: Path) -> None:
        stat = path.stat()
        name = f"{api.url}\0{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}"
        self.file = directory / (hashlib.sha256(name.encode()).hexdigest() + ".json")

    def load(self) -> dict[str, Any] | None:
        try:
            saved: dict[str, Any] = json.loads(self.file.read_text())
        except (OSError, ValueError):
            return None
        return saved

    def save(self, upload: dict[str, Any]) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self.file.write_text(json.dumps(upload))

    def clear(self) -> None:
        self.file.unlink(missing_ok=True)


def _read(path: Path, offset: int, length: int) -> bytes:
    with path.open("rb") as source:
        source.seek(offset)
        return source.read(length)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(CHUNK):
            digest.update(block)
    return base64.b64encode(digest.digest()).decode()


class Uploader:
    """Sends files through the uploads API, ``parallel`` parts at a time, and waits for each verdict."""

    def __init__(
        self, api: Api, *, parallel: int = 4, wait_s: float = 300.0, state_dir: Path | None = None
    ) -> None:
        self.api = api
        self.parallel = parallel
        self.wait_s = wait_s
        self.state_dir = state_dir or default_state_dir()
        self._limits: dict[str, Any] | None = None

    @property
    def limits(self) -> dict[str, Any]:
        if self._limits is None:
            self._limits = self.api.limits()
        return self._limits

    def upload(self, path: Path, content_type: str | None = None) -> Outcome:
        content_type = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        try:
            progress = Progress(path.name, path.stat().st_size)
        except OSError as error:
            return Outcome(str(path), "failed", reason=str(error))
        try:
            state = State(self.state_dir, self.api, path)
            upload = self._resume(path, state, progress) or self._start(path, content_type, state, progress)
            verdict = self._verdict(upload["id"])
        except (ApiError, OSError) as error:
            progress.finish("failed")
            return Outcome(str(path), "failed", reason=str(error))
        if verdict["status"] in FINAL:
            state.clear()
        progress.finish(verdict["status"])
        return Outcome(
            str(path), verdict["status"], verdict["id"], verdict["key"], verdict.get("rejection_reason")
        )

    def _start(self, path: Path, content_type: str, state: State, progress: Progress) -> dict[str, Any]:
        size = path.stat().st_size
        request: dict[str, Any] = {"filename": path.name, "content_type": content_type, "size": size}
        if size > self.limits["single_max_size"]:
            upload = self.api.create(request)  # above the threshold the API answers with part URLs
            state.save({"id": upload["id"], "key": upload["key"], "part_size": upload["part_size"]})
            urls = {part["part_number"]: part["url"] for part in upload["parts"]}
            self._send_parts(path, upload["id"], upload["key"], upload["part_size"], urls, {}, progress)
            return upload
        # One PUT whose SHA-256 S3 verifies: what arrives is exactly this file.
        upload = self.api.create({**request, "method": "PUT", "checksum_sha256": _sha256(path)})
        send("PUT", upload["url"], path.read_bytes(), upload["headers"])
        progress.add(size)
        return upload

    def _resume(self, path: Path, state: State, progress: Progress) -> dict[str, Any] | None:
        saved = state.load()
        if saved is None:
            return None
        try:
            upload = self.api.upload(saved["id"])
        except ApiError:
            state.clear()
            return None
        if upload["status"] != "pending":
            if upload["status"] not in FINAL:  # sent, waiting for its verdict (scanning)
                return upload
            state.clear()
            return upload if upload["status"] == "uploaded" else None
        held = {
            int(part["PartNumber"]): str(part["ETag"]).strip('"')
            for part in self.api.list_parts(upload["id"], upload["key"])
        }
        self._send_parts(path, upload["id"], upload["key"], int(saved["part_size"]), {}, held, progress)
        return upload

    def _send_parts(
        self,
        path: Path,
        upload_id: str,
        key: str,
        part_size: int,
        urls: dict[int, str],
        held: dict[int, str],
        progress: Progress,
    ) -> None:
        size = path.stat().st_size
        count = -(-size // part_size)

        def part(number: int) -> tuple[int, str]:
            offset = (number - 1) * part_size
            data = _read(path, offset, min(part_size, size - offset))
            md5 = hashlib.md5(data, usedforsecurity=False)
            if held.get(number) == md5.hexdigest():
                progress.add(len(data))  # S3 holds exactly these bytes already (a part's ETag is its MD5)
                return number, held[number]
            # Content-MD5: S3 refuses a part that does not arrive as read here.
            # (A Content-Type of our own, or urllib would call the bytes a form.)
            headers = {
                "Content-MD5": base64.b64encode(md5.digest()).decode(),
                "Content-Type": "application/octet-stream",
            }
            url = urls.get(number) or self.api.sign_part(upload_id, key, number)
            try:
                answer = send("PUT", url, data, headers)
            except ApiError as error:
                if error.status != 403 or number not in urls:
                    raise
                # The part URL from the announcement expired: sign it again.
                answer = send("PUT", self.api.sign_part(upload_id, key, number), data, headers)
            progress.add(len(data))
            return number, {k.lower(): v for k, v in answer.items()}["etag"].strip('"')

        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            parts = sorted(pool.map(part, range(1, count + 1)))
        self.api.complete(upload_id, parts)

    def _verdict(self, upload_id: str) -> dict[str, Any]:
        """GET /uploads/{id} until the upload is decided or ``wait_s`` has passed."""
        deadline = time.monotonic() + self.wait_s
        delay = 0.2
        while True:
            upload = self.api.upload(upload_id)
            if upload["status"] in FINAL or time.monotonic() >= deadline:
                return upload
            time.sleep(delay)
            delay = min(delay * 1.5, 3.0)


def upload_files(uploader: Uploader, paths: list[Path], content_type: str | None = None) -> list[Outcome]:
    """Each file in turn (its parts in parallel); one outcome per file, whatever happened to the others."""
    return [uploader.upload(path, content_type) for path in paths]
