// Artifacts: test cases as a readable table (steps, linked requirements) and coverage reports with the
// percentage, a per-requirement matrix and the uncovered and stale items highlighted.

import {api} from "../api.js";
import {confirmButton, fmtTime, h, mount} from "../dom.js";

const TYPE_LABELS = {test_cases: "Test cases", coverage_report: "Coverage report", note: "Note"};

export function artifactsTab(ctx) {
  const filter = h("select", {id: "artifact-type", "aria-label": "Type", onchange: () => renderList(shownId)},
    h("option", {value: ""}, "All types"), Object.entries(TYPE_LABELS).map(([v, l]) => h("option", {value: v}, l)));
  const list = h("ul.artifacts", {id: "artifact-list"});
  const pane = h("div.artifact-pane");
  const el = h("div.split", h("aside.sidebar", filter, list), pane);
  const details = new Map();  // id -> full artifact (content included)
  let shownId = null;
  let shownVersion = null;

  function renderList(activeId) {
    const type = filter.value;
    const items = ctx.artifacts.values().filter((a) => !type || a.type === type)
      .sort((a, b) => b.created_at.localeCompare(a.created_at));
    mount(list, items.length ? items.map((a) => h("li", {class: a.id === activeId ? "active" : null},
      h("a", {href: `#/p/${ctx.projectId}/artifacts/${a.id}`, dataset: {id: a.id}}, a.name),
      h("span.badge", TYPE_LABELS[a.type] || a.type), h("span.muted.small", fmtTime(a.created_at)))) : h("li.muted", "No artifacts yet."));
    return items;
  }

  async function renderArtifact(summary) {
    let a = details.get(summary.id);
    if (!a || a.version !== summary.version || a.content === undefined) {
      a = await api("GET", `/artifacts/${summary.id}`);
      details.set(a.id, a);
    }
    if (shownId !== a.id) return;
    const doc = a.document_version_id ? ctx.documents.get(a.document_version_id) : null;
    mount(pane, h("div.artifact", {dataset: {id: a.id, type: a.type}},
      h("div.doc-head", h("h2", {id: "artifact-name"}, a.name), h("span.badge", TYPE_LABELS[a.type] || a.type),
        h("p.muted.small", `Created ${fmtTime(a.created_at)}`, doc ? ` · for v${doc.number} · ${doc.title}` : ""),
        ctx.canWrite() ? h("div.actions", confirmButton("Delete", async () => {
          await api("DELETE", `/artifacts/${a.id}`);
          ctx.go("artifacts");
        }, {className: "link danger"})) : null),
      a.type === "test_cases" ? testCasesView(a.content)
        : a.type === "coverage_report" ? coverageView(a.content)
          : h("pre.json", typeof a.content === "string" ? a.content : JSON.stringify(a.content, null, 2))));
  }

  return {
    el,
    render(item) {
      const items = renderList(item);
      const a = (item && ctx.artifacts.get(item)) || null;
      if (!a) {
        shownId = null;
        return mount(pane, h("p.empty.muted", items.length ? "Choose an artifact on the left."
          : "Generated test cases and coverage reports appear here. Start them from the Documents tab or ask in the chat."));
      }
      if (shownId === a.id && shownVersion === a.version) return;
      shownId = a.id;
      shownVersion = a.version;
      renderArtifact(a).catch((err) => mount(pane, h("p.error", err.message)));
    },
  };
}

export function testCasesView(content) {
  const cases = (content && content.test_cases) || [];
  return h("div.table-wrap", h("table.test-cases", {id: "test-cases"},
    h("caption", `${cases.length} test case${cases.length === 1 ? "" : "s"}`),
    h("thead", h("tr", ["ID", "Title", "Type", "Priority", "Requirements", "Steps", "Expected result"].map((c) => h("th", c)))),
    h("tbody", cases.map((tc) => h("tr", {dataset: {id: tc.id}},
      h("td", h("code", tc.id)),
      h("td", h("strong", tc.title), tc.preconditions ? h("div.small.muted", `Given: ${tc.preconditions}`) : null),
      h("td", tc.type), h("td", h(`span.prio.${tc.priority}`, tc.priority)),
      h("td", (tc.requirement_uids || []).map((u) => h("code.req", u))),
      h("td", h("ol.steps", (tc.steps || []).map((s) => h("li", s.action, s.expected ? h("div.small.muted", `→ ${s.expected}`) : null)))),
      h("td.small", tc.expected_result))))));
}

const pct = (value) => `${Number(value || 0).toFixed(1)}%`;  // one decimal, as the report rounds

export function coverageView(report) {
  const s = report.summary || {};
  const stat = (label, value, cls = "") => h(`div.stat${cls ? `.${cls}` : ""}`, h("span.value", String(value)), h("span.label", label));
  return h("div.coverage",
    h("div.stats",
      h("div.stat.big", {id: "coverage-pct"}, h("span.value", pct(s.coverage_pct)), h("span.label", "covered (explicit links)")),
      stat("with inferred links", pct(s.coverage_pct_with_inferred)),
      stat("requirements", s.requirements_total), stat("covered", s.covered), stat("inferred", s.inferred),
      stat("stale", s.stale, s.stale ? "warn" : ""), stat("uncovered", s.uncovered, s.uncovered ? "bad" : ""),
      stat("tests", s.tests_total), stat("orphan tests", s.orphan_count, s.orphan_count ? "warn" : "")),
    report.by_priority ? h("p.small", Object.entries(report.by_priority).map(([p, v]) =>
      h("span.prio-cov", h(`span.prio.${p}`, p), ` ${v.covered}/${v.total} (${pct(v.pct)})  `))) : null,
    h("div.table-wrap", h("table.matrix", {id: "coverage-matrix"},
      h("thead", h("tr", ["Requirement", "Priority", "Status", "Tests"].map((c) => h("th", c)))),
      h("tbody", (report.rows || []).map((r) => h(`tr.status-${r.status}`, {dataset: {uid: r.req_uid, status: r.status}},
        h("td", h("code", r.req_uid), " ", r.title), h("td", h(`span.prio.${r.priority}`, r.priority)),
        h("td", h(`span.cov.${r.status}`, r.status)),
        h("td", r.tests.map((t) => h("code.req", {title: t.score ? `score ${t.score}` : t.origin, class: t.origin}, t.tc_id)))))))),
    report.orphan_tests?.length ? h("p.small", h("strong", "Orphan tests: "), report.orphan_tests.map((t) => h("code.req", t))) : null,
    report.dangling_refs?.length ? h("p.small", h("strong", "Dangling references: "),
      report.dangling_refs.map((d) => h("code.req", `${d.tc_id} → ${d.ref}`))) : null);
}
