// Print buttons on the printable case documents (受理通知书, 一次性告知书). A file, not inline
// script: the Content-Security-Policy allows scripts from this site only.
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-print]")) {
    button.addEventListener("click", () => window.print());
  }
});
