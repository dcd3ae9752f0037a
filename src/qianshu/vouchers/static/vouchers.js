/* Qianshu vouchers: the data-voucher payment form on a contract page shows what the ticked
 * vouchers cover and what the wallet pays. The figures are the server's: each change of the ticks
 * asks the form's data-split-url, which computes them with the payment's own rule and writes them
 * in the page's language; this script only puts them in place. No inline scripts (CSP). Without
 * the script the form works as before: the figures are those of the vouchers ticked at first. */
(function () {
  "use strict";

  function refresh(form) {
    var query = Array.prototype.map.call(
      form.querySelectorAll('input[name="voucher_ids"]:checked'),
      function (box) { return "voucher_ids=" + encodeURIComponent(box.value); }).join("&");
    var asked = (form.getAttribute("data-asked") | 0) + 1;
    form.setAttribute("data-asked", String(asked));
    var xhr = new XMLHttpRequest();
    xhr.open("GET", form.getAttribute("data-split-url") + (query ? "?" + query : ""));
    xhr.setRequestHeader("Accept", "application/json");
    xhr.onload = function () {
      // an older answer arriving after a newer question is dropped
      if (xhr.status !== 200 || (form.getAttribute("data-asked") | 0) !== asked) return;
      var figures = JSON.parse(xhr.responseText);
      Array.prototype.forEach.call(form.querySelectorAll("[data-figure]"), function (el) {
        var text = figures[el.getAttribute("data-figure")];
        if (typeof text === "string") el.textContent = text;
      });
      form.setAttribute("data-voucher-fen", String(figures.voucher_fen));
    };
    xhr.send();
  }

  Array.prototype.forEach.call(document.querySelectorAll("form.voucher-pay[data-split-url]"), function (form) {
    form.addEventListener("change", function (e) {
      if (e.target && e.target.name === "voucher_ids") refresh(form);
    });
    // ticks kept by the browser (back, reload) or by a refused form: show their figures
    refresh(form);
  });
})();
