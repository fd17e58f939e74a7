/* upload.js - the upload page: drop files or whole folders, check them here
   (extension, size), upload 3-4 at a time with XMLHttpRequest (upload
   progress per file and overall, speed, time left), show the server's error
   next to a refused file, retry, finalize, and resume an unfinished session
   (data-session, GET /upload/status). Server flow: POST /upload action=start
   -> {session_token}; POST /upload multipart (csrf_token, session_token,
   action=file, file) -> {ok, file_id, chunk_key}; POST /finalize. */
'use strict';
(function () {
  var root = document.getElementById('uploader');
  if (!root) return;
  var MAX = parseInt(root.getAttribute('data-max'), 10) || 50 * 1024 * 1024;
  var PARALLEL = Math.max(1, Math.min(4, parseInt(root.getAttribute('data-parallel'), 10) || 4));
  var session = root.getAttribute('data-session') || '';
  var starting = null;          // promise of the action=start request
  var items = [];               // {file, name, size, loaded, state, li, ...}
  var known = {};               // names already in the session
  var active = 0, finalized = false;
  var list = document.getElementById('files');
  var drop = document.getElementById('drop');
  var btnFinal = document.getElementById('finalize');
  var btnRetry = document.getElementById('retry-all');
  var errBox = document.getElementById('upload-error');
  var speed = { last: 0, t: 0, bps: 0 };

  function okName(n) { return /\.fits?$/i.test(n); }

  function addFile(file, relPath) {
    if (finalized) reset();
    var name = file.name;
    var it = { file: file, name: name, path: relPath || name, size: file.size, loaded: 0, state: 'queued', error: '' };
    if (!okName(name)) { it.state = 'refused'; it.error = 'not a .fit or .fits file'; }
    else if (file.size > MAX) { it.state = 'refused'; it.error = 'too large: ' + CS.fmtBytes(file.size) + ' (at most ' + Math.round(MAX / 1048576) + ' MiB)'; }
    else if (file.size === 0) { it.state = 'refused'; it.error = 'empty file'; }
    else if (known[name]) { it.state = 'done'; it.loaded = it.size; it.note = 'already received'; }
    else if (items.some(function (o) { return o.name === name && o.state !== 'refused'; })) { return; }
    items.push(it);
    render(it);
  }

  function render(it) {
    if (!it.li) {
      it.li = CS.el('li');
      it.nameEl = CS.el('span', 'name', it.path);
      it.nameEl.title = it.path;
      it.stEl = CS.el('span', 'st');
      it.barEl = CS.el('div', 'bar');
      it.fillEl = CS.el('div', 'fill');
      it.barEl.appendChild(it.fillEl);
      it.msgEl = CS.el('span', 'msg');
      it.retryEl = CS.el('button', 'small', 'Retry');
      it.retryEl.type = 'button';
      it.retryEl.addEventListener('click', function () { retry(it); });
      it.li.appendChild(it.nameEl);
      it.li.appendChild(it.barEl);
      it.li.appendChild(it.stEl);
      it.li.appendChild(it.msgEl);
      it.li.appendChild(it.retryEl);
      list.appendChild(it.li);
    }
    var pct = it.size ? Math.floor(100 * it.loaded / it.size) : 100;
    it.li.className = it.state === 'done' ? 'ok' : (it.state === 'failed' || it.state === 'refused') ? 'failed' : it.state;
    it.li.setAttribute('data-state', it.state);
    it.fillEl.style.width = (it.state === 'refused' ? 100 : pct) + '%';
    it.fillEl.className = 'fill' + (it.state === 'done' ? ' done' : (it.state === 'failed' || it.state === 'refused') ? ' failed' : '');
    it.stEl.textContent = it.state === 'done' ? (it.note || '✓ ' + (it.chunk || 'uploaded'))
      : it.state === 'uploading' ? pct + '%'
      : it.state === 'queued' ? 'waiting' : it.state === 'refused' ? 'refused' : 'failed';
    it.msgEl.textContent = it.error || '';
    it.msgEl.hidden = !it.error;
    it.retryEl.hidden = it.state !== 'failed';
  }

  function startSession() {
    if (session) return Promise.resolve(session);
    if (!starting) {
      starting = CS.post('/upload', { action: 'start' }).then(function (res) {
        starting = null;
        if (res.status === 200 && res.data.session_token) { session = res.data.session_token; return session; }
        throw new Error(CS.errorText(res.data, res.status));
      });
    }
    return starting;
  }

  function pump() {
    while (active < PARALLEL) {
      var next = items.find(function (o) { return o.state === 'queued'; });
      if (!next) break;
      send(next);
    }
    summary();
  }

  function send(it) {
    it.state = 'uploading';
    it.error = '';
    it.loaded = 0;
    active++;
    render(it);
    var usedToken = '';
    startSession().then(function (tok) {
      usedToken = tok;
      var fd = new FormData();
      fd.append('csrf_token', CS.csrf());
      fd.append('session_token', tok);
      fd.append('action', 'file');
      fd.append('file', it.file, it.name);
      var x = new XMLHttpRequest();
      x.open('POST', '/upload');
      x.setRequestHeader('X-CSRF-Token', CS.csrf());
      x.setRequestHeader('Accept', 'application/json');
      x.upload.onprogress = function (e) {
        if (e.lengthComputable) it.loaded = Math.min(it.size, Math.round(it.size * e.loaded / e.total));
        render(it);
        summary();
      };
      x.onload = function () {
        var data = null;
        try { data = JSON.parse(x.responseText); } catch (e) { data = null; }
        if (x.status === 200 && data && data.ok) {
          it.state = 'done'; it.loaded = it.size; it.chunk = data.chunk_key; known[it.name] = true;
        } else {
          it.state = 'failed'; it.loaded = 0;
          it.error = data ? CS.errorText(data, x.status) : 'HTTP ' + x.status;
          if (x.status === 409 && /already uploaded/.test(it.error)) { it.state = 'done'; it.loaded = it.size; it.note = 'already received'; it.error = ''; }
          // the session went away (finalized in another tab, cleaned up): start a new one once
          if ((x.status === 404 && /session not found/.test(it.error)) || (x.status === 409 && /session is already/.test(it.error))) {
            if (session === usedToken) session = '';
            if (!it.renewed) { it.renewed = true; it.state = 'queued'; it.error = ''; }
          }
        }
        finish(it);
      };
      x.onerror = function () { it.state = 'failed'; it.loaded = 0; it.error = 'network error (connection lost?)'; finish(it); };
      x.send(fd);
    }, function (e) { it.state = 'failed'; it.error = 'could not start the upload: ' + e.message; finish(it); });
  }

  function finish(it) {
    active--;
    render(it);
    pump();
  }

  function retry(it) {
    if (it.state !== 'failed') return;
    it.state = 'queued';
    render(it);
    pump();
  }

  function summary() {
    var live = items.filter(function (o) { return o.state !== 'refused'; });
    var total = 0, loaded = 0, nd = 0, nf = 0, nq = 0;
    live.forEach(function (o) {
      // a failed file leaves the overall bar until it is retried
      if (o.state !== 'failed') { total += o.size; loaded += o.loaded; }
      if (o.state === 'done') nd++; else if (o.state === 'failed') nf++; else nq++;
    });
    var nr = items.length - live.length;
    document.getElementById('summary').hidden = items.length === 0;
    var pct = total ? Math.floor(100 * loaded / total) : 0;
    document.getElementById('overall-fill').style.width = pct + '%';
    document.getElementById('overall-pct').textContent = pct + '%';
    document.getElementById('overall-count').textContent = nd + ' of ' + live.length + ' uploaded' +
      (nf ? ', ' + nf + ' failed' : '') + (nr ? ', ' + nr + ' refused' : '');
    var now = performance.now();
    if (!speed.t) { speed.t = now; speed.last = loaded; }
    else if (now - speed.t > 400) {
      var inst = Math.max(0, loaded - speed.last) * 1000 / (now - speed.t);
      speed.bps = speed.bps ? 0.7 * speed.bps + 0.3 * inst : inst;
      speed.t = now; speed.last = loaded;
    }
    var busy = nq > 0;
    document.getElementById('overall-speed').textContent = busy && speed.bps ? CS.fmtBytes(speed.bps) + '/s' : busy ? 'starting…' : 'done';
    document.getElementById('overall-eta').textContent = busy && speed.bps ? CS.fmtSeconds((total - loaded) / speed.bps) + ' left' : '';
    btnFinal.disabled = finalized || busy || nd === 0 || !session;
    btnRetry.hidden = nf === 0 || busy;
  }

  function reset() {
    items.forEach(function (o) { if (o.li) o.li.remove(); });
    items = []; known = {}; session = ''; finalized = false;
    document.getElementById('result').hidden = true;
    summary();
  }

  // --- collecting files: inputs, drag and drop with folder recursion ---
  function readAll(reader) {
    return new Promise(function (resolve, reject) {
      var out = [];
      (function more() {
        reader.readEntries(function (batch) {
          if (!batch.length) { resolve(out); return; }
          out = out.concat(Array.prototype.slice.call(batch));
          more();
        }, reject);
      })();
    });
  }
  function walk(entry, prefix) {
    if (!entry) return Promise.resolve();
    if (entry.isFile) {
      return new Promise(function (resolve) {
        entry.file(function (f) { addFile(f, prefix + f.name); resolve(); }, function () { resolve(); });
      });
    }
    if (entry.isDirectory) {
      return readAll(entry.createReader()).then(function (entries) {
        entries.sort(function (a, b) { return a.name < b.name ? -1 : a.name > b.name ? 1 : 0; });
        return entries.reduce(function (p, e) {
          return p.then(function () { return walk(e, prefix + entry.name + '/'); });
        }, Promise.resolve());
      });
    }
    return Promise.resolve();
  }
  function takeList(files) {
    Array.prototype.forEach.call(files, function (f) { addFile(f, f.webkitRelativePath || f.name); });
    pump();
  }

  ['dragenter', 'dragover'].forEach(function (t) {
    drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.add('over'); });
  });
  ['dragleave', 'dragend'].forEach(function (t) {
    drop.addEventListener(t, function () { drop.classList.remove('over'); });
  });
  drop.addEventListener('drop', function (e) {
    e.preventDefault();
    drop.classList.remove('over');
    var dt = e.dataTransfer, entries = [];
    if (dt.items && dt.items.length && dt.items[0].webkitGetAsEntry) {
      for (var i = 0; i < dt.items.length; i++) {
        var en = dt.items[i].kind === 'file' ? dt.items[i].webkitGetAsEntry() : null;
        if (en) entries.push(en);
      }
    }
    if (entries.length) {
      entries.reduce(function (p, en) { return p.then(function () { return walk(en, ''); }); }, Promise.resolve())
        .then(pump);
    } else {
      takeList(dt.files);
    }
  });
  // keep a drop outside the zone from navigating away
  window.addEventListener('dragover', function (e) { e.preventDefault(); });
  window.addEventListener('drop', function (e) { e.preventDefault(); });

  document.getElementById('pick-files').addEventListener('change', function (e) { takeList(e.target.files); e.target.value = ''; });
  document.getElementById('pick-folder').addEventListener('change', function (e) { takeList(e.target.files); e.target.value = ''; });
  btnRetry.addEventListener('click', function () { items.forEach(function (o) { if (o.state === 'failed') o.state = 'queued'; render(o); }); pump(); });

  btnFinal.addEventListener('click', function () {
    btnFinal.disabled = true;
    CS.showError(errBox, '');
    var fields = { session_token: session };
    var sel = document.getElementById('selection');
    if (sel && sel.value) fields.max_fwhm_ratio = sel.value;
    CS.post('/finalize', fields).then(function (res) {
      if (res.status !== 200) { CS.showError(errBox, 'Finalize failed: ' + CS.errorText(res.data, res.status)); summary(); return; }
      finalized = true;
      var jobs = res.data.jobs || [];
      var box = document.getElementById('result');
      box.textContent = '';
      box.appendChild(CS.el('p', null, 'Finalized: ' + jobs.length + (jobs.length === 1 ? ' job' : ' jobs') + ' created.'));
      var ul = CS.el('ul');
      jobs.forEach(function (j) {
        var li = CS.el('li');
        li.appendChild(CS.el('code', null, j.chunk_key));
        li.appendChild(document.createTextNode(' — ' + j.n_files + ' frames'));
        ul.appendChild(li);
      });
      box.appendChild(ul);
      var a = CS.el('a', 'button primary', 'Follow them on the jobs page →');
      a.href = '/jobs';
      a.id = 'to-jobs';
      box.appendChild(a);
      box.hidden = false;
      var note = document.getElementById('resume-note');
      if (note) note.hidden = true;
      session = '';
      summary();
    });
  });

  // --- resume: the files the server already has ---
  if (session) {
    CS.get('/upload/status?session_token=' + encodeURIComponent(session)).then(function (res) {
      if (res.status !== 200 || res.data.state !== 'open') { session = ''; summary(); return; }
      (res.data.files || []).forEach(function (f) {
        known[f.filename] = true;
        var it = { name: f.filename, path: f.filename, size: f.size, loaded: f.size, state: 'done', note: 'received earlier', chunk: f.chunk_key };
        items.push(it);
        render(it);
      });
      summary();
    });
  }
  summary();
})();
