// Resource collections kept current from REST lists and live events. Every resource carries a row
// `version` that only grows, so merging is order-safe: a late REST answer never undoes a newer event,
// and a deleted id is remembered so a late answer cannot bring it back. A listing replaces only what it
// could know of: take `mark()` before the request, and an item that arrived (by event) after the mark is
// kept even though the listing, read before it existed, does not have it.

export class Collection {
  constructor(onChange) {
    this.items = new Map();
    this.deleted = new Map();   // id -> version at deletion
    this.touched = new Map();   // id -> clock value of its last change
    this.clock = 0;
    this.onChange = onChange;
  }

  /** A point in this collection's history: pass it to load() as `since` for a listing requested now. */
  mark() { return this.clock; }

  get(id) { return this.items.get(id); }
  values() { return [...this.items.values()]; }

  upsert(resource, notify = true) {
    if (!resource || !resource.id) return false;
    const gone = this.deleted.get(resource.id);
    if (gone !== undefined && gone >= (resource.version ?? 0)) return false;
    const held = this.items.get(resource.id);
    if (held && (held.version ?? 0) > (resource.version ?? 0)) return false;
    this.items.set(resource.id, held ? {...held, ...resource} : resource);
    this.touched.set(resource.id, ++this.clock);
    if (notify) this.onChange?.();
    return true;
  }

  remove(id, version = Infinity) {
    this.deleted.set(id, version);
    const had = this.items.delete(id);
    if (had) this.onChange?.();
    return had;
  }

  /** Merge a full REST listing: add/refresh what it has, drop held items it no longer lists (only those
   *  unchanged since `since`, the mark() taken when the listing was requested). */
  load(list, {replace = true, since = Infinity} = {}) {
    const seen = new Set();
    const fresh = (id) => (this.touched.get(id) ?? 0) > since;
    for (const r of list) seen.add(r.id);
    if (replace) {
      for (const id of [...this.items.keys()]) if (!seen.has(id) && !fresh(id)) this.items.delete(id);
    }
    for (const r of list) this.upsert(r, false);
    this.onChange?.();
  }

  /** Apply a `<kind>.created|updated|deleted` event for this collection's kind. */
  apply(frame, kind) {
    const [k, action] = frame.name.split(".");
    if (k !== kind) return false;
    const d = frame.data || {};
    if (action === "deleted") return this.remove(d.id, d.version);
    if (d.resource) return this.upsert(d.resource);
    return "fetch";  // too large to embed: the caller refetches it by id
  }
}
