// Personal chats (not in a project): only their owner sees them.

import {api, listAll} from "../api.js";
import {h, mount, scheduler} from "../dom.js";
import {onUserEvent} from "../main.js";
import {Collection} from "../store.js";
import {chatLayout} from "./chat.js";

export function chatsView(container, params) {
  let item = params.sessionId;
  const show = () => layout.render(item);
  const sessions = new Collection(scheduler(show));
  const layout = chatLayout({
    sessions, ctx: null,
    emptyText: "No personal chats yet.",
    href: (id) => `#/chats${id ? `/${id}` : ""}`,
    newChat: async () => {
      const s = await api("POST", "/chat/sessions", {});
      sessions.upsert(s);
      location.hash = `#/chats/${s.id}`;
    },
  });
  mount(container, h("section.page", h("h1", "My chats"), h("p.muted", "Personal chats have no project, so the agent cannot read requirements there. Open a project's Chat tab to work with its documents."), layout.el));
  const stopUser = onUserEvent((frame) => {
    if (frame.name.startsWith("chat_session.")) sessions.apply(frame, "chat_session");
  });
  const since = sessions.mark();
  listAll("/chat/sessions").then((all) => sessions.load(all.filter((s) => !s.project_id), {since}))
    .catch((err) => mount(container, h("p.error", err.message)));
  return {
    update(next) { item = next.sessionId; show(); },
    destroy() { stopUser(); layout.destroy(); },
  };
}
