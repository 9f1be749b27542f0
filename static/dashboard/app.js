/* The dashboard's shared behaviour (loaded on every page, after htmx). Page scripts are static/dashboard/<area>.js. */
(function () {
  "use strict";

  // The account menu closes on Escape and on a click elsewhere, like a menu should.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.user-menu[open]").forEach(function (menu) {
      menu.removeAttribute("open");
      menu.querySelector("summary").focus();
    });
  });
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.user-menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });

  // Forms marked data-confirm="question" ask before they are sent (no inline handlers: the CSP forbids them).
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);

  // A session that ended (or a server error) during an HTMX request: say so instead of failing silently.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    var box = document.getElementById("htmx-error");
    if (!box) {
      box = document.createElement("p");
      box.id = "htmx-error";
      box.className = "message message-error";
      box.setAttribute("role", "alert");
      var main = document.getElementById("main");
      main.insertBefore(box, main.firstChild);
    }
    box.textContent = status === 403 ? "You are not allowed to do this." :
      status === 429 ? "Too many requests; try again shortly." :
      "The request failed (" + status + "). Reload the page to try again.";
  });
})();
