// Render the OpenAPI document as a readable page. Everything is inserted as text nodes: no HTML from data
// (Markdown `code` spans in descriptions become <code> elements holding text).

const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
};

/** Prose with Markdown `code` spans: the spans become <code> elements, everything stays text (never HTML). */
export function prose(text) {
  const parts = String(text).split(/`([^`\n]{1,500})`/);
  return parts.map((part, i) => (i % 2 ? el("code", {}, part) : part)).filter((part) => part !== "");
}

function resolve(spec, schema) {
  if (schema && schema.$ref) return spec.components.schemas[schema.$ref.split("/").pop()] || schema;
  return schema;
}

function example(spec, schema, depth = 0) {
  schema = resolve(spec, schema) || {};
  if (depth > 4) return "…";
  if (schema.anyOf) return example(spec, schema.anyOf.find((s) => s.type !== "null") || schema.anyOf[0], depth + 1);
  if (schema.allOf) return example(spec, schema.allOf[0], depth + 1);
  if (schema.enum) return schema.enum[0];
  switch (schema.type) {
    case "object": {
      const out = {};
      for (const [name, prop] of Object.entries(schema.properties || {})) out[name] = example(spec, prop, depth + 1);
      return out;
    }
    case "array": return [example(spec, schema.items || {}, depth + 1)];
    case "integer": case "number": return schema.minimum ?? 0;
    case "boolean": return false;
    case "string": return schema.format === "date-time" ? "2026-01-01T00:00:00Z" : (schema.title || "string");
    default: return null;
  }
}

function operation(spec, path, method, op) {
  const body = el("div", { class: "body" });
  if (op.description) body.append(el("p", {}, ...prose(op.description)));
  if (op.parameters?.length) {
    const table = el("table", {}, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "in"), el("th", {}, "required")));
    for (const p of op.parameters) table.append(el("tr", {}, el("td", {}, p.name), el("td", {}, p.in), el("td", {}, p.required ? "yes" : "no")));
    body.append(el("h4", {}, "Parameters"), table);
  }
  const request = op.requestBody?.content;
  if (request) {
    const [type, media] = Object.entries(request)[0];
    body.append(el("h4", {}, `Request body (${Object.keys(request).join(", ")})`),
      el("pre", {}, type.startsWith("multipart") ? "file=@requirements.md" : JSON.stringify(example(spec, media.schema), null, 2)));
  }
  body.append(el("h4", {}, "Responses"));
  for (const [status, response] of Object.entries(op.responses)) {
    const media = response.content?.["application/json"];
    body.append(el("p", {}, el("strong", {}, status), " ", ...prose(response.description || "")));
    if (media && status < 300 && Object.keys(media.schema || {}).length) {
      body.append(el("pre", {}, JSON.stringify(example(spec, media.schema), null, 2)));
    }
  }
  body.append(tryForm(spec, path, method, op));
  const secured = op.security?.length ? "auth" : "public";
  const summary = el("summary", {}, el("span", { class: `method ${method}` }, method.toUpperCase()),
    el("span", { class: "path" }, path), el("span", {}, ...prose(op.summary || "")), el("span", { class: "lock" }, secured));
  const details = el("details", {}, summary, body);
  details.dataset.search = `${method} ${path} ${op.summary}`.toLowerCase();
  return details;
}

// --- try it: send the call from this page with the signed-in browser session ---------------------------------

let csrf = null;

/** The session's CSRF token (unsafe methods need it with the cookie session); null when not signed in. */
async function csrfToken() {
  if (csrf === null) {
    try {
      const state = await (await fetch("/api/v1/users/session", {credentials: "same-origin"})).json();
      csrf = state.csrf_token || "";
    } catch {
      csrf = "";
    }
  }
  return csrf;
}

/** A small form per operation: path parameters, a query string, a JSON body; the answer shown as text. */
function tryForm(spec, path, method, op) {
  const params = [...path.matchAll(/\{(\w{1,64})\}/g)].map((m) => m[1]);
  const inputs = params.map((name) => el("input", {name, placeholder: name, "aria-label": name, required: ""}));
  const query = el("input", {name: "query", placeholder: "?limit=10", "aria-label": "Query string"});
  const media = op.requestBody?.content;
  const json = media && media["application/json"];
  const body = json ? el("textarea", {rows: "6", "aria-label": "Request body (JSON)"}) : null;
  if (body) body.value = JSON.stringify(example(spec, json.schema), null, 2);
  const out = el("pre", {class: "answer", hidden: ""});
  const send = el("button", {type: "submit"}, "Send");
  const form = el("form", {class: "try"}, el("h4", {}, "Try it (as the signed-in user)"),
    ...inputs, query, ...(body ? [body] : []), media && !json ? el("p", {}, "This call takes a file upload: use curl.") : "",
    send, out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let url = path;   // the document's paths are absolute (/api/v1/…, /healthz)
    params.forEach((name, i) => { url = url.replace(`{${name}}`, encodeURIComponent(inputs[i].value.trim())); });
    const q = query.value.trim();
    if (q) url += q.startsWith("?") ? q : `?${q}`;
    const headers = {Accept: "application/json"};
    if (!["get", "head"].includes(method)) headers["X-CSRF-Token"] = await csrfToken();
    const init = {method: method.toUpperCase(), credentials: "same-origin", headers};
    if (body && body.value.trim()) {
      headers["Content-Type"] = "application/json";
      init.body = body.value;
    }
    send.disabled = true;
    try {
      const response = await fetch(url, init);
      const text = await response.text();
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch { /* not JSON: as it came */ }
      out.textContent = `${response.status} ${response.statusText}\n\n${shown.slice(0, 20000)}`;
    } catch (error) {
      out.textContent = `The request failed: ${error}`;
    } finally {
      out.hidden = false;
      send.disabled = false;
    }
  });
  return form;
}

async function main() {
  const root = document.getElementById("docs");
  const spec = await (await fetch("/api/v1/openapi.json")).json();
  const byTag = new Map();
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = op.tags?.[0] || "misc";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(spec, path, method, op));
    }
  }
  root.replaceChildren();
  for (const [tag, ops] of byTag) root.append(el("h2", {}, tag), ...ops);
  document.getElementById("filter").addEventListener("input", (event) => {
    const needle = event.target.value.toLowerCase();
    for (const node of root.querySelectorAll("details")) node.hidden = !node.dataset.search.includes(needle);
  });
}

main().catch((error) => {
  document.getElementById("docs").replaceChildren(el("p", {}, `Could not load the API description: ${error}`));
});
