/* account.js - the account page: save the scrub_location default
   (POST /api/account), change the password (POST /api/account: the server
   starts a fresh session, whose CSRF token the page takes over), create an API token (POST /api/tokens: the token is
   shown once) and revoke one (POST /api/tokens/revoke). */
'use strict';
(function () {
  var settings = document.getElementById('settings');
  if (settings) {
    settings.addEventListener('submit', function (e) {
      e.preventDefault();
      var st = settings.querySelector('.status');
      var on = settings.querySelector('[name=scrub_location]').checked;
      CS.post('/api/account', { scrub_location: on ? '1' : '0' }).then(function (res) {
        st.textContent = res.status === 200 ? 'Saved.' : CS.errorText(res.data, res.status);
        st.className = res.status === 200 ? 'status muted' : 'status error';
      });
    });
  }
  var pw = document.getElementById('password');
  if (pw) {
    pw.addEventListener('submit', function (e) {
      e.preventDefault();
      var st = pw.querySelector('.status');
      CS.post('/api/account', {
        current_password: pw.querySelector('[name=current_password]').value,
        new_password: pw.querySelector('[name=new_password]').value
      }).then(function (res) {
        if (res.status === 200) {
          // the server started a fresh session: its CSRF token replaces the old one
          if (res.data.csrf_token) {
            document.querySelector('meta[name="csrf-token"]').setAttribute('content', res.data.csrf_token);
            document.querySelectorAll('input[name=csrf_token]').forEach(function (i) { i.value = res.data.csrf_token; });
          }
          pw.reset();
          st.textContent = 'Password changed.';
          st.className = 'status muted';
        } else {
          st.textContent = CS.errorText(res.data, res.status);
          st.className = 'status error';
        }
      });
    });
  }
  var table = document.getElementById('tokens');
  var form = document.getElementById('newtoken');
  if (!table || !form) return;
  var card = form.closest('section');
  var err = card.querySelector('.error');
  var empty = card.querySelector('.empty-note');

  function addRow(t) {
    var tr = CS.el('tr');
    tr.setAttribute('data-id', t.id);
    tr.appendChild(CS.el('td', null, t.name));
    tr.appendChild(CS.el('td', null, (t.created_at || 'now').replace('T', ' ').slice(0, 16)));
    tr.appendChild(CS.el('td', null, 'never'));
    var c = CS.el('td');
    var b = CS.el('button', 'danger small js-revoke', 'Revoke');
    b.type = 'button';
    b.setAttribute('data-id', t.id);
    c.appendChild(b);
    tr.appendChild(c);
    table.querySelector('tbody').appendChild(tr);
    empty.hidden = true;
  }
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var name = form.querySelector('[name=name]').value;
    CS.post('/api/tokens', { name: name }).then(function (res) {
      if (res.status !== 201 && res.status !== 200) { CS.showError(err, CS.errorText(res.data, res.status)); return; }
      CS.showError(err, '');
      document.getElementById('tokenvalue').textContent = res.data.token;
      document.getElementById('tokenshown').hidden = false;
      addRow(res.data);
      form.reset();
    });
  });
  table.addEventListener('click', function (e) {
    var b = e.target.closest('.js-revoke');
    if (!b) return;
    var id = b.getAttribute('data-id');
    if (!window.confirm('Revoke this token? Scripts using it will stop working.')) return;
    CS.post('/api/tokens/revoke', { id: id }).then(function (res) {
      if (res.status !== 200) { CS.showError(err, CS.errorText(res.data, res.status)); return; }
      var tr = b.closest('tr');
      tr.remove();
      empty.hidden = table.querySelectorAll('tbody tr').length !== 0;
    });
  });
})();
