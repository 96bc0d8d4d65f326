// DOM helpers. Everything user- or model-written reaches the page as text nodes: this module never
// parses HTML (no innerHTML anywhere in the client; the page's CSP enforces Trusted Types as well).

/** Build an element: h("button.primary", {onclick, disabled: true, dataset: {x: 1}}, "text", child). */
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "class") el.className = [el.className, value].filter(Boolean).join(" ");
    else if (key === "value") el.value = value;
    else if (key === "checked" || key === "selected") {
      el[key] = true;
      el[key === "checked" ? "defaultChecked" : "defaultSelected"] = true;  // so form.reset() keeps it
    } else if (key === "disabled" || key === "hidden") el[key] = true;
    else if (key === "href") el.setAttribute("href", safeHref(value));
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Only same-origin paths, fragments, http(s) and mailto links; anything else (javascript:, data:) becomes inert. */
export function safeHref(url) {
  const text = String(url).trim();
  if (text.startsWith("#") || (text.startsWith("/") && !text.startsWith("//"))) return text;
  try {
    const parsed = new URL(text);
    if (["http:", "https:", "mailto:"].includes(parsed.protocol)) return parsed.href;
  } catch { /* not a URL */ }
  return "#";
}

/** Label each body cell with its column's heading (data-label) and mark the table `as-cards`: on a narrow screen
 *  the stylesheet shows each row as a card of labelled fields instead of squeezing the columns. */
export function stackTable(table) {
  table.classList.add("as-cards");
  const labels = [...table.querySelectorAll("thead th")].map((th) => th.textContent);
  for (const tr of table.querySelectorAll("tbody tr")) {
    [...tr.children].forEach((td, i) => {
      if (labels[i] !== undefined && !td.dataset.label && td.colSpan === 1) td.dataset.label = labels[i];
    });
  }
  return table;
}

/** A search box over a table: rows whose text does not hold every typed word are hidden (long lists of
 *  requirements, test cases and coverage rows). Filtering waits for a pause in typing (large tables). */
export function searchable(table, label) {
  const count = h("span.small.muted.search-count", {"aria-live": "polite"});
  let timer = null;
  const filter = () => {
    const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    const rows = table.querySelectorAll("tbody tr");
    for (const row of rows) {
      const text = row.textContent.toLowerCase();
      row.hidden = !words.every((w) => text.includes(w));
      if (!row.hidden) shown += 1;
    }
    count.textContent = words.length ? `${shown} of ${rows.length}` : "";
  };
  const input = h("input.table-search", {type: "search", placeholder: label, "aria-label": label,
    oninput: () => { clearTimeout(timer); timer = setTimeout(filter, 120); }});
  return h("div.searchable", h("div.search-row", input, count), table);
}

const typedFilters = new Map();   // a filter's key -> what was typed in it, so a view built again keeps it

/** A filter box over a list of links (the chats): items whose link text lacks a typed word are hidden and
 *  the count of matches is shown. The list may be re-rendered: call `apply()` after each render; the view
 *  itself may be built again (a route or data change) and keeps what was typed (`key`). */

export function listFilter(list, label, {id, key = id, empty = "Nothing matches the filter."} = {}) {
  const count = h("span.small.muted.list-count", {"aria-live": "polite"});
  const none = h("li.muted.no-match", empty);
  const input = h("input.list-search", {type: "search", id, placeholder: label, "aria-label": label,
    value: typedFilters.get(key) || "", oninput: () => { typedFilters.set(key, input.value); apply(); }});
  function apply() {
    const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    none.remove();
    const items = [...list.children].filter((li) => li.querySelector("a"));   // not the "none yet" line
    let shown = 0;
    for (const li of items) {
      const text = li.querySelector("a").textContent.toLowerCase();   // the name, not the time beside it
      li.hidden = !words.every((w) => text.includes(w));
      if (!li.hidden) shown += 1;
    }
    count.textContent = words.length ? `${shown} of ${items.length}` : "";
    if (words.length && items.length && !shown) list.append(none);
  }
  return {el: h("div.list-filter", input, count), apply};
}

/** A picked file's text, read in the browser (FileReader: no upload needed for a preview or an import). */
export function readText(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(new Error(`Could not read ${file.name}.`));
    reader.readAsText(file);
  });
}

/** Replace an element's children. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay ? d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"}) : d.toLocaleString([], {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"});
}

export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** Length in Unicode code points: the unit of the server's delta offsets. */
export function codePoints(text) {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

// --- notices -------------------------------------------------------------------------------------

/** Show a short-lived notice at the top of the page (errors stay until dismissed). */
export function notify(message, kind = "info") {
  const box = document.getElementById("notices");
  const item = h(`div.notice.${kind}`, {role: kind === "error" ? "alert" : "status"},
    h("span", message),
    h("button.link", {type: "button", "aria-label": "Dismiss", onclick: () => item.remove()}, "×"));
  box.append(item);
  if (kind !== "error") setTimeout(() => item.remove(), 4000);
  return item;
}

/** Run an async action for a button: disable it meanwhile and show any error as a notice. */
export async function busy(button, action) {
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (err) {
    notify(err.message || String(err), "error");
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

/** A button that asks for a second click within 4 s before doing something destructive. */
export function confirmButton(label, action, {className = "danger"} = {}) {
  let armed = null;
  const button = h(`button.${className}`, {type: "button", onclick: async () => {
    if (!armed) {
      button.textContent = "Click again to confirm";
      button.classList.add("armed");
      armed = setTimeout(() => { armed = null; button.textContent = label; button.classList.remove("armed"); }, 4000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    button.textContent = label;
    button.classList.remove("armed");
    await busy(button, action);
  }}, label);
  return button;
}

/** Coalesce repeated render requests into one per animation frame. */
export function scheduler(render) {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; render(); });
  };
}
