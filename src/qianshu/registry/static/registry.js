/* Qianshu registry: upload files with progress (raw PUT to the API, streamed on the server)
 * and follow the pipeline job. No inline scripts (CSP); texts come from data attributes. */
(function () {
  "use strict";
  var token = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function uploadOne(id, file, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open("PUT", "/api/v1/registrations/" + id + "/files/" + encodeURIComponent(file.name));
      xhr.setRequestHeader("X-CSRF-Token", token);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.onprogress = function (e) { if (e.lengthComputable) onProgress(e.loaded / e.total); };
      xhr.onload = function () {
        if (xhr.status >= 200 && xhr.status < 300) resolve();
        else { var detail = ""; try { detail = JSON.parse(xhr.responseText).detail; } catch (e) { detail = xhr.status; } reject(detail); }
      };
      xhr.onerror = function () { reject("network"); };
      xhr.send(file);
    });
  }

  var box = document.getElementById("uploader");
  if (box) {
    var input = document.getElementById("files"), bar = document.getElementById("upload-progress"),
        status = document.getElementById("upload-status"), id = box.getAttribute("data-registration");
    input.addEventListener("change", function () {
      var files = Array.prototype.slice.call(input.files), i = 0;
      bar.hidden = false;
      var next = function () {
        if (i >= files.length) { status.textContent = box.getAttribute("data-text-done"); window.location.reload(); return; }
        var f = files[i];
        status.textContent = f.name;
        uploadOne(id, f, function (p) { bar.value = Math.round(((i + p) / files.length) * 100); })
          .then(function () { i += 1; next(); },
                function (err) { status.textContent = box.getAttribute("data-text-failed") + ": " + err; });
      };
      next();
    });
  }

  // A document over the limit is refused before it is sent (the server refuses it too).
  Array.prototype.forEach.call(document.querySelectorAll("input[type=file][data-max-bytes]"), function (input) {
    input.addEventListener("change", function () {
      var f = input.files[0], max = Number(input.getAttribute("data-max-bytes"));
      input.setCustomValidity(f && f.size > max ? input.getAttribute("data-text-too-large") : "");
      input.reportValidity();
    });
  });

  var job = document.getElementById("job");
  if (job) {
    var jid = job.getAttribute("data-registration"), prog = document.getElementById("job-progress"),
        stage = document.getElementById("job-stage");
    var poll = function () {
      fetch("/api/v1/registrations/" + jid + "/job", { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (j) {
          prog.value = Math.round((j.progress || 0) * 100);
          if (j.stage) stage.textContent = j.stage;
          if (j.registration_status !== "processing" || j.status === "failed") window.location.reload();
          else window.setTimeout(poll, 1000);
        }, function () { window.setTimeout(poll, 3000); });
    };
    poll();
  }
})();
