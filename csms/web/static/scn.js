// SCN wizard: a chosen file fills the text box; apply stays disabled until a clean dry run.
"use strict";
(function () {
  const file = document.getElementById("scn-file");
  const text = document.getElementById("scn-text");
  const apply = document.getElementById("scn-apply");
  file.addEventListener("change", async () => {
    const chosen = file.files[0];
    if (!chosen) return;
    text.value = await chosen.text();
    if (/\.ya?ml$/i.test(chosen.name)) document.querySelector('select[name="format"]').value = "yaml";
    apply.disabled = true;
  });
  text.addEventListener("input", () => { apply.disabled = true; });
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target.id !== "scn-report") return;
    const verdict = event.detail.target.querySelector("[data-testid=scn-verdict]");
    apply.disabled = !(verdict && verdict.dataset.ok === "yes");
  });
})();
