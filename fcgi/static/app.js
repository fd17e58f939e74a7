/* app.js - shared helpers of the CrowdSky pages (no framework, no build step).
   CS.csrf(): the session's CSRF token (from <meta name="csrf-token">).
   CS.post(url, fields): POST urlencoded with X-CSRF-Token; resolves to
   {status, data} where data is the JSON reply (or {error} on a network error).
   CS.errorText(data): the server's error message of a JSON reply.
   Forms with class "js-auth" (log in, sign up) are posted with fetch so that
   the server's error shows next to the form. */
'use strict';
var CS = (function () {
  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute('content') : '';
  }
  function errorText(data, status) {
    if (data && typeof data.error === 'string') return data.error;
    if (data && data.error && data.error.message) return data.error.message;
    return 'request failed' + (status ? ' (HTTP ' + status + ')' : '');
  }
  function request(method, url, body) {
    var headers = { 'Accept': 'application/json', 'X-Requested-With': 'fetch' };
    var t = csrf();
    if (t) headers['X-CSRF-Token'] = t;
    if (body) headers['Content-Type'] = 'application/x-www-form-urlencoded';
    return fetch(url, { method: method, headers: headers, body: body, credentials: 'same-origin' })
      .then(function (r) {
        return r.text().then(function (txt) {
          var data = null;
          try { data = txt ? JSON.parse(txt) : {}; } catch (e) { data = { error: 'unexpected answer (HTTP ' + r.status + ')' }; }
          return { status: r.status, data: data };
        });
      }, function () { return { status: 0, data: { error: 'network error: is the server reachable?' } }; });
  }
  function post(url, fields) {
    return request('POST', url, new URLSearchParams(fields || {}).toString());
  }
  function get(url) { return request('GET', url, null); }
  function fmtBytes(b) {
    var u = ['B', 'kB', 'MB', 'GB', 'TB'], i = 0;
    while (b >= 1000 && i < u.length - 1) { b /= 1000; i++; }
    return (i === 0 ? b.toFixed(0) : b < 10 ? b.toFixed(1) : b.toFixed(0)) + ' ' + u[i];
  }
  function fmtSeconds(s) {
    if (!isFinite(s) || s < 0) return '—';
    s = Math.round(s);
    if (s >= 3600) return Math.floor(s / 3600) + ' h ' + String(Math.floor(s % 3600 / 60)).padStart(2, '0') + ' min';
    if (s >= 60) return Math.floor(s / 60) + ' min ' + String(s % 60).padStart(2, '0') + ' s';
    return s + ' s';
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function showError(p, msg) {
    if (!p) return;
    p.textContent = msg || '';
    p.hidden = !msg;
  }

  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('form.js-auth').forEach(function (form) {
      form.addEventListener('submit', function (ev) {
        ev.preventDefault();
        var err = form.querySelector('.error');
        var pw = form.querySelector('[name=password]'), pw2 = form.querySelector('[name=password_confirm]');
        if (pw && pw2 && pw.value !== pw2.value) { showError(err, 'The two passwords differ.'); return; }
        var btn = form.querySelector('button[type=submit]');
        btn.disabled = true;
        showError(err, '');
        post(form.getAttribute('action'), new FormData(form)).then(function (res) {
          btn.disabled = false;
          if (res.status >= 200 && res.status < 300) {
            window.location.assign(form.getAttribute('data-next') || '/');
          } else {
            showError(err, errorText(res.data, res.status));
          }
        });
      });
    });
  });

  return { csrf: csrf, post: post, get: get, errorText: errorText, fmtBytes: fmtBytes,
           fmtSeconds: fmtSeconds, el: el, showError: showError };
})();
