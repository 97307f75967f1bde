// `make page`: bundle src/ with the locked npm packages into the page `landing serve` serves.
// Usage: node build.mjs [OUT_DIR]   (default: ../local/landing_local/static)
// The bundle is committed; its first line names the digest of every input below, which a unit test
// recomputes, so an edited source or lockfile without a rebuild fails `make test`.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = fileURLToPath(new URL(".", import.meta.url));
const out = process.argv[2] ?? join(here, "../local/landing_local/static");

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

// tests/unit/test_page_bundle.py computes the same digest: sorted relative paths, each as
// path NUL contents NUL.
export function inputsDigest() {
  const inputs = ["package.json", "package-lock.json", "build.mjs", ...files(join(here, "src")).map((f) => relative(here, f))];
  const hash = createHash("sha256");
  for (const path of inputs.map((p) => p.split("\\").join("/")).sort()) {
    hash.update(`${path}\0`);
    hash.update(readFileSync(join(here, path)));
    hash.update("\0");
  }
  return hash.digest("hex");
}

const banner = `/* landing upload page: built by \`make page\` from page/ (inputs sha256 ${inputsDigest()}); do not edit */`;

await esbuild.build({
  absWorkingDir: here,
  entryPoints: { page: "src/main.js" },
  outdir: out,
  bundle: true,
  minify: true,
  format: "iife",
  // Browsers of the last few years; Uppy 6 itself targets evergreen browsers.
  target: ["chrome109", "firefox115", "safari16"],
  legalComments: "eof",
  charset: "utf8",
  banner: { js: banner, css: banner },
  logLevel: "info",
});
