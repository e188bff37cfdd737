// Keyboard-first review: option codes as keys ("10": 1 then 0), 0 blank, * or X invalid, arrows move between grid rows,
// Enter confirms, S skips, P shows the whole page. The next item is leased and loaded while the
// reviewer looks at this one, so confirming swaps it in at once (no page load).
(function () {
  'use strict';
  let rows = [], current = 0, prefetched = null, busy = false;
  let typed = '', typedAt = 0, toggled = null;  // the option code being typed (see choose)

  function csrf() { return document.querySelector('meta[name=csrf-token]').content; }
  function root() { return document.getElementById('item'); }

  function select(index) {
    typed = '';  // a code is spelled within one row
    toggled = null;
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach((r, i) => r.classList.toggle('current', i === current));
    const text = rows[current] && rows[current].querySelector('.text-answer');
    if (text) { text.focus(); if (text.select && text.tagName === 'INPUT') text.select(); }
  }

  // Codes may be longer than one key ("10", "11", "A1"): keys typed within TYPE_AHEAD_MS of each other
  // spell one code. A code that begins a longer one ("1" of "10") is ticked but the row stays until
  // the next key, an arrow or Enter says which was meant.
  const TYPE_AHEAD_MS = 900;

  function codeOf(input) { return (input.dataset.key || input.value).toLowerCase(); }

  function choose(key) {
    const row = rows[current];
    if (!row) return false;
    const inputs = [...row.querySelectorAll('input[type=radio], input[type=checkbox]')];
    const begins = code => inputs.some(i => codeOf(i).startsWith(code));
    const now = Date.now();
    let code = (now - typedAt < TYPE_AHEAD_MS ? typed : '') + key;
    if (!begins(code)) code = key;
    if (!begins(code)) return false;
    if (code.length > 1 && toggled) { toggled.checked = !toggled.checked; }  // "1" then "0" is 10, not 1 and 10
    toggled = null;
    typed = code;
    typedAt = now;
    const target = inputs.find(i => codeOf(i) === code);
    if (!target) return true;  // the start of longer codes only: wait for the next key
    const longer = inputs.some(i => codeOf(i) !== code && codeOf(i).startsWith(code));
    if (target.type === 'checkbox') {
      target.checked = !target.checked;
      if (longer) toggled = target;
      return true;
    }
    if (code === '0' || code === '*') inputs.filter(i => i.type === 'checkbox').forEach(i => { i.checked = false; });
    target.checked = true;
    if (!longer && current < rows.length - 1) select(current + 1);
    return true;
  }

  function startPrefetch() {
    const item = root();
    if (!item) return;
    const url = item.dataset.next + '?format=json&exclude=' + encodeURIComponent(item.dataset.ids);
    prefetched = fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
      .then(r => (r.ok ? r.json() : null))
      .then(data => {
        if (!data || !data.item) return { done: true };
        new Image().src = data.image;  // warm the browser cache with the next crop
        return fetch(data.url, { credentials: 'same-origin' }).then(r => r.text()).then(html => ({ url: data.url, html }));
      })
      .catch(() => null);
  }

  function showMessage(text) {
    const p = document.createElement('p');
    p.className = 'flash error';
    p.setAttribute('role', 'alert');
    p.textContent = text;
    document.getElementById('main').prepend(p);
  }

  async function swapToNext(message) {
    const next = prefetched ? await prefetched : null;
    if (!next || next.done || !next.html) { location.href = root().dataset.next; return; }
    const doc = new DOMParser().parseFromString(next.html, 'text/html');
    const main = doc.getElementById('main');
    if (!main || !doc.getElementById('item')) { location.href = next.url; return; }
    document.getElementById('main').innerHTML = main.innerHTML;
    const meta = doc.querySelector('meta[name=csrf-token]');
    if (meta) document.querySelector('meta[name=csrf-token]').content = meta.content;
    document.title = doc.title;
    history.pushState({}, '', next.url);
    if (message) showMessage(message);
    init();
  }

  async function post(form) {
    if (busy) return;
    busy = true;
    try {
      const response = await fetch(form.action, {
        method: 'POST', body: new FormData(form), credentials: 'same-origin',
        headers: { Accept: 'application/json', 'X-CSRFToken': csrf() },
      });
      const body = await response.json().catch(() => ({}));
      const message = (body.error && body.error.message) || response.statusText;
      if (response.status === 400) { showMessage(message); return; }  // e.g. a row left unanswered: stay here
      await swapToNext(response.ok ? null : message);
    } finally {
      busy = false;
    }
  }

  function togglePage() {
    const view = document.getElementById('page-view');
    const button = document.getElementById('show-page');
    if (!view || !button || !button.dataset.src) return;
    const img = view.querySelector('img');
    if (!img.getAttribute('src')) img.src = button.dataset.src;
    view.hidden = !view.hidden;
    if (!view.hidden) view.scrollIntoView({ block: 'start' });
  }

  function onKey(e) {
    if (!root() || e.ctrlKey || e.metaKey || e.altKey) return;
    const inText = e.target.classList && e.target.classList.contains('text-answer');
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); post(document.getElementById('decide-form')); return; }
    if (e.key === 'Escape') { e.target.blur && e.target.blur(); return; }
    if (inText) return;  // typing: the keys belong to the text
    const key = e.key.toLowerCase();
    // an option code first (codes may hold letters); then the command keys
    if (/^[0-9a-z]$/.test(key) && choose(key)) { e.preventDefault(); return; }
    if (key === 's') { e.preventDefault(); post(document.getElementById('skip-form')); }
    else if (key === 'p') { e.preventDefault(); togglePage(); }
    else if (key === 'arrowdown') { e.preventDefault(); select(current + 1); }
    else if (key === 'arrowup') { e.preventDefault(); select(current - 1); }
    else if (key === 'x' || key === '*') { e.preventDefault(); choose('*'); }
  }

  function init() {
    const item = root();
    if (!item) return;
    rows = [...item.querySelectorAll('fieldset.row')];
    rows.forEach((r, i) => r.addEventListener('click', () => select(i)));
    document.getElementById('decide-form').addEventListener('submit', e => { e.preventDefault(); post(e.target); });
    document.getElementById('skip-form').addEventListener('submit', e => { e.preventDefault(); post(e.target); });
    document.getElementById('show-page').addEventListener('click', togglePage);
    select(0);
    startPrefetch();
  }

  document.addEventListener('keydown', onKey);
  window.addEventListener('popstate', () => location.reload());
  init();
})();
