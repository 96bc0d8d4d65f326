// Chat: a session list and a conversation whose replies stream live over the websocket, with stop,
// edit and regenerate, delete, compact tool calls and the progress of tasks the agent started.
// Messages sit by who wrote them (author_id): yours on the right, a teammate's on the left under their name.
// Stop is shown to whoever may post in the chat (the server's rule for POST /chat/sessions/{id}/cancel), and
// a stopped reply says who stopped it (the message's cancelled_by, stored with it).

import {api} from "../api.js";
import {busy, codePoints, confirmButton, fmtTime, h, listFilter, mount, notify, scheduler} from "../dom.js";
import {live} from "../live.js";
import {renderMarkdown, withoutDanglingMarker} from "../markdown.js";
import {session} from "../main.js";
import {Collection} from "../store.js";
import {taskRow} from "./tasks.js";

const STATUS_TEXT = {cancelled: "Stopped", failed: "Failed", interrupted: "Interrupted (the server restarted)"};

function byTime(a, b) {
  return a.created_at === b.created_at ? a.id.localeCompare(b.id) : a.created_at.localeCompare(b.created_at);
}

function summarise(value) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
}

/** A conversation bound to one chat session. ctx is the project context (tasks, permissions) or null. */
export function chatPanel({sessionId, ctx, onDeleted}) {
  const messages = new Collection(null);
  const tools = new Map();      // message id -> [{name, args, result}]
  const stoppedBy = new Map();  // reply id -> who stopped it (a user id; null: the server), from run.cancelled
  let chat = null;
  let hasMore = false;
  let stopTopic = null;
  let destroyed = false;
  let editing = null;           // message id being edited

  const title = h("h2.chat-title");
  const headActions = h("div.actions");
  const log = h("div.messages", {id: "messages", role: "log", "aria-live": "polite"});
  const input = h("textarea", {id: "composer", rows: 3, placeholder: "Ask about the requirements, or say “generate test cases” — Enter sends, Shift+Enter adds a line, Esc stops",
    "aria-label": "Message", maxlength: 100000});
  const sendButton = h("button.primary", {type: "submit", id: "send"}, "Send");
  const stopButton = h("button.danger", {type: "button", id: "stop", hidden: true, onclick: () => stop()}, "Stop");
  const form = h("form.composer", {onsubmit: (e) => { e.preventDefault(); send(); }}, input, h("div.buttons", stopButton, sendButton));
  const el = h("div.chat-panel", {dataset: {sessionId}}, h("div.chat-head", title, headActions), log, form);
  const render = scheduler(renderLog);

  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
    if (e.key === "Escape" && streaming()) { e.preventDefault(); stop(); }
  });
  el.addEventListener("keydown", (e) => { if (e.key === "Escape" && streaming() && e.target !== input) stop(); });

  const streaming = () => messages.values().some((m) => m.status === "streaming");
  const canWrite = () => !ctx || ctx.canWrite();

  async function loadMessages(before = null) {
    const since = messages.mark();
    const page = await api("GET", `/chat/sessions/${sessionId}/messages?limit=100${before ? `&before=${before}` : ""}`);
    if (before) page.items.forEach((m) => messages.upsert(m, false));
    else messages.load(page.items, {replace: true, since});
    if (!before || !page.has_more) hasMore = page.has_more;
    render();
  }

  function onEvent(frame) {
    const d = frame.data || {};
    switch (frame.name) {
      case "resync": return loadMessages().catch(() => {});
      case "unsubscribed": case "chat_session.deleted":
        notify("This chat was deleted.");
        return onDeleted?.();
      case "chat_session.updated":
        if (d.resource) { chat = d.resource; renderHead(); }
        return;
      case "message.delta": return applyDelta(d);
      case "tool.call":
        (tools.get(d.message_id) || tools.set(d.message_id, []).get(d.message_id)).push({name: d.name, args: d.args});
        return render();
      case "tool.result": {
        const list = tools.get(d.message_id) || [];
        const call = [...list].reverse().find((t) => t.name === d.name && t.result === undefined);
        if (call) call.result = d.result; else list.push({name: d.name, result: d.result});
        tools.set(d.message_id, list);
        return render();
      }
      case "message.completed": case "run.cancelled": case "run.failed":
        if (frame.name === "run.cancelled" && d.message && "cancelled_by" in d) stoppedBy.set(d.message.id, d.cancelled_by);
        if (d.message) messages.upsert(d.message, false);
        return render();
      default:
        if (frame.name.startsWith("message.") && messages.apply(frame, "message") === "fetch") loadMessages().catch(() => {});
        render();
    }
  }

  function applyDelta(d) {
    const m = messages.get(d.message_id);
    if (!m) return loadMessages().catch(() => {});
    const held = codePoints(m.content);
    if (d.snapshot || d.offset === 0 && held === 0) m.content = d.text;
    else if (d.offset === held) m.content += d.text;
    else if (d.offset + codePoints(d.text) <= held) return;   // already have it
    else return loadMessages().catch(() => {});              // a hole: the server's copy is the truth
    if (m.status !== "streaming" && !["complete", "cancelled", "failed", "interrupted"].includes(m.status)) m.status = "streaming";
    render();
  }

  async function send() {
    const content = input.value.trim();
    if (!content) return;
    if (streaming()) return notify("A reply is still streaming: wait for it or press Stop (Esc).");
    sendButton.disabled = true;
    const payload = {session_id: sessionId, client_msg_id: crypto.randomUUID(), content};
    try {
      const out = live.state === "live" ? await live.op("chat.send", payload)
        : await api("POST", `/chat/sessions/${sessionId}/messages`, {content, client_msg_id: payload.client_msg_id});
      messages.upsert(out.user_message, false);
      messages.upsert(out.assistant_message, false);
      input.value = "";
      render();
      scrollDown();
    } catch (err) {
      notify(err.code === "run_active" ? "A reply is still streaming in this chat." : err.message, "error");
    } finally {
      sendButton.disabled = false;
      input.focus({preventScroll: true});
    }
  }

  async function stop() {
    try {
      if (live.state === "live") await live.op("chat.cancel", {session_id: sessionId});
      else await api("POST", `/chat/sessions/${sessionId}/cancel`);
    } catch (err) {
      notify(err.message, "error");
    }
  }

  function renderHead() {
    if (!chat) return;
    mount(title, chat.title);
    const rename = h("button.link", {type: "button", onclick: () => {
      const field = h("input", {value: chat.title, maxlength: 200, "aria-label": "Chat title"});
      const save = h("form.inline", {onsubmit: (e) => {
        e.preventDefault();
        busy(save.querySelector("button"), async () => {
          chat = await api("PATCH", `/chat/sessions/${sessionId}`, {title: field.value.trim() || chat.title});
          renderHead();
        });
      }}, field, h("button", {type: "submit"}, "Save"));
      mount(title, save);
      field.focus();
    }}, "Rename");
    const mine = !chat.project_id || chat.owner_id === session.user.id || ctx?.isOwner();
    mount(headActions, canWrite() ? rename : null,
      canWrite() && mine ? confirmButton("Delete chat", async () => {
        await api("DELETE", `/chat/sessions/${sessionId}`);
        onDeleted?.();
      }, {className: "link danger"}) : null);
  }

  function renderTools(m) {
    const live_ = tools.get(m.id);
    const list = live_ && live_.length ? live_ : (m.tool_calls || []);
    if (!list.length) return null;
    return h("div.tools", list.map((t) => {
      const taskId = t.result && t.result.task_id;
      const task = taskId && ctx ? ctx.tasks.get(taskId) : null;
      const failed = t.ok === false || (t.result && t.result.error);
      return h("div.tool", {dataset: {tool: t.name}},
        h("span.tool-name", `⚙ ${t.name}`),
        t.args && Object.keys(t.args).length ? h("code.small", summarise(t.args)) : null,
        t.result === undefined && m.status === "streaming" && t.ok === undefined ? h("span.muted.small", " running…") : null,
        failed ? h("span.error.small", ` ${summarise(t.result?.error || "failed")}`) : null,
        task ? taskRow(task, ctx) : null);
    }));
  }

  function messageView(m) {
    const mine = m.role === "user" && m.author_id === session.user.id;
    const theirs = m.role === "user" && !mine;
    const body = h("div.body");
    if (editing === m.id) {
      const area = h("textarea", {value: m.content, rows: 3, "aria-label": "Edit message"});
      const save = (regenerate) => (e) => busy(e.target, async () => {
        const content = area.value.trim();
        if (!content) throw new Error("A message cannot be empty.");
        const updated = await api("PATCH", `/chat/messages/${m.id}`, {content, regenerate});
        messages.upsert(updated.message || updated, false);
        editing = null;
        render();
      });
      mount(body, area, h("div.buttons",
        h("button.primary", {type: "button", onclick: save(true)}, "Save & regenerate"),
        h("button", {type: "button", onclick: save(false)}, "Save"),
        h("button.link", {type: "button", onclick: () => { editing = null; render(); }}, "Cancel")));
    } else if (m.role === "assistant") {
      mount(body, renderMarkdown(m.status === "streaming" ? m.content : withoutDanglingMarker(m.content)));
    } else {
      mount(body, h("p.plain", m.content));
    }
    const status = m.status === "streaming" ? h("span.typing", {"aria-label": "streaming"}, "●●●")
      : STATUS_TEXT[m.status] ? h("span.status", {class: m.status}, statusText(m), m.error ? `: ${m.error}` : "") : null;
    const actions = [];
    if (m.status !== "streaming" && canWrite()) {
      if (mine && editing !== m.id) actions.push(h("button.link", {type: "button", onclick: () => { editing = m.id; render(); }}, "Edit"));
      if (m.role === "assistant" && isLastAssistant(m)) {
        const prompt = previousUserMessage(m);
        if (prompt && prompt.author_id === session.user.id && !streaming()) {
          actions.push(h("button.link", {type: "button", onclick: (e) => busy(e.target, () =>
            api("PATCH", `/chat/messages/${prompt.id}`, {content: prompt.content, regenerate: true}))}, "Regenerate"));
        }
      }
      if (mine || ctx?.isOwner() || (!ctx && m.role === "assistant")) {  // as the server allows
        actions.push(confirmButton("Delete", () => api("DELETE", `/chat/messages/${m.id}`), {className: "link danger"}));
      }
    }
    return h(`article.msg.${m.role}`, {class: m.role === "user" ? (mine ? "mine" : "theirs") : null,
      dataset: {id: m.id, status: m.status, author: m.author_id || ""}},
      h("header", h("span.who", m.role === "assistant" ? "Assistant" : m.role === "user" ? (mine ? "You" : authorName(m)) : m.role),
        h("time.muted.small", {datetime: m.created_at}, fmtTime(m.created_at)), m.edited_at ? h("span.muted.small", "(edited)") : null,
        status),
      body, renderTools(m), actions.length ? h("div.msg-actions", actions) : null);
  }

  /** "Stopped by Ann": the stored message says who pressed Stop (or the run.cancelled this page saw). */
  const statusText = (m) => {
    if (m.status !== "cancelled") return STATUS_TEXT[m.status];
    const who = m.cancelled_by ?? (stoppedBy.has(m.id) ? stoppedBy.get(m.id) : null);
    if (who === null) return "Stopped by the server";
    return `Stopped by ${who === session.user.id ? "you" : authorName({author_id: who})}`;
  };
  const authorName = (m) => {
    const member = ctx?.members.values().find((x) => x.user_id === m.author_id);
    return member ? member.full_name || member.username : "A former member";
  };
  const ordered = () => messages.values().sort(byTime);
  const isLastAssistant = (m) => ordered().filter((x) => x.role === "assistant").pop()?.id === m.id;
  const previousUserMessage = (m) => {
    const list = ordered();
    return list.slice(0, list.findIndex((x) => x.id === m.id)).reverse().find((x) => x.role === "user");
  };

  function renderLog() {
    if (destroyed) return;
    const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    const list = ordered();
    mount(log,
      hasMore ? h("button.link.older", {type: "button", onclick: (e) => busy(e.target, () => loadMessages(list[0]?.id))}, "Load older messages") : null,
      list.length ? list.map(messageView) : h("p.empty.muted", "No messages yet. Ask something below."));
    const busyNow = streaming();
    // The server lets whoever may post in this chat stop its reply (editors and owners of a project chat,
    // whoever started it): the same rule as the composer, so a viewer never sees Stop.
    stopButton.hidden = !busyNow || !canWrite();
    const prompt = busyNow ? previousUserMessage(list.find((m) => m.status === "streaming")) : null;
    stopButton.title = prompt && prompt.author_id !== session.user.id ? `Stop the reply to ${authorName(prompt)}` : "Stop the reply";
    sendButton.hidden = busyNow;
    form.hidden = !canWrite();
    if (nearBottom) scrollDown();
  }

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  (async () => {
    stopTopic = await live.watch(`chat:${sessionId}`, onEvent);
    if (destroyed) return stopTopic();
    try {
      chat = await api("GET", `/chat/sessions/${sessionId}`);
      renderHead();
      await loadMessages();
      // Ready to type, unless the user is typing elsewhere meanwhile (the chat search: the keys went here).
      // preventScroll: the page stays at its top (a phone would scroll to the box).
      if (!isTyping(document.activeElement)) input.focus({preventScroll: true});
    } catch (err) {
      mount(log, h("p.error", err.status === 404 ? "This chat does not exist or you cannot see it." : err.message));
    }
  })();

  return {el, rerender: render, destroy() { destroyed = true; stopTopic?.(); }};
}

function isTyping(el) {
  return Boolean(el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName)));
}

/** A list of chat sessions with a "New chat" button, and the open conversation beside it. */
export function chatLayout({sessions, newChat, href, emptyText, ctx}) {
  const list = h("ul.sessions", {id: "sessions"});
  const search = listFilter(list, "Search chats", {id: "chat-search", key: `chats:${ctx ? ctx.projectId : "mine"}`,
    empty: "No chat matches the search."});
  const pane = h("div.chat-pane");
  let panel = null;
  const el = h("div.chat-layout",
    h("aside.sidebar", h("button.primary", {type: "button", id: "new-chat", hidden: ctx && !ctx.canWrite(),
      onclick: (e) => busy(e.target, newChat)}, "New chat"), search.el, list),
    pane);

  function renderList(activeId) {
    const items = sessions.values().sort((a, b) => (b.last_activity_at || "").localeCompare(a.last_activity_at || ""));
    mount(list, items.length ? items.map((s) => h("li", {class: s.id === activeId ? "active" : null},
      h("a", {href: href(s.id), dataset: {id: s.id}}, s.title),
      h("span.muted.small", fmtTime(s.last_activity_at)))) : h("li.muted", emptyText));
    return items;
  }

  return {
    el,
    render(item) {
      const first = sessions.values().sort((a, b) => (b.last_activity_at || "").localeCompare(a.last_activity_at || ""))[0];
      const target = item || first?.id || null;
      renderList(target);  // the open chat keeps its highlight on every re-render, not only the first
      search.apply();
      if (panel && panel.sessionId === target) return panel.view.rerender();
      panel?.view.destroy();
      panel = null;
      if (!target) return mount(pane, h("p.empty.muted", "Start a new chat with the button on the left."));
      const view = chatPanel({sessionId: target, ctx, onDeleted: () => { sessions.remove(target); location.hash = href(""); }});
      panel = {sessionId: target, view};
      mount(pane, view.el);
    },
    destroy() { panel?.view.destroy(); },
  };
}

/** The project's chat tab. */
export function chatTab(ctx) {
  return chatLayout({
    sessions: ctx.sessions,
    ctx,
    emptyText: "No chats in this project yet.",
    href: (id) => `#/p/${ctx.projectId}/chat${id ? `/${id}` : ""}`,
    newChat: async () => {
      const s = await api("POST", "/chat/sessions", {project_id: ctx.projectId});
      ctx.sessions.upsert(s);
      ctx.go("chat", s.id);
    },
  });
}
