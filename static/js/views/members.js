// Members: add by username, change roles, remove (owners); leave the project (anyone).

import {api} from "../api.js";
import {busy, confirmButton, h, mount, stackTable} from "../dom.js";
import {session} from "../main.js";

const ROLES = ["viewer", "editor", "owner"];

export function membersTab(ctx) {
  const list = h("tbody");
  const form = h("form.inline", {id: "add-member", onsubmit: (e) => {
    e.preventDefault();
    const username = form.elements.username.value.trim();
    if (!username) return;
    busy(form.querySelector("button"), async () => {
      const m = await api("POST", `/projects/${ctx.projectId}/members`, {username, role: form.elements.role.value});
      ctx.members.upsert(m);
      form.reset();
      form.elements.role.value = "editor";  // h() sets `selected` as a property, which reset() does not restore
    });
  }},
  h("input", {name: "username", placeholder: "Username", required: true, "aria-label": "Username", list: "user-suggestions",
    oninput: suggest}),
  h("datalist", {id: "user-suggestions"}),
  h("select", {name: "role", "aria-label": "Role"}, ROLES.map((r) => h("option", {value: r, selected: r === "editor"}, r))),
  h("button.primary", {type: "submit"}, "Add member"));
  let suggestTimer = null;

  function suggest(e) {
    clearTimeout(suggestTimer);
    const q = e.target.value.trim();
    if (q.length < 2) return;
    suggestTimer = setTimeout(async () => {
      try {
        const page = await api("GET", `/users?q=${encodeURIComponent(q)}&limit=10`);
        mount(form.querySelector("datalist"), page.items.map((u) => h("option", {value: u.username}, u.full_name || u.username)));
      } catch { /* suggestions are optional */ }
    }, 200);
  }

  const table = h("table", {id: "members"}, h("thead", h("tr", ["User", "Role", ""].map((c) => h("th", c)))), list);
  const el = h("div.members", h("h2", "Members"), form,
    h("div.table-wrap", table));

  // Rows are rebuilt only when their member changed: any project event re-renders the tab, and a fresh row
  // would drop a pending "Click again to confirm" (or close an open role menu).
  let rows = new Map();  // user id -> {key, el}

  return {
    el,
    render() {
      const owner = ctx.isOwner();
      form.hidden = !owner;
      const members = ctx.members.values().sort((a, b) => a.username.localeCompare(b.username));
      rows = new Map(members.map((m) => {
        const key = JSON.stringify([m, owner, session.user.id]);
        const held = rows.get(m.user_id);
        return [m.user_id, held && held.key === key ? held : {key, el: memberRow(m, owner)}];
      }));
      mount(list, [...rows.values()].map((r) => r.el));
      stackTable(table);
    },
  };

  function memberRow(m, owner) {
    const self = m.user_id === session.user.id;
    const role = owner ? h("select", {"aria-label": `Role of ${m.username}`, onchange: (e) => busy(e.target, async () => {
      try {
        ctx.members.upsert(await api("PATCH", `/projects/${ctx.projectId}/members/${m.user_id}`, {role: e.target.value}));
      } catch (err) {
        e.target.value = m.role;
        throw err;
      }
    })}, ROLES.map((r) => h("option", {value: r, selected: r === m.role}, r))) : h("span.badge", m.role);
    const remove = owner || self ? confirmButton(self ? "Leave" : "Remove", async () => {
      await api("DELETE", `/projects/${ctx.projectId}/members/${m.user_id}`);
      if (self) location.hash = "#/";
    }, {className: "link danger"}) : null;
    return h("tr", {dataset: {userId: m.user_id}}, h("td", h("strong", m.username), m.full_name ? h("span.muted", ` ${m.full_name}`) : null,
      self ? h("span.muted.small", " (you)") : null), h("td", role), h("td", remove));
  }
}
