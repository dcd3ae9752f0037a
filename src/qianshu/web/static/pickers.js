/* Qianshu pickers (web/templates/pickers.html): a type-to-filter box before each industry or region
 * <select>. Typing narrows the options to those whose code or name, in either language, or whose
 * group contains every typed word, and selects the first of them; arrow keys move among them,
 * Enter keeps the choice without sending the form. The <select> works alone without this script.
 * No inline scripts (CSP); texts come from data attributes. */
(function () {
  "use strict";
  var count = 0;

  function words(text) {
    return (text || "").toLowerCase().split(/\s+/).filter(Boolean);
  }

  function haystack(node) {
    return ((node.value || "") + " " + (node.label || node.textContent || "") + " " +
            (node.getAttribute("data-other") || "")).toLowerCase();
  }

  function enhance(label) {
    var select = label.querySelector("select");
    var caption = label.querySelector(".picker-label");
    if (!select || label.querySelector("input.picker-filter")) return;
    var name = caption ? caption.textContent.trim() : "";
    var filter = document.createElement("input");
    filter.type = "search";
    filter.className = "picker-filter";
    filter.autocomplete = "off";
    filter.placeholder = select.getAttribute("data-filter-label") || "";
    filter.setAttribute("aria-label", name + " — " + filter.placeholder);
    if (!select.id) select.id = "picker-" + (++count);
    filter.setAttribute("aria-controls", select.id);
    var status = document.createElement("small");
    status.className = "picker-status";
    status.setAttribute("role", "status");
    select.setAttribute("aria-label", name);  // the box comes first in the label: name the list itself
    label.insertBefore(filter, select);
    label.insertBefore(status, select.nextSibling);

    function visible() {
      return Array.prototype.filter.call(select.options, function (o) { return !o.hidden && o.value; });
    }

    function apply() {
      var wanted = words(filter.value);
      Array.prototype.forEach.call(select.options, function (option) {
        if (!option.value) return;  // "choose …" stays
        var group = option.parentNode.tagName === "OPTGROUP" ? option.parentNode : null;
        var text = haystack(option) + " " + (group ? haystack(group) : "");
        option.hidden = !wanted.every(function (w) { return text.indexOf(w) !== -1; });
      });
      Array.prototype.forEach.call(select.querySelectorAll("optgroup"), function (group) {
        group.hidden = !group.querySelector("option:not([hidden])");
      });
      var shown = visible();
      status.textContent = wanted.length && !shown.length ? (select.getAttribute("data-filter-none") || "") : "";
      filter.setAttribute("aria-invalid", wanted.length && !shown.length ? "true" : "false");
      var current = select.options[select.selectedIndex];
      if (wanted.length && shown.length && (!current || current.hidden || !current.value)) {
        shown[0].selected = true;
        select.dispatchEvent(new Event("change", { bubbles: true }));
      }
    }

    function move(step) {
      var shown = visible();
      if (!shown.length) return;
      var at = shown.indexOf(select.options[select.selectedIndex]);
      var next = shown[Math.max(0, Math.min(shown.length - 1, at + step))];
      if (at === -1) next = shown[0];
      next.selected = true;
      select.dispatchEvent(new Event("change", { bubbles: true }));
    }

    filter.addEventListener("input", apply);
    filter.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown") { e.preventDefault(); move(1); }
      else if (e.key === "ArrowUp") { e.preventDefault(); move(-1); }
      else if (e.key === "Enter") { e.preventDefault(); select.focus(); }
      else if (e.key === "Escape" && filter.value) { e.preventDefault(); filter.value = ""; apply(); }
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("label[data-picker]"), enhance);
})();
