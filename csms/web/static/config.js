// Configuration table: check a value against the key catalog as it is typed and again before
// sending; an invalid value shows the catalog's message and is not sent.
"use strict";
(function () {
  const table = document.querySelector("table.config");
  if (!table) return;
  const station = table.dataset.station;

  async function check(form) {
    const input = form.querySelector("input.value");
    const out = form.closest("tr").querySelector(".answer");
    const result = await window.csmsApi("POST", "/config/check", { key: form.dataset.key, value: input.value })
      .then((r) => r.body);
    input.classList.toggle("invalid", !result.ok);
    input.setAttribute("aria-invalid", String(!result.ok));
    out.className = "answer " + (result.ok ? "" : "problem");
    out.textContent = result.ok ? (result.warnings || []).join("; ") : result.message;
    return result.ok;
  }

  let timer = null;
  table.addEventListener("input", (event) => {
    const form = event.target.closest("form.config-set");
    if (!form) return;
    clearTimeout(timer);
    timer = setTimeout(() => check(form), 300);
  });

  table.addEventListener("submit", async (event) => {
    const form = event.target.closest("form.config-set");
    if (!form) return;
    event.preventDefault();
    clearTimeout(timer);
    if (!(await check(form))) return;  // the catalog refuses it: nothing is sent
    const out = form.closest("tr").querySelector(".answer");
    const value = form.querySelector("input.value").value;
    const reboot = document.getElementById("reboot-policy").value;
    out.textContent = "…";
    const result = await window.csmsApi(
      "PUT", `/api/v1/stations/${encodeURIComponent(station)}/configuration/${encodeURIComponent(form.dataset.key)}`,
      { value, reboot });
    const b = result.body || {};
    out.className = "answer " + (result.ok ? "okay" : "problem");
    out.textContent = result.ok ? `${b.status} (${b.state})` : (typeof b.detail === "string" ? b.detail : `HTTP ${result.status}`);
    if (window.htmx) window.htmx.trigger("#changes", "refresh");
  });
})();
