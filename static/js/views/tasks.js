// Background tasks (test-case generation, coverage): progress bars that move live, a cancel button,
// and a link to the artifact a finished task made.

import {api} from "../api.js";
import {busy, h, mount} from "../dom.js";

const KIND_LABELS = {test_generation: "Test-case generation", coverage: "Coverage analysis"};
const ACTIVE = new Set(["queued", "running"]);
const RECENT_MS = 10 * 60 * 1000;

export function taskLabel(task) { return KIND_LABELS[task.kind] || task.kind; }

/** One task as a row: label, progress bar, stage, and cancel or the result link. */
export function taskRow(task, ctx) {
  const pct = Math.round((task.progress || 0) * 100);
  const active = ACTIVE.has(task.status);
  const artifactId = task.result && task.result.artifact_id;
  return h("div.task", {dataset: {taskId: task.id, status: task.status}},
    h("span.task-label", taskLabel(task)),
    h("progress", {max: 100, value: task.status === "succeeded" ? 100 : pct, "aria-label": `${taskLabel(task)} progress`}),
    h("span.task-status", active ? `${task.stage || task.status} · ${task.status === "succeeded" ? 100 : pct}%` : task.status),
    active && ctx.canWrite() ? h("button.link", {type: "button", onclick: (e) => busy(e.target, () =>
      api("POST", `/tasks/${task.id}/cancel`))}, "Cancel") : null,
    artifactId ? h("a.open-artifact", {href: `#/p/${task.project_id}/artifacts/${artifactId}`}, "Open result") : null,
    task.status === "failed" && task.error ? h("span.error.small", task.error) : null);
}

/** The strip under the project tabs: running tasks and those that finished in the last minutes. */
export function taskStrip(ctx) {
  const el = h("div.task-strip", {id: "tasks", "aria-live": "polite"});
  return {
    el,
    render() {
      const now = Date.now();
      const shown = ctx.tasks.values()
        .filter((t) => ACTIVE.has(t.status) || now - Date.parse(t.finished_at || t.updated_at) < RECENT_MS)
        .sort((a, b) => a.created_at.localeCompare(b.created_at)).slice(-5);
      mount(el, shown.map((t) => taskRow(t, ctx)));
      el.hidden = shown.length === 0;
    },
  };
}
