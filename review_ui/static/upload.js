// Poll an upload job until the pipeline has finished it; show progress and what happened, in words.
(function () {
  'use strict';
  const box = document.getElementById('job');
  if (!box) return;
  async function poll() {
    const response = await fetch(box.dataset.url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    if (!response.ok) return;
    const job = (await response.json()).job;
    document.getElementById('job-state').textContent = job.state_words || job.state;
    const bar = document.getElementById('job-progress');
    bar.max = job.total || 1;
    bar.value = job.done;
    document.getElementById('job-count').textContent = job.done + '/' + job.total;
    const lines = job.lines || [];
    const out = document.getElementById('job-summary');
    out.replaceChildren(...lines.map(text => { const li = document.createElement('li'); li.textContent = text; return li; }));
    if (job.error) { const li = document.createElement('li'); li.className = 'error'; li.textContent = job.error; out.appendChild(li); }
    const errors = document.getElementById('job-errors');  // each file or page that could not be read, named
    errors.replaceChildren(...((job.summary && job.summary.errors) || []).map((e) => {
      const item = document.createElement('li');
      item.textContent = e.message;
      return item;
    }));
    box.dataset.state = job.state;
    if (job.state === 'queued' || job.state === 'running') setTimeout(poll, 700);
  }
  if (box.dataset.state === 'queued' || box.dataset.state === 'running') setTimeout(poll, 300);
})();
