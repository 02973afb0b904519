// The playground page: sends the text and the chosen tokenizers to the server and inserts the
// HTML it draws (toklm/playground/render.py, the renderer notebooks use too). State lives in the
// URL fragment: #t=gpt2&t=cl100k_base&m=gpt-4o&l=ko&text=...
"use strict";
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var text = $("text"), view = $("view"), errorBox = $("error"), info = $("textinfo");
  var model = $("model"), lang = $("lang"), own = $("own"), costOut = $("cost");
  var ownEn = $("own-en"), ownOther = $("own-other"), premiumOut = $("premium");
  var slots = [0, 1, 2, 3].map(function (i) { return $("tok" + i); });
  var SEED = "안녕하세요, 우리는 Gmarket입니다. 🎉";
  var DEFAULT = ["gpt2", "cl100k_base", "o200k_base"];
  var MAX_URL_TEXT = 16000;
  var limits = { max_chars: 1000000 };
  var seq = 0, inflight = null, win = null, loading = false, inputAt = 0, typingTimer = 0;
  var fillTimer = 0, moreCtrl = null;
  // Read by the tests and the benchmark: how many views were drawn and how long they took.
  var stats = window.toklmPlayground = { drawn: 0, lastInputToDrawnMs: null, lastBreakdownMs: null, error: null };

  function chosen() {
    return slots.map(function (s) { return s.value.trim(); }).filter(Boolean);
  }

  function utf8Length(s) { return new TextEncoder().encode(s).length; }

  // Characters as the server counts them (code points, not UTF-16 units).
  function codePoints(s) { var pairs = s.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g); return s.length - (pairs ? pairs.length : 0); }

  function saveState() {
    var p = new URLSearchParams();
    chosen().forEach(function (t) { p.append("t", t); });
    if (model.value) p.set("m", model.value);
    if (lang.value && lang.value !== "own") p.set("l", lang.value);
    var long = encodeURIComponent(text.value).length > MAX_URL_TEXT;
    if (!long) p.set("text", text.value);
    history.replaceState(null, "", "#" + p.toString());
    return long;
  }

  function loadState() {
    var p = new URLSearchParams(location.hash.slice(1));
    var ts = p.getAll("t");
    if (!ts.length) ts = DEFAULT;
    slots.forEach(function (s, i) { s.value = ts[i] || ""; });
    text.value = p.has("text") ? p.get("text") : SEED;
    if (p.has("m")) model.value = p.get("m");
    if (p.has("l")) lang.value = p.get("l");
  }

  function showError(message, spec) {
    stats.error = message;
    errorBox.textContent = message;
    errorBox.hidden = false;
    slots.forEach(function (s) {
      var bad = spec !== undefined && s.value.trim() === spec;
      s.classList.toggle("bad", bad);
      s.setAttribute("aria-invalid", bad ? "true" : "false");
    });
  }

  function clearError() {
    stats.error = null;
    errorBox.hidden = true;
    errorBox.textContent = "";
    slots.forEach(function (s) { s.classList.remove("bad"); s.setAttribute("aria-invalid", "false"); });
  }

  function post(url, body, signal) {
    return fetch(url, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body), signal: signal,
    }).then(function (r) {
      return r.json().catch(function () { return { error: "HTTP " + r.status }; }).then(function (data) {
        if (!r.ok) {
          var e = new Error(data.error || "HTTP " + r.status);
          e.data = data;
          throw e;
        }
        return data;
      });
    });
  }

  function afterPaint(f) { requestAnimationFrame(function () { setTimeout(f, 0); }); }

  function update() {
    var my = ++seq, startedFor = inputAt;
    if (inflight) inflight.abort();
    clearTimeout(fillTimer);
    if (moreCtrl) moreCtrl.abort();
    inflight = new AbortController();
    var tooLongForUrl = saveState();
    var n = codePoints(text.value);
    info.textContent = n.toLocaleString() + " characters · " + utf8Length(text.value).toLocaleString() +
      " bytes (UTF-8)" + (tooLongForUrl ? " · too long to keep in the link; the link keeps the tokenizers" : "");
    if (n > limits.max_chars) {
      showError("The text is " + n.toLocaleString() + " characters; this playground accepts at most " +
        limits.max_chars.toLocaleString() + " (start it with toklm playground --max-chars N to allow more).");
      return;
    }
    var toks = chosen();
    if (!toks.length) { showError("Choose at least one tokenizer."); return; }
    var body = { text: text.value, tokenizers: toks };
    if (model.value) body.model = model.value;
    var sentAt = performance.now();
    post("/api/view", body, inflight.signal).then(function (data) {
      if (my !== seq) return;
      var answeredAt = performance.now();
      clearError();
      view.innerHTML = data.html;
      win = data.window;
      costOut.innerHTML = data.cost ? data.cost.html : "";
      afterPaint(function () {
        if (my !== seq) return;
        stats.drawn += 1;
        if (startedFor) {
          var now = performance.now();
          stats.lastInputToDrawnMs = now - startedFor;
          stats.lastBreakdownMs = { wait: sentAt - startedFor, request: answeredAt - sentAt, draw: now - answeredAt };
          performance.measure("toklm-input-to-drawn", { start: startedFor, end: now });
        }
        document.body.setAttribute("data-drawn", String(stats.drawn));
        scheduleFill();
      });
    }).catch(function (e) {
      if (e.name === "AbortError" || my !== seq) return;
      showError(e.message, e.data && e.data.tokenizer);
    });
    updatePremium();
  }

  // Once typing pauses, draw further windows while a column's pane is not yet full (then
  // scrolling draws more).
  function scheduleFill() {
    clearTimeout(fillTimer);
    fillTimer = setTimeout(fillPanes, 150);
  }

  function fillPanes() {
    if (!win || win.done) return;
    var panes = view.querySelectorAll(".pieces");
    for (var i = 0; i < panes.length; i++) {
      if (panes[i].scrollHeight < panes[i].clientHeight + 200) { loadMore(true); return; }
    }
  }

  function loadMore(filling) {
    if (!win || win.done || loading) return;
    loading = true;
    var my = seq, body = { text: text.value, tokenizers: chosen(), start: win.end, max_tokens: 1000 };
    moreCtrl = new AbortController();
    post("/api/view", body, moreCtrl.signal).then(function (data) {
      if (my !== seq) return;
      data.columns.forEach(function (c, k) {
        var column = view.querySelector('.tk[data-k="' + k + '"]');
        column.querySelector(".pieces").insertAdjacentHTML("beforeend", c.pieces);
        column.querySelector(".ids").insertAdjacentHTML("beforeend", " " + c.ids);
      });
      win = data.window;
      var more = view.querySelector(".more");
      if (more && win.done) more.remove();
      else if (more) more.textContent = "Drawn up to byte " + win.end.toLocaleString() + " of " +
        data.bytes.toLocaleString() + ". Scroll for more.";
      if (filling === true) scheduleFill();
    }).catch(function (e) {
      if (e.name !== "AbortError" && my === seq) showError(e.message);
    }).finally(function () { loading = false; });
  }

  function updatePremium() {
    var toks = chosen();
    own.hidden = lang.value !== "own";
    if (!lang.value || !toks.length) { premiumOut.innerHTML = ""; return; }
    var body = { tokenizers: toks };
    if (lang.value === "own") {
      if (!ownEn.value || !ownOther.value) {
        premiumOut.textContent = "Paste the same text in English and in another language.";
        return;
      }
      body.english = ownEn.value;
      body.other = ownOther.value;
    } else {
      body.language = lang.value;
    }
    post("/api/premium", body).then(function (data) { premiumOut.innerHTML = data.html; })
      .catch(function (e) { premiumOut.textContent = e.message; });
  }

  function fill(list) {
    var datalist = $("tokenizer-list");
    list.tokenizers.forEach(function (c) {
      var o = document.createElement("option");
      o.value = c.id;
      o.label = c.label + " · " + c.group;
      datalist.appendChild(o);
    });
    list.models.forEach(function (m) { model.add(new Option(m, m)); });
    list.languages.forEach(function (l) { lang.add(new Option(l.name, l.code)); });
    lang.add(new Option("Your own pair…", "own"));
    limits = list;
  }

  text.addEventListener("input", function () {
    inputAt = performance.now();
    clearTimeout(typingTimer);
    typingTimer = setTimeout(update, 20);
  });
  slots.forEach(function (s) { s.addEventListener("change", update); });
  model.addEventListener("change", update);
  lang.addEventListener("change", function () { saveState(); updatePremium(); });
  [ownEn, ownOther].forEach(function (t) {
    t.addEventListener("input", function () { clearTimeout(typingTimer); typingTimer = setTimeout(updatePremium, 150); });
  });
  view.addEventListener("scroll", function (e) {
    var pane = e.target;
    if (pane.scrollHeight - pane.scrollTop - pane.clientHeight < 200) loadMore();
  }, true);
  view.addEventListener("click", function (e) { if (e.target.closest(".more")) loadMore(); });
  window.addEventListener("hashchange", function () {
    var p = new URLSearchParams(location.hash.slice(1));
    if (p.get("text") !== text.value || p.getAll("t").join("\n") !== chosen().join("\n")) {
      loadState();
      update();
    }
  });

  fetch("/api/tokenizers").then(function (r) { return r.json(); }).then(function (list) {
    fill(list);
    loadState();
    update();
  }).catch(function (e) { showError("Cannot reach the playground server: " + e.message); });
})();
