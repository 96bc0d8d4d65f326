// Render the OpenAPI document as a readable page. Everything is inserted with textContent: no HTML from data.

const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
};

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
  if (op.description) body.append(el("p", {}, op.description));
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
    body.append(el("p", {}, el("strong", {}, status), " ", response.description));
    if (media && status < 300 && Object.keys(media.schema || {}).length) {
      body.append(el("pre", {}, JSON.stringify(example(spec, media.schema), null, 2)));
    }
  }
  const secured = op.security?.length ? "auth" : "public";
  const summary = el("summary", {}, el("span", { class: `method ${method}` }, method.toUpperCase()),
    el("span", { class: "path" }, path), el("span", {}, op.summary), el("span", { class: "lock" }, secured));
  const details = el("details", {}, summary, body);
  details.dataset.search = `${method} ${path} ${op.summary}`.toLowerCase();
  return details;
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
