// BuildIt dashboard: the forms of the deployment, editor and settings
// pages, sent to the JSON API. Loaded by those pages only, after app.js.
// No inline code (the CSP forbids it); text goes in through textContent.
"use strict";
(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  // api calls the JSON API with the session cookie and the JSON type the
  // API requires of cookie requests that change something. A refusal
  // throws an Error with the status, message and details of the API's.
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
      const e = data && data.error;
      const err = new Error(e && e.message ? e.message : res.status + " " + res.statusText);
      err.status = res.status;
      err.details = e && e.details;
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

  // bodyOf turns a form's fields into the API's JSON: data-list fields are
  // comma-separated lists, data-multi checkboxes a list of the checked
  // values, data-bool checkboxes a boolean, data-int a number, data-json
  // JSON; data-path fields only fill the URL; data-omit-empty fields are
  // left out when empty.
  function bodyOf(form) {
    const body = {};
    for (const el of form.elements) {
      if (!el.name || el.dataset.path !== undefined) continue;
      const d = el.dataset;
      if (d.multi !== undefined) {
        if (!body[el.name]) body[el.name] = [];
        if (el.checked) body[el.name].push(el.value);
      } else if (d.bool !== undefined) body[el.name] = el.checked;
      else if (d.list !== undefined) body[el.name] = el.value.split(",").map((s) => s.trim()).filter(Boolean);
      else if (d.int !== undefined) body[el.name] = parseInt(el.value, 10) || 0;
      else if (d.json !== undefined) body[el.name] = JSON.parse(el.value || "null");
      else if (d.omitEmpty !== undefined && el.value === "") continue;
      else body[el.name] = el.value;
    }
    return body;
  }

  // urlOf fills {field} in a form's URL with the field's value.
  function urlOf(form, tmpl, data) {
    return tmpl.replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(data ? data[k] : form.elements[k].value));
  }

  // showProblems lists a pipeline's diagnostics next to its source, as
  // FILE:LINE:COL: severity: message.
  function showProblems(form, err) {
    const box = $(".js-problems", form);
    if (!box) return false;
    const list = $(".js-problems-list", box);
    list.replaceChildren();
    if (!Array.isArray(err.details) || !err.details.length) { box.hidden = true; return false; }
    $(".js-problems-title", box).textContent = err.message;
    const file = form.dataset.file || "pipeline.kdl";
    for (const p of err.details) {
      const li = document.createElement("li");
      const where = document.createElement("code");
      where.textContent = file + ":" + p.line + ":" + p.column;
      li.append(where, ": " + (p.severity || "error") + ": " + p.message);
      list.append(li);
    }
    box.hidden = false;
    return true;
  }

  // The forms' submit buttons come disabled, so that nothing is sent
  // natively (a GET with the fields, a secret's value among them, in the
  // URL) before this script listens: app.js shows js-only forms before
  // this script has run. Each is enabled once its form is listened to.
  $$("form.js-api").forEach((form) => form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    // The form's own error line, not the diagnostics box's title (also
    // a p.error, and first in the editor).
    const errEl = $$(".error", form).find((el) => !el.closest(".js-problems"));
    if (errEl) errEl.hidden = true;
    const btn = $("button[type=submit]", form);
    if (btn) btn.disabled = true;
    try {
      const body = bodyOf(form);
      const res = await api(form.dataset.method || "POST", urlOf(form, form.dataset.url), body);
      if (form.dataset.showSecret !== undefined && res && res.secret) {
        $(".js-secret-value", form).textContent = res.secret;
        $(".js-secret", form).hidden = false;
        form.reset();
        return;
      }
      if (form.dataset.go) { location.assign(urlOf(form, form.dataset.go, Object.assign({}, body, res))); return; }
      location.reload();
    } catch (err) {
      if (!showProblems(form, err)) {
        if (errEl) { errEl.textContent = err.message; errEl.hidden = false; } else flash(err.message, true);
      } else if (errEl) errEl.hidden = true;
    } finally { if (btn) btn.disabled = false; }
  }));
  $$("form.js-api button[type=submit]").forEach((b) => { b.disabled = false; });

  $$("button.js-api-delete").forEach((b) => b.addEventListener("click", async () => {
    if (b.dataset.confirm && !window.confirm(b.dataset.confirm)) return;
    b.disabled = true;
    try {
      await api("DELETE", b.dataset.url);
      location.reload();
    } catch (err) { flash(err.message, true); b.disabled = false; }
  }));

  // Rollback asks first, in a <dialog>, then posts to the API.
  const dialog = $("dialog.js-rollback-dialog");
  let pending = null;
  $$("button.js-rollback").forEach((b) => b.addEventListener("click", () => {
    if (!dialog || !dialog.showModal) {
      if (window.confirm("Roll back " + b.dataset.what + "?")) rollback(b);
      return;
    }
    pending = b;
    $(".js-rollback-what", dialog).textContent = "Roll back " + b.dataset.what + ".";
    dialog.showModal();
  }));
  if (dialog) dialog.addEventListener("close", () => {
    const b = pending;
    pending = null;
    if (b && dialog.returnValue === "confirm") rollback(b);
  });
  async function rollback(b) {
    b.disabled = true;
    try {
      const res = await api("POST", b.dataset.url);
      flash("Rolling back " + res.service + " in " + res.environment + " to revision " + res.to_revision + ". Reload to follow it.");
    } catch (err) { flash(err.message, true); b.disabled = false; }
  }
})();
