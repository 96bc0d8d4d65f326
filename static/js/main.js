// Boot, session and routing. Routes live in the URL fragment:
//   #/                      projects            #/p/<id>/<tab>[/<item>[/<sub>]]   a project (chat, documents, artifacts,
//                                               files, members, settings); <sub>: a version's "diff", a test case id
//   #/chats[/<session>]     personal chats

import {api, setCsrf} from "./api.js";
import {h, mount, notify} from "./dom.js";
import {live} from "./live.js";
import {authView} from "./views/auth.js";
import {chatsView} from "./views/chats.js";
import {projectView} from "./views/project.js";
import {projectsView} from "./views/projects.js";

export const session = {user: null};
const userListeners = new Set();

/** Views listen to the signed-in user's own topic (memberships, project create/delete). */
export function onUserEvent(listener) {
  userListeners.add(listener);
  return () => userListeners.delete(listener);
}

const app = document.getElementById("app");
let current = null;  // {key, view}
let stopUserTopic = null;

async function boot() {
  live.onState(showConnection);
  live.onSignedOut = () => signedOut("Your session has ended. Please sign in again.");
  window.addEventListener("hashchange", route);
  try {
    const state = await api("GET", "/users/session");
    if (state.user) await signedIn(state.user, state.csrf_token);
    else showAuth();
  } catch (err) {
    mount(app, h("p.error", err.message));
  }
}

export async function signedIn(user, csrf) {
  session.user = user;
  setCsrf(csrf);
  document.getElementById("conn").hidden = false;
  renderAccount();
  live.start();
  stopUserTopic = await live.watch(`user:${user.id}`, (frame) => {
    if (frame.name === "session.revoked") return signedOut("You were signed out.");
    for (const listener of userListeners) listener(frame);
  });
  route();
}

export async function signOut() {
  // Leave the socket first: the server revokes this session and tells its sockets (session.revoked, then a
  // 4401 close), which may arrive before the answer to DELETE does and is no news to the one signing out.
  if (stopUserTopic) stopUserTopic();
  stopUserTopic = null;
  live.stop();
  try { await api("DELETE", "/users/session"); } catch { /* already gone */ }
  signedOut("Signed out.");
}

function signedOut(message) {
  if (stopUserTopic) stopUserTopic();
  stopUserTopic = null;
  live.stop();
  session.user = null;
  setCsrf(null);
  document.getElementById("conn").hidden = true;  // "Offline" means nothing to someone not signed in
  renderAccount();
  showAuth();
  if (message) notify(message);
}

function showAuth() {
  current?.view.destroy?.();
  current = null;
  mount(document.getElementById("nav"));
  authView(app, {onSignedIn: signedIn});
}

function renderAccount() {
  const box = document.getElementById("account");
  if (!session.user) return mount(box);
  mount(box, h("span.who", {title: session.user.email}, session.user.full_name || session.user.username),
    h("button.link", {type: "button", id: "logout", onclick: signOut}, "Sign out"));
  mount(document.getElementById("nav"),
    h("a", {href: "#/"}, "Projects"), h("a", {href: "#/chats"}, "My chats"));
}

const STATE_LABELS = {live: "Live", connecting: "Connecting…", reconnecting: "Reconnecting…", offline: "Offline",
  "signed-out": "Signed out"};

function showConnection(state) {
  const el = document.getElementById("conn");
  el.className = `conn ${state}`;
  el.dataset.state = state;
  el.querySelector(".label").textContent = STATE_LABELS[state] || state;
}

function route() {
  if (!session.user) return;
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  let key, make, params;
  if (parts[0] === "p" && parts[1]) {
    key = `project:${parts[1]}`;
    params = {projectId: parts[1], tab: parts[2] || "chat", item: parts[3] || null, sub: parts[4] || null};
    make = () => projectView(app, params);
  } else if (parts[0] === "chats") {
    key = "chats";
    params = {sessionId: parts[1] || null};
    make = () => chatsView(app, params);
  } else {
    key = "projects";
    params = {};
    make = () => projectsView(app);
  }
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", (a.getAttribute("href") === "#/chats") === (key === "chats"));
  }
  if (!current || current.key !== key) app.scrollTop = 0;  // a new page opens at its top
  if (current && current.key === key && current.view.update) return current.view.update(params);
  current?.view.destroy?.();
  current = {key, view: make()};
}

boot();
