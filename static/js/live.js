// The one websocket of this tab (docs/websocket.md): subscriptions with resume, reconnect with
// backoff and full jitter, a heartbeat, and a connection state the header shows.

const NO_RECONNECT = new Set([4400, 4401, 4403]);

export class Live {
  constructor() {
    this.ws = null;
    this.state = "offline";            // connecting | live | reconnecting | offline | signed-out
    this.nextId = 1;
    this.pending = new Map();          // op id -> {resolve, reject}
    this.topics = new Map();           // topic -> {handlers:Set, epoch, seq, active}
    this.stateListeners = new Set();
    this.attempt = 0;
    this.heartbeatS = 30;
    this.lastFrameAt = 0;
    this.timers = [];
    this.stopped = true;
    this.onSignedOut = null;
    window.addEventListener("online", () => this.reconnectSoon(0));
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && this.state === "reconnecting") this.reconnectSoon(0);
    });
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    this.clearTimers();
    if (this.ws) this.ws.close(1000, "bye");
    this.ws = null;
    this.topics.clear();
    this.setState("offline");
  }

  onState(listener) {
    this.stateListeners.add(listener);
    listener(this.state);
    return () => this.stateListeners.delete(listener);
  }

  setState(state) {
    this.state = state;
    for (const listener of this.stateListeners) listener(state);
  }

  clearTimers() {
    for (const t of this.timers) clearTimeout(t), clearInterval(t);
    this.timers = [];
  }

  connect() {
    this.clearTimers();
    this.setState(this.attempt ? "reconnecting" : "connecting");
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/ws`;
    const ws = new WebSocket(url);
    this.ws = ws;
    this.nextId = 1;
    ws.onmessage = (msg) => { if (ws === this.ws) this.receive(JSON.parse(msg.data)); };
    ws.onclose = (ev) => { if (ws === this.ws) this.closed(ev.code); };
    ws.onerror = () => { /* onclose follows and decides */ };
  }

  closed(code) {
    this.ws = null;
    this.clearTimers();
    for (const {reject} of this.pending.values()) reject(Object.assign(new Error("The connection closed."), {code: "closed"}));
    this.pending.clear();
    for (const t of this.topics.values()) t.active = false;
    if (this.stopped) return;
    if (code === 4401) {
      this.setState("signed-out");
      if (this.onSignedOut) this.onSignedOut();
      return;
    }
    if (NO_RECONNECT.has(code)) {
      this.setState("offline");
      return;
    }
    this.reconnectSoon(code === 4429 ? 5000 : null);
  }

  /** Reconnect after min(10 s, 0.25 s * 2^n) with full jitter (or after `delayMs`). */
  reconnectSoon(delayMs = null) {
    if (this.stopped || (this.ws && this.ws.readyState <= 1)) return;
    this.clearTimers();
    this.setState("reconnecting");
    const cap = Math.min(10000, 250 * 2 ** this.attempt);
    const delay = delayMs ?? Math.random() * cap;
    this.attempt += 1;
    this.timers.push(setTimeout(() => this.connect(), delay));
  }

  receive(frame) {
    this.lastFrameAt = Date.now();
    switch (frame.type) {
      case "welcome": return this.welcomed(frame);
      case "result": {
        const waiter = this.pending.get(frame.id);
        this.pending.delete(frame.id);
        if (!waiter) return;
        if (frame.ok) waiter.resolve(frame.data);
        else waiter.reject(Object.assign(new Error(frame.error.message), frame.error));
        return;
      }
      case "pong": {
        const waiter = this.pending.get(frame.id);
        this.pending.delete(frame.id);
        if (waiter) waiter.resolve(null);
        return;
      }
      case "event": return this.event(frame);
      case "reset": {
        const t = this.topics.get(frame.topic);
        if (!t) return;
        Object.assign(t, {epoch: frame.epoch, seq: frame.seq});
        return this.dispatch(t, {name: "resync", data: {reason: frame.reason}});
      }
      case "unsubscribed": {
        const t = this.topics.get(frame.topic);
        if (!t) return;
        this.topics.delete(frame.topic);
        return this.dispatch(t, {name: "unsubscribed", data: {reason: frame.reason}});
      }
      case "goodbye": return;  // the close that follows decides what to do
      default: return;
    }
  }

  welcomed(frame) {
    this.heartbeatS = frame.heartbeat_s || 30;
    this.userId = frame.user_id;
    this.setState("live");
    const stableAt = setTimeout(() => { this.attempt = 0; }, 30000);
    const heartbeat = setInterval(() => this.heartbeat(), this.heartbeatS * 1000 / 2);
    this.timers.push(stableAt, heartbeat);
    for (const [topic, t] of this.topics) this.subscribe(topic, t);
  }

  heartbeat() {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.lastFrameAt > 2 * this.heartbeatS * 1000) {
      this.ws.close(4000, "heartbeat timeout");  // onclose reconnects
      return;
    }
    this.op("ping").catch(() => {});
  }

  event(frame) {
    const t = this.topics.get(frame.topic);
    if (!t || !t.active) return;
    if (frame.data && frame.data.snapshot) return this.dispatch(t, frame);  // repeats the current seq by design
    if (frame.epoch !== t.epoch) return this.resubscribe(frame.topic, t);
    const first = frame.seq_from ?? frame.seq;
    if (frame.seq <= t.seq) return;                        // already seen (replay overlap)
    if (first > t.seq + 1) return this.resubscribe(frame.topic, t);  // a gap: ask for what was missed
    t.seq = frame.seq;
    this.dispatch(t, frame);
  }

  dispatch(t, frame) {
    for (const handler of [...t.handlers]) {
      try { handler(frame); } catch (err) { console.warn("live handler failed", err); }
    }
  }

  /** Send an op; resolves with the result's data, rejects with {code, message}. */
  op(op, params = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || this.state !== "live") {
      return Promise.reject(Object.assign(new Error("Not connected."), {code: "offline"}));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, {resolve, reject});
      this.ws.send(JSON.stringify({id, op, ...params}));
    });
  }

  /** Watch a topic: handler(frame) gets every event, plus {name:"resync"} when history was lost
   * (refetch over REST) and {name:"unsubscribed"}. Resolves once subscribed (or when offline; the
   * subscription then happens on connect). Returns a function that stops watching. */
  async watch(topic, handler) {
    let t = this.topics.get(topic);
    const isNew = !t;
    if (isNew) {
      t = {handlers: new Set(), epoch: null, seq: 0, active: false};
      // Settles at the first subscribe result, so a caller that fetches over REST afterwards misses nothing.
      t.ready = new Promise((resolve) => { t.markReady = resolve; });
      this.topics.set(topic, t);
    }
    t.handlers.add(handler);
    const unwatch = () => {
      t.handlers.delete(handler);
      if (t.handlers.size === 0 && this.topics.get(topic) === t) {
        this.topics.delete(topic);
        if (t.active) this.op("unsubscribe", {topic}).catch(() => {});
      }
    };
    if (isNew && this.state === "live") await this.subscribe(topic, t);
    else await Promise.race([t.ready, new Promise((resolve) => setTimeout(resolve, 5000))]);  // offline: load anyway
    return unwatch;
  }

  subscribe(topic, t) {
    const params = {topic};
    const resuming = t.epoch !== null;
    if (resuming) params.since = {epoch: t.epoch, seq: t.seq};
    t.subscribing = this.op("subscribe", params).then((data) => {
      t.active = true;
      const lost = resuming && !data.recovered;
      if (!resuming || lost) Object.assign(t, {epoch: data.epoch, seq: data.seq});
      if (lost) this.dispatch(t, {name: "resync", data: {reason: "not_recovered"}});
      t.markReady();
      return data;
    }, (err) => {
      t.markReady();
      if (err.code !== "closed" && err.code !== "offline") {
        this.topics.delete(topic);
        this.dispatch(t, {name: "unsubscribed", data: {reason: err.code}});
      }
      throw err;
    });
    return t.subscribing.catch(() => {});
  }

  async resubscribe(topic, t) {
    t.active = false;
    try { await this.op("unsubscribe", {topic}); } catch { return; }
    if (this.topics.get(topic) === t) await this.subscribe(topic, t);
  }
}

export const live = new Live();
