// Sorting and filtering of the findings table. Reads the DOM only: no data is embedded in script.
(function () {
  "use strict";
  var table = document.getElementById("findings-table");
  if (!table || !table.tBodies.length) {
    return;
  }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var text = document.getElementById("filter-text");
  var severity = document.getElementById("filter-severity");
  var practice = document.getElementById("filter-practice");
  var count = document.getElementById("findings-count");

  function apply() {
    var query = text.value.trim().toLowerCase();
    var floor = parseInt(severity.value, 10) || 0;
    var want = practice.value;
    var shown = 0;
    rows.forEach(function (row) {
      var ok = parseInt(row.getAttribute("data-rank"), 10) >= floor &&
        (!want || (" " + row.getAttribute("data-practices") + " ").indexOf(" " + want + " ") >= 0) &&
        (!query || row.textContent.toLowerCase().indexOf(query) >= 0);
      row.hidden = !ok;
      if (ok) {
        shown += 1;
      }
    });
    count.textContent = shown + " of " + rows.length;
  }

  function addressKey(value) {
    // IPv4 sorts numerically; anything else after it, as text
    var parts = value.split(".");
    if (parts.length === 4 && parts.every(function (p) { return /^\d+$/.test(p); })) {
      return "4:" + parts.map(function (p) { return ("00" + p).slice(-3); }).join(".");
    }
    return "6:" + value;
  }

  function key(row, index, type) {
    var cell = row.cells[index];
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
    if (type === "num") {
      var n = parseFloat(raw);
      return isNaN(n) ? -Infinity : n;
    }
    if (type === "addr") {
      return addressKey(raw);
    }
    return raw.toLowerCase();
  }

  function sortBy(th) {
    var index = th.cellIndex;
    var type = th.getAttribute("data-type") || "text";
    var descending = th.getAttribute("aria-sort") !== "descending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) {
      other.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var order = rows.map(function (row, i) { return { row: row, key: key(row, index, type), i: i }; });
    order.sort(function (a, b) {
      if (a.key < b.key) { return descending ? 1 : -1; }
      if (a.key > b.key) { return descending ? -1 : 1; }
      return a.i - b.i;
    });
    rows = order.map(function (o) { return o.row; });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    var button = th.querySelector("button");
    if (button) {
      button.addEventListener("click", function () { sortBy(th); });
    }
  });
  text.addEventListener("input", apply);
  severity.addEventListener("change", apply);
  practice.addEventListener("change", apply);
  apply();
})();
