// What the server decided about each file Uppy sent: S3 accepting the bytes is not the verdict.
import { announce, getJson } from "./api.js";

const POLL_FIRST_MS = 300;
const POLL_MAX_MS = 3000;
const POLL_GIVE_UP_MS = 15 * 60 * 1000;
const FINAL = new Set(["uploaded", "rejected", "expired", "quarantined"]);
// GuardDuty's scanResultStatus, in words.
const SCANS = {
  NO_THREATS_FOUND: "no threats found",
  THREATS_FOUND: "threats found",
  UNSUPPORTED: "not scannable",
  ACCESS_DENIED: "scanner was denied access",
  FAILED: "scan failed",
};
// What a Companion route's refusal looks like once Uppy has it: only the HTTP status text survives,
// and the API puts its reason there.
const REFUSED = /^Companion request failed: ?/;

// The server chooses every key, uploads/<owner>/<upload id>/<file name> (docs/uploads-api.md).
export function uploadIdOf(key) {
  const parts = key.split("/");
  return parts.length >= 2 ? parts[parts.length - 2] : null;
}

export class Verdicts {
  constructor(list, onDecided) {
    this.list = list;
    this.onDecided = onDecided;
    this.items = new Map();
  }

  item(file) {
    let item = this.items.get(file.id);
    if (!item) {
      const element = document.createElement("li");
      element.className = "upload";
      element.dataset.file = file.name;
      const name = document.createElement("span");
      name.className = "upload-name";
      name.textContent = file.name;
      const status = document.createElement("p");
      status.className = "upload-status";
      const key = document.createElement("p");
      key.className = "upload-key";
      element.append(name, status, key);
      this.list.prepend(element);
      item = { file, element, status, key, generation: 0 };
      this.items.set(file.id, item);
    }
    return item;
  }

  set(item, status, text, { say = false } = {}) {
    item.element.dataset.status = status;
    item.status.textContent = text;
    if (say) announce(`${item.file.name}: ${text}`);
  }

  sending(file) {
    const item = this.item(file);
    item.generation += 1; // a retry starts over: an older poll must not overwrite it
    this.set(item, "sending", "Sending to S3…", { say: true });
  }

  restored(file) {
    const item = this.item(file);
    if (file.isGhost) this.set(item, "restored", "Choose this file again to resume its upload", { say: true });
    else this.set(item, "restored", "Restored after a reload; resuming", { say: true });
  }

  chosenAgain(file) {
    const item = this.items.get(file.id);
    if (item && item.element.dataset.status === "restored") {
      this.set(item, "restored", "Ready to resume: press Upload", { say: true });
    }
  }

  failed(file, error) {
    const item = this.item(file);
    const message = (error && error.message) || String(error);
    if (REFUSED.test(message)) {
      this.set(item, "refused", `Refused: ${message.replace(REFUSED, "") || "the API refused the upload"}`, { say: true });
    } else {
      this.set(item, "failed", `Failed: ${message} (retry from the list above)`, { say: true });
    }
  }

  cancelled(file) {
    const item = this.items.get(file.id);
    if (item && !FINAL.has(item.element.dataset.status)) {
      item.generation += 1;
      this.set(item, "cancelled", "Cancelled; nothing was kept", { say: true });
    }
  }

  async sent(file, key) {
    const item = this.item(file);
    const generation = item.generation;
    item.key.textContent = key;
    // How long Uppy took from the first request to S3's last answer (the browser tests report it).
    if (file.progress && file.progress.uploadStarted) item.element.dataset.sentMs = String(Date.now() - file.progress.uploadStarted);
    this.set(item, "pending", "Sent; waiting for the server's verdict…", { say: true });
    const id = uploadIdOf(key);
    const started = Date.now();
    let delay = POLL_FIRST_MS;
    while (Date.now() - started < POLL_GIVE_UP_MS && item.generation === generation) {
      await new Promise((resolve) => window.setTimeout(resolve, delay));
      delay = Math.min(delay * 1.5, POLL_MAX_MS);
      let upload;
      try {
        upload = await getJson(`/uploads/${encodeURIComponent(id)}`);
      } catch (error) {
        this.set(item, "pending", `Waiting (status check failed: ${error.message})`);
        continue;
      }
      if (item.generation !== generation) return;
      if (upload.status === "scanning") this.set(item, "scanning", "Received; waiting for the malware scan");
      if (!FINAL.has(upload.status)) continue;
      this.decided(item, upload);
      this.onDecided(key);
      return;
    }
    if (item.generation === generation) {
      this.set(item, "pending", "Still waiting for the server; check the objects table later", { say: true });
    }
  }

  decided(item, upload) {
    const reason = upload.rejection_reason;
    const scan = upload.scan_status ? ` · malware scan: ${SCANS[upload.scan_status] || upload.scan_status}` : "";
    if (upload.status === "uploaded") this.set(item, "uploaded", `Uploaded${scan}`, { say: true });
    else if (upload.status === "quarantined") this.set(item, "quarantined", `Quarantined: ${reason || "malware found"}`, { say: true });
    else if (upload.status === "rejected") this.set(item, "rejected", `Rejected: ${reason || "it broke the upload's rules"}`, { say: true });
    else this.set(item, "expired", `Expired: ${reason || "no object arrived in time"}`, { say: true });
  }
}
