// Requirement documents: versions (create from text or an uploaded file, switch current, rename,
// delete), each version's extracted requirements and text, and buttons that start generation or coverage.

import {api, listAll, upload} from "../api.js";
import {busy, confirmButton, fmtTime, h, mount, notify} from "../dom.js";

const sameText = (a, b) => a.replace(/[.!\s]+$/, "") === b.replace(/[.!\s]+$/, "");

export function documentsTab(ctx) {
  const list = h("ul.versions", {id: "versions"});
  const pane = h("div.doc-pane");
  const el = h("div.split", h("aside.sidebar",
    h("button.primary", {type: "button", id: "new-version", onclick: () => ctx.go("documents", "new")}, "New version"), list), pane);
  const cache = new Map();   // version id -> {detail, requirements}
  let shown = null;          // {id, version} currently rendered in the pane
  let form = null;

  function renderList(activeId) {
    const items = ctx.documents.values().sort((a, b) => b.number - a.number);
    mount(list, items.length ? items.map((v) => h("li", {class: v.id === activeId ? "active" : null},
      h("a", {href: `#/p/${ctx.projectId}/documents/${v.id}`, dataset: {id: v.id}}, `v${v.number} · ${v.title}`),
      v.is_current ? h("span.badge.current", "current") : null,
      h("span.muted.small", `${v.requirement_count} requirements`))) : h("li.muted", "No document yet."));
    return items;
  }

  async function startTask(path, versionId, button) {
    await busy(button, async () => {
      const out = await api("POST", path, {project_id: ctx.projectId, document_version_id: versionId});
      ctx.tasks.upsert(out.task);
      notify(path.endsWith("coverage") ? "Coverage analysis started." : "Test-case generation started.");
    });
  }

  async function load(v) {
    if (!cache.has(v.id) || cache.get(v.id).version !== v.version) {
      const [detail, requirements] = await Promise.all([
        api("GET", `/document-versions/${v.id}`), listAll(`/document-versions/${v.id}/requirements`, 5000)]);
      cache.set(v.id, {version: v.version, detail, requirements});
    }
    return cache.get(v.id);
  }

  async function renderVersion(v) {
    const {detail, requirements} = await load(v);
    if (ctx.params.tab !== "documents" || shown?.id !== v.id) return;  // the user moved on meanwhile
    const title = h("h2", {id: "version-title"}, `v${v.number} · ${v.title}`);
    const actions = h("div.actions");
    if (ctx.canWrite()) {
      const gen = h("button.primary", {type: "button", id: "generate-tests", onclick: () => startTask("/bot/test-cases", v.id, gen)}, "Generate test cases");
      const cov = h("button", {type: "button", id: "run-coverage", onclick: () => startTask("/bot/coverage", v.id, cov)}, "Run coverage");
      actions.append(gen, cov);
      if (!v.is_current) {
        actions.append(h("button", {type: "button", onclick: (e) => busy(e.target, () =>
          api("PATCH", `/document-versions/${v.id}`, {is_current: true}))}, "Make current"));
      }
      actions.append(h("button.link", {type: "button", onclick: () => {
        const field = h("input", {value: v.title, maxlength: 300, "aria-label": "Version title"});
        const f = h("form.inline", {onsubmit: (e) => {
          e.preventDefault();
          busy(f.querySelector("button"), () => api("PATCH", `/document-versions/${v.id}`, {title: field.value.trim() || v.title}));
        }}, field, h("button", {type: "submit"}, "Save"));
        mount(title, f);
        field.focus();
      }}, "Rename"));
      actions.append(confirmButton("Delete version", async () => {
        await api("DELETE", `/document-versions/${v.id}`);
        ctx.go("documents");
      }, {className: "link danger"}));
    }
    mount(pane,
      h("div.doc-head", title, v.is_current ? h("span.badge.current", "current") : null,
        h("p.muted.small", `Created ${fmtTime(v.created_at)}${v.notes ? ` · ${v.notes}` : ""}`), actions),
      h("h3", `Requirements (${requirements.length})`),
      requirements.length ? h("div.table-wrap", h("table.requirements", {id: "requirements"},
        h("thead", h("tr", ["ID", "Requirement", "Modality", "Priority", "Section"].map((c) => h("th", c)))),
        h("tbody", requirements.map((r) => h("tr", {dataset: {uid: r.uid}},
          h("td", h("code", r.uid)), h("td", h("strong", r.title), sameText(r.title, r.statement) ? null : h("div.small", r.statement)),
          h("td", r.modality), h("td", h(`span.prio.${r.priority}`, r.priority)), h("td.small", r.section))))))
        : h("p.muted", "No requirements were found in this version. Requirements are sentences with shall, must, should or may, or lines with ids like REQ-1."),
      h("details", h("summary", "Document text"), h("pre.doc-text", detail.content)));
  }

  function newVersionForm() {
    if (form) return form;
    const progress = h("progress", {max: 1, value: 0, hidden: true});
    const fileSelect = h("select", {name: "file_id", "aria-label": "Uploaded file"});
    form = h("form.card.stack", {id: "version-form", onsubmit: (e) => {
      e.preventDefault();
      const data = new FormData(form);
      busy(form.querySelector("button[type=submit]"), async () => {
        let fileId = data.get("file_id") || null;
        const picked = form.elements.upload.files[0];
        if (picked) {
          progress.hidden = false;
          const file = await upload(`/projects/${ctx.projectId}/files`, picked, (f) => { progress.value = f; });
          ctx.files.upsert(file);
          fileId = file.id;
        }
        const content = data.get("content");
        if (!fileId && !content.trim()) throw new Error("Paste the document text or choose a file.");
        const body = {title: data.get("title").trim() || null, notes: data.get("notes") || "", make_current: form.elements.make_current.checked};
        if (fileId) body.file_id = fileId; else body.content = content;
        const v = await api("POST", `/projects/${ctx.projectId}/document-versions`, body);
        ctx.documents.upsert(v);
        form.reset();
        progress.hidden = true;
        ctx.go("documents", v.id);
      }).finally(() => { progress.hidden = true; });
    }},
    h("h2", "New document version"),
    h("label", h("span", "Title"), h("input", {name: "title", maxlength: 300, placeholder: "e.g. Checkout requirements"})),
    h("label", h("span", "Text (Markdown or plain)"), h("textarea", {name: "content", rows: 12,
      placeholder: "REQ-1: The system shall …"})),
    h("div.row", h("label", h("span", "…or upload a file"), h("input", {type: "file", name: "upload", accept: ".md,.markdown,.txt,text/*"})),
      h("label", h("span", "…or use an uploaded file"), fileSelect)),
    progress,
    h("label", h("span", "Notes"), h("input", {name: "notes", maxlength: 10000})),
    h("label.check", h("input", {type: "checkbox", name: "make_current", checked: true}), h("span", "Make it the current version")),
    h("button.primary", {type: "submit"}, "Create version"));
    form.fillFiles = () => {
      const chosen = fileSelect.value;
      mount(fileSelect, h("option", {value: ""}, "—"), ctx.files.values().map((f) => h("option", {value: f.id, selected: f.id === chosen}, f.filename)));
    };
    return form;
  }

  return {
    el,
    render(item) {
      const items = renderList(item);
      if (item === "new" || (!item && !items.length && ctx.canWrite())) {
        if (!ctx.canWrite()) return mount(pane, h("p.muted", "Viewers cannot add documents."));
        const f = newVersionForm();
        f.fillFiles();
        if (pane.firstChild !== f) { mount(pane, f); f.querySelector("input").focus(); }
        shown = null;
        return;
      }
      const v = (item && ctx.documents.get(item)) || items.find((x) => x.is_current) || items[0];
      if (!v) {
        shown = null;
        return mount(pane, h("p.empty.muted", ctx.canWrite() ? "Add the first requirement document with “New version”." : "No documents yet."));
      }
      renderList(v.id);
      if (shown && shown.id === v.id && shown.version === v.version) return;
      shown = {id: v.id, version: v.version};
      renderVersion(v).catch((err) => mount(pane, h("p.error", err.message)));
    },
  };
}
