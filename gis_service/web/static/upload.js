// The upload form's progress bar: htmx posts the form and reports the bytes sent; the answer replaces the page body.
(function () {
  "use strict";
  if (!window.htmx) return;
  // Refusals (4xx) carry the report: show them like any answer.
  htmx.config.responseHandling = [{ code: "204", swap: false }, { code: "[2345]..", swap: true }];
  document.body.addEventListener("htmx:beforeRequest", function (evt) {
    if (!evt.target || evt.target.id !== "rg-upload") return;
    document.getElementById("rg-progress-box").hidden = false;
    document.getElementById("rg-submit").disabled = true;
  });
  document.body.addEventListener("htmx:xhr:progress", function (evt) {
    var bar = document.getElementById("rg-progress");
    if (!bar || !evt.detail.lengthComputable) return;
    var pct = Math.round((evt.detail.loaded / evt.detail.total) * 100);
    bar.style.width = pct + "%";
    bar.textContent = pct + "%";
    if (pct >= 100) document.getElementById("rg-progress-text").textContent = "上传完成，正在检查…";
  });
})();
