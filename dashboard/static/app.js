// BuildIt dashboard: live updates and actions on pages that read fine
// without this script. No framework, no inline code (the CSP forbids it);
// every text goes in through textContent, never innerHTML.
"use strict";
(function () {
  document.documentElement.classList.add("js");
  const main = document.getElementById("main");
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const ICONS = { succeeded: "✓", failed: "✗", running: "▶", waiting: "⏸", queued: "○", pending: "○", cancelled: "⊘", skipped: "↷" };
  const TERMINAL = ["succeeded", "failed", "cancelled"];

  // api calls the JSON API with the session cookie; state-changing calls
  // carry the JSON type the API requires of cookie requests.
  async function api(method, url, body) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body || {});
    }
    const res = await fetch(url, init);
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const msg = data && data.error && data.error.message ? data.error.message : res.status + " " + res.statusText;
      const err = new Error(msg);
      err.status = res.status;
      throw err;
    }
    return data;
  }

  function flash(msg, bad) {
    const f = $(".flash");
    if (!f) return;
    f.textContent = msg;
    f.classList.toggle("bad", !!bad);
    f.hidden = false;
  }

  function statusEl(status) {
    const s = document.createElement("span");
    s.className = "status s-" + status;
    const i = document.createElement("span");
    i.className = "icon";
    i.setAttribute("aria-hidden", "true");
    i.textContent = ICONS[status] || "•";
    const w = document.createElement("span");
    w.className = "word";
    w.textContent = status;
    s.append(i, " ", w);
    return s;
  }

  function duration(ms) {
    if (ms == null) return "";
    if (ms < 1000) return ms + "ms";
    if (ms < 60000) return (ms / 1000).toFixed(1) + "s";
    const m = Math.floor(ms / 60000), s = Math.floor(ms / 1000) % 60;
    if (m < 60) return m + "m" + String(s).padStart(2, "0") + "s";
    return Math.floor(m / 60) + "h" + String(m % 60).padStart(2, "0") + "m";
  }

  // A safe local path to go to after signing in.
  function safeNext(n) {
    return typeof n === "string" && n.startsWith("/") && !n.startsWith("//") && !n.startsWith("/\\") ? n : "/";
  }

  function formError(form, err) {
    const e = $(".error", form);
    if (e) { e.textContent = err.message; e.hidden = false; } else flash(err.message, true);
  }

  // Sign in, sign up, sign out.
  const login = $("form.js-login");
  if (login) login.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(login);
    try {
      await api("POST", "/api/v1/auth/login", { email: f.get("email"), password: f.get("password") });
      location.assign(safeNext(login.dataset.next));
    } catch (err) { formError(login, err); }
  });
  // The sign-in and sign-up buttons come disabled (and the forms say
  // method=post): without this script nothing is sent, and never a
  // password in a URL.
  if (login) $("button[type=submit]", login).disabled = false;
  const signup = $("form.js-signup");
  if (signup) signup.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(signup);
    const body = { name: f.get("name"), email: f.get("email"), password: f.get("password"), organization: f.get("organization") };
    try {
      await api("POST", "/api/v1/auth/signup", body);
      await api("POST", "/api/v1/auth/login", { email: body.email, password: body.password });
      location.assign(safeNext(signup.dataset.next));
    } catch (err) { formError(signup, err); }
  });
  if (signup) $("button[type=submit]", signup).disabled = false;
  $$("[data-action=logout]").forEach((b) => b.addEventListener("click", async () => {
    try { await api("POST", "/api/v1/auth/logout"); } catch (err) { /* signed out already */ }
    location.assign("/login");
  }));

  // Trigger forms: branch and inputs, then the new run's page.
  $$("form.js-trigger").forEach((form) => form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { inputs: {} };
    for (const [k, v] of new FormData(form)) {
      if (k === "branch") { if (v) body.branch = v; } else if (k.startsWith("input:") && v !== "") body.inputs[k.slice(6)] = v;
    }
    try {
      const run = await api("POST", form.dataset.url, body);
      location.assign(form.dataset.url.replace(/^\/api\/v1/, "") + "/" + run.number);
    } catch (err) { flash(err.message, true); }
  }));

  // Run actions: cancel, re-run, re-run failed.
  $$("button[data-post]").forEach((b) => b.addEventListener("click", async () => {
    if (b.dataset.confirm && !window.confirm(b.dataset.confirm)) return;
    b.disabled = true;
    try {
      const run = await api("POST", main.dataset.api + b.dataset.post);
      if (b.dataset.post.startsWith("/rerun") && run && run.number) {
        location.assign(main.dataset.api.replace(/^\/api\/v1/, "").replace(/\/\d+$/, "/" + run.number));
        return;
      }
      flash("Asked the run to stop.");
      pollRun();
    } catch (err) { flash(err.message, true); } finally { b.disabled = false; }
  }));

  // Approval gates.
  $$("form.js-decide").forEach((form) => form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const what = ev.submitter && ev.submitter.value === "reject" ? "reject" : "approve";
    try {
      await api("POST", form.dataset.url + "/" + what, { reason: new FormData(form).get("reason") || "" });
      flash(what === "approve" ? "Approved." : "Rejected.");
      form.closest(".gate").hidden = true;
      hideDecided();
      pollRun();
    } catch (err) { flash(err.message, true); }
  }));

  // The gates section goes when no gate in it waits any more.
  function hideDecided() {
    const sec = $(".js-gates");
    if (sec && $$(".gate", sec).every((g) => g.hidden)) sec.hidden = true;
  }
  const gateOf = (id) => $$(".gate").find((g) => g.dataset.gate === id);

  // The run page follows the run's status and its stages' by polling the
  // JSON API until the run ends.
  const graph = $(".graph svg");
  const nodes = new Map($$(".graph a.node").map((a) => [a.dataset.stage, a]));
  let runTimer = 0;
  async function pollRun() {
    clearTimeout(runTimer);
    let run;
    try { run = await api("GET", main.dataset.api); } catch (err) { runTimer = setTimeout(pollRun, 10000); return; }
    const st = $(".js-run-status");
    if (st) st.replaceChildren(statusEl(run.status));
    let newGate = false;
    for (const s of run.stages || []) {
      const a = nodes.get(s.id);
      if (!a) continue;
      const was = a.getAttribute("class");
      a.setAttribute("class", "node s-" + s.status);
      const d = duration(s.duration_ms);
      $(".m", a).textContent = (ICONS[s.status] || "•") + " " + s.status + (d ? " · " + d : "");
      const g = gateOf(s.id);
      // A gate that started waiting since the page was rendered: its
      // form (message, who may decide) comes from the server.
      if (s.status === "waiting" && was !== "node s-waiting" && !g) newGate = true;
      // A gate decided elsewhere.
      if (g && s.status !== "waiting") g.hidden = true;
    }
    hideDecided();
    if (newGate) { location.reload(); return; }
    const ended = TERMINAL.includes(run.status);
    $$(".js-when-running").forEach((b) => { b.hidden = ended; });
    $$(".js-when-ended").forEach((b) => { b.hidden = !ended; });
    $$(".js-when-failed").forEach((b) => { b.hidden = !(run.status === "failed" || run.status === "cancelled"); });
    if (!ended) runTimer = setTimeout(pollRun, 3000);
  }
  if (graph && main.dataset.api) {
    const st = $(".js-run-status .word");
    if (st && !TERMINAL.includes(st.textContent)) runTimer = setTimeout(pollRun, 3000);
  }

  // The runs page updates the statuses of the runs it shows, and says when
  // newer ones exist.
  const runs = $("table.js-runs[data-live]");
  if (runs && main.dataset.api) {
    const rows = new Map($$("tr[data-number]", runs).map((tr) => [tr.dataset.number, tr]));
    const top = Math.max(0, ...Array.from(rows.keys(), Number));
    const pollRuns = async () => {
      try {
        const list = await api("GET", main.dataset.api);
        for (const r of list.items || []) {
          const tr = rows.get(String(r.number));
          if (tr) {
            $(".js-status", tr).replaceChildren(statusEl(r.status));
            if (r.started_at) $(".js-duration", tr).textContent = duration((r.ended_at ? Date.parse(r.ended_at) : Date.now()) - Date.parse(r.started_at));
          } else if (r.number > top) $(".js-new").hidden = false;
        }
      } catch (err) { /* try again later */ }
      setTimeout(pollRuns, 5000);
    };
    setTimeout(pollRuns, 5000);
  }

  // ANSI colours of followed lines, as the server renders stored ones.
  function sgr(state, params) {
    const ps = (params || "0").split(";");
    for (let i = 0; i < ps.length; i++) {
      const n = parseInt(ps[i], 10);
      if (isNaN(n)) continue;
      if (n === 0) Object.assign(state, { fg: -1, bg: -1, b: false, d: false, i: false, u: false });
      else if (n === 1) state.b = true; else if (n === 2) state.d = true; else if (n === 3) state.i = true; else if (n === 4) state.u = true;
      else if (n === 22) { state.b = false; state.d = false; } else if (n === 23) state.i = false; else if (n === 24) state.u = false;
      else if (n >= 30 && n <= 37) state.fg = n - 30; else if (n >= 90 && n <= 97) state.fg = n - 82; else if (n === 39) state.fg = -1;
      else if (n >= 40 && n <= 47) state.bg = n - 40; else if (n >= 100 && n <= 107) state.bg = n - 92; else if (n === 49) state.bg = -1;
      else if (n === 38 || n === 48) {
        let c = -1;
        if (ps[i + 1] === "5") { const v = parseInt(ps[i + 2], 10); if (v < 16) c = v; i += 2; } else if (ps[i + 1] === "2") i += 4;
        if (c >= 0) { if (n === 38) state.fg = c; else state.bg = c; }
      }
    }
  }
  function cls(s) {
    const c = [];
    if (s.fg >= 0) c.push("fg" + s.fg);
    if (s.bg >= 0) c.push("bg" + s.bg);
    for (const k of ["b", "d", "i", "u"]) if (s[k]) c.push(k);
    return c.join(" ");
  }
  // eslint-disable-next-line no-control-regex
  const ESC = /\x1b\[([0-9;:<=>?]*)[ -\/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.?|[\x00-\x08\x0a-\x1f\x7f]/g;
  function ansi(line, into) {
    const state = { fg: -1, bg: -1 };
    let last = 0, m;
    const put = (text) => {
      if (!text) return;
      const c = cls(state);
      if (!c) { into.append(text); return; }
      const s = document.createElement("span");
      s.className = c;
      s.textContent = text;
      into.append(s);
    };
    ESC.lastIndex = 0;
    while ((m = ESC.exec(line)) !== null) {
      put(line.slice(last, m.index));
      if (m[2] === "m") sgr(state, m[1]);
      last = ESC.lastIndex;
    }
    put(line.slice(last));
  }

  // A followed log: lines arrive by server-sent events, are queued, and
  // appended a batch per frame; at most MAX_LINES stay in the page.
  const log = $("ol#log");
  const MAX_LINES = 5000, BATCH = 500;
  if (log && log.dataset.follow && window.EventSource) {
    const queue = [];
    let scheduled = false;
    const flush = () => {
      scheduled = false;
      const stick = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
      const frag = document.createDocumentFragment();
      for (const l of queue.splice(0, BATCH)) {
        const li = document.createElement("li");
        li.id = "L" + l.seq;
        li.className = l.stream;
        const a = document.createElement("a");
        a.className = "ln";
        a.href = "#L" + l.seq;
        a.textContent = l.seq;
        const t = document.createElement("span");
        t.className = "lt";
        ansi(l.line, t);
        li.append(a, t);
        frag.append(li);
      }
      log.append(frag);
      let extra = log.childElementCount - MAX_LINES;
      while (extra-- > 0) log.firstElementChild.remove();
      const empty = $(".js-empty");
      if (empty) empty.hidden = true;
      if (stick) window.scrollTo(0, document.body.scrollHeight);
      if (queue.length) schedule();
    };
    const schedule = () => { if (!scheduled) { scheduled = true; requestAnimationFrame(flush); } };
    const es = new EventSource(log.dataset.follow);
    es.addEventListener("line", (ev) => {
      // A stage that had not started when the page was rendered.
      const w = $(".js-stage-status .word");
      if (w && w.textContent === "pending") $(".js-stage-status").replaceChildren(statusEl("running"));
      queue.push(JSON.parse(ev.data));
      schedule();
    });
    es.addEventListener("end", (ev) => {
      es.close();
      const end = JSON.parse(ev.data);
      const st = $(".js-stage-status");
      if (st) st.replaceChildren(statusEl(end.status));
      const p = $(".js-end");
      p.textContent = "The stage ended: " + end.status + (end.error ? " (" + end.error + ")" : "") + ".";
      p.hidden = false;
    });
    es.addEventListener("error", (ev) => {
      if (ev.data) { es.close(); flash(JSON.parse(ev.data).message, true); }
    });
  }

  // Search within the lines shown: matching lines are marked, Enter (or
  // Next) goes to the next one.
  const search = $("form.js-search");
  if (search && log) {
    const input = $("input", search);
    let hits = [], cur = -1, timer = 0;
    const mark = () => {
      const q = input.value.toLowerCase();
      $$("li.hit", log).forEach((li) => li.classList.remove("hit", "cur"));
      hits = [];
      cur = -1;
      if (q) for (const li of log.children) if (li.lastElementChild && li.lastElementChild.textContent.toLowerCase().includes(q)) { li.classList.add("hit"); hits.push(li); }
      $(".js-count", search).textContent = q ? hits.length + " matching lines" : "";
    };
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(mark, 150); });
    search.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (!hits.length) mark();
      if (!hits.length) return;
      if (cur >= 0) hits[cur].classList.remove("cur");
      cur = (cur + 1) % hits.length;
      hits[cur].classList.add("cur");
      hits[cur].scrollIntoView({ block: "center" });
    });
  }
})();
