// Background tasks (test-case generation, coverage): progress bars that move live, a cancel button,
// and a link to the artifact a finished task made.
//
// The strip under the project tabs stays small however many tasks a team starts: at most HEAD_RUNNING
// running tasks and the newest finished one show as compact chips; every other task sits in a collapsed
// "N more" list. A finished task can be dismissed (×, remembered per project in this browser), and
// "Dismiss finished" clears them all.

import {api} from "../api.js";
import {busy, h, mount} from "../dom.js";

const KIND_LABELS = {test_generation: "Test-case generation", coverage: "Coverage analysis"};
const ACTIVE = new Set(["queued", "running"]);
const RECENT_MS = 24 * 60 * 60 * 1000;   // finished tasks older than this leave the strip by themselves
const HEAD_RUNNING = 2;

export function taskLabel(task) { return KIND_LABELS[task.kind] || task.kind; }

/** One task as a compact row: label, progress bar, stage, cancel or the result link, and an optional dismiss. */
export function taskRow(task, ctx, {onDismiss = null} = {}) {
  const pct = task.status === "succeeded" ? 100 : Math.round((task.progress || 0) * 100);
  const active = ACTIVE.has(task.status);
  const artifactId = task.result && task.result.artifact_id;
  return h("div.task", {dataset: {taskId: task.id, status: task.status}},
    h("span.task-label", taskLabel(task)),
    h("progress", {max: 100, value: pct, "aria-label": `${taskLabel(task)} progress`}),
    h("span.task-status", active ? `${task.stage || task.status} · ${pct}%` : task.status),
    active && ctx.canWrite() ? h("button.link", {type: "button", onclick: (e) => busy(e.target, () =>
      api("POST", `/tasks/${task.id}/cancel`))}, "Cancel") : null,
    artifactId ? h("a.open-artifact", {href: `#/p/${task.project_id}/artifacts/${artifactId}`}, "Open result") : null,
    task.status === "failed" && task.error ? h("span.error.small.task-error", {title: task.error}, task.error) : null,
    onDismiss && !active ? h("button.link.dismiss", {type: "button", "aria-label": `Dismiss ${taskLabel(task)}`,
      title: "Dismiss", onclick: () => onDismiss(task.id)}, "×") : null);
}

/** The ids of tasks dismissed in this browser for one project (storage may be unavailable: then none). */
function dismissedStore(projectId) {
  const key = `chatsvc.dismissed-tasks.${projectId}`;
  let ids = new Set();
  try { ids = new Set(JSON.parse(localStorage.getItem(key) || "[]")); } catch { /* private mode */ }
  return {
    has: (id) => ids.has(id),
    add(list, known) {
      list.forEach((id) => ids.add(id));
      ids = new Set([...ids].filter((id) => known.has(id)));   // forget tasks the project no longer lists
      try { localStorage.setItem(key, JSON.stringify([...ids])); } catch { /* private mode */ }
    },
  };
}

/** Split the tasks worth showing into the chips always in view and the rest (the collapsed list). */
export function arrangeTasks(tasks, isDismissed, now = Date.now()) {
  const recent = tasks.filter((t) => ACTIVE.has(t.status)
      || (!isDismissed(t.id) && now - Date.parse(t.finished_at || t.updated_at) < RECENT_MS))
    .sort((a, b) => b.created_at.localeCompare(a.created_at));
  const running = recent.filter((t) => ACTIVE.has(t.status));
  const finished = recent.filter((t) => !ACTIVE.has(t.status));
  const head = [...running.slice(0, HEAD_RUNNING), ...finished.slice(0, 1)];
  const rest = [...running.slice(HEAD_RUNNING), ...finished.slice(1)];
  return {head, rest, finished};
}

/** The strip under the project tabs. */
export function taskStrip(ctx) {
  const el = h("div.task-strip", {id: "tasks", "aria-live": "polite"});
  const dismissed = dismissedStore(ctx.projectId);
  let open = false;   // whether the user opened the "more" list: kept across live re-renders

  function dismiss(ids) {
    dismissed.add(ids, new Set(ctx.tasks.values().map((t) => t.id)));
    render();
  }

  function render() {
    const {head, rest, finished} = arrangeTasks(ctx.tasks.values(), dismissed.has);
    const row = (t) => taskRow(t, ctx, {onDismiss: (id) => dismiss([id])});
    const runningMore = rest.filter((t) => ACTIVE.has(t.status)).length;
    const more = rest.length ? h("details.task-more", {id: "tasks-more", open,
      ontoggle: (e) => { open = e.target.open; }},
    h("summary", `${rest.length} more task${rest.length === 1 ? "" : "s"}${runningMore ? ` (${runningMore} running)` : ""}`),
    h("div.task-list", rest.map(row))) : null;
    const clear = finished.length > 1 ? h("button.link.small", {type: "button", id: "dismiss-finished",
      onclick: () => dismiss(finished.map((t) => t.id))}, "Dismiss finished") : null;
    mount(el, head.map(row), more, clear);
    el.hidden = head.length === 0;
  }

  return {el, render};
}
