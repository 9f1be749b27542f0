/* Settings pages: a "Copy" button for a secret shown once (the button stays hidden without JavaScript). */
(function () {
  "use strict";

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var input = document.querySelector(button.getAttribute("data-copy"));
    if (!input || !navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(input.value).then(function () {
        button.textContent = "Copied";
      }, function () {
        input.select();
        button.textContent = "Select and copy";
      });
    });
  });
})();
