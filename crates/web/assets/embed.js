// Accord hosted flow inside the embed SDK's iframe (see crates/web/src/pages/embed.rs).
// Framed pages cannot rely on cookies (third-party), so the session handle travels in form
// bodies: this script adds it to every form and turns flow links into posts. Messages to the
// host page use its exact origin; messages from anywhere else are ignored.
(function () {
  "use strict";
  var d = document, w = window;

  // A page that only carries the handle on: post it at once.
  var next = d.querySelector("form[data-accord-continue]");
  if (next) { next.submit(); return; }

  // The popup's last page after the platform sign-in: tell the iframe that opened it, which
  // closes this window once it has the message. Closing here at once could let the iframe see
  // the window closed before the message arrives (they travel apart), and it would then reload
  // its step instead of hearing the outcome. If the iframe never answers, close anyway.
  var done = d.querySelector("meta[name=accord-popup]");
  if (done) {
    if (w.opener) {
      try {
        w.opener.postMessage({ accord: 1, type: "auth", data: {
          connectionId: done.getAttribute("data-connection"),
          status: done.getAttribute("data-status"),
          errorCode: done.getAttribute("data-error") || null
        } }, w.location.origin);
        setTimeout(function () { w.close(); }, 5000);
      } catch (e) { /* the link on the page still works */ }
    }
    return;
  }

  var meta = d.querySelector("meta[name=accord-embed]");
  if (!meta || w.parent === w) { d.body.inert = false; return; }
  var token = meta.getAttribute("content");
  var origin = meta.getAttribute("data-origin");
  var events = [];
  try { events = JSON.parse(meta.getAttribute("data-events") || "[]"); } catch (e) { events = []; }
  var popup = null;

  function post(type, data) {
    w.parent.postMessage({ accord: 1, type: type, data: data || {} }, origin);
  }
  function hidden(form, name, value) {
    var i = d.createElement("input");
    i.type = "hidden"; i.name = name; i.value = value;
    form.appendChild(i);
    return i;
  }
  function carry(form, nav) {
    hidden(form, "accord_embed", token);
    hidden(form, "accord_origin", origin);
    hidden(form, "accord_lang", d.documentElement.lang);
    if (nav) { hidden(form, "accord_nav", "get"); }
  }
  // A link click, as a post (the handle never goes in a URL).
  function go(href) {
    var f = d.createElement("form");
    f.method = "post"; f.action = href;
    carry(f, true);
    d.body.appendChild(f);
    f.submit();
  }
  // A form's target path. (`form.action` is not used: the consent form has controls named
  // `action`, which shadow the property.)
  function pathOf(form) {
    return new URL(form.getAttribute("action") || w.location.href, w.location.href).pathname;
  }
  // Forms whose answer is the platform's sign-in, which refuses to be framed.
  function toPlatform(form, submitter) {
    var path = pathOf(form);
    if (/\/retry$/.test(path)) { return true; }
    if (!/\/consent$/.test(path) || (submitter && submitter.value !== "connect")) { return false; }
    var box = form.querySelector("input[name=agree]");
    return !box || box.checked;
  }

  // An error page reached without a session (a link that can no longer be used) has nothing
  // to carry: its language links reload it as they are, anything else opens outside the frame.
  if (token) {
    d.querySelectorAll("form").forEach(function (form) {
      var method = (form.getAttribute("method") || "get").toLowerCase();
      if (method === "dialog") { return; }
      if (method !== "post") { form.setAttribute("method", "post"); carry(form, true); } else { carry(form, false); }
      if (/\/link\/manage$/.test(pathOf(form))) { form.setAttribute("target", "_blank"); }
      form.addEventListener("submit", function (e) {
        if (!toPlatform(form, e.submitter)) { return; }
        var where = hidden(form, "accord_window", "top");
        popup = w.open("about:blank", "accord_platform", "popup,width=520,height=700");
        if (popup) {
          where.value = "popup";
          form.setAttribute("target", "accord_platform");
          var timer = setInterval(function () {
            if (!popup || !popup.closed) { return; }
            clearInterval(timer);
            // Closed without a word (or the platform cut the opener): show where things stand.
            if (popup) { popup = null; go(w.location.pathname); }
          }, 500);
        } else {
          // Popup blocked: the platform sign-in at the top level; the return URL brings the customer back.
          form.setAttribute("target", "_top");
        }
      });
    });
  }

  d.addEventListener("click", function (e) {
    var a = e.target.closest ? e.target.closest("a[href]") : null;
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) { return; }
    var u = new URL(a.href, w.location.href);
    if (u.origin === w.location.origin && u.pathname === w.location.pathname && (u.hash || !token)) { return; }
    if (u.origin !== w.location.origin || !/^\/link\//.test(u.pathname) || a.target || !token) {
      a.target = "_blank"; a.rel = "noopener noreferrer";
      return;
    }
    e.preventDefault();
    go(u.pathname + u.search);
  });

  // Leaving, however asked (the flow's own Exit, Escape, the SDK's close button), ends the
  // same way: through /link/finish, which records the exit and tells the host `finish`, after
  // which the SDK closes the modal. Without a session there is nothing to record.
  var flowExit = d.querySelector("#exit-dialog form");
  function leave() {
    if (flowExit) { flowExit.submit(); } else if (token) { go("/link/finish"); } else {
      post("finish", { companyId: null, connectionId: null, platform: null, status: "exited", errorCode: null });
    }
  }
  // `autofocus` is blocked in a cross-origin frame: the safe answer takes focus by hand.
  function focusStay(dialog) {
    var b = dialog && dialog.querySelector("[data-exit-cancel], button[value=stay]");
    if (b) { b.focus(); }
  }
  var exitLink = d.querySelector("[data-exit]");
  if (exitLink) {
    exitLink.addEventListener("click", function () {
      setTimeout(function () { focusStay(d.getElementById("exit-dialog")); });
    });
  }
  var exit = d.getElementById("accord-exit");
  function ask() {
    if (!token) { leave(); } else if (exit && !exit.open) { exit.showModal(); focusStay(exit); }
  }
  if (exit) {
    // The answer closes the dialog itself, not through the dialog form's submission.
    exit.querySelectorAll("button[value]").forEach(function (b) {
      b.addEventListener("click", function (e) { e.preventDefault(); exit.close(b.value); });
    });
    exit.addEventListener("close", function () {
      if (exit.returnValue === "leave") { leave(); }
    });
  }
  d.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && !(exit && exit.open) && !d.querySelector("dialog[open]")) { e.preventDefault(); ask(); }
  });

  w.addEventListener("message", function (e) {
    var m = e.data;
    if (!m || m.accord !== 1) { return; }
    if (popup && e.source === popup && e.origin === w.location.origin && m.type === "auth") {
      var from = popup;
      popup = null;
      try { from.close(); } catch (x) { /* it closes itself */ }
      var r = m.data || {};
      if (r.status === "error") {
        post("error", { code: "sign_in_failed", message: "The platform sign-in did not finish (" +
          (r.errorCode || "no code") + "); the customer can try again in the flow.", recoverable: true,
          connectionId: r.connectionId, status: "error", errorCode: r.errorCode });
      }
      go("/link/connections/" + encodeURIComponent(r.connectionId));
    } else if (e.source === w.parent && e.origin === origin) {
      // Every word from the host is answered, so it knows the flow is alive.
      if (m.type === "ping" || m.type === "exit") { post("pong"); }
      if (m.type === "exit") { ask(); }
      if (m.type === "focus" && main) { main.focus({ preventScroll: true }); }
    }
  });

  // The page takes input from here on (see the template), focus included when the SDK gave
  // this frame focus: the first Tab then moves within the flow.
  d.body.inert = false;
  var main = d.getElementById("main");
  if (main && d.hasFocus()) { main.focus({ preventScroll: true }); }
  events.forEach(function (ev) { post(ev.type, ev.data); });
  post("ready", { step: meta.getAttribute("data-step") || "other", lang: d.documentElement.lang });
})();
