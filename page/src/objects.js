// The table of the caller's current objects (GET /objects), a page at a time over the API's cursors.
import { formatSize, getJson } from "./api.js";

const PAGE_SIZE = 10;
const $ = (selector) => document.querySelector(selector);

export const objects = {
  cursors: [null],
  page: 0,
  prefix: "",

  current() {
    return this.cursors[this.page];
  },

  async load(cursor) {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (this.prefix) query.set("prefix", this.prefix);
    if (cursor) query.set("cursor", cursor);
    const status = $("#objects-status");
    let page;
    try {
      page = await getJson(`/objects?${query}`);
    } catch (error) {
      status.textContent = `Could not list objects: ${error.message}`;
      return;
    }
    this.render(page.objects);
    this.cursors.length = this.page + 1;
    if (page.next_cursor) this.cursors.push(page.next_cursor);
    $("#next-page").disabled = !page.next_cursor;
    $("#previous-page").disabled = this.page === 0;
    $("#page-number").textContent = `Page ${this.page + 1}`;
    status.textContent = page.objects.length
      ? `${page.objects.length} object${page.objects.length === 1 ? "" : "s"} on this page`
      : "No objects yet under this prefix.";
  },

  render(rows) {
    const body = $("#objects tbody");
    body.replaceChildren();
    for (const row of rows) {
      const tr = document.createElement("tr");
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

export function wireObjects() {
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
