/* skymap.js - the sky map: an Aitoff projection of the user's stacks (GET
   /api/stacks) on a <canvas> with an RA/Dec grid, one dot per pointing (its
   stack count on hover), a box drag to select a region, a timeline of the
   selection with a time window, and "download all" of the window as one tar
   (GET /stacks/archive.tar?ids=...). RA grows to the left, centre at 12h. */
'use strict';
(function () {
  var sky = document.getElementById('sky');
  if (!sky) return;
  var tl = document.getElementById('timeline');
  var tip = document.getElementById('sky-tip');
  var from = document.getElementById('t-from'), to = document.getElementById('t-to');
  var dl = document.getElementById('download-all');
  var groups = [];      // {ra, dec, stacks: [], x, y, sel}
  var stacks = [];
  var W = 0, H = 0, dpr = 1, scale = 1, cx = 0, cy = 0;
  var drag = null, hover = null, MAX_ARCHIVE = 500;
  var D2R = Math.PI / 180;

  function aitoff(raDeg, decDeg) {
    var lam = ((180 - raDeg + 540) % 360 - 180) * D2R;  // RA 12h at the centre, growing left
    var phi = decDeg * D2R;
    var a = Math.acos(Math.cos(phi) * Math.cos(lam / 2));
    var s = a < 1e-9 ? 1 : Math.sin(a) / a;
    return [cx + scale * 2 * Math.cos(phi) * Math.sin(lam / 2) / s, cy - scale * Math.sin(phi) / s];
  }

  function size() {
    dpr = window.devicePixelRatio || 1;
    W = sky.clientWidth || 960;
    H = Math.round(W / 2);
    sky.width = Math.round(W * dpr);
    sky.height = Math.round(H * dpr);
    sky.style.height = H + 'px';
    var pad = 14;
    scale = Math.min((W - 2 * pad) / (2 * Math.PI), (H - 2 * pad) / Math.PI);
    cx = W / 2; cy = H / 2;
    groups.forEach(function (g) { var p = aitoff(g.ra, g.dec); g.x = p[0]; g.y = p[1]; });
    var tw = tl.clientWidth || 960;
    tl.width = Math.round(tw * dpr);
    tl.height = Math.round(90 * dpr);
    tl.style.height = '90px';
  }

  function line(ctx, pts) {
    ctx.beginPath();
    pts.forEach(function (p, i) { if (i) ctx.lineTo(p[0], p[1]); else ctx.moveTo(p[0], p[1]); });
    ctx.stroke();
  }

  function draw() {
    var ctx = sky.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    // the sphere's outline and fill
    var d, r;
    ctx.fillStyle = '#0a1530';
    ctx.beginPath();
    for (d = -90; d <= 90; d += 2) { var p = aitoff(0.0001, d); if (d === -90) ctx.moveTo(p[0], p[1]); else ctx.lineTo(p[0], p[1]); }
    for (d = 90; d >= -90; d -= 2) { var q = aitoff(359.9999, d); ctx.lineTo(q[0], q[1]); }
    ctx.closePath();
    ctx.fill();
    ctx.strokeStyle = '#3b4f80';
    ctx.lineWidth = 1.2;
    ctx.stroke();
    // grid: meridians every 2h, parallels every 30 deg
    ctx.strokeStyle = 'rgba(122,162,255,0.22)';
    ctx.lineWidth = 1;
    for (r = 0; r < 360; r += 30) {
      var m = [];
      for (d = -90; d <= 90; d += 3) m.push(aitoff(r === 0 ? 0.0001 : r, d));
      line(ctx, m);
    }
    for (d = -60; d <= 60; d += 30) {
      var pa = [];
      for (r = 0.0001; r <= 360; r += 3) pa.push(aitoff(r, d));
      pa.push(aitoff(359.9999, d));
      line(ctx, pa);
    }
    ctx.fillStyle = '#93a3c4';
    ctx.font = '11px system-ui, sans-serif';
    ctx.textAlign = 'center';
    for (r = 30; r < 360; r += 30) { var lp = aitoff(r, 0); ctx.fillText((r / 15) + 'h', lp[0], lp[1] + 13); }
    ctx.textAlign = 'right';
    for (d = -60; d <= 60; d += 30) { if (!d) continue; var dp = aitoff(359.9999, d); ctx.fillText((d > 0 ? '+' : '') + d + '°', dp[0] - 4, dp[1] + 4); }
    // the dots
    groups.forEach(function (g) {
      var rad = 3 + Math.min(9, Math.sqrt(g.stacks.length) * 1.6);
      ctx.beginPath();
      ctx.arc(g.x, g.y, rad, 0, 2 * Math.PI);
      ctx.fillStyle = g.sel ? '#ffd27a' : 'rgba(122,162,255,0.85)';
      ctx.fill();
      if (g === hover) { ctx.strokeStyle = '#fff'; ctx.lineWidth = 1.5; ctx.stroke(); }
    });
    if (drag && drag.moved) {
      ctx.strokeStyle = '#ffd27a';
      ctx.setLineDash([5, 4]);
      ctx.strokeRect(Math.min(drag.x0, drag.x1), Math.min(drag.y0, drag.y1), Math.abs(drag.x1 - drag.x0), Math.abs(drag.y1 - drag.y0));
      ctx.setLineDash([]);
      ctx.fillStyle = 'rgba(255,210,122,0.08)';
      ctx.fillRect(Math.min(drag.x0, drag.x1), Math.min(drag.y0, drag.y1), Math.abs(drag.x1 - drag.x0), Math.abs(drag.y1 - drag.y0));
    }
  }

  function selected() {
    var out = [];
    groups.forEach(function (g) { if (g.sel) out = out.concat(g.stacks); });
    return out.sort(function (a, b) { return (a.t || 0) - (b.t || 0); });
  }

  function span(sel) {
    var t0 = Infinity, t1 = -Infinity;
    sel.forEach(function (s) { if (s.t !== null) { t0 = Math.min(t0, s.t); t1 = Math.max(t1, s.t); } });
    if (!isFinite(t0)) return null;
    if (t1 - t0 < 3600) { t0 -= 1800; t1 += 1800; }
    return [t0, t1];
  }

  function fmtDate(t) { return new Date(t * 1000).toISOString().slice(0, 16).replace('T', ' '); }

  function timeline() {
    var sel = selected(), ctx = tl.getContext('2d'), tw = tl.width / dpr, th = 90;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, tw, th);
    document.getElementById('sel-count').textContent = sel.length ? '— ' + sel.length + (sel.length === 1 ? ' stack' : ' stacks') : '— drag a box on the map';
    var sp = span(sel), list = document.getElementById('sel-list');
    list.textContent = '';
    if (!sp) { dl.hidden = true; document.getElementById('t-label').textContent = ''; return; }
    var a = parseInt(from.value, 10), b = parseInt(to.value, 10);
    if (a > b) { var c = a; a = b; b = c; }
    var w0 = sp[0] + (sp[1] - sp[0]) * a / 1000, w1 = sp[0] + (sp[1] - sp[0]) * b / 1000;
    var x = function (t) { return 10 + (tw - 20) * (t - sp[0]) / (sp[1] - sp[0]); };
    ctx.fillStyle = 'rgba(122,162,255,0.10)';
    ctx.fillRect(x(w0), 6, Math.max(1, x(w1) - x(w0)), 58);
    ctx.strokeStyle = '#3b4f80';
    ctx.beginPath(); ctx.moveTo(10, 64.5); ctx.lineTo(tw - 10, 64.5); ctx.stroke();
    var inWin = [];
    sel.forEach(function (s) {
      if (s.t === null) return;
      var on = s.t >= w0 && s.t <= w1;
      if (on) inWin.push(s);
      ctx.fillStyle = on ? '#ffd27a' : '#4a5a80';
      var hgt = 10 + Math.min(44, s.n_frames);
      ctx.fillRect(Math.round(x(s.t)) - 1, 64 - hgt, 3, hgt);
    });
    ctx.fillStyle = '#93a3c4';
    ctx.font = '11px system-ui, sans-serif';
    ctx.textAlign = 'left'; ctx.fillText(fmtDate(sp[0]), 10, 80);
    ctx.textAlign = 'right'; ctx.fillText(fmtDate(sp[1]), tw - 10, 80);
    document.getElementById('t-label').textContent = fmtDate(w0) + ' → ' + fmtDate(w1) + ' UTC · ' + inWin.length + ' in window';
    inWin.forEach(function (s) {
      var li = CS.el('li'), l = CS.el('a', null, (s.object_name || s.chunk_key));
      l.href = '/stack?id=' + s.id;
      li.appendChild(l);
      li.appendChild(document.createTextNode(' · ' + (s.date_obs_start || '').replace('T', ' ').slice(0, 16) + ' · ' + s.n_frames + ' frames'));
      list.appendChild(li);
    });
    var ids = inWin.slice(0, MAX_ARCHIVE).map(function (s) { return s.id; });
    dl.hidden = ids.length === 0;
    dl.href = '/stacks/archive.tar?ids=' + ids.join(',');
    var bytes = inWin.slice(0, MAX_ARCHIVE).reduce(function (t, s) { return t + (s.file_size_bytes || 0); }, 0);
    dl.textContent = 'Download all ' + ids.length + ' (tar, ' + CS.fmtBytes(bytes) + ')' + (inWin.length > MAX_ARCHIVE ? ' — first ' + MAX_ARCHIVE : '');
  }

  function pos(e) {
    var r = sky.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }
  function nearest(p) {
    var best = null, bd = 12 * 12;
    groups.forEach(function (g) { var d = (g.x - p[0]) * (g.x - p[0]) + (g.y - p[1]) * (g.y - p[1]); if (d < bd) { bd = d; best = g; } });
    return best;
  }
  sky.addEventListener('pointerdown', function (e) {
    var p = pos(e);
    drag = { x0: p[0], y0: p[1], x1: p[0], y1: p[1], moved: false };
    sky.setPointerCapture(e.pointerId);
  });
  sky.addEventListener('pointermove', function (e) {
    var p = pos(e);
    if (drag) {
      drag.x1 = p[0]; drag.y1 = p[1];
      if (Math.abs(drag.x1 - drag.x0) + Math.abs(drag.y1 - drag.y0) > 4) drag.moved = true;
      draw();
      return;
    }
    var g = nearest(p);
    if (g !== hover) { hover = g; draw(); }
    if (g) {
      var names = {};
      g.stacks.forEach(function (s) { if (s.object_name) names[s.object_name] = 1; });
      tip.textContent = (Object.keys(names).join(', ') || 'no target name') + ' — ' + g.stacks.length +
        (g.stacks.length === 1 ? ' stack' : ' stacks') + ' · RA ' + g.ra.toFixed(1) + '°, Dec ' + (g.dec >= 0 ? '+' : '') + g.dec.toFixed(1) + '°';
      tip.style.left = g.x + 'px';
      tip.style.top = g.y + 'px';
      tip.hidden = false;
    } else {
      tip.hidden = true;
    }
  });
  sky.addEventListener('pointerleave', function () { if (!drag) { hover = null; tip.hidden = true; draw(); } });
  sky.addEventListener('pointerup', function (e) {
    if (!drag) return;
    var d = drag;
    drag = null;
    if (d.moved) {
      var x0 = Math.min(d.x0, d.x1), x1 = Math.max(d.x0, d.x1), y0 = Math.min(d.y0, d.y1), y1 = Math.max(d.y0, d.y1);
      groups.forEach(function (g) { g.sel = g.x >= x0 && g.x <= x1 && g.y >= y0 && g.y <= y1; });
    } else {
      var g = nearest(pos(e));
      groups.forEach(function (o) { o.sel = o === g; });
    }
    from.value = 0; to.value = 1000;
    draw();
    timeline();
  });
  from.addEventListener('input', timeline);
  to.addEventListener('input', timeline);
  window.addEventListener('resize', function () { size(); draw(); timeline(); });

  CS.get('/api/stacks').then(function (res) {
    if (res.status !== 200) { document.getElementById('sky-count').textContent = CS.errorText(res.data, res.status); return; }
    stacks = (res.data.stacks || []).filter(function (s) { return s.ra_deg !== null && s.dec_deg !== null; });
    var byKey = {};
    stacks.forEach(function (s) {
      var k = (Math.round(s.ra_deg * 2) / 2) + ',' + (Math.round(s.dec_deg * 2) / 2);
      if (!byKey[k]) { byKey[k] = { ra: 0, dec: 0, stacks: [], sel: false }; groups.push(byKey[k]); }
      byKey[k].stacks.push(s);
    });
    groups.forEach(function (g) {
      g.ra = g.stacks.reduce(function (t, s) { return t + s.ra_deg; }, 0) / g.stacks.length;
      g.dec = g.stacks.reduce(function (t, s) { return t + s.dec_deg; }, 0) / g.stacks.length;
    });
    document.getElementById('sky-count').textContent = stacks.length + (stacks.length === 1 ? ' stack' : ' stacks') + ' at ' + groups.length + (groups.length === 1 ? ' pointing' : ' pointings');
    // start with everything selected, so the timeline shows the whole record
    groups.forEach(function (g) { g.sel = true; });
    size();
    draw();
    timeline();
  });
  size();
  draw();
  timeline();
})();
