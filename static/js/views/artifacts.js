// Artifacts: a list filtered by name and type; test cases as a readable table that editors change case by case
// (test_case_panel.js) and coverage reports with the percentage, a per-requirement matrix whose test ids link to
// the test case, and the uncovered, stale, suspect and orphan items highlighted. Test suites are imported from a
// file read in the browser (TestRail, Xray or Zephyr CSV, Gherkin) and exported as downloads.

import {api} from "../api.js";
import {busy, confirmButton, fmtTime, h, mount, readText, stackTable} from "../dom.js";
import {testCasesPanel} from "./test_case_panel.js";

const TYPE_LABELS = {test_cases: "Test cases", coverage_report: "Coverage report", test_run: "Test run", note: "Note"};
const EXPORTS = {test_cases: [["testrail", "TestRail CSV"], ["xray", "Xray CSV"], ["zephyr", "Zephyr CSV"], ["gherkin", "Gherkin"]],
  coverage_report: [["csv", "CSV"], ["markdown", "Markdown"], ["html", "HTML"]]};
const IMPORT_FORMATS = [["", "Detect from the file"], ["testrail", "TestRail CSV"], ["xray", "Xray CSV"],
  ["zephyr", "Zephyr Scale CSV"], ["gherkin", "Gherkin (.feature)"]];
const INDEXED_ARTIFACTS = 50;   // the newest test_cases artifacts searched for a test id

/** Map test case ids to the newest test_cases artifact holding them (contents fetched once per artifact version). */
export async function testCaseIndex(ctx) {
  ctx.testCaseIds ??= new Map();   // artifact id -> {version, ids}
  const held = ctx.testCaseIds;
  const suites = ctx.artifacts.values().filter((a) => a.type === "test_cases")
    .sort((a, b) => b.created_at.localeCompare(a.created_at)).slice(0, INDEXED_ARTIFACTS);
  await Promise.all(suites.filter((a) => held.get(a.id)?.version !== a.version).map(async (a) => {
    const full = await api("GET", `/artifacts/${a.id}`);
    held.set(a.id, {version: full.version, ids: ((full.content && full.content.test_cases) || []).map((tc) => String(tc.id))});
  }));
  const index = new Map();
  for (const a of suites.reverse()) for (const id of held.get(a.id)?.ids || []) index.set(id, a.id);  // newest wins
  return index;
}

/** A test id as a link to its test case (plain code when no suite holds it). */
export function testCaseLink(ctx, index, tcId, attrs = {}) {
  const artifactId = index.get(tcId);
  const code = h("code.req", attrs, tcId);
  if (!artifactId) return code;
  return h("a.tc-link", {href: `#/p/${ctx.projectId}/artifacts/${artifactId}/${encodeURIComponent(tcId)}`,
    dataset: {tc: tcId}}, code);
}

function exportLinks(a) {
  const formats = EXPORTS[a.type];
  if (!formats) return null;
  return h("div.export", {id: "export"}, h("span.muted", "Download:"), formats.map(([format, label]) =>
    h("a", {href: `/api/v1/artifacts/${a.id}/export?format=${format}`, download: "", dataset: {format}}, label)));
}

function importSummary(summary, artifact, ctx) {
  return h("div.card.import-summary", {id: "import-summary"},
    h("h3", `Imported ${summary.imported} of ${summary.found} test case${summary.found === 1 ? "" : "s"}`),
    h("p.small", `Format: ${summary.format}${summary.detected ? " (detected)" : ""}`,
      summary.filename ? ` · file ${summary.filename}` : "", ` · skipped ${summary.skipped_count}`,
      summary.warning_count ? ` · ${summary.warning_count} warning${summary.warning_count === 1 ? "" : "s"}` : ""),
    summary.skipped.length ? h("div", h("strong.small", "Skipped"), h("ul.summary-list", {id: "import-skipped"}, summary.skipped.map((x) =>
      h("li.small", `${x.where}${x.source_id ? ` (${x.source_id})` : ""}: ${x.reason}`)))) : null,
    summary.warnings.length ? h("div", h("strong.small", "Warnings"), h("ul.summary-list", summary.warnings.map((w) =>
      h("li.small", `${w.where}: ${w.message}`)))) : null,
    h("p", h("a", {href: `#/p/${ctx.projectId}/artifacts/${artifact.id}`, id: "open-import"}, `Open “${artifact.name}”`)));
}

/** The import form: a file picked and read here, its text sent as `content`; the answer's summary shown. */
function importForm(ctx) {
  const result = h("div", {id: "import-result"});
  const form = h("form.card.stack", {id: "import-form", onsubmit: (e) => {
    e.preventDefault();
    busy(form.querySelector("button[type=submit]"), async () => {
      const file = form.elements.suite.files[0];
      if (!file) throw new Error("Choose a CSV or .feature file first.");
      const body = {content: await readText(file), filename: file.name};
      if (form.elements.format.value) body.format = form.elements.format.value;
      if (form.elements.name.value.trim()) body.name = form.elements.name.value.trim();
      const out = await api("POST", `/projects/${ctx.projectId}/artifacts/import`, body);
      const {import_summary: summary, ...artifact} = out;
      ctx.artifacts.upsert(artifact);
      mount(result, importSummary(summary, artifact, ctx));
      form.reset();
    });
  }},
  h("h2", "Import test cases"),
  h("p.muted.small", "A TestRail, Xray or Zephyr Scale CSV export, or a Gherkin .feature file. It becomes a new test-case artifact."),
  h("label", h("span", "File"), h("input", {type: "file", name: "suite", accept: ".csv,.feature,.txt,text/csv,text/plain"})),
  h("label", h("span", "Format"), h("select", {name: "format"}, IMPORT_FORMATS.map(([v, l]) => h("option", {value: v}, l)))),
  h("label", h("span", "Name (optional)"), h("input", {name: "name", maxlength: 300, placeholder: "defaults to the file name"})),
  h("button.primary", {type: "submit"}, "Import"));
  return h("div.import", form, result, junitForm(ctx));
}

/** Record a test run from a JUnit XML report: coverage then counts requirements with a passing test. */
function junitForm(ctx) {
  const result = h("div", {id: "junit-result"});
  const form = h("form.card.stack", {id: "junit-form", onsubmit: (e) => {
    e.preventDefault();
    busy(form.querySelector("button[type=submit]"), async () => {
      const file = form.elements.report.files[0];
      if (!file) throw new Error("Choose a JUnit XML report first.");
      const body = {content: await readText(file), name: form.elements.name.value.trim() || file.name};
      const {import_summary: summary, ...artifact} = await api("POST", `/projects/${ctx.projectId}/test-runs/import`, body);
      ctx.artifacts.upsert(artifact);
      mount(result, h("div.card", h("p", `Recorded ${summary.results} results: ${summary.passed} passed, ${summary.failed} failed, ` +
        `${summary.skipped} skipped.`),
        summary.unmatched_count ? h("div", h("strong.small", `${summary.unmatched_count} testcases matched no test case`),
          h("ul.summary-list", summary.unmatched.map((u) => h("li.small", `${u.testcase}: ${u.reason}`)))) : null,
        h("p.small.muted", "Run the coverage analysis again to see the requirements with a passing test.")));
      form.reset();
    });
  }},
  h("h2", "Record a test run"),
  h("p.muted.small", "A JUnit XML report: each testcase is matched to a test case by its id (e.g. TC-…) or title."),
  h("label", h("span", "Report"), h("input", {type: "file", name: "report", accept: ".xml,text/xml,application/xml"})),
  h("label", h("span", "Name (optional)"), h("input", {name: "name", maxlength: 300, placeholder: "defaults to the file name"})),
  h("button.primary", {type: "submit"}, "Record run"));
  return h("div.junit", form, result);
}

export function artifactsTab(ctx) {
  const filter = h("select", {id: "artifact-type", "aria-label": "Type", onchange: () => renderList(shownId)},
    h("option", {value: ""}, "All types"), Object.entries(TYPE_LABELS).map(([v, l]) => h("option", {value: v}, l)));
  const nameFilter = h("input.list-search", {type: "search", id: "artifact-search", placeholder: "Filter by name",
    "aria-label": "Filter artifacts by name", oninput: () => renderList(shownId)});
  const count = h("span.small.muted.list-count", {id: "artifact-count", "aria-live": "polite"});
  const list = h("ul.artifacts", {id: "artifact-list"});
  const pane = h("div.artifact-pane");
  const importButton = h("button", {type: "button", id: "import-cases", onclick: () => ctx.go("artifacts", "import")}, "Import test cases");
  const el = h("div.split", h("aside.sidebar", importButton, h("div.list-filters", nameFilter, filter), count, list), pane);
  let importView = null;
  const details = new Map();  // id -> full artifact (content included)
  let shownId = null;
  let shownVersion = null;
  let shown = null;           // the mounted artifact: {id, head, panel (test_cases only)}

  function renderList(activeId) {
    const type = filter.value;
    const words = nameFilter.value.toLowerCase().split(/\s+/).filter(Boolean);
    const all = ctx.artifacts.values();
    const items = all.filter((a) => (!type || a.type === type)
      && words.every((w) => `${a.name} ${TYPE_LABELS[a.type] || a.type}`.toLowerCase().includes(w)))
      .sort((a, b) => b.created_at.localeCompare(a.created_at));
    count.textContent = type || words.length ? `${items.length} of ${all.length}` : "";
    mount(list, items.length ? items.map((a) => h("li", {class: a.id === activeId ? "active" : null},
      h("a", {href: `#/p/${ctx.projectId}/artifacts/${a.id}`, dataset: {id: a.id}}, a.name),
      h("span.badge", TYPE_LABELS[a.type] || a.type), h("span.muted.small", fmtTime(a.created_at))))
      : h("li.muted", all.length ? "No artifact matches the filter." : "No artifacts yet."));
    return all;
  }

  /** The full artifact at (at least) the summary's version; a newer one already held is kept. */
  async function fetchFull(summary) {
    const held = details.get(summary.id);
    if (held && held.version >= summary.version && held.content !== undefined) return held;
    const a = await api("GET", `/artifacts/${summary.id}`);
    if (!details.get(a.id) || details.get(a.id).version <= a.version) details.set(a.id, a);
    return details.get(a.id);
  }

  /** After an edit in the panel: refetch, so the table shows it before the live event arrives. */
  async function reloadShown(id) {
    const a = await api("GET", `/artifacts/${id}`);
    if ((details.get(a.id)?.version ?? 0) > a.version) return;   // a live update brought a newer one already
    details.set(a.id, a);
    const here = shown?.id === a.id && shown.panel;
    if (here) shownVersion = a.version;
    ctx.artifacts.upsert(a);   // the same version comes back by event: nothing is fetched twice
    if (here) {
      mount(shown.head, ...headOf(a));
      shown.panel.update(a);
    }
  }

  function headOf(a) {
    const doc = a.document_version_id ? ctx.documents.get(a.document_version_id) : null;
    return [h("h2", {id: "artifact-name"}, a.name), h("span.badge", TYPE_LABELS[a.type] || a.type),
      h("p.muted.small", `Created ${fmtTime(a.created_at)}`, doc ? ` · for v${doc.number} · ${doc.title}` : ""),
      h("div.actions", exportLinks(a), ctx.canWrite() ? confirmButton("Delete", async () => {
        await api("DELETE", `/artifacts/${a.id}`);
        ctx.go("artifacts");
      }, {className: "link danger"}) : null)];
  }

  /** Mount the artifact, or (a test-case artifact already shown) refresh it in place: an open form survives.
   *  Answers whether it was mounted anew. */
  async function renderArtifact(summary) {
    const a = await fetchFull(summary);
    if (a.type === "coverage_report") await testCaseIndex(ctx);   // before the check below: it may take a moment
    if (shownId !== a.id) return false;
    if (shown?.id === a.id && shown.panel) {
      mount(shown.head, ...headOf(a));
      shown.panel.update(a);
      return false;
    }
    const head = h("div.doc-head", ...headOf(a));
    const panel = a.type === "test_cases" ? testCasesPanel(ctx, a, () => reloadShown(a.id)) : null;
    shown = {id: a.id, head, panel};
    mount(pane, h("div.artifact", {dataset: {id: a.id, type: a.type}}, head,
      panel ? panel.el
        : a.type === "coverage_report" ? coverageView(a.content, ctx, await testCaseIndex(ctx))
          : a.type === "test_run" ? testRunView(a.content, ctx, await testCaseIndex(ctx))
          : h("pre.json", typeof a.content === "string" ? a.content : JSON.stringify(a.content, null, 2))));
    return true;
  }

  return {
    el,
    render(item) {
      const items = renderList(item);
      importButton.hidden = !ctx.canWrite();
      if (item === "import" && ctx.canWrite()) {
        shownId = null;
        shown = null;
        importView ??= importForm(ctx);
        if (pane.firstChild !== importView) mount(pane, importView);
        return;
      }
      const a = (item && ctx.artifacts.get(item)) || null;
      if (!a) {
        shownId = null;
        shown = null;
        return mount(pane, h("p.empty.muted", items.length ? "Choose an artifact on the left."
          : "Generated test cases and coverage reports appear here. Start them from the Documents tab or ask in the chat."));
      }
      if (shownId === a.id && shownVersion === a.version) {
        shown?.panel?.update(details.get(a.id) || a);   // a role change shows or hides the edit controls
        return target(ctx.params.sub);
      }
      if (shownId !== a.id) shown = null;
      shownId = a.id;
      shownVersion = a.version;
      renderArtifact(a).then((mounted) => { if (mounted) target(ctx.params.sub); })
        .catch((err) => { shown = null; mount(pane, h("p.error", err.message)); });
    },
  };
}

/** Scroll to the test case a link named (…/artifacts/<id>/<test id>) and mark its row. */
function target(tcId) {
  for (const row of document.querySelectorAll("#test-cases tr.target")) row.classList.remove("target");
  if (!tcId) return;
  const row = [...document.querySelectorAll("#test-cases tbody tr")].find((r) => r.dataset.id === tcId);
  if (!row) return;
  row.classList.add("target");
  row.scrollIntoView({block: "center"});
}

/** A test run: one row per test case with its result. */
function testRunView(run, ctx, index) {
  const results = run.results || [];
  const count = (status) => results.filter((r) => r.status === status).length;
  return h("div.test-run",
    h("p", `${results.length} results: ${count("passed")} passed, ${count("failed")} failed, ${count("blocked")} blocked, ` +
      `${count("skipped")} skipped.`),
    h("div.table-wrap", stackTable(h("table", {id: "test-run-results"},
      h("thead", h("tr", ["Test case", "Result", "Note"].map((c) => h("th", c)))),
      h("tbody", results.map((r) => h("tr", h("td", testCaseLink(ctx, index, r.tc_id)),
        h("td", h(`span.result-${r.status}`, r.status)), h("td.small", r.note || ""))))))));
}

const pct = (value) => `${Number(value || 0).toFixed(1)}%`;  // one decimal, as the report rounds

export function coverageView(report, ctx = null, index = new Map()) {
  const tc = (id, attrs = {}) => (ctx ? testCaseLink(ctx, index, id, attrs) : h("code.req", attrs, id));
  const s = report.summary || {};
  const stat = (label, value, cls = "") => h(`div.stat${cls ? `.${cls}` : ""}`, h("span.value", String(value)), h("span.label", label));
  return h("div.coverage",
    h("div.stats",
      h("div.stat.big", {id: "coverage-pct"}, h("span.value", pct(s.coverage_pct)), h("span.label", "covered (explicit links)")),
      h("div.stat.big", {id: "verified-pct", title: "an explicit, current test of the requirement passed in the latest test runs"},
        h("span.value", pct(s.coverage_pct_verified)), h("span.label", "with a passing test")),
      stat("with inferred links", pct(s.coverage_pct_with_inferred)),
      stat("requirements", s.requirements_total), stat("covered", s.covered), stat("inferred", s.inferred),
      stat("stale", s.stale, s.stale ? "warn" : ""), stat("uncovered", s.uncovered, s.uncovered ? "bad" : ""),
      stat("tests", s.tests_total), stat("orphan tests", s.orphan_count, s.orphan_count ? "warn" : ""),
      report.suspect_tests ? stat("suspect tests", report.suspect_tests.length, report.suspect_tests.length ? "warn" : "") : null),
    report.by_priority ? h("p.small", Object.entries(report.by_priority).map(([p, v]) =>
      h("span.prio-cov", h(`span.prio.${p}`, p), ` ${v.covered}/${v.total} (${pct(v.pct)})  `))) : null,
    h("div.table-wrap", stackTable(h("table.matrix", {id: "coverage-matrix"},
      h("thead", h("tr", ["Requirement", "Priority", "Status", "Tests"].map((c) => h("th", c)))),
      h("tbody", (report.rows || []).map((r) => h(`tr.status-${r.status}`, {dataset: {uid: r.req_uid, status: r.status}},
        h("td", h("code", r.req_uid), " ", r.title), h("td", h(`span.prio.${r.priority}`, r.priority)),
        h("td", h(`span.cov.${r.status}`, r.status), r.verified ? h("span.badge.verified", " passed") : null),
        h("td", r.tests.map((t) => [tc(t.tc_id, {title: t.score ? `score ${t.score}` : t.origin, class: t.origin}),
          t.result ? h(`span.small.result-${t.result}`, ` ${t.result} `) : null])))))))),
    report.suspect_tests?.length ? h("p.small", {id: "suspect-tests"}, h("strong", "Suspect tests (their requirement changed: review them): "),
      report.suspect_tests.map((t) => tc(t, {class: "stale"}))) : null,
    report.orphan_tests?.length ? h("p.small", {id: "orphan-tests"}, h("strong", "Orphan tests: "), report.orphan_tests.map((t) => tc(t))) : null,
    report.dangling_refs?.length ? h("p.small", h("strong", "Dangling references: "),
      report.dangling_refs.map((d) => h("code.req", `${d.tc_id} → ${d.ref}`))) : null);
}
