// test_pages.js - the CrowdSky pages in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core): sign up, log out, a refused
// log-in with its reason, log in, drop 20 simulated frames + a bad FITS + a
// text file on the upload page, watch progress reach 100%, see the refusals
// with their reasons, finalize, the jobs page; once the frames are stacked
// (by the stack's worker, or by mini_worker.py through the real worker API
// when the stack runs none) the gallery, the stack page with its downloads,
// publishing, the home page, the sky map with a box selection and its tar
// archive, the account page (token shown once, revoked), and a phone-sized
// view. A screenshot of each page goes to $CS_BUILD_ROOT/meson-logs/screenshots/.
// Exit 77 (skip) without a test stack (CS_TEST_URL unset).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync, spawnSync } = require('child_process');

if (!process.env.CS_TEST_URL) {
  console.log('CS_TEST_URL is not set: no test stack, skipping');
  process.exit(77);
}
// playwright-core comes from npm (package-lock.json); script/test runs `npm ci`
// here, and so does this test when a developer runs it alone.
let chromium;
try {
  ({ chromium } = require('playwright-core'));
} catch (e) {
  console.log('playwright-core is missing: npm ci in ' + __dirname);
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: __dirname, stdio: 'inherit' });
  try {
    ({ chromium } = require('playwright-core'));
  } catch (e2) {
    console.error('FAIL playwright-core could not be installed (npm ci exit ' + r.status + ')');
    process.exit(1);
  }
}

const BASE = process.env.CS_TEST_URL.replace(/\/$/, '');
const SHOTS = path.join(process.env.CS_BUILD_ROOT || os.tmpdir(), 'meson-logs', 'screenshots');
const WORKER = process.env.CS_WORKER;
let failures = 0, checks = 0;

function check(cond, msg) {
  checks++;
  if (cond) { console.log('ok   ' + msg); return; }
  failures++;
  console.log('FAIL ' + msg);
}

// page.waitForFunction evaluates a string, which the pages' CSP (no
// 'unsafe-eval') forbids; poll with page.evaluate instead (CSP stays on, so a
// violation by the pages' own scripts would show in the console check).
async function waitFor(page, fn, arg, timeout) {
  const end = Date.now() + (timeout || 30000);
  for (;;) {
    if (await page.evaluate(fn, arg)) return;
    if (Date.now() > end) throw new Error('timed out waiting for ' + String(fn).slice(0, 120));
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, name + '.png');
  await page.evaluate(() => window.scrollTo(0, 0)); // the sticky header stays on top in a full-page shot
  await page.screenshot({ path: file, fullPage: true });
  console.log('screenshot ' + file);
}

function workerRunning() {
  const run = path.join(process.env.CS_TEST_STACK || '/nonexistent', 'run');
  let names = [];
  try { names = fs.readdirSync(run).filter((n) => /^worker-\d+\.pid$/.test(n)); } catch (e) { return false; }
  return names.some((n) => {
    const pid = parseInt(fs.readFileSync(path.join(run, n), 'utf8'), 10);
    try { process.kill(pid, 0); } catch (e) { return false; }
    try { return fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8').includes('crowdsky-worker'); } catch (e) { return false; }
  });
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-browser-'));
  const frames = path.join(tmp, 'frames');
  // a 256x192 crop holds few stars at the full-frame density; 150 keeps every frame registrable,
  // so the stack page's figures (all 20 used, time span from the first frame) are exact
  execFileSync(WORKER, ['simulate', '--out', frames, '--frames', '20', '--width', '256', '--height', '192',
                        '--stars', '150', '--seed', '11'],
               { stdio: ['ignore', 'ignore', 'inherit'] });
  const fits = fs.readdirSync(frames).filter((n) => n.endsWith('.fit')).sort();
  check(fits.length === 20, 'simulate wrote 20 frames');
  // a ".fit" that is no FITS (the server refuses it) and a text file (refused here)
  fs.writeFileSync(path.join(tmp, 'broken.fit'), 'this is not a FITS file\n'.repeat(200));
  fs.writeFileSync(path.join(tmp, 'notes.txt'), 'seeing was good\n');

  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    viewport: { width: 1280, height: 860 },
    acceptDownloads: true,
  });
  ctx.setDefaultTimeout(30000);
  const page = ctx.pages()[0] || await ctx.newPage();
  const consoleErrors = [];
  // refused requests the test makes on purpose log "Failed to load resource"; anything else is a fault
  page.on('console', (m) => { if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  const user = 'br' + Date.now().toString(36) + Math.floor(Math.random() * 1000);
  const password = 'stars-' + Math.random().toString(36).slice(2) + '-ok';
  try {
    // ---- home, sign up ----
    await page.goto(BASE + '/');
    check((await page.textContent('h1')).includes('Seestar'), 'home page explains CrowdSky');
    await shot(page, '01-home-logged-out');
    await page.click('nav >> text=Sign up');
    await page.waitForURL(/\/signup$/);
    await page.fill('[name=username]', user);
    await page.fill('[name=email]', user + '@example.org');
    await page.fill('[name=password]', 'short');
    await page.fill('[name=password_confirm]', 'short');
    // the browser's own minlength check stops this; bypass it to see the server's reason
    await page.$eval('form.js-auth', (f) => { f.noValidate = true; });
    await page.click('button[type=submit]');
    await page.waitForSelector('form .error:not([hidden])');
    const signupErr = await page.textContent('form .error');
    check(/10/.test(signupErr), 'sign-up shows the server\'s password rule: ' + signupErr);
    await shot(page, '02-signup-error');
    await page.fill('[name=password]', password);
    await page.fill('[name=password_confirm]', password);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/upload$/);
    check(true, 'sign-up leads to the upload page');

    // ---- log out, a refused log-in, log in ----
    await page.click('nav >> text=Log out');
    await page.waitForURL(BASE + '/');
    check(await page.isVisible('nav >> text=Log in'), 'logged out');
    await page.goto(BASE + '/upload');
    check(/\/login\?next=/.test(page.url()), 'the upload page sends a visitor to log in');
    await page.fill('[name=username]', user);
    await page.fill('[name=password]', 'wrong password!');
    await page.click('button[type=submit]');
    await page.waitForSelector('form .error:not([hidden])');
    check(/wrong username or password/.test(await page.textContent('form .error')), 'a wrong password is refused on the page');
    await shot(page, '03-login-error');
    await page.fill('[name=password]', password);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/upload$/);
    check(true, 'log-in returns to the upload page');

    // ---- upload: drop 20 frames + 2 bad files ----
    await shot(page, '04-upload-empty');
    const payload = fits.map((n) => ({ name: n, b64: fs.readFileSync(path.join(frames, n)).toString('base64') }));
    payload.push({ name: 'broken.fit', b64: fs.readFileSync(path.join(tmp, 'broken.fit')).toString('base64') });
    payload.push({ name: 'notes.txt', b64: fs.readFileSync(path.join(tmp, 'notes.txt')).toString('base64') });
    const dt = await page.evaluateHandle((files) => {
      const d = new DataTransfer();
      for (const f of files) {
        const bin = atob(f.b64), u8 = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
        d.items.add(new File([u8], f.name, { type: 'application/octet-stream' }));
      }
      return d;
    }, payload);
    await page.dispatchEvent('#drop', 'dragenter', { dataTransfer: dt });
    await page.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
    // progress: it must be seen moving, then reach 100%
    await page.waitForSelector('#summary:not([hidden])');
    await waitFor(page, () => document.querySelectorAll('#files li[data-state=done]').length === 20, null, 120000);
    await waitFor(page, () => !document.querySelector('#files li[data-state=uploading], #files li[data-state=queued]'));
    check((await page.textContent('#overall-pct')) === '100%', 'overall progress reached 100%');
    const rows = await page.$$eval('#files li', (lis) => lis.map((li) => ({
      name: li.querySelector('.name').textContent, state: li.getAttribute('data-state'),
      msg: li.querySelector('.msg').textContent, width: li.querySelector('.fill').style.width })));
    check(rows.filter((r) => r.state === 'done' && r.width === '100%').length === 20, 'each of the 20 frames shows a full bar');
    const broken = rows.find((r) => r.name === 'broken.fit');
    check(broken && broken.state === 'failed' && /FITS|SIMPLE/i.test(broken.msg),
          'the server refused broken.fit and the page shows why: ' + (broken && broken.msg));
    const notes = rows.find((r) => r.name === 'notes.txt');
    check(notes && notes.state === 'refused' && /\.fit/.test(notes.msg), 'notes.txt refused before upload: ' + (notes && notes.msg));
    check(await page.isVisible('#files li[data-state=failed] button:has-text("Retry")'), 'a failed file offers a retry');
    check(/20 of 21 uploaded, 1 failed, 1 refused/.test(await page.textContent('#overall-count')), 'summary counts: ' + await page.textContent('#overall-count'));
    await shot(page, '05-upload-done');

    // retry of the failed file fails again with the same reason (it is still no FITS)
    await page.click('#files li[data-state=failed] button:has-text("Retry")');
    await waitFor(page, () => !document.querySelector('#files li[data-state=uploading], #files li[data-state=queued]'));
    check(await page.isVisible('#files li[data-state=failed] .msg'), 'the retried bad file is refused again');

    // ---- resume: the page, reloaded, knows what the server already has ----
    await page.reload();
    await page.waitForSelector('#resume-note');
    await waitFor(page, () => document.querySelectorAll('#files li[data-state=done]').length === 20);
    check(/received earlier/.test(await page.textContent('#files li')), 'a reloaded upload page resumes the session (20 frames received earlier)');
    await shot(page, '05b-upload-resumed');

    // ---- finalize -> jobs ----
    check(await page.isEnabled('#finalize'), 'finalize is enabled once uploads are done');
    // frame selection: leave out soft or trailed frames (none among these: all 20 stay)
    await page.selectOption('#selection', '1.3');
    const finReq = page.waitForRequest(r => r.url().endsWith('/finalize') && r.method() === 'POST');
    await page.click('#finalize');
    check(/max_fwhm_ratio=1\.3/.test((await finReq).postData() || ''), 'finalize sends the chosen frame selection');
    await page.waitForSelector('#to-jobs');
    const resultText = await page.textContent('#result');
    check(/Finalized: 1 job/.test(resultText) && /20 frames/.test(resultText), 'finalize made one job of 20 frames: ' + resultText.slice(0, 80));
    await shot(page, '06-upload-finalized');
    await page.click('#to-jobs');
    await page.waitForURL(/\/jobs$/);
    const jobRows = await page.$$eval('#jobs tbody tr', (trs) => trs.map((tr) => tr.textContent));
    check(jobRows.length === 1 && /20250327\.\d\d_193\.\d_\+41\.\d/.test(jobRows[0]), 'the jobs page lists the job with its chunk key');
    await shot(page, '07-jobs-pending');

    // ---- stacking ----
    if (workerRunning()) {
      console.log('the stack runs a worker: waiting for it');
    } else {
      console.log('no worker in the stack: stacking through the worker API with mini_worker.py');
      const r = spawnSync('/usr/bin/python3', [path.join(__dirname, 'mini_worker.py'), user, '20'], { encoding: 'utf8' });
      process.stdout.write(r.stdout || '');
      process.stderr.write(r.stderr || '');
      check(r.status === 0, 'mini_worker stacked the job');
    }
    // the jobs page refreshes itself while work is pending: no reload here
    await page.waitForSelector('#jobs tbody tr .badge.ok', { timeout: 300000 });
    check(await page.isVisible('#jobs tbody tr >> text=View stack'), 'the jobs page turned to completed by itself, with a link to the stack');
    await shot(page, '08-jobs-completed');

    // ---- gallery, stack page, downloads ----
    await page.click('nav >> text=Stacks');
    await page.waitForURL(/\/stacks$/);
    await waitFor(page, () => { const i = document.querySelector('#gallery img'); return i && i.complete && i.naturalWidth > 0; });
    check(true, 'the gallery shows the thumbnail');
    await shot(page, '09-stacks');
    await page.click('#gallery a');
    await page.waitForURL(/\/stack\?id=\d+$/);
    const stackUrl = page.url();
    const stackId = stackUrl.split('=')[1];
    const meta = await page.textContent('.meta');
    const fr = /(\d+) used, (\d+) rejected, of 20/.exec(meta) || [0, -1, -1];
    check(/M 94/.test(meta) && +fr[1] + +fr[2] === 20 && +fr[1] >= 1 && /Total exposure/.test(meta) &&
          /FWHM/.test(meta) && /2025-03-27 01:2\d:\d\d → 01:2\d:\d\d/.test(meta),
          'the stack page shows target, time span, frames used/rejected (' + fr[1] + '/' + fr[2] + '), exposure, FWHM: ' + meta.replace(/\s+/g, ' ').slice(0, 300));
    if (+fr[2] > 0) check(await page.isVisible('details.rejects'), 'the owner sees why frames were rejected');
    await page.click('details.frames summary');
    const rowsShown = await page.locator('details.frames tbody tr').count();
    check(rowsShown === 20 && await page.isVisible('details.frames .wbar'),
          'the owner opens the table of every frame, with a weight bar (' + rowsShown + ' rows)');
    check(!/SITELAT|SITELONG/i.test(await page.content()), 'no site keywords on the stack page');
    await waitFor(page, () => { const i = document.querySelector('.preview img'); return i && i.complete && i.naturalWidth > 0; });
    await shot(page, '10-stack');
    const fitsResp = await page.request.get(BASE + '/stack/fits?id=' + stackId);
    const fitsBody = await fitsResp.body();
    check(fitsResp.status() === 200 && /attachment; filename="20250327/.test(fitsResp.headers()['content-disposition'] || '') &&
          fitsBody.slice(0, 9).toString() === 'SIMPLE  =', 'FITS download through the app, as an attachment');
    const pngResp = await page.request.get(BASE + '/stack/png?id=' + stackId);
    check(pngResp.status() === 200 && (await pngResp.body()).slice(1, 4).toString() === 'PNG', 'PNG download through the app');

    // a visitor (a request without the session cookie) cannot see the private stack
    const anonResp = await page.request.get(BASE + '/stack?id=' + stackId, { headers: { Cookie: '' } });
    check(anonResp.status() === 404, 'a visitor gets 404 for the private stack');
    const anonThumb = await page.request.get(BASE + '/stack/thumb?id=' + stackId, { headers: { Cookie: '' } });
    check(anonThumb.status() === 404, 'a visitor gets 404 for its preview');

    // ---- publish ----
    await page.click('form.publish button');
    await page.waitForURL(stackUrl);
    check(await page.isVisible('.head-row .badge.ok'), 'the stack is public after publishing');
    await page.goto(BASE + '/');
    check(await page.isVisible('.gallery a[href="/stack?id=' + stackId + '"]'), 'the home page lists the published stack');
    await shot(page, '11-home-logged-in');

    // ---- sky map ----
    await page.goto(BASE + '/skymap');
    await waitFor(page, () => /1 stack/.test(document.getElementById('sky-count').textContent));
    const box = await page.$eval('#sky', (c) => { const r = c.getBoundingClientRect(); return { x: r.left, y: r.top, w: r.width, h: r.height }; });
    // drag a box over the whole map
    await page.mouse.move(box.x + 5, box.y + 5);
    await page.mouse.down();
    await page.mouse.move(box.x + box.w / 2, box.y + box.h / 2, { steps: 5 });
    await page.mouse.move(box.x + box.w - 5, box.y + box.h - 5, { steps: 5 });
    await page.mouse.up();
    await page.waitForSelector('#download-all:not([hidden])');
    check(/1 stack/.test(await page.textContent('#sel-count')), 'box selection holds the stack');
    const href = await page.getAttribute('#download-all', 'href');
    check(href === '/stacks/archive.tar?ids=' + stackId, 'download-all links the selection: ' + href);
    const tar = await page.request.get(BASE + href);
    const tb = await tar.body();
    check(tar.status() === 200 && tb.slice(257, 262).toString() === 'ustar' && tb.slice(512, 521).toString() === 'SIMPLE  =' &&
          tb.length % 512 === 0, 'the archive is a ustar tar holding the FITS (' + tb.length + ' bytes)');
    // hover the dot of RA 193, Dec +41 (the page's projection: Aitoff, 12h at the centre, RA to the left)
    const at = await page.$eval('#sky', (c) => { const r = c.getBoundingClientRect(); return { x: r.left, y: r.top, w: c.clientWidth }; });
    const W = at.w, H = Math.round(W / 2), sc = Math.min((W - 28) / (2 * Math.PI), (H - 28) / Math.PI);
    const lam = (180 - 193) * Math.PI / 180, phi = 41 * Math.PI / 180;
    const al = Math.acos(Math.cos(phi) * Math.cos(lam / 2)), sinc = Math.sin(al) / al;
    await page.mouse.move(at.x + W / 2 + sc * 2 * Math.cos(phi) * Math.sin(lam / 2) / sinc, at.y + H / 2 - sc * Math.sin(phi) / sinc);
    await page.waitForSelector('#sky-tip:not([hidden])');
    check(/M 94 — 1 stack/.test(await page.textContent('#sky-tip')), 'hovering the dot shows its count: ' + await page.textContent('#sky-tip'));
    await shot(page, '12-skymap');

    // ---- account: a token shown once, then revoked ----
    await page.goto(BASE + '/account');
    await page.fill('#newtoken [name=name]', 'browser test');
    await page.click('#newtoken button');
    await page.waitForSelector('#tokenshown:not([hidden])');
    const tok = await page.textContent('#tokenvalue');
    check(tok.length >= 20, 'a new API token is shown once');
    const my = await page.request.get(BASE + '/api/my_stacks', {
      headers: { Authorization: 'Basic ' + Buffer.from(user + ':' + tok).toString('base64'), Cookie: '' } });
    check(my.status() === 200 && (await my.json()).length === 1, 'the token works for the script API');
    await shot(page, '13-account');
    page.once('dialog', (d) => d.accept());
    await page.click('#tokens .js-revoke');
    await waitFor(page, () => document.querySelectorAll('#tokens tbody tr').length === 0);
    const my2 = await page.request.get(BASE + '/api/my_stacks', {
      headers: { Authorization: 'Basic ' + Buffer.from(user + ':' + tok).toString('base64'), Cookie: '' } });
    check(my2.status() === 401, 'a revoked token no longer works');

    // ---- password change: a wrong current password is refused, then the change works ----
    const newPassword = password + '-2';
    await page.fill('#password [name=current_password]', 'not my password');
    await page.fill('#password [name=new_password]', newPassword);
    await page.click('#password button');
    await page.waitForSelector('#password .status.error');
    check(/current password is wrong/.test(await page.textContent('#password .status')), 'a wrong current password is refused');
    await page.fill('#password [name=current_password]', password);
    await page.fill('#password [name=new_password]', newPassword);
    await page.click('#password button');
    await waitFor(page, () => /Password changed/.test(document.querySelector('#password .status').textContent));
    // the page took over the new session's CSRF token: creating a token still works
    await page.fill('#newtoken [name=name]', 'after password change');
    await page.click('#newtoken button');
    await waitFor(page, () => document.querySelectorAll('#tokens tbody tr').length === 1);
    check(true, 'the page keeps working after the password change (new CSRF token)');
    await page.click('nav >> text=Log out');
    await page.waitForURL(BASE + '/');
    await page.goto(BASE + '/login');
    await page.fill('[name=username]', user);
    await page.fill('[name=password]', newPassword);
    await page.click('button[type=submit]');
    await page.waitForURL(BASE + '/');
    check(await page.isVisible('nav >> text=Log out'), 'log-in with the new password');

    // ---- phone ----
    await page.setViewportSize({ width: 390, height: 800 });
    await page.goto(BASE + '/jobs');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 1, 'the jobs page fits a phone screen (overflow ' + overflow + ' px)');
    await shot(page, '14-phone-jobs');
    await page.goto(stackUrl);
    await shot(page, '15-phone-stack');
    await page.goto(BASE + '/upload');
    await shot(page, '16-phone-upload');

    // ---- delete the job (confirmation) ----
    await page.setViewportSize({ width: 1280, height: 860 });
    await page.goto(BASE + '/jobs');
    page.once('dialog', (d) => d.accept());
    await page.click('#jobs .js-delete');
    await page.waitForSelector('.empty-note:not([hidden])');
    check(true, 'the job is deleted after confirmation');
    // ---- a whole folder through the folder picker (webkitdirectory) ----
    const night = path.join(tmp, 'night');
    execFileSync(WORKER, ['simulate', '--out', path.join(night, 'lights'), '--frames', '3', '--width', '256', '--height', '192',
                          '--start', '2025-04-02T22:00:00', '--object', 'NGC 7023', '--ra', '315.4', '--dec', '68.2'],
                 { stdio: ['ignore', 'ignore', 'inherit'] });
    fs.rmSync(path.join(night, 'lights', 'truth.json'));
    await page.goto(BASE + '/upload');
    // a slow uplink (Chromium's network emulation) so speed and time left can be seen
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 60 * 1024 });
    await page.setInputFiles('#pick-folder', night);
    await waitFor(page, () => / left$/.test(document.getElementById('overall-eta').textContent), null, 20000);
    check(/B\/s$/.test(await page.textContent('#overall-speed')), 'speed and time left while uploading: ' +
          await page.textContent('#overall-speed') + ', ' + await page.textContent('#overall-eta'));
    await shot(page, '17-upload-in-progress');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await waitFor(page, () => document.querySelectorAll('#files li[data-state=done]').length === 3, null, 60000);
    const names = await page.$$eval('#files li .name', (els) => els.map((e) => e.textContent));
    check(names.length === 3 && names.every((n) => /^night\/lights\/Light_NGC_7023_.*\.fit$/.test(n)),
          'a folder upload lists its files with their folder path: ' + names[0]);
    await page.click('#finalize');
    await page.waitForSelector('#to-jobs');
    check(/Finalized: 1 job/.test(await page.textContent('#result')), 'the folder finalizes into one job');

    // ---- the session finalized elsewhere (another tab): the next file starts a new session ----
    await page.goto(BASE + '/upload');
    await page.setInputFiles('#pick-files', path.join(frames, fits[0]));
    await waitFor(page, () => document.querySelectorAll('#files li[data-state=done]').length === 1);
    const csrfTok = await page.getAttribute('meta[name=csrf-token]', 'content');
    // find the open session through the page itself: it resumes it after a reload
    await page.reload();
    const openTok = await page.getAttribute('#uploader', 'data-session');
    check(openTok && openTok.length === 64, 'the reloaded page names the open session');
    const fin = await page.request.post(BASE + '/finalize', { form: { session_token: openTok },
      headers: { 'X-CSRF-Token': csrfTok, Accept: 'application/json' } });
    check(fin.status() === 200, 'the session is finalized from "another tab"');
    await page.setInputFiles('#pick-files', path.join(frames, fits[1]));
    await waitFor(page, () => !document.querySelector('#files li[data-state=uploading], #files li[data-state=queued]'));
    const last = await page.$$eval('#files li', (lis) => lis.map((li) => li.getAttribute('data-state') + ' ' + li.querySelector('.msg').textContent));
    check(last[last.length - 1] === 'done ', 'the next file went into a new session: ' + last.join(' | '));

    check(consoleErrors.length === 0, 'no script errors or CSP violations in the console' +
          (consoleErrors.length ? ': ' + consoleErrors.join(' | ') : ''));
  } finally {
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(() => {
  console.log(checks + ' checks, ' + failures + ' failed');
  process.exit(failures ? 1 : 0);
}, (e) => {
  console.error('FAIL ' + (e && e.stack || e));
  process.exit(1);
});
