// A project page: header, tabs, the task strip, and the project's resources kept live from its topic.

import {api, listAll} from "../api.js";
import {h, mount, notify, scheduler} from "../dom.js";
import {live} from "../live.js";
import {Collection} from "../store.js";
import {artifactsTab} from "./artifacts.js";
import {chatTab} from "./chat.js";
import {documentsTab} from "./documents.js";
import {filesTab} from "./files.js";
import {membersTab} from "./members.js";
import {settingsTab} from "./settings.js";
import {taskStrip} from "./tasks.js";

const TABS = [
  ["chat", "Chat"], ["documents", "Documents"], ["artifacts", "Artifacts"], ["files", "Files"],
  ["members", "Members"], ["settings", "Settings"],
];
const KINDS = {member: "members", file: "files", document_version: "documents", artifact: "artifacts",
  chat_session: "sessions", task: "tasks"};

export function projectView(container, params) {
  const projectId = params.projectId;
  const rerender = scheduler(() => ctx.refresh());
  const ctx = {
    projectId,
    project: null,
    params,
    members: new Collection(rerender), files: new Collection(rerender), documents: new Collection(rerender),
    artifacts: new Collection(rerender), sessions: new Collection(rerender), tasks: new Collection(rerender),
    canWrite: () => ["owner", "editor"].includes(ctx.project?.my_role),
    isOwner: () => ctx.project?.my_role === "owner",
    go: (tab, item) => { location.hash = `#/p/${projectId}/${tab}${item ? `/${encodeURIComponent(item)}` : ""}`; },
    refresh: () => { renderHeader(); strip.render(); tabs.get(ctx.params.tab)?.render(ctx.params.item); },
    reload,
  };
  const header = h("div.project-head");
  const nav = h("nav.tabs", {role: "tablist"});
  const menu = h("select.tab-menu", {id: "tab-menu", "aria-label": "Section", onchange: () => ctx.go(menu.value)});
  const body = h("div.tab-body");
  const strip = taskStrip(ctx);
  const tabs = new Map();
  let stopTopic = null;
  let destroyed = false;

  mount(container, h("section.page.project", header, h("div.tab-bar", nav, menu), strip.el, body));

  function renderHeader() {
    const p = ctx.project;
    if (!p) return;
    document.title = `${p.name} · chatsvc`;
    mount(header, h("h1", {id: "project-name"}, p.name), h("span.badge", {id: "my-role"}, p.my_role),
      p.description ? h("p.muted", p.description) : null);
    mount(nav, TABS.map(([key, label]) => h("a.tab", {href: `#/p/${projectId}/${key}`, role: "tab",
      "aria-selected": String(ctx.params.tab === key), class: ctx.params.tab === key ? "active" : null,
      dataset: {tab: key}}, label)));
    // Narrow screens get the same tabs as a menu (CSS shows one or the other): every tab stays reachable.
    mount(menu, TABS.map(([key, label]) => h("option", {value: key, selected: ctx.params.tab === key}, label)));
    menu.value = ctx.params.tab;
    container.querySelector(".page.project")?.setAttribute("data-tab", ctx.params.tab);
  }

  function showTab() {
    const key = TABS.some(([k]) => k === ctx.params.tab) ? ctx.params.tab : "chat";
    ctx.params.tab = key;
    if (!tabs.has(key)) {
      const make = {chat: chatTab, documents: documentsTab, artifacts: artifactsTab, files: filesTab,
        members: membersTab, settings: settingsTab}[key];
      tabs.set(key, make(ctx));
    }
    const tab = tabs.get(key);
    if (body.firstChild !== tab.el) mount(body, tab.el);
    renderHeader();
    tab.render(ctx.params.item);
  }

  async function reload() {
    const marks = Object.fromEntries(["members", "files", "documents", "artifacts", "sessions", "tasks"]
      .map((name) => [name, ctx[name].mark()]));
    const [project, members, files, documents, artifacts, sessions, tasks] = await Promise.all([
      api("GET", `/projects/${projectId}`),
      listAll(`/projects/${projectId}/members`),
      listAll(`/projects/${projectId}/files`),
      listAll(`/projects/${projectId}/document-versions`),
      listAll(`/projects/${projectId}/artifacts`),
      listAll(`/chat/sessions?project_id=${projectId}`),
      api("GET", `/tasks?project_id=${projectId}&limit=50`).then((page) => page.items),
    ]);
    if (destroyed) return;
    if (!ctx.project || project.version >= ctx.project.version) ctx.project = project;
    ctx.members.load(members, {since: marks.members});
    ctx.files.load(files, {since: marks.files});
    ctx.documents.load(documents, {since: marks.documents});
    ctx.artifacts.load(artifacts, {since: marks.artifacts});
    ctx.sessions.load(sessions, {since: marks.sessions});
    ctx.tasks.load(tasks, {since: marks.tasks});
  }

  function onEvent(frame) {
    if (frame.name === "resync") return reload().catch((err) => notify(err.message, "error"));
    if (frame.name === "unsubscribed" || frame.name === "project.deleted") {
      notify(frame.name === "project.deleted" ? "This project was deleted." : "You no longer have access to this project.");
      location.hash = "#/";
      return;
    }
    if (frame.name === "project.updated" && frame.data.resource) {
      const role = ctx.project?.my_role;
      if (!ctx.project || frame.data.version > ctx.project.version) ctx.project = {...frame.data.resource, my_role: role};
      return rerender();
    }
    if (frame.name === "task.progress") {
      const task = ctx.tasks.get(frame.data.task_id);
      if (task) {
        Object.assign(task, {progress: frame.data.progress, stage: frame.data.stage, done: frame.data.done,
          total: frame.data.total, status: task.status === "queued" ? "running" : task.status});
        rerender();
      }
      return;
    }
    if (frame.name.startsWith("task.") && frame.data.task) return ctx.tasks.upsert(frame.data.task);
    const kind = frame.name.split(".")[0];
    const collection = ctx[KINDS[kind]];
    if (!collection) return;
    if (kind === "member" && frame.name === "member.updated" && frame.data.resource?.user_id === live.userId) {
      api("GET", `/projects/${projectId}`).then((p) => { ctx.project = p; rerender(); }).catch(() => {});
    }
    if (collection.apply(frame, kind) === "fetch") reload().catch(() => {});
  }

  (async () => {
    stopTopic = await live.watch(`project:${projectId}`, onEvent);
    if (destroyed) return stopTopic();
    try {
      await reload();
      showTab();
    } catch (err) {
      mount(body, h("p.error", err.status === 404 ? "This project does not exist or you are not a member." : err.message));
    }
  })();

  return {
    update(next) {
      if (next.tab !== ctx.params.tab) container.scrollTop = 0;   // another tab opens at its top
      ctx.params = next;
      if (ctx.project) showTab();
    },
    destroy() {
      destroyed = true;
      stopTopic?.();
      for (const tab of tabs.values()) tab.destroy?.();
      strip.destroy?.();
      document.title = "chatsvc";
    },
  };
}
