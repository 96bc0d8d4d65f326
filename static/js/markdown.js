// A small Markdown renderer that builds DOM nodes directly. It never produces or parses HTML: raw HTML
// in a model's reply stays visible text, links are limited to http(s)/mailto, so nothing the model
// writes can run script or restyle the page. Supported: paragraphs, headings, fenced code, lists,
// block quotes, tables, rules; inline code, bold, italic, links. A bare list marker (a reply cut short) is
// no list item.

import {h, safeHref} from "./dom.js";

/** A reply that stopped mid-list must not end with an empty bullet: drop a trailing bare list marker. */
export function withoutDanglingMarker(text) {
  return String(text).trimEnd().replace(/\n[ \t]{0,8}(?:[-*+]|\d{1,9}[.)])[ \t]*$/, "").replace(/^[ \t]{0,8}(?:[-*+]|\d{1,9}[.)])[ \t]*$/, "");
}

export function renderMarkdown(text) {
  const out = document.createDocumentFragment();
  const lines = String(text).replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(/^\s*(```|~~~)\s*([\w+-]*)/);
    if (fence) {
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
      i++;  // the closing fence (or the end of a reply still streaming)
      out.append(h("pre", h("code", {"data-lang": fence[2] || null}, body.join("\n"))));
      continue;
    }
    if (!line.trim()) { i++; continue; }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      out.append(h(`h${Math.min(6, heading[1].length + 2)}`, inline(heading[2])));
      i++;
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) { out.append(h("hr")); i++; continue; }
    if (/^\s*>/.test(line)) {
      const quoted = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) quoted.push(lines[i++].replace(/^\s*>\s?/, ""));
      out.append(h("blockquote", renderMarkdown(quoted.join("\n"))));
      continue;
    }
    if (isTableStart(lines, i)) {
      const [table, next] = parseTable(lines, i);
      out.append(table);
      i = next;
      continue;
    }
    const bullet = /^\s*[-*+]\s+/, numbered = /^\s*\d+[.)]\s+/;
    if (bullet.test(line) || numbered.test(line)) {
      const marker = bullet.test(line) ? bullet : numbered;
      const list = h(marker === bullet ? "ul" : "ol");
      while (i < lines.length && marker.test(lines[i])) {
        let item = lines[i++].replace(marker, "");
        while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !marker.test(lines[i])) item += " " + lines[i++].trim();
        if (item.trim()) list.append(h("li", inline(item)));  // a bare marker (a reply cut short) is no item
      }
      if (list.firstChild) out.append(list);
      continue;
    }
    const para = [];
    while (i < lines.length && lines[i].trim() && !/^(#{1,6}\s|\s*(```|~~~)|\s*>|\s*[-*+]\s+|\s*\d+[.)]\s+)/.test(lines[i])
           && !isTableStart(lines, i)) {
      para.push(lines[i++]);
    }
    if (!para.length) para.push(lines[i++]);  // a line no block rule took
    const p = h("p");
    para.forEach((text, n) => { if (n) p.append(h("br")); p.append(inline(text)); });
    out.append(p);
  }
  return out;
}

function isTableStart(lines, i) {
  return /^\s*\|.*\|\s*$/.test(lines[i] || "") && /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/.test(lines[i + 1] || "");
}

function cells(line) {
  return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
}

function parseTable(lines, i) {
  const head = cells(lines[i]);
  i += 2;
  const body = [];
  while (i < lines.length && /^\s*\|.*\|\s*$/.test(lines[i])) body.push(cells(lines[i++]));
  const table = h("table.md",
    h("thead", h("tr", head.map((c) => h("th", inline(c))))),
    h("tbody", body.map((row) => h("tr", row.map((c) => h("td", inline(c)))))));
  return [h("div.table-wrap", table), i];
}

const INLINE = /(`+)([\s\S]*?[^`])\1(?!`)|\*\*([^*]+)\*\*|__([^_]+)__|\*([^*\s][^*]*)\*|\b_([^_\s][^_]*)_\b|\[([^\]]+)\]\(([^)\s]+)\)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/;

/** Inline spans as DOM nodes; text between them stays text. */
export function inline(text) {
  const frag = document.createDocumentFragment();
  let rest = String(text);
  while (rest) {
    const m = rest.match(INLINE);
    if (!m) { frag.append(rest); break; }
    if (m.index) frag.append(rest.slice(0, m.index));
    if (m[1]) frag.append(h("code", m[2]));
    else if (m[3] || m[4]) frag.append(h("strong", inline(m[3] || m[4])));
    else if (m[5] || m[6]) frag.append(h("em", inline(m[5] || m[6])));
    else if (m[7]) frag.append(link(m[8], inline(m[7])));
    else if (m[9]) frag.append(link(m[9], m[9]));
    rest = rest.slice(m.index + m[0].length);
  }
  return frag;
}

function link(url, content) {
  const href = safeHref(url);
  if (href === "#") return content;
  return h("a", {href, target: "_blank", rel: "noopener noreferrer nofollow"}, content);
}
