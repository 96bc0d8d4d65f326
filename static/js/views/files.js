// Files: upload with a progress bar, download, delete.

import {api, upload} from "../api.js";
import {busy, confirmButton, fmtBytes, fmtTime, h, mount, notify, stackTable} from "../dom.js";

export function filesTab(ctx) {
  const list = h("tbody");
  const progress = h("progress", {max: 1, value: 0, hidden: true, id: "upload-progress"});
  const picker = h("input", {type: "file", id: "file-input", multiple: true, "aria-label": "Choose files"});
  const form = h("form.inline", {id: "upload-form", onsubmit: (e) => {
    e.preventDefault();
    const files = [...picker.files];
    if (!files.length) return notify("Choose a file first.");
    busy(form.querySelector("button"), async () => {
      progress.hidden = false;
      try {
        for (const file of files) {
          progress.value = 0;
          const out = await upload(`/projects/${ctx.projectId}/files`, file, (f) => { progress.value = f; });
          ctx.files.upsert(out);
        }
        form.reset();
      } finally {
        progress.hidden = true;
      }
    });
  }}, picker, h("button.primary", {type: "submit"}, "Upload"), progress);
  const el = h("div.files", h("h2", "Files"), form,
    h("div.table-wrap", h("table.files-table", {id: "files"}, h("thead", h("tr", ["Name", "Size", "Uploaded", ""].map((c) => h("th", c)))), list)));

  // Rows are rebuilt only when their file changed: any project event re-renders the tab, and a fresh row
  // would drop a pending "Click again to confirm".
  let rows = new Map();  // file id -> {key, el}

  function row(f, write) {
    const key = JSON.stringify([f, write]);
    const held = rows.get(f.id);
    if (held && held.key === key) return held;
    return {key, el: h("tr", {dataset: {id: f.id}},
      h("td", h("a", {href: `/api/v1/files/${f.id}/content`, download: f.filename}, f.filename)),
      h("td", fmtBytes(f.size)), h("td.small", fmtTime(f.created_at)),
      h("td", write ? confirmButton("Delete", () => api("DELETE", `/files/${f.id}`), {className: "link danger"}) : null))};
  }

  return {
    el,
    render() {
      const write = ctx.canWrite();
      form.hidden = !write;
      const files = ctx.files.values().sort((a, b) => b.created_at.localeCompare(a.created_at));
      rows = new Map(files.map((f) => [f.id, row(f, write)]));
      mount(list, files.length ? [...rows.values()].map((r) => r.el)
        : h("tr", h("td.muted", {colspan: 4}, "No files yet.")));
      stackTable(el.querySelector("table"));
    },
  };
}
