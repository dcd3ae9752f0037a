// A form shown again with its errors: move the focus to the summary, so that a screen reader
// reads every error and the keyboard starts there (each entry links to its field).
document.addEventListener("DOMContentLoaded", () => {
  const summary = document.getElementById("form-errors");
  if (summary) summary.focus();
});
