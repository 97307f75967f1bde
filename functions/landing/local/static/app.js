// The upload page: request a presigned upload, send the bytes to S3, follow the status, list objects.
"use strict";

const PAGE_SIZE = 10;
const POLL_FIRST_MS = 300;
const POLL_MAX_MS = 3000;
const POLL_GIVE_UP_MS = 15 * 60 * 1000;
const FINAL = new Set(["uploaded", "rejected", "expired", "quarantined"]);
// GuardDuty's scanResultStatus, in words.
const VERDICTS = {
  NO_THREATS_FOUND: "no threats found",
  THREATS_FOUND: "threats found",
  UNSUPPORTED: "not scannable",
  ACCESS_DENIED: "scanner was denied access",
  FAILED: "scan failed",
};

const $ = (selector) => document.querySelector(selector);

function formatSize(bytes) {
  if (bytes === null || bytes === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function announce(message) {
  // Repeated identical messages are still read when the region is cleared first.
  const region = $("#announcer");
  region.textContent = "";
  window.setTimeout(() => { region.textContent = message; }, 50);
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const options = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  let payload = {};
  try {
    payload = await response.json();
  } catch (_) {
    payload = {};
  }
  if (!response.ok) {
    const error = payload.error || {};
    throw new ApiError(response.status, error.code || "error", error.message || payload.message || response.statusText);
  }
  return payload;
}

// One XMLHttpRequest, because fetch() has no upload progress events. Resolves with the request.
function send(method, url, body, headers, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers || {})) {
      // The browser sets Content-Length itself and refuses scripts that try.
      if (name.toLowerCase() !== "content-length") xhr.setRequestHeader(name, value);
    }
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr);
      else reject(new Error(`S3 answered ${xhr.status}: ${s3Message(xhr.responseText)}`));
    });
    xhr.addEventListener("error", () => reject(new Error("the upload could not reach S3 (network or CORS)")));
    xhr.addEventListener("abort", () => reject(new Error("the upload was cancelled")));
    xhr.send(body);
  });
}

function s3Message(xml) {
  const match = /<Message>([^<]*)<\/Message>/.exec(xml || "");
  return match ? match[1] : "request refused";
}

class UploadItem {
  constructor(file) {
    this.file = file;
    this.element = document.createElement("li");
    this.element.className = "upload";
    const head = document.createElement("div");
    head.className = "upload-head";
    this.name = document.createElement("span");
    this.name.className = "upload-name";
    this.name.textContent = file.name;
    const size = document.createElement("span");
    size.className = "upload-size";
    size.textContent = formatSize(file.size);
    head.append(this.name, size);
    this.progress = document.createElement("progress");
    this.progress.max = 100;
    this.progress.value = 0;
    this.progress.setAttribute("aria-label", `Upload progress of ${file.name}`);
    this.status = document.createElement("p");
    this.status.className = "upload-status";
    this.key = document.createElement("p");
    this.key.className = "upload-key";
    this.element.append(head, this.progress, this.status, this.key);
    $("#uploads").prepend(this.element);
  }

  set(status, text, { say = false } = {}) {
    this.element.dataset.status = status;
    this.status.textContent = text;
    if (say) announce(`${this.file.name}: ${text}`);
  }

  showProgress(done) {
    const percent = this.file.size ? Math.floor((100 * done) / this.file.size) : 100;
    this.progress.value = Math.min(percent, 100);
    this.set("uploading", `Uploading… ${this.progress.value}%`);
  }

  async run() {
    this.set("requesting", "Requesting an upload…", { say: true });
    let intent;
    try {
      intent = await api("POST", "/uploads", {
        filename: this.file.name,
        content_type: this.file.type || "application/octet-stream",
        size: this.file.size,
      });
    } catch (error) {
      this.progress.hidden = true;
      const detail = error instanceof ApiError ? `${error.status} ${error.code}: ${error.message}` : error.message;
      this.set("refused", `Refused (${detail})`, { say: true });
      return;
    }
    this.id = intent.id;
    this.key.textContent = intent.key;
    try {
      if (intent.method === "MULTIPART") await this.sendParts(intent);
      else await this.sendWhole(intent);
    } catch (error) {
      this.set("failed", `Failed: ${error.message}`, { say: true });
      return;
    }
    this.progress.value = 100;
    this.set("pending", "Sent; waiting for S3's event to be processed…", { say: true });
    await this.follow();
  }

  async sendWhole(intent) {
    const progress = (loaded) => this.showProgress(Math.min(loaded, this.file.size));
    this.showProgress(0);
    if (intent.method === "POST") {
      const form = new FormData();
      for (const [name, value] of Object.entries(intent.fields)) form.append(name, value);
      form.append("file", this.file); // S3 ignores every field after the file.
      await send("POST", intent.url, form, {}, progress);
    } else {
      await send("PUT", intent.url, this.file, intent.headers, progress);
    }
  }

  async sendParts(intent) {
    const parts = [];
    let done = 0;
    this.showProgress(0);
    for (const part of intent.parts) {
      const start = (part.part_number - 1) * intent.part_size;
      const xhr = await send("PUT", part.url, this.file.slice(start, start + part.size), {}, (loaded) =>
        this.showProgress(done + Math.min(loaded, part.size)));
      const etag = xhr.getResponseHeader("ETag");
      if (!etag) throw new Error("S3 did not expose the part's ETag (the bucket's CORS needs ExposeHeaders: ETag)");
      parts.push({ part_number: part.part_number, etag });
      done += part.size;
    }
    await api("POST", `/uploads/${encodeURIComponent(intent.id)}/complete`, { parts });
  }

  async follow() {
    const started = Date.now();
    let delay = POLL_FIRST_MS;
    while (Date.now() - started < POLL_GIVE_UP_MS) {
      await new Promise((resolve) => window.setTimeout(resolve, delay));
      delay = Math.min(delay * 1.5, POLL_MAX_MS);
      let upload;
      try {
        upload = await api("GET", `/uploads/${encodeURIComponent(this.id)}`);
      } catch (error) {
        this.set("pending", `Waiting (status check failed: ${error.message})`);
        continue;
      }
      if (upload.status === "scanning") this.set("scanning", "Received; waiting for the malware scan");
      if (!FINAL.has(upload.status)) continue;
      const verdict = upload.scan_status ? ` · malware scan: ${VERDICTS[upload.scan_status] || upload.scan_status}` : "";
      if (upload.status === "uploaded") this.set("uploaded", `Uploaded${verdict}`, { say: true });
      else if (upload.status === "quarantined") this.set("quarantined", `Quarantined: ${upload.rejection_reason || "malware found"}`, { say: true });
      else if (upload.status === "rejected") this.set("rejected", `Rejected: ${upload.rejection_reason || "it broke the announced limits"}`, { say: true });
      else this.set("expired", `Expired: ${upload.rejection_reason || "no object arrived in time"}`, { say: true });
      objects.load(objects.current(), this.key.textContent);
      return;
    }
    this.set("pending", "Still waiting for S3's event; check the objects table later", { say: true });
  }
}

const objects = {
  cursors: [null],
  page: 0,
  prefix: "",

  current() {
    return this.cursors[this.page];
  },

  async load(cursor, highlightKey) {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (this.prefix) query.set("prefix", this.prefix);
    if (cursor) query.set("cursor", cursor);
    const status = $("#objects-status");
    let page;
    try {
      page = await api("GET", `/objects?${query}`);
    } catch (error) {
      status.textContent = `Could not list objects: ${error.message}`;
      return;
    }
    this.render(page.objects, highlightKey);
    this.cursors.length = this.page + 1;
    if (page.next_cursor) this.cursors.push(page.next_cursor);
    $("#next-page").disabled = !page.next_cursor;
    $("#previous-page").disabled = this.page === 0;
    $("#page-number").textContent = `Page ${this.page + 1}`;
    status.textContent = page.objects.length
      ? `${page.objects.length} object${page.objects.length === 1 ? "" : "s"} on this page`
      : "No objects yet under this prefix.";
  },

  render(rows, highlightKey) {
    const body = $("#objects tbody");
    body.replaceChildren();
    for (const row of rows) {
      const tr = document.createElement("tr");
      if (row.key === highlightKey) tr.className = "fresh";
      const modified = row.last_modified_date || row.updated_at;
      const cells = [
        ["Key", row.key, "key"],
        ["Size", formatSize(row.size), "num"],
        ["Type", row.content_type || "", ""],
        ["Modified", modified ? new Date(modified).toLocaleString() : "", "num"],
      ];
      for (const [label, text, className] of cells) {
        const td = document.createElement("td");
        td.dataset.label = label;
        td.textContent = text;
        if (className) td.className = className;
        tr.append(td);
      }
      body.append(tr);
    }
  },
};

function start(files) {
  for (const file of files) new UploadItem(file).run();
}

function wire() {
  const input = $("#files");
  input.addEventListener("change", () => {
    start(Array.from(input.files));
    input.value = ""; // choosing the same file again is a new upload
  });

  const zone = $("#dropzone");
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    zone.addEventListener(name, () => zone.classList.remove("dragging"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    start(Array.from(event.dataTransfer.files));
  });
  // A file dropped beside the zone must not make the browser navigate away from the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  $("#objects-form").addEventListener("submit", (event) => {
    event.preventDefault();
    objects.prefix = $("#prefix").value.trim();
    objects.cursors = [null];
    objects.page = 0;
    objects.load(null);
  });
  $("#next-page").addEventListener("click", () => {
    if (objects.page + 1 < objects.cursors.length) {
      objects.page += 1;
      objects.load(objects.current());
    }
  });
  $("#previous-page").addEventListener("click", () => {
    if (objects.page > 0) {
      objects.page -= 1;
      objects.load(objects.current());
    }
  });
  objects.load(null);
}

document.addEventListener("DOMContentLoaded", wire);
