// The project list: the caller's projects with their role; create one. Live: joining, leaving or a
// deleted project (user topic) and renames (each listed project's topic) update the list.

import {api, listAll} from "../api.js";
import {busy, fmtTime, h, mount, scheduler} from "../dom.js";
import {live} from "../live.js";
import {onUserEvent} from "../main.js";
import {Collection} from "../store.js";

const MAX_WATCHED = 50;  // live renames for the first 50 projects; the server allows 100 topics per socket

export function projectsView(container) {
  const list = h("ul.cards", {id: "project-list"});
  const projects = new Collection(scheduler(render));
  const watched = new Map();  // project id -> unwatch
  let destroyed = false;

  async function reload() {
    const since = projects.mark();
    projects.load(await listAll("/projects"), {since});
    syncWatches();
  }

  function syncWatches() {
    for (const p of projects.values()) {
      if (watched.has(p.id) || watched.size >= MAX_WATCHED) continue;
      watched.set(p.id, null);
      live.watch(`project:${p.id}`, (frame) => {
        if (frame.name === "project.updated" && frame.data.resource) {
          projects.upsert({...frame.data.resource, my_role: projects.get(p.id)?.my_role});
        } else if (frame.name === "project.deleted" || frame.name === "unsubscribed") {
          projects.remove(p.id);
        }
      }).then((stop) => { if (destroyed || !projects.get(p.id)) stop(); else watched.set(p.id, stop); });
    }
    for (const [id, stop] of watched) {
      if (!projects.get(id)) { stop?.(); watched.delete(id); }
    }
  }

  const stopUser = onUserEvent((frame) => {
    if (frame.name.startsWith("project.") || frame.name.startsWith("member.")) reload().catch(() => {});
  });

  function render() {
    const items = projects.values().sort((a, b) => a.name.localeCompare(b.name));
    mount(list, items.length ? items.map((p) => h("li.card.project", {dataset: {id: p.id}},
      h("a.title", {href: `#/p/${p.id}`}, p.name),
      h("span.badge", p.my_role || ""),
      p.description ? h("p.muted", p.description) : null,
      h("p.small.muted", `Updated ${fmtTime(p.updated_at)}`))) : h("li.empty", "No projects yet. Create the first one above."));
  }

  const form = h("form.inline", {id: "new-project", onsubmit: (e) => {
    e.preventDefault();
    const name = form.elements.name.value.trim();
    if (!name) return;
    busy(form.querySelector("button"), async () => {
      const p = await api("POST", "/projects", {name, description: form.elements.description.value.trim()});
      projects.upsert(p);
      syncWatches();
      location.hash = `#/p/${p.id}/documents`;
    });
  }},
  h("input", {name: "name", placeholder: "New project name", required: true, maxlength: 200, "aria-label": "Project name"}),
  h("input", {name: "description", placeholder: "Description (optional)", maxlength: 2000, "aria-label": "Description"}),
  h("button.primary", {type: "submit"}, "Create project"));

  mount(container, h("section.page", h("h1", "Projects"), form, list));
  reload().catch((err) => mount(list, h("li.error", err.message)));

  return {destroy() {
    destroyed = true;
    stopUser();
    for (const stop of watched.values()) stop?.();
  }};
}
