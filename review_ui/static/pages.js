// Unidentified page: search sheets by serial as the person types (shows which pages each sheet already has).
(function () {
  'use strict';
  const serial = document.getElementById('serial');
  if (!serial) return;
  const survey = document.getElementById('survey');
  const list = document.getElementById('serials');
  const out = document.getElementById('search-results');
  let timer = null;
  async function search() {
    const q = serial.value.trim();
    if (!q) { out.textContent = ''; return; }
    const url = '/api/sheets/search?survey=' + encodeURIComponent(survey.value) + '&q=' + encodeURIComponent(q);
    const response = await fetch(url, { credentials: 'same-origin' });
    if (!response.ok) return;
    const results = (await response.json()).results;
    list.innerHTML = '';
    results.forEach(r => { const o = document.createElement('option'); o.value = r.serial; list.appendChild(o); });
    out.textContent = results.map(r => r.serial + ' (' + r.status_words + ', ' + (r.pages_in.join(',') || '—') + '/' + r.page_count + ')').join(' · ');
  }
  serial.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(search, 150); });
})();
