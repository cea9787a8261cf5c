// The console's only way to the service: the public HTTP API on this origin, with the
// party's bearer token in a header (never in a URL). The live stream is read with fetch and
// a stream reader, since EventSource cannot send the token; after a cut it resumes with
// Last-Event-ID, so nothing is lost or shown twice (the log index is the event id).

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export class Api {
  constructor(token) { this.token = token; this.heard = 0; }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.token}`, ...extra };
  }

  async request(method, path, body) {
    let r;
    try {
      r = await fetch(path, {
        method, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer",
        headers: this.headers(body === undefined ? {} : { "Content-Type": "application/json" }),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, { title: "The service cannot be reached", detail: String(e.message || e) });
    }
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text.slice(0, 200) }; }
    if (!r.ok) throw new ApiError(r.status, data || {});
    return data;
  }

  get(path) { return this.request("GET", path); }
  post(path, body) { return this.request("POST", path, body); }

  // Follow the stream from `after` (the last log index already applied). `onEntry(index,
  // value)` for each event, in log order; `onStatus({connected, since, error})` on every
  // change. Returns a function that stops it.
  follow(after, onEntry, onStatus) {
    let last = after;
    let stopped = false;
    let controller = null;
    let since = null;
    const run = async () => {
      let wait = 500;
      while (!stopped) {
        controller = new AbortController();
        try {
          const r = await fetch("/v1/stream", {
            cache: "no-store", credentials: "omit", signal: controller.signal,
            headers: this.headers({ "Last-Event-ID": String(last), Accept: "text/event-stream" }),
          });
          if (r.status === 401 || r.status === 403) {
            const problem = await r.json().catch(() => ({}));
            onStatus({ connected: false, since: since || new Date(), fatal: true,
              error: problem.detail || "the credential is no longer valid" });
            return;
          }
          if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
          since = null;
          wait = 500;
          onStatus({ connected: true });
          // The service writes at least a keep-alive every 15 s: silence for 40 s is a cut
          // the network did not report (a dead link holds a connection open for ever).
          this.heard = Date.now();
          const watchdog = setInterval(() => {
            if (Date.now() - this.heard > 40000) controller.abort();
          }, 5000);
          try {
            await this.read(r.body, (id, data) => {
              if (id <= last) return; // never twice
              last = id;
              onEntry(id, data);
            });
          } finally {
            clearInterval(watchdog);
          }
          if (!stopped) throw new Error("the stream ended");
        } catch (e) {
          if (stopped) return;
          if (since === null) since = new Date();
          onStatus({ connected: false, since, error: String(e.message || e) });
          await new Promise((res) => setTimeout(res, wait));
          wait = Math.min(wait * 2, 5000);
        }
      }
    };
    run();
    return () => { stopped = true; if (controller) controller.abort(); };
  }

  async read(body, emit) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      this.heard = Date.now();
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let id = null;
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("id:")) id = Number(line.slice(3).trim());
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (id !== null && Number.isInteger(id) && data.length) emit(id, JSON.parse(data.join("\n")));
      }
    }
  }
}
