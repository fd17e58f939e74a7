#!/usr/bin/python3
"""test_e2e_worker.py - from upload to a stored stack (issue 5), on the stack
that script/test starts: 3 chunks of simulated frames uploaded through HTTP,
a crowdsky-worker run started here (the stack's own worker may take jobs too),
every job completes, FITS and PNG exist on WebDAV and download through the app,
the FITS passes fitsverify, the raws are gone from the buffer. Then the 12 real
M 94 frames: one job, one stack. Also: the worker API's refusals (stale lease
409, another token's raws 403, no token / a revoked token 401, the .php
aliases) and crowdsky-fcgi token create/revoke/list."""
import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cstest import (Client, check, done, new_user, read_conf, real_frames, script_upload, simulate,  # noqa: E402
                    skip_unless_stack, stack_workers)

skip_unless_stack()
conf = read_conf()
FCGI = os.environ.get("CS_FCGI")
WORKER = os.environ.get("CS_WORKER")
CONF = os.environ["CS_TEST_CONF"]


def sql(statement):
    args = ["mariadb", "--no-defaults", "-N", "-B", "-u", conf.get("db_user", "crowdsky"),
            conf.get("db_name", "crowdsky")]
    if conf.get("db_socket"):
        args.insert(2, "--socket=" + conf["db_socket"])
    env = dict(os.environ, MYSQL_PWD=conf.get("db_password", ""))
    p = subprocess.run(args, input=statement.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if p.returncode != 0:
        raise RuntimeError(p.stderr.decode())
    return [line.split("\t") for line in p.stdout.decode().splitlines()]


def dav_get(path):
    """(status, bytes) of a GET on the WebDAV store with its own credentials."""
    url = os.environ.get("CS_TEST_DAV_URL", conf.get("webdav_url", "")).rstrip("/") + "/" + urllib.request.quote(path)
    req = urllib.request.Request(url)
    user = os.environ.get("CS_TEST_DAV_USER", conf.get("webdav_user", ""))
    pw = os.environ.get("CS_TEST_DAV_PASSWORD", conf.get("webdav_password", ""))
    req.add_header("Authorization", "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def fitsverify(data):
    with tempfile.NamedTemporaryFile(suffix=".fits") as f:
        f.write(data)
        f.flush()
        p = subprocess.run(["fitsverify", "-q", f.name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = p.stdout.decode(errors="replace")
        return p.returncode == 0 and "verification OK" in out, out.strip()[-300:]


def fits_cards(data):
    cards = {}
    for i in range(0, min(len(data), 2880 * 20), 80):
        card = data[i:i + 80].decode("ascii", "replace")
        if card.startswith("END "):
            break
        if card[8:10] == "= ":
            cards[card[:8].strip()] = card[10:].split("/")[0].strip().strip("'").strip()
    return cards


def upload_night(api, files, scrub="1"):
    token, r = script_upload(api, files, scrub_location=scrub)
    check(r.status == 200, "finalize: %r" % r)
    return token, r.json()


def start_worker(scratch, extra_env=None, args=("--idle-exit", "40")):
    env = dict(os.environ, CROWDSKY_SCRATCH_DIR=scratch, CROWDSKY_POLL_INTERVAL_SECONDS="1",
               CROWDSKY_POLL_MAX_SECONDS="2")
    env.update(extra_env or {})
    log = open(os.path.join(scratch, "worker.log"), "wb")
    return subprocess.Popen([WORKER, "run", "--config", CONF] + list(args), stdout=log, stderr=log, env=env)


def wait_jobs(job_ids, timeout):
    ids = ",".join(str(int(j)) for j in job_ids)
    deadline = time.time() + timeout
    rows = []
    while time.time() < deadline:
        rows = sql("SELECT id, state, COALESCE(last_error, '') FROM stacking_jobs WHERE id IN (%s)" % ids)
        if rows and all(r[1] in ("completed", "failed") for r in rows):
            break
        time.sleep(1)
    return {int(r[0]): (r[1], r[2]) for r in rows}


def run_jobs(w, wdir, job_ids, timeout, label):
    """Waits for the jobs with the worker w running (started again if it went
    idle and exited); checks that they all completed. Returns the worker."""
    if w.poll() is not None:
        w = start_worker(wdir)
    states = wait_jobs(job_ids, timeout)
    check(states and all(s == "completed" for s, _ in states.values()), "%s completed: %r" % (label, states))
    return w


def check_stack(api, key, buffer_token, label):
    """The stack of chunk key `key`: listed, on WebDAV (FITS + PNG), downloadable,
    valid FITS; the raws of its upload session are gone."""
    rows = sql("SELECT s.id, webdav_path, COALESCE(thumbnail_path, ''), n_frames_input, n_frames_aligned, "
               "file_size_bytes FROM stacked_frames s JOIN users u ON u.id = s.user_id "
               "WHERE u.username = '%s' AND s.chunk_key = '%s'" % (api.basic[0], key))
    if not check(len(rows) == 1, "%s: a stacked_frames row for %s" % (label, key)):
        return None
    sid, path, thumb, n_in, n_al, size = rows[0]
    st, body = dav_get(path)
    check(st == 200 and len(body) == int(size) and body.startswith(b"SIMPLE  ="),
          "%s: the FITS is on WebDAV at %s (%d bytes)" % (label, path, len(body)))
    st, png = dav_get(thumb)
    check(thumb.endswith("thumbnail.png") and st == 200 and png.startswith(b"\x89PNG"),
          "%s: the PNG thumbnail is on WebDAV" % label)
    r = api.request("GET", "/api/download_stack?chunk_key=" + urllib.request.quote(key))
    check(r.status == 200 and r.body == body and "attachment" in (r.header("Content-Disposition") or "")
          and r.header("Content-Type") == "application/fits",
          "%s: GET /api/download_stack streams the same FITS as an attachment" % label)
    r = api.request("GET", "/api/thumbnail.php?id=%s" % sid)
    check(r.status == 200 and r.body == png and r.header("Content-Type") == "image/png",
          "%s: GET /api/thumbnail(.php) streams the PNG" % label)
    ok, out = fitsverify(body)
    check(ok, "%s: fitsverify passes (%s)" % (label, out.splitlines()[-1] if out else ""))
    cards = fits_cards(body)
    check(cards.get("NAXIS") == "3" and cards.get("NAXIS3") == "3" and cards.get("BITPIX") == "-32",
          "%s: float32 RGB cube (NAXIS3 = 3)" % label)
    check("SITELAT" not in cards and "SITELONG" not in cards, "%s: no SITELAT/SITELONG in the stack" % label)
    left = sql("SELECT COUNT(*) FROM raw_files r JOIN upload_sessions s ON s.id = r.session_id "
               "WHERE s.token = '%s'" % buffer_token)[0][0]
    sess_dir = os.path.join(conf["buffer_dir"], "sess_" + buffer_token)
    files_left = [f for f in os.listdir(sess_dir) if f.endswith(".fit")] if os.path.isdir(sess_dir) else []
    check(left == "0" and not files_left, "%s: the raws are gone (rows %s, files %d)" % (label, left, len(files_left)))
    return {"id": sid, "n_in": int(n_in), "n_aligned": int(n_al), "fits": body}


tmp = tempfile.mkdtemp(prefix="cs-e2e-")
try:
    browser, name, pw = new_user("e2e")
    api = Client(basic=(name, pw))

    # ---- 3 chunks of simulated frames: 15 minutes apart, one pointing ----
    sims = []
    for i, start in enumerate(["2025-04-02T21:01:00", "2025-04-02T21:16:00", "2025-04-02T21:31:00"]):
        files = simulate(os.path.join(tmp, "sim%d" % i), 4, start=start, seed=10 + i, width=480, height=360,
                         stars=250)
        check(files is not None and len(files) == 4, "simulate chunk %d" % i)
        sims += files or []
    token, fin = upload_night(api, sims)
    check(fin.get("jobs") == 3 and len(fin.get("chunks", [])) == 3, "3 chunks -> 3 jobs: %r" % fin)

    wdir = os.path.join(tmp, "w1")
    os.makedirs(wdir)
    w = start_worker(wdir)
    states = wait_jobs(fin.get("job_ids", []), 240)
    check(len(states) == 3 and all(s == "completed" for s, _ in states.values()),
          "all 3 jobs completed: %r" % states)
    for key in fin.get("chunks", []):
        st = check_stack(api, key, token, "sim " + key)
        if st:
            check(st["n_in"] == 4 and st["n_aligned"] >= 3, "sim %s: 4 frames in, %d aligned" % (key, st["n_aligned"]))
    r = api.request("GET", "/api/my_stacks")
    mine = r.json() if r.status == 200 else []
    check(sorted(s["chunk_key"] for s in mine) == sorted(fin.get("chunks", [])), "my_stacks lists the 3 stacks")

    # ---- frame selection chosen at upload: only frames up to the median width ----
    sim4 = simulate(os.path.join(tmp, "sim4"), 4, start="2025-04-02T23:01:00", seed=44, width=480, height=360,
                    stars=250)
    check(sim4 is not None and len(sim4) == 4, "simulate the selection chunk")
    token4, r4 = script_upload(api, sim4 or [], max_fwhm_ratio="1.0")
    fin4 = r4.json() if r4.status == 200 else {}
    check(fin4.get("jobs") == 1, "finalize with max_fwhm_ratio=1.0: one job: %r" % r4)
    w = run_jobs(w, wdir, fin4.get("job_ids", []), 240, "the selection job")
    for key in fin4.get("chunks", []):
        st = check_stack(api, key, token4, "selection " + key)
        if st:
            # the 2 frames wider than the median, unless one is the reference (never left out)
            check(st["n_in"] == 4 and st["n_aligned"] in (2, 3),
                  "max_fwhm_ratio=1.0: the frames wider than the median are left out (%d of 4 used)"
                  % st["n_aligned"])
            rep = sql("SELECT report FROM stacked_frames s JOIN users u ON u.id = s.user_id "
                      "WHERE u.username = '%s' AND s.chunk_key = '%s'" % (name, key))
            check(rep and rep[0][0].count("soft or trailed stars") == 4 - st["n_aligned"],
                  "the report says why for each of them")

    # ---- the 12 real M 94 frames: one job, one stack ----
    real = real_frames("m94-s50-2025-03-27")
    check(len(real) == 12, "12 real M 94 frames")
    token2, fin2 = upload_night(api, real)
    check(fin2.get("jobs") == 1, "the real 2 1/4-minute sequence makes ONE job (RA moved 193.04 -> 193.07): %r" % fin2)
    w = run_jobs(w, wdir, fin2.get("job_ids", []), 400, "the M 94 job")
    for key in fin2.get("chunks", []):
        st = check_stack(api, key, token2, "M 94 " + key)
        if st:
            check(st["n_in"] == 12 and st["n_aligned"] >= 10, "M 94: 12 frames in, %d aligned" % st["n_aligned"])
            cards = fits_cards(st["fits"])
            check(cards.get("OBJECT", "").replace(" ", "") == "M94" and cards.get("NCOMBINE") == str(st["n_aligned"]),
                  "M 94: OBJECT and NCOMBINE in the header (%s, %s)" % (cards.get("OBJECT"), cards.get("NCOMBINE")))
    # ---- upload_stack: a stack made on the telescope becomes a listed stack ----
    key0 = fin["chunks"][0]
    old = sql("SELECT s.id, webdav_path FROM stacked_frames s JOIN users u ON u.id = s.user_id "
              "WHERE u.username = '%s' AND chunk_key = '%s'" % (name, key0))
    st, first_fits = dav_get(old[0][1]) if old else (0, b"")
    r = api.post_multipart("/api/upload_stack.php", [("n_frames_input", "40"), ("n_frames_aligned", "38"),
                                                     ("scrub_location", "1")],
                           [("file", "Stacked_40_M 94.fit", first_fits), ("thumbnail", "t.png", b"\x89PNG....")],
                           csrf=False)
    up = r.json() if r.status == 200 else {}
    check(r.status == 200 and up.get("ok") is True and up.get("status") == "queued" and up.get("chunk_key") == key0,
          "POST /api/upload_stack -> {ok, job_id, chunk_key, status: queued}: %r" % r)
    r = api.post_multipart("/api/upload_stack", [], [("file", "x.fits", b"SIMPLE  = nonsense")], csrf=False)
    check(r.status == 400 and "error" in r.json(), "upload_stack refuses a non-FITS file: %r" % r)
    if up.get("job_id"):
        w = run_jobs(w, wdir, [up["job_id"]], 120, "the upload_stack job")
        new = sql("SELECT webdav_path, n_frames_input, n_frames_aligned, COALESCE(thumbnail_path, '') "
                  "FROM stacked_frames s JOIN users u ON u.id = s.user_id "
                  "WHERE u.username = '%s' AND chunk_key = '%s'" % (name, key0))
        check(new and new[0][1:3] == ["40", "38"] and "/%d/" % up["job_id"] in new[0][0],
              "the uploaded stack replaced the row of its chunk key, with the form's counts: %r" % new)
        if new:
            st, body = dav_get(new[0][0])
            check(st == 200 and body == first_fits, "the uploaded FITS is stored on WebDAV as sent")
            st, png = dav_get(new[0][3])
            check(st == 200 and png.startswith(b"\x89PNG"), "the worker drew its thumbnail")
        if old:
            st, _ = dav_get(old[0][1])
            check(st == 404, "the replaced stack's files were deleted from WebDAV")

    # a file gone from the store: a clear 404, not a broken stream
    dav_root = os.path.join(os.environ.get("CS_TEST_STACK", ""), "dav")
    gone = sql("SELECT s.id, thumbnail_path FROM stacked_frames s JOIN users u ON u.id = s.user_id "
               "WHERE u.username = '%s' AND thumbnail_path IS NOT NULL ORDER BY s.id LIMIT 1" % name)
    if gone and os.path.isdir(dav_root):
        os.unlink(os.path.join(dav_root, gone[0][1]))
        r = api.request("GET", "/api/thumbnail?id=%s" % gone[0][0])
        check(r.status == 404 and "missing" in r.json().get("error", ""),
              "a thumbnail missing on WebDAV: 404 with a reason: %r" % r)
    r = api.request("GET", "/api/thumbnail?id=abc")
    check(r.status == 400, "thumbnail?id=abc: 400")
    r = api.request("GET", "/api/download_stack")
    check(r.status == 400, "download_stack without chunk_key: 400")
    r = Client(basic=new_user("other")[1:]).request("GET", "/api/download_stack?chunk_key=" + urllib.request.quote(key0))
    check(r.status == 404, "another user's chunk key: 404")

    w.terminate()
    try:
        w.wait(timeout=60)
    except subprocess.TimeoutExpired:
        w.kill()
    log = open(os.path.join(wdir, "worker.log"), errors="replace").read()
    check("event=start" in log and "event=stop" in log, "the worker logs start and stop")
    check(w.returncode == 0, "SIGTERM: the idle worker exits 0 (rc %r)" % w.returncode)
    check(not [d for d in os.listdir(wdir) if d.startswith("job-")], "scratch is clean after every job")

    # a bad frame-selection setting stops the worker at start, naming the key
    p = subprocess.run([WORKER, "run", "--config", CONF, "--once"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=dict(os.environ, CROWDSKY_STACK_MAX_FWHM_RATIO="0.5"), timeout=60)
    check(p.returncode != 0 and b"CROWDSKY_STACK_MAX_FWHM_RATIO" in p.stderr and b"at least 1" in p.stderr,
          "stack_max_fwhm_ratio = 0.5 is refused at start: rc %d, %r" % (p.returncode, p.stderr[-200:]))

    # ---- worker API refusals ----
    tname = "e2e-" + os.urandom(3).hex()
    p = subprocess.run([FCGI, "token", "create", tname, "--config", CONF], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    tok = p.stdout.decode().split()[-1] if p.returncode == 0 and p.stdout.split() else ""
    check(p.returncode == 0 and tok.startswith("cswt_") and len(tok) == 69, "token create prints the token once")
    digest = hashlib.sha256(tok.encode()).hexdigest()
    rows = sql("SELECT token_hash FROM worker_tokens WHERE name = '%s'" % tname)
    check(rows and rows[0][0] == digest and tok not in str(rows), "only the SHA-256 of the token is stored")
    p2 = subprocess.run([FCGI, "token", "create", tname, "--config", CONF], stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE)
    check(p2.returncode != 0 and b"exists" in p2.stderr, "a second token of the same name is refused")
    bearer = Client()
    H = {"Authorization": "Bearer " + tok}

    # a pending job that this token claims: the stack's workers wait meanwhile
    stack_workers(signal.SIGSTOP)
    sim3 = simulate(os.path.join(tmp, "sim3"), 3, start="2025-04-03T22:01:00", seed=33, width=480, height=360,
                    stars=250)
    token3, fin3 = upload_night(api, sim3)
    jid = fin3["job_ids"][0]
    claim = None
    for _ in range(40):
        r = bearer.request("GET", "/api/next_job.php", headers=H)
        if r.status == 200 and r.json().get("job_id") == jid:
            claim = r.json()
            break
        if r.status == 200:  # someone else's job: give it back at once
            j = r.json()
            bearer.request("POST", "/api/fail_job", headers=H, ctype="application/json",
                           body=json.dumps({"job_id": j["job_id"], "lease": j["lease"], "error": "test",
                                            "retryable": True}))
        time.sleep(0.2)
    if check(claim is not None, "next_job.php claims with a fresh token: %r" % claim):
        check(set(["job_id", "kind", "chunk_key", "object_name", "frame_count", "lease", "lease_seconds"])
              <= set(claim), "next_job has the fields of SPEC 6")
        r = bearer.request("GET", "/api/job_files?job_id=%d" % jid, headers=H)
        files = r.json().get("files", []) if r.status == 200 else []
        check(len(files) == 3 and all({"file_id", "filename", "size", "sha256", "date_obs", "exptime"} <= set(f)
                                      for f in files), "job_files lists 3 files with their fields")
        if files:
            r = bearer.request("GET", "/api/download_raw?file_id=%d" % files[0]["file_id"], headers=H)
            check(r.status == 200 and hashlib.sha256(r.body).hexdigest() == files[0]["sha256"],
                  "download_raw streams the file (SHA-256 matches)")
            r = Client().request("GET", "/api/download_raw?file_id=%d" % files[0]["file_id"],
                                 headers={"Authorization": "Bearer " + os.environ.get("CS_TEST_WORKER_TOKEN", "x")})
            check(r.status in (401, 403), "another token cannot download this job's raws (%d)" % r.status)
        stale = {"job_id": jid, "lease": "0" * 32, "progress": {"stage": "aligning", "done": 1, "total": 3}}
        r = bearer.request("POST", "/api/heartbeat", headers=H, ctype="application/json", body=json.dumps(stale))
        check(r.status == 409, "heartbeat with a stale lease: 409")
        good = dict(stale, lease=claim["lease"])
        r = bearer.request("POST", "/api/heartbeat.php", headers=H, ctype="application/json", body=json.dumps(good))
        check(r.status == 200, "heartbeat with the lease: 200")
        prog = sql("SELECT progress_stage, progress_done, progress_total FROM stacking_jobs WHERE id = %d" % jid)
        check(prog and prog[0] == ["aligning", "1", "3"], "the progress is recorded (aligning 1 / 3): %r" % prog)
        r = bearer.request("POST", "/api/complete_job", headers=H, ctype="application/json",
                           body=json.dumps({"job_id": jid, "lease": "f" * 32, "metadata": {}}))
        check(r.status == 409, "complete_job with a stale lease: 409")
        r = bearer.request("POST", "/api/complete_job", headers=H, ctype="application/json",
                           body=json.dumps({"job_id": jid, "lease": claim["lease"], "metadata": {}}))
        check(r.status == 409 and "not on WebDAV" in r.json().get("error", ""),
              "complete_job before the stack is stored: refused, raws kept")
        r = bearer.request("POST", "/api/fail_job", headers=H, ctype="application/json", body="{not json")
        check(r.status == 400, "a body that is not JSON: 400")
        r = bearer.request("POST", "/api/fail_job", headers=H, ctype="application/json",
                           body=json.dumps({"job_id": jid, "lease": claim["lease"], "error": "test: give back",
                                            "retryable": True}))
        check(r.status == 200 and r.json().get("state") == "pending", "fail_job retryable -> pending")
        r = bearer.request("POST", "/api/fail_job", headers=H, ctype="application/json",
                           body=json.dumps({"job_id": jid, "lease": claim["lease"], "error": "again",
                                            "retryable": False}))
        check(r.status == 409, "the returned lease is dead: 409")
    stack_workers(signal.SIGCONT)

    r = Client().request("GET", "/api/next_job")
    check(r.status == 401, "no token: 401")
    p = subprocess.run([FCGI, "token", "revoke", tname, "--config", CONF], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    check(p.returncode == 0, "token revoke")
    # verified tokens are remembered for CS_WORKER_TOKEN_CACHE_SECONDS (2 s, jobs.h):
    # the revocation must bite within that, so allow up to 3 s, no more
    deadline = time.monotonic() + 3.0
    while True:
        r = bearer.request("GET", "/api/next_job", headers=H)
        if r.status == 401 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check(r.status == 401, "a revoked token gets 401 within 3 s")
    p = subprocess.run([FCGI, "token", "list", "--config", CONF], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = [ln for ln in p.stdout.decode().splitlines() if ln.startswith(tname + " ")]
    check(p.returncode == 0 and line and "revoked" in line[0], "token list shows it revoked")
    env = dict(os.environ, CROWDSKY_WORKER_TOKEN=tok, CROWDSKY_SCRATCH_DIR=wdir)
    p = subprocess.run([WORKER, "run", "--config", CONF, "--once"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=60)
    check(p.returncode == 1 and b"token_refused" in p.stderr, "a worker with a revoked token stops (exit 1)")
finally:
    stack_workers(signal.SIGCONT)
    shutil.rmtree(tmp, ignore_errors=True)
done()
