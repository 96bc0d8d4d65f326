// Sign in and register. The session is a cookie the page never sees; the CSRF token comes back in JSON.

import {api} from "../api.js";
import {h, mount} from "../dom.js";

function loginError(err) {
  if (err.status === 401) return "Wrong username or password.";
  if (err.status === 429) {
    const wait = err.retryAfter ? ` Try again in ${Math.ceil(err.retryAfter / 60) > 1 ? `${Math.ceil(err.retryAfter / 60)} minutes` : `${err.retryAfter} seconds`}.` : " Try again later.";
    return `Too many failed sign-in attempts.${wait}`;
  }
  if (err.status === 403) return err.message || "This account is disabled.";
  return err.message;
}

export function authView(container, {onSignedIn}) {
  let mode = "login";
  const error = h("p.error", {id: "auth-error", role: "alert", hidden: true});
  const field = (label, attrs) => h("label", h("span", label), h("input", attrs));

  const showError = (message) => { error.textContent = message; error.hidden = !message; };

  async function submit(event) {
    event.preventDefault();
    const form = event.target;
    const data = Object.fromEntries(new FormData(form));
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    showError("");
    try {
      if (mode === "register") {
        if (data.password !== data.password2) throw new Error("The two passwords differ.");
        await api("POST", "/users/register", {email: data.email, username: data.username,
          password: data.password, full_name: data.full_name || ""});
      }
      const out = await api("POST", "/users/session", {username: data.username, password: data.password});
      await onSignedIn(out.user, out.csrf_token);
    } catch (err) {
      showError(mode === "login" ? loginError(err) : err.message);
      button.disabled = false;
    }
  }

  function render() {
    const login = mode === "login";
    const form = h("form.card.auth", {onsubmit: submit, "aria-label": login ? "Sign in" : "Register"},
      h("h1", login ? "Sign in" : "Create an account"),
      field(login ? "Username or email" : "Username", {name: "username", required: true, autocomplete: "username",
        autofocus: true, minlength: login ? null : 3, maxlength: login ? 320 : 32}),
      login ? null : field("Email", {name: "email", type: "email", required: true, autocomplete: "email"}),
      login ? null : field("Full name (optional)", {name: "full_name", autocomplete: "name", maxlength: 200}),
      field("Password", {name: "password", type: "password", required: true,
        autocomplete: login ? "current-password" : "new-password", minlength: login ? null : 8}),
      login ? null : field("Repeat password", {name: "password2", type: "password", required: true,
        autocomplete: "new-password", minlength: 8}),
      error,
      h("button.primary", {type: "submit"}, login ? "Sign in" : "Register"),
      h("p.muted", login ? "New here? " : "Have an account? ",
        h("button.link", {type: "button", onclick: () => { mode = login ? "register" : "login"; showError(""); render(); }},
          login ? "Create an account" : "Sign in")));
    mount(container, form);
    form.querySelector("input").focus();
  }
  render();
}
