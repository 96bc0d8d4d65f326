// Project settings: rename and describe (owners), delete the project (owners).

import {api} from "../api.js";
import {busy, confirmButton, h, mount} from "../dom.js";

export function settingsTab(ctx) {
  const el = h("div.settings");
  let renderedVersion = null;

  return {
    el,
    render() {
      const p = ctx.project;
      if (renderedVersion === p.version) return;
      renderedVersion = p.version;
      if (!ctx.isOwner()) return mount(el, h("p.muted", "Only owners can change the project's settings."));
      const form = h("form.card.stack", {id: "project-settings", onsubmit: (e) => {
        e.preventDefault();
        busy(form.querySelector("button"), async () => {
          const updated = await api("PATCH", `/projects/${ctx.projectId}`,
            {name: form.elements.name.value.trim(), description: form.elements.description.value});
          ctx.project = {...updated, my_role: p.my_role};
          renderedVersion = null;
          ctx.refresh();
        });
      }},
      h("h2", "Project settings"),
      h("label", h("span", "Name"), h("input", {name: "name", value: p.name, required: true, maxlength: 200})),
      h("label", h("span", "Description"), h("textarea", {name: "description", rows: 3, maxlength: 2000}, p.description || "")),
      h("button.primary", {type: "submit"}, "Save"));
      mount(el, form, h("div.card.danger-zone", h("h3", "Delete this project"),
        h("p.muted", "Deletes its documents, artifacts, files, chats and tasks for everyone."),
        confirmButton("Delete project", async () => {
          await api("DELETE", `/projects/${ctx.projectId}`);
          location.hash = "#/";
        })));
    },
  };
}
