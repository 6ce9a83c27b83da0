// csms console: send forms to the API (through /console/api, with the CSRF token) and show
// the answer next to them. No build step, no framework beyond htmx.
"use strict";
(function () {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
  const csrf = () => meta("csrf-token");
  const base = () => meta("console-base");

  // One line from an API answer: the station's status, or the error's detail.
  function summary(status, body) {
    if (body && typeof body.detail === "string") return body.detail;
    if (body && Array.isArray(body.detail)) {
      return body.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
    }
    if (body && body.status) return `${body.status}`;
    return status < 300 ? "done" : `HTTP ${status}`;
  }

  async function callApi(method, url, payload) {
    const init = { method, headers: { "X-CSRF-Token": csrf(), Accept: "application/json" } };
    if (payload !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(payload);
    }
    const response = await fetch(base() + url, init);
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    return { ok: response.ok, status: response.status, body };
  }
  window.csmsApi = callApi;

  // The JSON body of a form: every named field; data-json-number fields as numbers (empty →
  // null), data-json-int as integers, empty optional fields as null.
  function payloadOf(form) {
    const numbers = (form.dataset.jsonNumber || "").split(",").filter(Boolean);
    const ints = (form.dataset.jsonInt || "").split(",").filter(Boolean);
    const out = {};
    for (const el of form.elements) {
      if (!el.name || el.type === "submit") continue;
      let value = el.type === "checkbox" ? el.checked : el.value;
      if (numbers.includes(el.name)) value = value === "" ? null : Number(value);
      else if (ints.includes(el.name)) value = value === "" ? null : parseInt(value, 10);
      else if (value === "" && el.dataset.optional !== undefined) value = null;
      out[el.name] = value;
    }
    return out;
  }

  function answerCell(form) {
    const row = form.closest("tr, .action");
    return (row && row.querySelector(".answer")) || form.querySelector(".answer");
  }

  async function submitApi(form) {
    const out = answerCell(form);
    const method = form.dataset.method || "POST";
    let url = form.dataset.url;
    const payload = payloadOf(form);
    url = url.replace(/\{(\w+)\}/g, (_, k) => { const v = payload[k]; delete payload[k]; return encodeURIComponent(v); });
    const button = form.querySelector("button");
    if (button) button.disabled = true;
    if (out) { out.textContent = "…"; out.className = "answer"; }
    try {
      const result = await callApi(method, url, method === "GET" || method === "DELETE" ? undefined : payload);
      if (out) {
        out.textContent = summary(result.status, result.body);
        out.className = "answer " + (result.ok ? "okay" : "problem");
      }
      form.dispatchEvent(new CustomEvent("csms:answer", { bubbles: true, detail: result }));
      // Forms that change a listed thing show the new list once the API accepted the change.
      if (result.ok && form.classList.contains("js-reload")) window.location.reload();
    } catch (e) {
      if (out) { out.textContent = `no answer: ${e}`; out.className = "answer problem"; }
    } finally {
      if (button) button.disabled = false;
    }
  }
  window.csmsSubmitApi = submitApi;

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (form.classList.contains("js-api") && !form.dataset.custom) {
      event.preventDefault();
      await submitApi(form);
    } else if (form.classList.contains("js-post")) {
      // A plain form post, with the CSRF token in the header.
      event.preventDefault();
      const response = await fetch(form.action, {
        method: "POST", headers: { "X-CSRF-Token": csrf() }, body: new FormData(form),
      });
      window.location = response.url;
    }
  });
})();
