/* Qianshu vouchers: fields naming an organisation (vouchers/templates/vouchers/_org_field.html) fill
 * their <datalist> as one types: the field's data-org-search answers with the approved organisations
 * whose name (Chinese or English) or USCC contains the text, and each entry's value is a USCC, so
 * picking one names exactly that organisation. The server turns the field's text into the
 * organisation either way (a name matching several comes back with them to pick from), so the form
 * works the same without this script. No inline scripts (CSP); texts are set as text, never HTML. */
(function () {
  "use strict";

  function enhance(input) {
    var list = document.getElementById(input.getAttribute("list"));
    var url = input.getAttribute("data-org-search");
    if (!list || !url) return;
    var timer = null;
    var asked = 0;

    function fill(organisations) {
      while (list.firstChild) list.removeChild(list.firstChild);
      organisations.forEach(function (org) {
        var option = document.createElement("option");
        option.value = org.uscc;
        option.label = org.label;
        option.textContent = org.label;
        list.appendChild(option);
      });
    }

    function ask() {
      var text = input.value.trim();
      if (text.length < 2 || /^[0-9A-Za-z]{18}$/.test(text)) return;  // a whole USCC needs no list
      var mine = ++asked;
      var xhr = new XMLHttpRequest();
      xhr.open("GET", url + "?q=" + encodeURIComponent(text.slice(0, 100)));
      xhr.setRequestHeader("Accept", "application/json");
      xhr.onload = function () {
        if (xhr.status !== 200 || mine !== asked) return;  // an older answer after a newer question
        fill(JSON.parse(xhr.responseText).organisations || []);
        input.setAttribute("data-org-found", String(list.children.length));
      };
      xhr.send();
    }

    input.addEventListener("input", function () {
      if (timer) window.clearTimeout(timer);
      timer = window.setTimeout(ask, 200);
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("input[data-org-search]"), enhance);
})();
