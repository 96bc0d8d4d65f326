// The test cases of a `test_cases` artifact, editable by hand (the test-case editing API): a table with Edit
// and History per case, an Add button, and a bulk delete of the checked rows (editors and owners; a viewer sees
// the table and the history). The panel lives as long as its artifact is shown, so a live update refreshes the
// table in place and never throws an open form away: the form says "this test case changed" instead.

import {api} from "../api.js";
import {confirmButton, h, mount, notify, searchable, stackTable} from "../dom.js";
import {caseForm} from "./test_case_edit.js";
import {historyView} from "./test_case_history.js";

const casesOf = (artifact) => (artifact.content && artifact.content.test_cases) || [];
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** The test-case panel of one artifact: {el, update(artifact)}. `reload()` refetches the artifact after a write. */
export function testCasesPanel(ctx, artifact, reload) {
  let current = artifact;
  let writable = ctx.canWrite();
  const selected = new Set();
  let editor = null;     // the open form (see caseForm)
  let history = null;    // the open history: {tcId, el, load}

  const table = h("table.test-cases", {id: "test-cases"});
  const wrap = searchable(h("div.table-wrap", table), "Search test cases");
  const search = wrap.querySelector("input.table-search");
  const toolbar = h("div.tc-toolbar", {id: "tc-toolbar"});
  const formSlot = h("div.tc-form-slot");
  const historySlot = h("div.tc-history-slot");
  const el = h("div.tc-panel", toolbar, formSlot, historySlot, wrap);

  // --- the table ---------------------------------------------------------------------------------------

  function renderTable() {
    const cases = casesOf(current);
    const ids = new Set(cases.map((tc) => String(tc.id)));
    for (const id of [...selected]) if (!ids.has(id)) selected.delete(id);
    const columns = ["ID", "Title", "Type", "Priority", "Requirements", "Steps", "Expected result", "Actions"];
    mount(table,
      h("caption", plural(cases.length, "test case")),
      h("thead", h("tr", columns.map((c) => h("th", c)))),
      h("tbody", cases.map(row)));
    stackTable(table);
    if (search.value) search.dispatchEvent(new Event("input"));   // keep the search applied to the new rows
  }

  function row(tc) {
    const id = String(tc.id);
    const pick = writable ? h("input.tc-pick", {type: "checkbox", "aria-label": `Select ${id}`, checked: selected.has(id),
      onchange: (e) => { if (e.target.checked) selected.add(id); else selected.delete(id); renderToolbar(); }}) : null;
    return h("tr", {dataset: {id}},
      h("td", h("span.tc-id", pick, h("code", id)), tc.source ? h("div", h("span.source", {title: tc.source === "model"
        ? "written by the language model" : "written by the offline generator"}, tc.source)) : null),
      h("td.tc-text", h("strong", tc.title), tc.preconditions ? h("div.small.muted", `Given: ${tc.preconditions}`) : null),
      h("td", tc.type), h("td", h(`span.prio.${tc.priority}`, tc.priority)),
      h("td", (tc.requirement_uids || []).map((u) => h("code.req", u))),
      h("td.tc-text", h("ol.steps", (tc.steps || []).map((s) => h("li", s.action, s.expected ? h("div.small.muted", `→ ${s.expected}`) : null)))),
      h("td.small.tc-text", tc.expected_result),
      h("td", h("div.tc-actions",
        writable ? h("button.link.tc-edit", {type: "button", "aria-label": `Edit ${id}`, onclick: () => openEditor(id)}, "Edit") : null,
        h("button.link.tc-history", {type: "button", "aria-label": `History of ${id}`, onclick: () => openHistory(id)}, "History"))));
  }

  // --- add, select, delete -----------------------------------------------------------------------------

  function shownIds() {
    return [...table.querySelectorAll("tbody tr")].filter((tr) => !tr.hidden).map((tr) => tr.dataset.id);
  }

  function renderToolbar() {
    toolbar.hidden = !writable;
    if (!writable) return mount(toolbar);
    const shown = shownIds();
    const all = h("input", {type: "checkbox", id: "tc-select-all",
      checked: shown.length > 0 && shown.every((id) => selected.has(id)),
      onchange: (e) => {
        for (const id of shownIds()) { if (e.target.checked) selected.add(id); else selected.delete(id); }
        for (const box of table.querySelectorAll("input.tc-pick")) box.checked = selected.has(box.closest("tr").dataset.id);
        renderToolbar();
      }});
    const remove = confirmButton(`Delete selected (${selected.size})`, () => deleteSelected(), {className: "danger"});
    remove.id = "tc-delete-selected";
    remove.disabled = selected.size === 0;
    mount(toolbar,
      h("button.primary", {type: "button", id: "tc-add", onclick: () => openEditor(null)}, "Add test case"),
      h("label.check.tc-select-all", all, h("span", "Select all shown")),
      remove);
  }
  // A search changes which rows "select all" means.
  search.addEventListener("input", () => setTimeout(renderToolbar, 150));

  async function deleteSelected() {
    const ids = [...selected];
    if (!ids.length) return;
    const out = await api("POST", `/artifacts/${current.id}/test-cases/delete`, {ids});
    for (const id of ids) selected.delete(id);
    notify(`Deleted ${plural(out.deleted.length, "test case")}` +
      (out.missing.length ? ` (${out.missing.length} had already been deleted)` : "") + ".");
    await reload();
  }

  // --- the edit / add form -----------------------------------------------------------------------------

  async function openEditor(tcId) {
    if (editor && editor.dirty()) {
      editor.el.scrollIntoView({block: "nearest"});
      return notify("Save or cancel the open test case first.");
    }
    let base = null;
    let revision = null;
    if (tcId !== null) {
      base = casesOf(current).find((tc) => String(tc.id) === tcId);
      if (!base) return notify("This test case no longer exists.");
      try {
        ({base, revision} = await latest(tcId, base));
      } catch (err) {
        return notify(err.message, "error");
      }
    }
    editor = caseForm({artifactId: current.id, tcId, base, revision, onDone: closeEditor, reload,
      fetchLatest: () => latest(tcId, casesOf(current).find((tc) => String(tc.id) === tcId))});
    mount(formSlot, editor.el);
    editor.el.scrollIntoView({block: "nearest"});
    editor.focus();
  }

  /** The case's newest revision and how it looks there (the history's first entry). */
  async function latest(tcId, fallback) {
    const page = await api("GET", `/artifacts/${current.id}/test-cases/${encodeURIComponent(tcId)}/history?limit=1`);
    const top = page.items[0];
    return {base: top?.snapshot || fallback, revision: top ? top.revision : null};
  }

  function closeEditor() {
    editor = null;
    mount(formSlot);
  }

  // --- history -----------------------------------------------------------------------------------------

  function openHistory(tcId) {
    history = historyView(current.id, tcId, () => { history = null; mount(historySlot); });
    mount(historySlot, history.el);
    history.el.scrollIntoView({block: "nearest"});
  }

  renderTable();
  renderToolbar();

  return {
    el,
    /** Show a newer version of the artifact (or the same after a role change) without losing an open form. */
    update(next) {
      const role = ctx.canWrite();
      if (next.version < current.version || (next.version === current.version && role === writable)) return;
      current = next;
      writable = role;
      renderTable();
      renderToolbar();
      if (editor && !writable) closeEditor();
      if (editor && editor.tcId !== null) {
        const now = casesOf(current).find((tc) => String(tc.id) === editor.tcId);
        editor.changedElsewhere(now);
      }
      if (history && casesOf(current).some((tc) => String(tc.id) === history.tcId)) history.load();
    },
  };
}
