// The history of one test case, newest first: who changed it, when, and each field's old and new value.

import {api} from "../api.js";
import {busy, fmtTime, h, mount} from "../dom.js";
import {FIELD_LABELS} from "./test_case_edit.js";

const HISTORY_PAGE = 50;


/** A case's revisions, newest first: who, when, and each field's old and new value. */
export function historyView(artifactId, tcId, onClose) {
  const list = h("ol.tc-history-list", {id: "tc-history-list"});
  const more = h("button.link", {type: "button", hidden: true, onclick: (e) => busy(e.target, () => load(items.length))}, "Show older");
  const el = h("section.card.tc-history", {id: "tc-history", dataset: {tc: tcId}},
    h("div.doc-head", h("h3", `History of ${tcId}`),
      h("button.link", {type: "button", id: "tc-history-close", onclick: onClose}, "Close")),
    list, more);
  let items = [];

  async function load(offset = 0) {
    const path = `/artifacts/${artifactId}/test-cases/${encodeURIComponent(tcId)}/history`;
    try {
      const page = await api("GET", `${path}?limit=${offset ? HISTORY_PAGE : Math.max(HISTORY_PAGE, items.length)}&offset=${offset}`);
      items = offset ? [...items, ...page.items] : page.items;
      mount(list, items.length ? items.map(entry) : h("li.muted", "No history yet."));
      more.hidden = items.length >= page.total;
    } catch (err) {
      mount(list, h("li.error", err.message));
    }
  }

  load();
  return {el, tcId, load: () => load()};
}

function entry(item) {
  const who = item.changed_by_name || (item.changed_by ? "a former member" : "the system");
  const order = (key) => (key in FIELD_LABELS ? Object.keys(FIELD_LABELS).indexOf(key) : 99);   // the form's order
  const fields = Object.entries(item.changes || {}).sort(([a], [b]) => order(a) - order(b));
  return h("li.tc-revision", {dataset: {revision: item.revision, action: item.action}},
    h("div.small", h("strong", `Revision ${item.revision}`), ` · ${item.action} by `, h("span.who", who),
      ` · ${fmtTime(item.changed_at)}`),
    fields.length && item.action !== "created" ? h("dl.tc-changes", fields.map(([key, change]) => [
      h("dt", FIELD_LABELS[key] || key),
      h("dd", {dataset: {field: key}}, h("div.diff-before", value(change.from)), h("div.diff-after", h("span.arrow", "→"), h("div", value(change.to))))])) : null);
}

/** A field's value as text: steps as a numbered list, id lists joined, empty as "(empty)". */
function value(v) {
  if (v === null || v === undefined || v === "" || (Array.isArray(v) && !v.length)) return h("span.muted", "(empty)");
  if (Array.isArray(v) && v.every((s) => s && typeof s === "object" && "action" in s)) {
    return h("ol.steps", v.map((s) => h("li", s.action, s.expected ? ` → ${s.expected}` : "")));
  }
  if (Array.isArray(v) && v.every((s) => s && typeof s === "object" && "req_uid" in s)) return v.map((l) => l.req_uid).join(", ");
  if (Array.isArray(v) && v.every((s) => typeof s !== "object")) return v.join(", ");
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}
