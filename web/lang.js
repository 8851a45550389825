// The language before the app starts, so that <html lang> is right from the first paint.
(function () {
  var kept = null;
  try { kept = localStorage.getItem("crowdact.lang"); } catch (e) {}
  var nav = (navigator.language || "").toLowerCase();
  document.documentElement.lang = kept === "fr" || kept === "en" ? kept : (nav.indexOf("en") === 0 ? "en" : "fr");
})();
