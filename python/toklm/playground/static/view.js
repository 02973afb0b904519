// Hover on a token or an id: highlight both, name the token under the column, and outline the
// tokens of the other columns that cover the same bytes of the text.
// Shared by the playground page and notebooks (toklm.show); installs one listener per page.
(function () {
  if (window.__toklmView) return;
  window.__toklmView = true;
  var lit = [];
  function reveal(el) {
    var pane = el.parentElement;
    if (!pane || pane.scrollHeight <= pane.clientHeight) return;
    var top = el.offsetTop, bottom = top + el.offsetHeight;
    if (top < pane.scrollTop || bottom > pane.scrollTop + pane.clientHeight) {
      pane.scrollTop = Math.max(0, top - pane.clientHeight / 2);
    }
  }
  function light(el) {
    lit.forEach(function (x) { x.classList.remove("hl"); x.classList.remove("hl2"); });
    lit = [];
    if (!el) return;
    var column = el.closest(".tk");
    if (!column) return;
    var i = el.getAttribute("data-i");
    lit = Array.prototype.slice.call(column.querySelectorAll('[data-i="' + i + '"]'));
    lit.forEach(function (x) { x.classList.add("hl"); if (x !== el) reveal(x); });
    var token = column.querySelector('.pieces [data-i="' + i + '"]');
    var info = column.querySelector(".hover");
    if (info && token) info.textContent = token.title;
    var view = column.closest(".toklm-view");
    if (!token || !view) return;
    var s = +token.getAttribute("data-s"), e = +token.getAttribute("data-e");
    Array.prototype.forEach.call(view.querySelectorAll(".tk"), function (other) {
      if (other === column) return;
      Array.prototype.forEach.call(other.querySelectorAll(".pieces [data-s]"), function (t) {
        var ts = +t.getAttribute("data-s"), te = +t.getAttribute("data-e");
        if (ts < e && te > s || ts === s && te === e) { t.classList.add("hl2"); lit.push(t); }
      });
    });
  }
  document.addEventListener("mouseover", function (e) {
    var el = e.target.closest && e.target.closest(".toklm-view [data-i]");
    if (el || lit.length) light(el);
  });
})();
