// The check-in desk: what is typed (or what a handheld scanner types, ending with Enter) goes to the
// server at once; the answer shows in large type and the field is ready for the next sheet.
(function () {
  'use strict';
  const form = document.getElementById('checkin');
  if (!form) return;
  const input = document.getElementById('code');
  const last = document.getElementById('last');
  const list = document.getElementById('results');
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const counts = { collected: 0, already: 0, refused: 0 };
  let busy = Promise.resolve();

  function show(result) {
    let text = result.message;
    if (result.unit) text += ' · ' + result.unit_name + ' (' + result.unit + ')';
    if (result.household) text += ' · ' + form.dataset.household + ' ' + result.household;
    if (result.quota) text += ' · ' + form.dataset.collected + ' ' + result.collected + '/' + result.quota;
    last.textContent = text;
    last.className = 'answer outcome-' + result.outcome;
    const item = document.createElement('li');
    item.textContent = text;
    item.className = 'outcome-' + result.outcome;
    list.insertBefore(item, list.firstChild);
    if (result.outcome in counts) {
      counts[result.outcome] += 1;
      document.getElementById('count-' + result.outcome).textContent = counts[result.outcome];
    }
  }

  async function send(code) {
    const body = { code: code, day: document.getElementById('day').value, batch: document.getElementById('batch').value };
    try {
      const response = await fetch(form.dataset.url, {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRFToken': token },
        body: JSON.stringify(body),
      });
      const data = await response.json();
      show(data.result || { outcome: 'refused', message: (data.error && data.error.message) || response.statusText });
    } catch (error) {
      show({ outcome: 'refused', message: form.dataset.failed + ' (' + code + ')' });
    }
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    const code = input.value.trim();
    input.value = '';
    input.focus();
    if (code) busy = busy.then(function () { return send(code); });  // one at a time, in the order scanned
  });
})();
