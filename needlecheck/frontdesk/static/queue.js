// Keeps the open queue current: when the server's version changes, the rows are
// fetched again with the page's own filters. No reload, no lost filter.
(function () {
  "use strict";
  var table = document.getElementById("queue");
  var rows = document.getElementById("queue-rows");
  if (!table || !rows) return;
  var version = table.getAttribute("data-version");
  function refresh() {
    fetch("/api/queue/version", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body || body.version === version) return null;
        version = body.version;
        var activity = document.getElementById("activity");
        if (activity) {
          fetch("/queue/activity", { credentials: "same-origin" })
            .then(function (r) { return r.ok ? r.text() : null; })
            .then(function (html) { if (html !== null) activity.innerHTML = html; });
        }
        var pager = document.getElementById("queue-pager");
        if (pager) {
          // The count and the page links follow the rows ("51–100 of 2,340").
          fetch("/queue/pager" + window.location.search, { credentials: "same-origin" })
            .then(function (r) { return r.ok ? r.text() : null; })
            .then(function (html) { if (html !== null) pager.innerHTML = html; });
        }
        return fetch("/queue/rows" + window.location.search, { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.text() : null; })
          .then(function (html) { if (html !== null) rows.innerHTML = html; });
      })
      .catch(function () { /* the next tick tries again */ });
  }
  window.setInterval(refresh, 3000);
})();
