// Sortable tables: click a header to sort by that column (numbers by their data-sort value), again to reverse.
(function () {
  'use strict';
  function value(row, index, numeric) {
    const cell = row.cells[index];
    if (!cell) return numeric ? -Infinity : '';
    const raw = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
    return numeric ? parseFloat(raw) || 0 : raw.toLocaleLowerCase('vi');
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    table.querySelectorAll('thead th').forEach(function (th, index) {
      th.tabIndex = 0;
      function sort() {
        const numeric = th.dataset.type === 'number';
        const ascending = th.getAttribute('aria-sort') !== 'ascending';
        table.querySelectorAll('thead th').forEach(function (other) { other.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
        const body = table.tBodies[0];
        const rows = Array.from(body.rows);
        rows.sort(function (a, b) {
          const x = value(a, index, numeric), y = value(b, index, numeric);
          const order = numeric ? x - y : x.localeCompare(y, 'vi');
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      }
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (event) { if (event.key === 'Enter') sort(); });
    });
  });
})();
