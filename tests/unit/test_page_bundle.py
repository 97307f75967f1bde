"""The committed upload page bundle is what `make page` builds from page/ and its lockfile."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "page"
STATIC = ROOT / "local" / "landing_local" / "static"
BUNDLE = ("page.js", "page.css")
BANNER = re.compile(
    r"^/\* landing upload page: built by `make page` from page/ \(inputs sha256 ([0-9a-f]{64})\)"
)


def inputs_digest(page: Path) -> str:
    """page/build.mjs's inputsDigest(): sorted relative paths, each hashed as path NUL contents NUL."""
    paths = ["package.json", "package-lock.json", "build.mjs"]
    paths += [p.relative_to(page).as_posix() for p in (page / "src").rglob("*") if p.is_file()]
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.encode() + b"\0")
        digest.update((page / path).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


@pytest.mark.parametrize("name", BUNDLE)
def test_committed_bundle_was_built_from_the_current_sources_and_lockfile(name):
    first_line = (STATIC / name).read_text(encoding="utf-8").split("\n", 1)[0]
    match = BANNER.match(first_line)

    assert match, f"{name} was not written by `make page`"
    assert match.group(1) == inputs_digest(PAGE), f"page/ changed since {name} was built: run `make page`"


def test_lockfile_pins_every_package_by_integrity_hash():
    import json

    lock = json.loads((PAGE / "package-lock.json").read_text(encoding="utf-8"))
    packages = {path: entry for path, entry in lock["packages"].items() if path}
    declared = json.loads((PAGE / "package.json").read_text(encoding="utf-8"))["devDependencies"]

    assert packages and all(entry.get("integrity", "").startswith("sha512-") for entry in packages.values())
    # Exact versions in package.json, and the lockfile resolved each to exactly that.
    for name, version in declared.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), (name, version)
        assert packages[f"node_modules/{name}"]["version"] == version
    assert declared["@uppy/aws-s3"].startswith("6.") and declared["@uppy/core"].startswith("6.")


def test_bundle_rebuilds_byte_for_byte_from_the_lockfile(tmp_path):
    """`npm ci` (the lockfile, integrity-checked, no install scripts) and the build, in a copy of page/."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if not (npm and node):
        pytest.skip("node and npm are needed to rebuild the page (Debian: apt-get install nodejs npm)")
    copy = tmp_path / "page"
    shutil.copytree(PAGE, copy, ignore=shutil.ignore_patterns("node_modules"))
    subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=copy,
        check=True,
        capture_output=True,
        timeout=300,
    )
    out = tmp_path / "out"
    subprocess.run([node, "build.mjs", str(out)], cwd=copy, check=True, capture_output=True, timeout=120)

    for name in BUNDLE:
        assert (out / name).read_bytes() == (STATIC / name).read_bytes(), f"{name} differs: run `make page`"


def test_the_page_writes_no_upload_protocol_of_its_own():
    """Uppy sends the files; the page's own code only reads the API (verdicts, objects, limits)."""
    source = "\n".join(p.read_text(encoding="utf-8") for p in sorted((PAGE / "src").rglob("*.js")))

    for protocol in ("XMLHttpRequest", "FormData", "partNumber", "/complete", 'method: "POST"', "PUT"):
        assert protocol not in source, protocol
    assert "companionEndpoint: window.location.origin" in source
