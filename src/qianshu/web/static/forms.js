// A form shown again with its errors: move the focus to the summary, so that a screen reader
// reads every error and the keyboard starts there (each entry links to its field).
document.addEventListener("DOMContentLoaded", () => {
  const summary = document.getElementById("form-errors");
  if (summary) summary.focus();
});

// File fields (web/templates/file_input.html): name the chosen files in the page's words, where the
// browser's own control (hidden) would say it in the browser's language.
(() => {
  const showChosen = (input) => {
    const chosen = document.getElementById(input.id + "-chosen");
    if (!chosen) return;
    const names = Array.from(input.files || [], (file) => file.name);
    chosen.textContent = names.length ? names.join(chosen.dataset.separator || ", ") : chosen.dataset.none;
  };
  const showAll = () => document.querySelectorAll("input.file-field-input").forEach(showChosen);
  document.addEventListener("change", (event) => {
    if (event.target.matches && event.target.matches("input.file-field-input")) showChosen(event.target);
  });
  // a reset empties the inputs after its event; a page restored from history may keep their files
  document.addEventListener("reset", () => window.setTimeout(showAll));
  document.addEventListener("DOMContentLoaded", showAll);
  window.addEventListener("pageshow", showAll);
})();
