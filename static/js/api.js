// REST calls with the cookie session: JSON in and out, the CSRF header on unsafe methods, and the
// server's error envelope turned into an ApiError with a sentence a person can read.

const BASE = "/api/v1";
let csrfToken = null;

export function setCsrf(token) { csrfToken = token; }

export class ApiError extends Error {
  constructor(status, code, message, details = [], retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
  }
}

/** Turn an error envelope into one readable sentence (field errors named). */
function describe(status, body) {
  const error = body && body.error;
  if (!error) return `The server answered ${status}.`;
  const fields = (error.details || []).filter((d) => d && d.msg)
    .map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".") || "input"}: ${d.msg}`);
  return fields.length ? `${error.message} (${fields.join("; ")})` : error.message;
}

async function errorFrom(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  const retry = response.headers.get("Retry-After");
  return new ApiError(response.status, body?.error?.code || "http_error", describe(response.status, body),
    body?.error?.details || [], retry ? Number(retry) : null);
}

function headersFor(method, extra = {}) {
  const headers = {Accept: "application/json", ...extra};
  if (!["GET", "HEAD"].includes(method) && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  return headers;
}

/** Call the API: api("GET", "/projects"), api("POST", "/projects", {name}). */
export async function api(method, path, body) {
  const init = {method, credentials: "same-origin", headers: headersFor(method)};
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(BASE + path, init);
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached. Check your connection and try again.");
  }
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return null;
  return response.json();
}

/** Every item of a paged list (bounded: at most `max` items). */
export async function listAll(path, max = 1000) {
  const items = [];
  const sep = path.includes("?") ? "&" : "?";
  for (let offset = 0; offset < max; offset += 200) {
    const page = await api("GET", `${path}${sep}limit=200&offset=${offset}`);
    items.push(...page.items);
    if (items.length >= page.total || page.items.length === 0) break;
  }
  return items;
}

/** Upload a file as multipart with progress callbacks (fetch cannot report upload progress). */
export function upload(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", BASE + path);
    for (const [name, value] of Object.entries(headersFor("POST"))) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onerror = () => reject(new ApiError(0, "network", "The upload failed: the server cannot be reached."));
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body?.error?.code || "http_error", describe(xhr.status, body)));
    };
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}
