/* Qianshu public log: check an RFC 9162 inclusion proof in the browser.
 *
 * Written for Qianshu (no third-party code). Any element with a data-log-proof attribute
 * holding {leaf_index, tree_size, leaf, leaf_hash, inclusion_path, root_hash} (hashes in
 * base64, leaf as the exact UTF-8 text of the canonical JSON) gets its text replaced by
 * the outcome (texts come from data-text-ok / -fail / -unsupported, so the server keeps
 * the translations). window.QianshuLog.verifyInclusion is there for other pages.
 *
 * SHA-256: crypto.subtle where it exists. It only exists in secure contexts (HTTPS or
 * localhost), and intranet deployments often serve plain HTTP on a LAN address, so a
 * small SHA-256 (FIPS 180-4) follows as the fallback.
 */
(function () {
  "use strict";

  var K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ];

  function sha256Fallback(bytes) {
    var h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    var bitLength = bytes.length * 8;
    var padded = new Uint8Array(((bytes.length + 9 + 63) >> 6) << 6);
    padded.set(bytes);
    padded[bytes.length] = 0x80;
    var view = new DataView(padded.buffer);
    view.setUint32(padded.length - 8, Math.floor(bitLength / 0x100000000));
    view.setUint32(padded.length - 4, bitLength >>> 0);
    var w = new Uint32Array(64);
    for (var off = 0; off < padded.length; off += 64) {
      for (var i = 0; i < 16; i++) w[i] = view.getUint32(off + 4 * i);
      for (i = 16; i < 64; i++) {
        var x = w[i - 15], y = w[i - 2];
        var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
      }
      var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
      for (i = 0; i < 64; i++) {
        var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var ch = (e & f) ^ (~e & g);
        var t1 = (k + S1 + ch + K[i] + w[i]) >>> 0;
        var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var maj = (a & b) ^ (a & c) ^ (b & c);
        var t2 = (S0 + maj) >>> 0;
        k = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
      }
      h[0] = (h[0] + a) >>> 0; h[1] = (h[1] + b) >>> 0; h[2] = (h[2] + c) >>> 0; h[3] = (h[3] + d) >>> 0;
      h[4] = (h[4] + e) >>> 0; h[5] = (h[5] + f) >>> 0; h[6] = (h[6] + g) >>> 0; h[7] = (h[7] + k) >>> 0;
    }
    var out = new Uint8Array(32);
    var outView = new DataView(out.buffer);
    for (i = 0; i < 8; i++) outView.setUint32(4 * i, h[i]);
    return out;
  }

  function sha256(bytes) {
    if (window.crypto && window.crypto.subtle && window.isSecureContext) {
      return window.crypto.subtle.digest("SHA-256", bytes).then(function (d) { return new Uint8Array(d); });
    }
    return Promise.resolve(sha256Fallback(bytes));
  }

  function concat(prefix, a, b) {
    var out = new Uint8Array(1 + a.length + (b ? b.length : 0));
    out[0] = prefix;
    out.set(a, 1);
    if (b) out.set(b, 1 + a.length);
    return out;
  }

  function fromBase64(text) {
    var raw = atob(text);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  /* RFC 9162 section 2.1.3.2. Sizes up to 2^53 are exact in JS numbers; use division, not
     bit shifts (which are 32-bit). */
  function verifyInclusion(leafIndex, treeSize, leafHash, path, root) {
    if (!(leafIndex >= 0 && leafIndex < treeSize)) return Promise.resolve(false);
    var fn = leafIndex, sn = treeSize - 1, r = leafHash, i = 0;
    function odd(n) { return n % 2 === 1; }
    function half(n) { return Math.floor(n / 2); }
    function step() {
      if (i === path.length) return Promise.resolve(sn === 0 && equal(r, root));
      var p = path[i++];
      if (sn === 0 || p.length !== 32) return Promise.resolve(false);
      var next;
      if (odd(fn) || fn === sn) {
        next = sha256(concat(1, p, r));
        if (!odd(fn)) { while (!(odd(fn) || fn === 0)) { fn = half(fn); sn = half(sn); } }
      } else {
        next = sha256(concat(1, r, p));
      }
      fn = half(fn); sn = half(sn);
      return next.then(function (value) { r = value; return step(); });
    }
    return step();
  }

  function leafHashOf(leafText) {
    return sha256(concat(0, new TextEncoder().encode(leafText)));
  }

  function check(el) {
    var data;
    try { data = JSON.parse(el.getAttribute("data-log-proof")); } catch (e) { return; }
    var show = function (ok) {
      el.textContent = el.getAttribute(ok ? "data-text-ok" : "data-text-fail") || (ok ? "OK" : "FAILED");
      el.className += ok ? " ok" : " error";
    };
    var claimed = fromBase64(data.leaf_hash);
    var leafCheck = data.leaf !== undefined ? leafHashOf(data.leaf) : Promise.resolve(claimed);
    leafCheck.then(function (computed) {
      if (!equal(computed, claimed)) return false;
      return verifyInclusion(data.leaf_index, data.tree_size, computed,
                             data.inclusion_path.map(fromBase64), fromBase64(data.root_hash));
    }).then(show, function () {
      el.textContent = el.getAttribute("data-text-unsupported") || "?";
    });
  }

  window.QianshuLog = { verifyInclusion: verifyInclusion, leafHash: leafHashOf, sha256: sha256,
                        sha256Fallback: sha256Fallback, fromBase64: fromBase64, check: check };
  var run = function () { document.querySelectorAll("[data-log-proof]").forEach(check); };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run); else run();
})();
