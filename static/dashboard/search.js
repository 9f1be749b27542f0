/* The log explorer: after "Load more", focus moves to the first row it added (the button is gone), and a status
message says how many rows the table now has, for keyboard and screen-reader users. */
(function () {
  "use strict";

  var before = 0;

  function dataRows() {
    return document.querySelectorAll("#log-rows tr:not(.load-more)");
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.target.closest && event.target.closest("#load-more-row")) before = dataRows().length;
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    if (!event.target.closest || !event.target.closest("#log-rows")) return;
    var rows = dataRows();
    if (rows.length <= before) return;
    var link = rows[before].querySelector("a");
    if (link) link.focus();
    var status = document.getElementById("results-status");
    if (status) {
      status.textContent = rows.length + (rows.length === 1 ? " event shown" : " events shown") + (document.getElementById("load-more-row") ? "; more to load." : ".");
    }
    before = rows.length;
  });
})();
