/* jobs.js - the jobs page: refreshes the table from GET /api/jobs every few
   seconds while a job is pending or processing, and deletes a job (with its
   raw frames) after a confirmation, via POST /api/jobs/delete. */
'use strict';
(function () {
  var table = document.getElementById('jobs');
  if (!table) return;
  var tbody = table.querySelector('tbody');
  var live = document.getElementById('jobs-live');
  var errBox = document.getElementById('jobs-error');
  var meta = document.getElementById('jobs-meta');
  var timer = null, PERIOD = 3000;

  function cls(state) {
    return state === 'completed' ? 'ok' : state === 'failed' ? 'bad' : state === 'processing' ? 'busy' : 'wait';
  }
  function td(label, child) {
    var c = CS.el('td');
    c.setAttribute('data-label', label);
    if (typeof child === 'string') c.textContent = child; else if (child) c.appendChild(child);
    return c;
  }
  function row(j) {
    var tr = CS.el('tr');
    tr.setAttribute('data-id', j.job_id);
    tr.appendChild(td('Job', String(j.job_id)));
    tr.appendChild(td('Target', j.object_name || '—'));
    tr.appendChild(td('Chunk key', CS.el('code', null, j.chunk_key)));
    tr.appendChild(td('Frames', String(j.n_files)));
    tr.appendChild(td('State', CS.el('span', 'badge ' + cls(j.state), j.state)));
    var p = td('Progress', '');
    if (j.progress && j.state !== 'completed') {
      p.appendChild(CS.el('span', 'prog', j.progress.stage + ' ' + j.progress.done + ' / ' + j.progress.total));
      var bar = CS.el('progress');
      bar.max = Math.max(1, j.progress.total);
      bar.value = j.progress.done;
      p.appendChild(bar);
    }
    else if (j.state === 'pending' && j.attempts > 0) p.appendChild(document.createTextNode('waiting to retry (attempt ' + j.attempts + ')'));
    else if (j.state === 'pending') p.appendChild(CS.el('span', 'muted', 'waiting for a worker'));
    if (j.error && j.state !== 'completed') p.appendChild(CS.el('div', 'error small', j.error));
    tr.appendChild(p);
    tr.appendChild(td('Created', (j.created_at || '').replace('T', ' ').slice(0, 16)));
    var a = CS.el('td', 'acts');
    if (j.stack_id) {
      var v = CS.el('a', 'button small', 'View stack');
      v.href = '/stack?id=' + j.stack_id;
      a.appendChild(v);
      a.appendChild(document.createTextNode(' '));
    }
    var d = CS.el('button', 'danger small js-delete', 'Delete');
    d.type = 'button';
    d.setAttribute('data-id', j.job_id);
    a.appendChild(d);
    tr.appendChild(a);
    return tr;
  }

  function refresh() {
    CS.get('/api/jobs').then(function (res) {
      if (res.status !== 200) { live.textContent = 'Could not refresh: ' + CS.errorText(res.data, res.status); schedule(true); return; }
      var jobs = res.data.jobs || [];
      tbody.textContent = '';
      jobs.forEach(function (j) { tbody.appendChild(row(j)); });
      table.hidden = jobs.length === 0;
      document.querySelector('.empty-note').hidden = jobs.length !== 0;
      var pending = jobs.some(function (j) { return j.state === 'pending' || j.state === 'processing'; });
      live.textContent = pending ? 'Updating every few seconds while work is pending · ' + new Date().toLocaleTimeString() : '';
      schedule(pending);
    });
  }
  function schedule(on) {
    clearTimeout(timer);
    if (on) timer = setTimeout(refresh, PERIOD);
  }

  tbody.addEventListener('click', function (e) {
    var b = e.target.closest('.js-delete');
    if (!b) return;
    var id = b.getAttribute('data-id');
    if (!window.confirm('Delete job ' + id + ' and its raw frames? A finished stack stays.')) return;
    b.disabled = true;
    CS.post('/api/jobs/delete', { id: id }).then(function (res) {
      if (res.status !== 200) { CS.showError(errBox, 'Could not delete job ' + id + ': ' + CS.errorText(res.data, res.status)); b.disabled = false; return; }
      CS.showError(errBox, '');
      refresh();
    });
  });

  if (meta && meta.getAttribute('data-pending') === '1') {
    live.textContent = 'Updating every few seconds while work is pending';
    schedule(true);
  }
})();
