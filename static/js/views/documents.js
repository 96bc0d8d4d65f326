// Requirement documents: versions (create from text or an uploaded file, with a preview of what would be
// extracted before saving; switch current, rename, delete), each version's extracted requirements and text,
// the diff of two versions with the tests each change makes suspect, and buttons that start generation or
// coverage.

import {api, listAll, upload} from "../api.js";
import {busy, confirmButton, fmtTime, h, mount, notify, readText, searchable, stackTable} from "../dom.js";
import {testCaseIndex, testCaseLink} from "./artifacts.js";

const trimEnd = (text) => text.replace(/…$/, "").replace(/[.!:;,\s]{1,20}$/, "");

/** The server needs a title with pasted text (a file brings its name): the text's first heading, else a plain one. */
function defaultTitle(content) {
  const heading = /^#{1,6}[ \t]+(\S[^\n]{0,200})/m.exec(String(content || "").slice(0, 20000));
  return heading ? heading[1].trim().slice(0, 300) : "Requirements";
}

/** A title cut from its own statement adds nothing: show the statement alone; a real label goes in bold first. */
function requirementText(r) {
  const title = trimEnd(r.title || "");
  if (!title || r.statement.startsWith(title)) return h("span.statement", r.statement);
  return [h("strong", r.title), h("div.small", r.statement)];
}

/** Requirements as a table (cards on a phone): id, section, modality, priority and the text. */
function requirementsTable(requirements, {id = null, extra = null} = {}) {
  return searchable(h("div.table-wrap", stackTable(h("table.requirements", {id},
    h("thead", h("tr", ["ID", "Requirement", "Modality", "Priority", "Section", ...(extra ? [extra.label] : [])].map((c) => h("th", c)))),
    h("tbody", requirements.map((r) => h("tr", {dataset: {uid: r.uid}},
      h("td", h("code", r.uid)), h("td", requirementText(r)),
      h("td", r.modality), h("td", h(`span.prio.${r.priority}`, r.priority)), h("td.small", r.section),
      extra ? h("td", extra.cell(r)) : null)))))), "Search requirements");
}

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
      h("span.muted.small", `${v.requirement_count} requirements · `,
        h("a.diff-link", {href: `#/p/${ctx.projectId}/documents/${v.id}/diff`, dataset: {diff: v.id}}, "changes")))) : h("li.muted", "No document yet."));
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
    if (ctx.params.tab !== "documents" || shown?.id !== v.id || shown.sub) return;  // the user moved on meanwhile
    const title = h("h2", {id: "version-title"}, `v${v.number} · ${v.title}`);
    const actions = h("div.actions");
    if (ctx.canWrite()) {
      const gen = h("button.primary", {type: "button", id: "generate-tests", onclick: () => startTask("/bot/test-cases", v.id, gen)}, "Generate test cases");
      const cov = h("button", {type: "button", id: "run-coverage", onclick: () => startTask("/bot/coverage", v.id, cov)}, "Run coverage");
      actions.append(gen, cov);
    }
    actions.append(h("a", {href: `#/p/${ctx.projectId}/documents/${v.id}/diff`, id: "show-diff"}, "Changes since the previous version"));
    if (ctx.canWrite()) {
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
      requirements.length ? requirementsTable(requirements, {id: "requirements"})
        : h("p.muted", "No requirements were found in this version. Requirements are sentences with shall, must, should or may, or lines with ids like REQ-1."),
      h("details", h("summary", "Document text"), h("pre.doc-text", detail.content)));
  }

  const stat = (label, value, cls = "") => h(`div.stat${cls ? `.${cls}` : ""}`, {dataset: {stat: label}},
    h("span.value", String(value)), h("span.label", label));
  const section = (label, id, count, content) => h("section.diff-section", {id},
    h("h3", `${label} (${count})`), count ? content : h("p.muted.small", "None."));

  function changedTable(changed) {
    return h("div.table-wrap", stackTable(h("table.changed",
      h("thead", h("tr", ["ID", "Before", "After", "Section"].map((c) => h("th", c)))),
      h("tbody", changed.map((c) => h("tr", {dataset: {uid: c.uid}}, h("td", h("code", c.uid)),
        h("td.diff-before", c.before.statement), h("td", c.after.statement), h("td.small", c.after.section)))))));
  }

  function suspectList(suspects, index) {
    return h("ul.summary-list", suspects.map((t) => h("li", {dataset: {tc: t.tc_id}},
      testCaseLink(ctx, index, t.tc_id), " refers to ", t.req_uids.map((u) => h("code.req", u)))));
  }

  /** The diff of a version against another one (by default the one numbered just before). */
  async function renderDiff(v, against = "") {
    const diff = await api("GET", `/document-versions/${v.id}/diff${against ? `?against=${encodeURIComponent(against)}` : ""}`);
    const index = diff.suspect_tests.length ? await testCaseIndex(ctx) : new Map();
    if (ctx.params.tab !== "documents" || shown?.id !== v.id || shown.sub !== "diff") return;
    const others = ctx.documents.values().filter((x) => x.id !== v.id).sort((a, b) => b.number - a.number);
    const picker = h("select", {id: "diff-against", onchange: () => renderDiff(v, picker.value).catch((err) => notify(err.message, "error"))},
      h("option", {value: ""}, "the previous version"),
      others.map((o) => h("option", {value: o.id, selected: o.id === against}, `v${o.number} · ${o.title}`)));
    const from = diff.from_version_id ? ctx.documents.get(diff.from_version_id) : null;
    const suspects = diff.suspect_tests;
    mount(pane, h("div.diff", {id: "diff", dataset: {from: diff.from_version_id || ""}},
      h("div.doc-head", h("h2", {id: "diff-title"}, `Changes in v${v.number} · ${v.title}`),
        h("p.muted.small", from ? `Compared with v${from.number} · ${from.title}` : diff.from_version_id
          ? "Compared with another version." : "No earlier version: every requirement is new."),
        h("div.actions", h("label", h("span", "Compare with"), picker),
          h("a", {href: `#/p/${ctx.projectId}/documents/${v.id}`}, "Back to the version"))),
      h("div.stats", stat("added", diff.added.length), stat("changed", diff.changed.length, diff.changed.length ? "warn" : ""),
        stat("removed", diff.removed.length), stat("unchanged", diff.unchanged_count),
        stat("suspect tests", suspects.length, suspects.length ? "bad" : "")),
      section("Suspect tests", "suspect-tests", suspects.length, suspects.length ? suspectList(suspects, index) : null),
      section("Added", "diff-added", diff.added.length, requirementsTable(diff.added)),
      section("Changed", "diff-changed", diff.changed.length, changedTable(diff.changed)),
      section("Removed", "diff-removed", diff.removed.length, requirementsTable(diff.removed))));
  }

  /** Ask the server what a version made of the form's text would hold, without saving anything. */
  async function previewVersion(f, box) {
    const data = new FormData(f);
    const picked = f.elements.upload.files[0];
    const body = {title: data.get("title").trim() || picked?.name || defaultTitle(data.get("content"))};
    if (picked) body.content = await readText(picked);
    else if (data.get("file_id")) body.file_id = data.get("file_id");
    else body.content = data.get("content");
    if (!body.file_id && !body.content.trim()) throw new Error("Paste the document text or choose a file.");
    const out = await api("POST", `/projects/${ctx.projectId}/document-versions/preview`, body);
    const shownRows = out.requirements.slice(0, 300);
    mount(box, h("h3", `Preview: ${out.count} requirement${out.count === 1 ? "" : "s"} would be extracted`),
      out.count ? h("div.table-wrap", stackTable(h("table.preview", {id: "preview-table"},
        h("thead", h("tr", ["ID", "Section", "Modality", "Title"].map((c) => h("th", c)))),
        h("tbody", shownRows.map((r) => h("tr", {dataset: {uid: r.uid}}, h("td", h("code", r.uid)),
          h("td.small", r.section), h("td", r.modality), h("td", r.title)))))))
        : h("p.muted", "Nothing looks like a requirement: sentences with shall, must, should or may, or lines with ids like REQ-1."),
      out.count > shownRows.length ? h("p.muted.small", `…and ${out.count - shownRows.length} more.`) : null,
      h("p.muted.small", "Nothing is saved until you press “Create version”."));
    box.hidden = false;
    box.scrollIntoView({block: "start", behavior: "smooth"});
  }

  function newVersionForm() {
    if (form) return form;
    const progress = h("progress", {max: 1, value: 0, hidden: true});
    const fileSelect = h("select", {name: "file_id", "aria-label": "Uploaded file"});
    const previewBox = h("div.preview", {id: "version-preview", hidden: true, "aria-live": "polite"});
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
        const body = {title: data.get("title").trim() || (fileId ? null : defaultTitle(content)), notes: data.get("notes") || "", make_current: form.elements.make_current.checked};
        if (fileId) body.file_id = fileId; else body.content = content;
        const v = await api("POST", `/projects/${ctx.projectId}/document-versions`, body);
        ctx.documents.upsert(v);
        form.reset();
        previewBox.hidden = true;
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
    h("div.buttons", h("button", {type: "button", id: "preview-version", onclick: (e) => busy(e.target, () => previewVersion(form, previewBox))}, "Preview"),
      h("button.primary", {type: "submit"}, "Create version")),
    previewBox);
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
      const sub = ctx.params.sub === "diff" ? "diff" : null;
      if (shown && shown.id === v.id && shown.version === v.version && shown.sub === sub) return;
      shown = {id: v.id, version: v.version, sub};
      (sub ? renderDiff(v) : renderVersion(v)).catch((err) => mount(pane, h("p.error", err.message)));
    },
  };
}
