// Keyboard-first review: option codes as keys ("10": 1 then 0), 0 blank, * or X invalid, arrows move between grid rows,
// Enter confirms, S skips, P shows the whole page at the question. The next item is leased (POST) and
// loaded while the reviewer looks at this one, so confirming swaps it in at once (no page load).
// A text field's draft is selected when it gets the focus, so typing replaces it.
(function () {
  'use strict';
  let rows = [], current = 0, prefetched = null, busy = false;
  const skipped = [];  // items skipped on this page: never prefetched again (the server remembers them too)
  let typed = '', typedAt = 0, toggled = null;  // the option code being typed (see choose)

  function csrf() { return document.querySelector('meta[name=csrf-token]').content; }
  function root() { return document.getElementById('item'); }

  function select(index) {
    typed = '';  // a code is spelled within one row
    toggled = null;
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach((r, i) => r.classList.toggle('current', i === current));
    const row = rows[current];
    if (!row) return;
    const text = row.querySelector('.text-answer');
    if (text) text.focus();  // its focus handler selects the draft: typing replaces it
    else if (row.scrollIntoView && rows.length > 1) row.scrollIntoView({ block: 'nearest' });
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
    // leasing is a state change: a POST (a GET of /review/next only looks)
    prefetched = fetch(item.dataset.next, {
      method: 'POST', credentials: 'same-origin',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json', 'X-CSRFToken': csrf() },
      body: JSON.stringify({ exclude: [...item.dataset.ids.split(','), ...skipped.slice(-200)] }),
    })
      .then(r => (r.ok ? r.json() : null))
      .then(data => {
        if (!data || !data.item) return { done: true };
        (data.rows || []).forEach(r => { new Image().src = r.crop; });  // warm the browser cache with the next pictures
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

  function goNext() {  // lease the next item the plain way: a form POST
    const form = document.createElement('form');
    form.method = 'post';
    form.action = root().dataset.next;
    const token = document.createElement('input');
    token.type = 'hidden'; token.name = 'csrf_token'; token.value = csrf();
    form.appendChild(token);
    document.body.appendChild(form);
    form.submit();
  }

  async function swapToNext(message) {
    const next = prefetched ? await prefetched : null;
    if (next && next.done) { location.href = root().dataset.next; return; }  // a GET: the "nothing left" page
    if (!next || !next.html) { goNext(); return; }
    const doc = new DOMParser().parseFromString(next.html, 'text/html');
    const main = doc.getElementById('main');
    if (!main || !doc.getElementById('item')) { location.href = next.url; return; }
    document.getElementById('main').innerHTML = main.innerHTML;
    const meta = doc.querySelector('meta[name=csrf-token]');
    if (meta) document.querySelector('meta[name=csrf-token]').content = meta.content;
    document.title = doc.title;
    history.pushState({}, '', next.url);
    keepPlace();
    if (message) showMessage(message);
    init();
  }

  // The language switch (and anything else that comes back here) returns to the item now on screen.
  function keepPlace() {
    document.querySelectorAll('input[name=next]').forEach(i => { i.value = location.pathname + location.search; });
  }

  async function post(form) {
    if (busy) return;
    busy = true;
    if (form.id === 'skip-form') skipped.push(...root().dataset.ids.split(','));
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

  // P: the whole page over the screen, scrolled so that the question (framed in magenta) is in view.
  function togglePage() {
    const view = document.getElementById('page-view');
    const button = document.getElementById('show-page');
    if (!view || !button || !button.dataset.src) return;
    const img = view.querySelector('img');
    view.hidden = !view.hidden;
    if (view.hidden) { button.focus(); return; }
    const top = parseFloat(root().dataset.focusTop || '0');
    const scroll = () => { view.scrollTop = Math.max(0, img.offsetHeight * top - view.clientHeight / 4); };
    if (!img.getAttribute('src')) { img.addEventListener('load', scroll, { once: true }); img.src = button.dataset.src; }
    else scroll();
    view.focus();
  }

  function onKey(e) {
    if (!root() || e.ctrlKey || e.metaKey || e.altKey) return;
    const inText = e.target.classList && e.target.classList.contains('text-answer');
    const view = document.getElementById('page-view');
    if (view && !view.hidden && (e.key === 'Escape' || e.key.toLowerCase() === 'p')) { e.preventDefault(); togglePage(); return; }
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
    item.querySelectorAll('.text-answer').forEach(t => t.addEventListener('focus', () => t.select()));
    document.getElementById('decide-form').addEventListener('submit', e => { e.preventDefault(); post(e.target); });
    document.getElementById('skip-form').addEventListener('submit', e => { e.preventDefault(); post(e.target); });
    document.getElementById('show-page').addEventListener('click', togglePage);
    select(0);
    startPrefetch();
    item.dataset.ready = '1';  // the keys work from now on (tests wait for this)
  }

  document.addEventListener('keydown', onKey);
  window.addEventListener('popstate', () => location.reload());
  keepPlace();
  init();
})();
