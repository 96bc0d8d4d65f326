// The form of one test case, to edit it (PATCH from the revision it was opened at) or to add one (POST). A
// stale edit answers 409: the form keeps what was typed and offers Reload; 422 details are shown beside their
// fields; a live change of the case while the form is open is announced, not applied over the typing.

import {api} from "../api.js";
import {busy, h, mount, notify} from "../dom.js";

const PRIORITIES = ["high", "medium", "low"];
const TYPES = ["functional", "negative", "boundary"];
const EDITABLE = ["title", "preconditions", "steps", "expected_result", "priority", "type", "requirement_uids"];
/** Field names as people read them, in the form's order (the history lists changes in it too). */
export const FIELD_LABELS = {id: "ID", title: "Title", preconditions: "Preconditions", steps: "Steps",
  expected_result: "Expected result", priority: "Priority", type: "Type", requirement_uids: "Requirements",
  links: "Links", source: "Source", rejected_uids: "Rejected requirements"};

const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** The editable fields of a case, normalised so that two equal cases compare equal. */
function editable(tc) {
  return {title: tc.title || "", preconditions: tc.preconditions || "", expected_result: tc.expected_result || "",
    priority: tc.priority || "medium", type: tc.type || "functional",
    steps: (tc.steps || []).map((s) => ({action: s.action || "", expected: s.expected || ""})),
    requirement_uids: [...(tc.requirement_uids || [])]};
}

/** The form of one case: title, preconditions, steps (rows added and removed), expected result, priority,
 *  type and linked requirements. tcId null adds a case (POST), otherwise PATCH from `revision`. */
export function caseForm({artifactId, tcId, base, revision, onDone, reload, fetchLatest}) {
  const adding = tcId === null;
  let start = editable(base || {});   // what the form started from: only fields that differ are sent
  let baseRevision = revision;
  let saving = false;
  const errors = new Map();            // field key -> its error element
  const banner = h("div.tc-banner", {role: "alert", hidden: true});
  const formError = h("p.error.form-error", {role: "alert", hidden: true});
  const steps = h("ol.step-rows", {id: "tc-steps"});

  const fieldError = (key) => {
    const p = h("p.field-error.small", {hidden: true, dataset: {field: key}});
    errors.set(key, p);
    return p;
  };
  const field = (key, control, hint = null) => h("label", {class: `field-${key}`},
    h("span", FIELD_LABELS[key]), control, hint ? h("span.hint.small.muted", hint) : null, fieldError(key));
  const choice = (name, options) => h("select", {name}, options.map((o) => h("option", {value: o}, o)));

  const form = h("form.card.stack.tc-form", {id: "tc-form", dataset: {tc: tcId || ""}, novalidate: true,
    onsubmit: (e) => { e.preventDefault(); save(); }},
  h("h3", adding ? "Add a test case" : `Edit ${tcId}`),
  banner,
  adding ? field("id", h("input", {name: "id", maxlength: 64, placeholder: "empty: a new TC-… id", autocomplete: "off"})) : null,
  field("title", h("input", {name: "title", maxlength: 500, required: true, autocomplete: "off"})),
  field("preconditions", h("textarea", {name: "preconditions", rows: 2, maxlength: 5000})),
  h("fieldset.steps-field", h("legend", FIELD_LABELS.steps), steps,
    h("button.link", {type: "button", id: "tc-add-step", onclick: () => { addStep(); steps.lastChild.querySelector("textarea").focus(); }}, "+ Add step"),
    fieldError("steps")),
  field("expected_result", h("textarea", {name: "expected_result", rows: 2, maxlength: 5000})),
  h("div.row.tc-choices", field("priority", choice("priority", PRIORITIES)), field("type", choice("type", TYPES))),
  field("requirement_uids", h("input", {name: "requirement_uids", autocomplete: "off", placeholder: "REQ-1, REQ-2"}),
    "Requirement ids, separated by commas or spaces"),
  formError,
  h("div.buttons", h("button.primary", {type: "submit", id: "tc-save"}, adding ? "Add test case" : "Save"),
    h("button", {type: "button", id: "tc-cancel", onclick: () => onDone()}, "Cancel")));

  function addStep(step = {action: "", expected: ""}) {
    const li = h("li.step-row",
      h("label", h("span", "Action"), h("textarea", {name: "action", rows: 2, maxlength: 5000, value: step.action})),
      h("label", h("span", "Expected"), h("textarea", {name: "expected", rows: 2, maxlength: 5000, value: step.expected})),
      h("button.link.danger.remove-step", {type: "button", "aria-label": "Remove this step", onclick: () => li.remove()}, "Remove"),
      h("p.field-error.small", {hidden: true}));
    steps.append(li);
  }

  function fill(values) {
    const f = form.elements;
    for (const key of ["title", "preconditions", "expected_result", "priority", "type"]) f[key].value = values[key];
    f.requirement_uids.value = values.requirement_uids.join(", ");
    mount(steps);
    values.steps.forEach((s) => addStep(s));
  }

  function read() {
    const f = form.elements;
    const uids = f.requirement_uids.value.split(/[\s,;]+/).filter(Boolean);
    return {title: f.title.value.trim(), preconditions: f.preconditions.value, expected_result: f.expected_result.value,
      priority: f.priority.value, type: f.type.value, requirement_uids: [...new Set(uids)],
      steps: [...steps.children].map((li) => ({action: li.querySelector("textarea[name=action]").value,
        expected: li.querySelector("textarea[name=expected]").value}))
        .filter((s) => s.action.trim() || s.expected.trim())};
  }

  function clearErrors() {
    formError.hidden = true;
    for (const p of form.querySelectorAll(".field-error")) { p.hidden = true; p.textContent = ""; }
    for (const c of form.querySelectorAll("[aria-invalid]")) c.removeAttribute("aria-invalid");
  }

  /** Put each 422 detail beside its field (a step's beside its row); what has no field goes under the form. */
  function showErrors(err) {
    const loose = [];
    for (const d of err.details || []) {
      const loc = (d.loc || []).map(String).filter((p) => p !== "body");
      const [key, index] = loc;
      let target = null;
      let msg = d.msg;
      if (key === "steps" && index !== undefined && steps.children[Number(index)]) {
        if (loc[2]) msg = `${loc[2] === "expected" ? "Expected" : "Action"}: ${msg}`;
        const li = steps.children[Number(index)];
        target = li.querySelector(".field-error");
        li.querySelector(`textarea[name=${loc[2] === "expected" ? "expected" : "action"}]`)?.setAttribute("aria-invalid", "true");
      } else if (errors.has(key)) {
        target = errors.get(key);
        if (key === "requirement_uids" && index !== undefined) msg = `Requirement ${Number(index) + 1}: ${msg}`;
        form.elements[key]?.setAttribute?.("aria-invalid", "true");
      }
      if (target) {
        target.textContent = target.textContent ? `${target.textContent} ${msg}` : msg;
        target.hidden = false;
      } else loose.push(loc.length ? `${loc.join(".")}: ${msg}` : msg);
    }
    formError.textContent = !(err.details || []).length ? err.message
      : loose.length ? loose.join("; ") : "Please correct the fields marked above.";
    formError.hidden = false;
    (form.querySelector("[aria-invalid]") || formError).scrollIntoView?.({block: "nearest"});
  }

  function showBanner(text, ...buttons) {
    mount(banner, h("p", text), buttons.length ? h("div.buttons", buttons) : null);
    banner.hidden = false;
  }

  async function reloadLatest() {
    const out = await fetchLatest();
    start = editable(out.base);
    baseRevision = out.revision;
    fill(start);
    banner.hidden = true;
    clearErrors();
  }

  function changes() {
    const now = read();
    return Object.fromEntries(EDITABLE.filter((k) => !same(now[k], start[k])).map((k) => [k, now[k]]));
  }

  async function save() {
    if (saving) return;
    clearErrors();
    const submit = form.querySelector("#tc-save");
    const values = read();
    if (!values.title) {
      showErrors({message: "", details: [{loc: ["body", "title"], msg: "A title is required."}]});
      return;
    }
    saving = true;
    submit.disabled = true;
    try {
      if (adding) {
        const body = {...values};
        const id = form.elements.id.value.trim();
        if (id) body.id = id;
        const out = await api("POST", `/artifacts/${artifactId}/test-cases`, body);
        notify(`Added ${out.test_case.id}.`);
      } else {
        const body = changes();
        if (!Object.keys(body).length) { onDone(); return; }
        if (baseRevision !== null) body.base_revision = baseRevision;
        await api("PATCH", `/artifacts/${artifactId}/test-cases/${encodeURIComponent(tcId)}`, body);
        notify(`Saved ${tcId}.`);
      }
      onDone();
      reload().catch(() => {});   // the live update brings it anyway
    } catch (err) {
      failed(err);
    } finally {
      saving = false;
      submit.disabled = false;
    }
  }

  function failed(err) {
    if (err.status === 409 && adding) {
      showErrors({message: err.message, details: [{loc: ["body", "id"], msg: err.message}]});
    } else if (err.status === 409) {
      showBanner(`${err.message} What you typed is still in the form.`,
      h("button", {type: "button", id: "tc-reload", title: "Replace the form with the newest version",
        onclick: (e) => busy(e.target, reloadLatest)}, "Reload"),
      h("button", {type: "button", id: "tc-overwrite", onclick: (e) => busy(e.target, async () => {
        baseRevision = (await fetchLatest()).revision;
        banner.hidden = true;
        await save();
      })}, "Save mine anyway"));
      banner.scrollIntoView({block: "nearest"});
    } else if (err.status === 404 && !adding) {
      showBanner("This test case was deleted meanwhile. Your text is still here.",
        h("button", {type: "button", onclick: () => onDone()}, "Close"));
    } else if (err.status === 422) {
      showErrors(err);
    } else {
      formError.textContent = err.message;
      formError.hidden = false;
    }
  }

  fill(start);

  return {
    el: form,
    tcId,
    focus: () => form.elements.title.focus({preventScroll: true}),
    dirty: () => adding ? Boolean(read().title || form.elements.id.value.trim()) : Object.keys(changes()).length > 0,
    /** Someone changed (or deleted) this case while the form was open: say so, keep what was typed. */
    changedElsewhere(now) {
      if (saving) return;
      if (!now) return showBanner("This test case was deleted by someone else. Your text is still here.",
        h("button", {type: "button", onclick: () => onDone()}, "Close"));
      if (same(editable(now), start)) return;
      showBanner("This test case changed since you opened it — reload to see the newest version (your changes " +
        "here are replaced), or keep editing: saving will ask first.",
      h("button", {type: "button", id: "tc-reload", onclick: (e) => busy(e.target, reloadLatest)}, "Reload"));
    },
  };
}
