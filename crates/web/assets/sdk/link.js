/*! Accord embed SDK: the hosted flow in a modal iframe. No dependencies. Apache-2.0. */
(function (w) {
  "use strict";
  var d = w.document, current = null;
  var CSS = ".accord-embed{position:fixed;inset:0;z-index:2147483647;display:flex;align-items:center;" +
    "justify-content:center;background:rgba(0,0,0,.55)}.accord-embed iframe{border:0;width:min(480px,100vw);" +
    "height:min(720px,100vh);background:#fff;border-radius:12px;box-shadow:0 8px 40px rgba(0,0,0,.35)}" +
    ".accord-embed>button{position:absolute;top:8px;right:8px;min-width:44px;min-height:44px;font:24px/1 system-ui,sans-serif;" +
    "border:0;border-radius:22px;background:#fff;color:#111;cursor:pointer}" +
    ".accord-embed div{background:#fff;color:#111;font:16px/1.5 system-ui,sans-serif;padding:24px;border-radius:12px;max-width:min(420px,90vw)}" +
    ".accord-embed div button{font:inherit;padding:10px 20px;border:0;border-radius:6px;background:#1a56db;color:#fff;cursor:pointer}" +
    ".accord-embed button:focus-visible{outline:3px solid #1a56db;outline-offset:2px}" +
    "@media (max-width:520px){.accord-embed iframe{border-radius:0}}";
  // The SDK's own words, for when the flow cannot speak: in the flow's last language.
  var TEXT = {
    en: ["The connection page is not responding. Close this window and try again.", "Close"],
    fr: ["La page de connexion ne r\u00e9pond pas. Fermez cette fen\u00eatre et r\u00e9essayez.", "Fermer"]
  };
  var WHY = {
    not_framed: "The flow did not start in the frame: this page's origin is not in integration.embedding_origins, or the page could not load.",
    unresponsive: "The flow stopped answering (network lost, or the frame left the flow)."
  };

  function call(fn, data) {
    if (typeof fn === "function") {
      try { fn(data); } catch (e) { setTimeout(function () { throw e; }); }
    }
  }

  function open(o) {
    if (!o || !o.url) { throw new Error("Accord.open: `url` (the link session URL) is required"); }
    if (current) { current.close(); }
    var u = new URL(o.url, w.location.href);
    var origin = u.origin;
    u.searchParams.set("embed", w.location.origin);
    var label = o.title || "Connect your accounts";
    var opener = d.activeElement;
    var lang = (d.documentElement.lang || "en").slice(0, 2);
    var style = d.createElement("style");
    if (o.nonce) { style.nonce = o.nonce; }
    style.textContent = CSS;
    var root = d.createElement("div");
    root.className = "accord-embed";
    root.setAttribute("role", "dialog");
    root.setAttribute("aria-modal", "true");
    root.setAttribute("aria-label", label);
    var frame = d.createElement("iframe");
    frame.title = label;
    frame.src = u.href;
    // Scripts, forms, the platform popup and (popup blocked) a top-level navigation on a click.
    frame.setAttribute("sandbox", "allow-scripts allow-same-origin allow-forms allow-popups " +
      "allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation");
    var x = d.createElement("button");
    x.type = "button";
    x.textContent = "\u00d7";
    x.setAttribute("aria-label", o.closeLabel || "Close");
    root.appendChild(frame);
    root.appendChild(x);

    // Focus trap: everything else on the page is inert while the dialog is open.
    var inert = [];
    Array.prototype.forEach.call(d.body.children, function (el) {
      if (!el.inert) { el.inert = true; inert.push(el); }
    });
    d.head.appendChild(style);
    d.body.appendChild(root);
    if (!o.nonce && getComputedStyle(root).position !== "fixed") {
      console.warn("Accord.open: this page's Content-Security-Policy blocked the SDK's styles; pass your CSP nonce as `nonce`.");
    }
    frame.focus();

    var ready = false, closed = false, dead = false, timer = 0;
    // The flow answers every message from the SDK; silence past `ms` means it is gone.
    function expect(ms, then) {
      clearTimeout(timer);
      timer = setTimeout(then, ms);
    }
    function fail() { stop(ready ? "unresponsive" : "not_framed"); }
    function stop(code) {
      if (dead || closed) { return; }
      dead = true;
      clearTimeout(timer);
      var t = TEXT[lang] || TEXT.en;
      var box = d.createElement("div");
      box.setAttribute("role", "alert");
      var p = d.createElement("p");
      p.textContent = t[0];
      var b = d.createElement("button");
      b.type = "button";
      b.textContent = t[1];
      b.addEventListener("click", leave);
      box.appendChild(p);
      box.appendChild(b);
      frame.style.display = "none";
      root.insertBefore(box, x);
      b.focus();
      call(o.onError, { code: code, message: WHY[code], recoverable: false });
    }
    function onMessage(e) {
      // Only Accord's own frame, from Accord's exact origin.
      if (e.origin !== origin || e.source !== frame.contentWindow || dead) { return; }
      var m = e.data;
      if (!m || m.accord !== 1 || typeof m.type !== "string") { return; }
      var data = m.data || {};
      clearTimeout(timer);
      if (m.type === "ready") {
        if (!ready) { frame.focus(); frame.contentWindow.postMessage({ accord: 1, type: "focus" }, origin); }
        ready = true;
        if (TEXT[data.lang]) { lang = data.lang; }
        call(o.onEvent, { step: data.step });
      }
      else if (m.type === "connection") { call(o.onConnection, data); }
      else if (m.type === "consent") { call(o.onConsent, data); }
      else if (m.type === "error") { call(o.onError, data); }
      else if (m.type === "finish") { call(o.onFinish, data); close(); }
      else if (m.type === "close") { leave(); }
    }
    // Each page the frame loads must say it is the flow; a refused or failed page never does.
    frame.addEventListener("load", function () {
      if (closed || dead) { return; }
      try { frame.contentWindow.postMessage({ accord: 1, type: "ping" }, origin); } catch (e) { /* gone */ }
      expect(5000, fail);
    });
    expect(20000, fail);
    // The customer leaves without the flow: the host hears the same as from the flow's Exit.
    function leave() {
      if (closed) { return; }
      call(o.onFinish, { companyId: null, connectionId: null, platform: null, status: "exited", errorCode: null });
      close();
    }
    // Escape or the close button: the flow asks "leave without finishing?" (its own words).
    function exit() {
      if (!ready || dead) { leave(); return; }
      frame.contentWindow.postMessage({ accord: 1, type: "exit" }, origin);
      expect(2000, function () { fail(); leave(); });
    }
    function onKey(e) {
      if (e.key === "Escape") { e.preventDefault(); exit(); }
    }
    function close() {
      if (closed) { return; }
      closed = true;
      clearTimeout(timer);
      w.removeEventListener("message", onMessage);
      d.removeEventListener("keydown", onKey, true);
      // Hidden at once, removed a moment later: the click that answered "leave" inside the
      // frame is still being delivered, and tearing its frame down under it can lose the event's
      // acknowledgement (seen in Chromium with the frame in its own process).
      root.style.display = "none";
      setTimeout(function () {
        if (root.parentNode) { root.parentNode.removeChild(root); }
        if (style.parentNode) { style.parentNode.removeChild(style); }
      }, 100);
      inert.forEach(function (el) { el.inert = false; });
      if (opener && opener.focus) { opener.focus(); }
      current = null;
      call(o.onClose, {});
    }
    w.addEventListener("message", onMessage);
    d.addEventListener("keydown", onKey, true);
    x.addEventListener("click", exit);
    current = { close: close };
    return current;
  }

  w.Accord = { open: open, version: "1" };
})(window);
