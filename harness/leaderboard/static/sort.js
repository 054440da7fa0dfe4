/* Sortable tables: click a column header to sort by it, click again to reverse.
   Cells sort by their data-v attribute (numbers when both parse, text otherwise); cells without a
   number (empty data-v) always stay at the bottom. Loaded as a file: the page's CSP allows no inline script. */
(function () {
  "use strict";

  function key(cell) {
    if (!cell) return "";
    var v = cell.getAttribute("data-v");
    return v === null ? cell.textContent.trim() : v;
  }

  function compare(x, y) {
    var a = parseFloat(x), b = parseFloat(y);
    if (!isNaN(a) && !isNaN(b) && String(a) === String(Number(x)) && String(b) === String(Number(y))) return a - b;
    return x.localeCompare(y, undefined, { numeric: true, sensitivity: "base" });
  }

  function sort(table, th) {
    var index = th.cellIndex;
    var current = th.getAttribute("aria-sort");
    var firstDescending = th.getAttribute("data-dir") === "higher";
    var descending = current ? current === "ascending" : firstDescending;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r, s) {
      var x = key(r.cells[index]), y = key(s.cells[index]);
      if (x === "" || y === "") return (x === "") - (y === "");
      var c = compare(x, y);
      return descending ? -c : c;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      var button = th.querySelector("button");
      if (button) button.addEventListener("click", function () { sort(table, th); });
    });
  });
})();
