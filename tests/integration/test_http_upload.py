#!/usr/bin/python3
"""test_http_upload.py - the browser upload flow through nginx (SPEC section 6):
sign up -> log in -> start -> upload -> finalize -> jobs with the right chunk
keys; the real frames; every error case; CSRF; other users' ids; the .php
aliases; nothing of a refused file is kept."""
import os
import sys
import tempfile
import threading

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cstest import (Client, check, chunk_key, done, fits_header, fits_set_card, mean_pointing,  # noqa: E402
                    new_user, read_conf, real_frames, simulate, skip_unless_stack, sql)

skip_unless_stack()
conf = read_conf()
buffer_dir = conf.get("buffer_dir", "")


def start(c, path="/upload"):
    r = c.post_form(path, {"action": "start"})
    check(r.status == 200 and len(r.json().get("session_token", "")) == 64, "start upload session via %s" % path)
    return r.json()["session_token"]


def upload(c, token, path_or_name, data=None, path="/upload", csrf=True):
    if data is None:
        with open(path_or_name, "rb") as f:
            data = f.read()
    name = os.path.basename(path_or_name)
    return c.post_multipart(path, [("action", "file"), ("session_token", token)], [("file", name, data)],
                            csrf=csrf)


def session_files(c, token):
    r = c.get("/upload/status?session_token=" + token)
    return r.json()["files"] if r.status == 200 else None


def leftovers(token):
    """Files in the session folder that are not <id>.fit (temporary files)."""
    d = os.path.join(buffer_dir, "sess_" + token)
    if not os.path.isdir(d):
        return []
    return [f for f in os.listdir(d) if not f[:-4].isdigit()]


# ---- sign up, log in, the happy path with simulated frames ----
alice, alice_name, alice_pw = new_user("alice")
c = Client()
r = c.login(alice_name, alice_pw)
check(r.status == 200 and r.json()["username"] == alice_name, "log in as a new user")
check(any(h.startswith("cs_session=") and "HttpOnly" in h and "SameSite=Lax" in h
          for h in r.headers_all("Set-Cookie")), "session cookie is HttpOnly; SameSite=Lax")
me = c.get("/api/me")
check(me.status == 200 and me.json()["csrf_token"] == c.csrf, "GET /api/me returns the CSRF token")

tmp = tempfile.mkdtemp(prefix="cs-http-")
sim = simulate(os.path.join(tmp, "sim"), 6, start="2025-03-27T01:20:00", ra=120.5, dec=-30.25)
if not check(sim is not None and len(sim) == 6, "crowdsky-worker simulate wrote 6 frames"):
    pass
else:
    tok = start(c)
    keys = []
    pts = []
    for f in sim:
        r = upload(c, tok, f)
        t, ra, dec = fits_header(f)
        ok = r.status == 200 and r.json().get("chunk_key") == chunk_key(t, ra, dec)
        check(ok, "simulated frame %s -> %r" % (os.path.basename(f), r.json() if r.status == 200 else r))
        keys.append(r.json().get("chunk_key") if r.status == 200 else None)
        pts.append((t, ra, dec))
    # frame selection: a ratio below 1 would leave out the median frame itself
    for bad in ("0.5", "abc", "101", "-1"):
        r = c.post_form("/finalize", {"session_token": tok, "max_fwhm_ratio": bad})
        check(r.status == 400 and "max_fwhm_ratio" in r.json().get("error", ""),
              "finalize with max_fwhm_ratio=%s: 400 with the reason: %r" % (bad, r))
    r = c.post_form("/finalize", {"session_token": tok, "max_fwhm_ratio": "1.3"})
    jobs = r.json().get("jobs") if r.status == 200 else None
    if jobs:
        got = sql("SELECT COALESCE(params, '') FROM stacking_jobs WHERE id = %d" % int(jobs[0]["job_id"])).strip()
        check(got.replace(" ", "") == '{"max_fwhm_ratio":1.3}',
              "the job keeps the upload's frame selection for its worker: %r" % got)
    ra, dec = mean_pointing([(p[1], p[2]) for p in pts])
    want = chunk_key(pts[0][0], ra, dec)
    check(jobs is not None and len(jobs) == 1 and jobs[0]["n_files"] == len(sim) and jobs[0]["chunk_key"] == want,
          "simulated frames finalize into one job %s: %r" % (want, jobs))
    lst = c.get("/api/jobs").json()["jobs"]
    check(any(j["job_id"] == jobs[0]["job_id"] and j["state"] == "pending" for j in lst),
          "the job is listed on /api/jobs as pending")

# ---- the 12 real frames -> ONE job ----
frames12 = real_frames("m94-s50-2025-03-27")
tok12 = start(c)
for f in frames12:
    r = upload(c, tok12, f)
    if not check(r.status == 200, "upload real frame %s" % os.path.basename(f)):
        print(r)
r = c.post_form("/finalize", {"session_token": tok12})
j = r.json().get("jobs", []) if r.status == 200 else []
check(len(j) == 1 and j[0]["n_files"] == 12, "12 real M 94 frames finalize into ONE job: %r" % j)
pts = [fits_header(f) for f in frames12]
ra, dec = mean_pointing([(p[1], p[2]) for p in pts])
check(j and j[0]["chunk_key"] == chunk_key(pts[0][0], ra, dec), "its key uses the mean pointing: %r" % j)
r = c.post_form("/finalize", {"session_token": tok12})
check(r.status == 409, "finalizing twice is refused (409)")

# ---- all 32 frames of the two folders, one session, through the .php aliases ----
frames32 = frames12 + real_frames("m94-s50-2025-03-27b")
tok32 = start(c, "/upload.php")
statuses = []


def uploader(part):
    # one browser tab uploads 4 files at a time into the same session
    cc = Client()
    cc.cookies, cc.csrf = dict(c.cookies), c.csrf
    for f in part:
        statuses.append(upload(cc, tok32, f, path="/upload.php").status)


threads = [threading.Thread(target=uploader, args=(frames32[i::4],)) for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
check(statuses == [200] * 32 and len(frames32) == 32, "32 frames uploaded 4 at a time into one session via /upload.php")
r = c.post_form("/finalize.php", {"session_token": tok32})
j = r.json().get("jobs", []) if r.status == 200 else []
check(len(j) == 1 and j[0]["n_files"] == 32, "32 frames finalize into ONE job via /finalize.php: %r" % j)

# ---- error cases ----
tok = start(c)
one = frames12[0]
with open(one, "rb") as fh:
    good = fh.read()

anon = Client()
r = anon.post_form("/upload", {"action": "start"}, csrf=False)
check(r.status == 401 and "error" in r.json(), "start without logging in: 401 JSON")
r = upload(anon, tok, one, csrf=False)
check(r.status == 401, "upload without logging in: 401")

r = c.post_form("/upload", {"action": "start"}, csrf=False)
check(r.status == 403, "start without CSRF token: 403")
r = c.post_form("/upload", {"action": "start"}, headers={"X-CSRF-Token": "0" * 64})
check(r.status == 403, "start with a wrong CSRF token: 403")
r = c.post_form("/upload", {"action": "start", "csrf_token": c.csrf}, csrf=False)
check(r.status == 200, "start with the CSRF token as a form field")
r = c.post_multipart("/upload", [("action", "file"), ("session_token", tok)], [("file", "a.fit", good)], csrf=False)
check(r.status == 403, "file without CSRF token: 403")
r = c.post_multipart("/upload", [("action", "file"), ("session_token", tok), ("csrf_token", "f" * 64)],
                     [("file", "a.fit", good)], csrf=False)
check(r.status == 403, "file with a wrong CSRF field: 403")
with open(frames12[2], "rb") as fh:
    other = fh.read()
r = c.post_multipart("/upload", [("action", "file"), ("session_token", tok), ("csrf_token", c.csrf)],
                     [("file", "field-csrf.fit", other)], csrf=False)
check(r.status == 200, "file with the CSRF token as a form field before the file")
r = c.post_form("/finalize", {"session_token": tok}, csrf=False)
check(r.status == 403, "finalize without CSRF token: 403")

r = upload(c, tok, "frame.png", data=good)
check(r.status == 400 and ".fit" in r.json()["error"], "wrong extension: 400 %r" % r)
r = c.post_multipart("/upload", [("action", "file"), ("session_token", tok)], [("file", b"bad\xff\xfe.fit", good)])
check(r.status == 400 and "UTF-8" in r.json()["error"], "a file name that is not UTF-8: 400 %r" % r)
r = c.post_multipart("/upload", [("action", "file"), ("session_token", tok)], [("file", b"bad\x01.fit", good)])
check(r.status == 400, "a file name with a control character: 400")
r = upload(c, tok, "notfits.fit", data=b"hello world, not a FITS file" * 200)
check(r.status == 400 and "FITS" in r.json()["error"], "not FITS: 400 %r" % r)
nodate = fits_set_card(good, "DATE-OBS", "COMMENT   no date here")
r = upload(c, tok, "nodate.fit", data=nodate)
check(r.status == 400 and "DATE-OBS" in r.json()["error"], "missing DATE-OBS: 400 %r" % r)
nora = fits_set_card(good, "RA", "COMMENT   no ra")
r = upload(c, tok, "nora.fit", data=nora)
check(r.status == 400 and "RA" in r.json()["error"], "missing RA: 400 %r" % r)
r = upload(c, tok, "truncated.fit", data=good[:len(good) // 2])
check(r.status == 400 and "truncated" in r.json()["error"], "truncated data: 400 %r" % r)
r = upload(c, tok, one)
check(r.status == 200, "a valid frame is accepted")
r = upload(c, tok, one)
check(r.status == 409, "the same file again in this session: 409 %r" % r)
r = upload(c, tok, "renamed-copy.fit", data=good)
check(r.status == 409 and "same file content" in r.json()["error"], "same content under another name: 409")
# a valid header announcing 5120 x 5120 x 2 bytes: the file passes 50 MiB
big = fits_set_card(fits_set_card(good[:5760], "NAXIS1", "NAXIS1  =                 5120"),
                    "NAXIS2", "NAXIS2  =                 5120")
big += b"\0" * (5120 * 5120 * 2)
r = upload(c, tok, "huge.fit", data=big)
check(r.status == 413 and "error" in r.json(), "a file over 50 MB: 413 JSON %r" % r)
r = c.post_multipart("/upload", [("action", "file"), ("session_token", tok)], [], csrf=True)
check(r.status == 400, "action=file without a file: 400")
r = c.post_multipart("/upload", [("action", "file")], [("file", "x.fit", good)])
check(r.status == 400 and "session_token" in r.json()["error"], "file without session_token: 400")
r = upload(c, "0" * 64, one)
check(r.status == 404, "unknown session: 404")
with open(frames12[3], "rb") as fh:
    r = c.post_multipart("/upload", [("action", "file"), ("session_token", tok)],
                         [("file", "night/sub dir/Nébuleuse ☆ 01.FITS", fh.read())])
check(r.status == 200 and r.json()["filename"] == "Nébuleuse ☆ 01.FITS",
      "a folder-relative UTF-8 name keeps its last component: %r" % r)
files = session_files(c, tok)
check(files is not None and sorted(f["filename"] for f in files) == sorted(["field-csrf.fit", os.path.basename(one),
                                                                           "Nébuleuse ☆ 01.FITS"]),
      "refused files left no rows: %r" % [f["filename"] for f in files or []])
check(leftovers(tok) == [], "refused files left no bytes in the buffer: %r" % leftovers(tok))
ids = sorted(int(x[:-4]) for x in os.listdir(os.path.join(buffer_dir, "sess_" + tok)))
check(ids == sorted(f["file_id"] for f in files), "stored files are named <file_id>.fit: %r" % ids)

# ---- another user's ids ----
bob, bob_name, _ = new_user("bob")
r = upload(bob, tok, frames12[1])
check(r.status == 404, "bob uploading into alice's session: 404")
r = bob.post_form("/finalize", {"session_token": tok})
check(r.status == 404, "bob finalizing alice's session: 404")
r = bob.get("/upload/status?session_token=" + tok)
check(r.status == 404, "bob reading alice's session status: 404")
alice_jobs = c.get("/api/jobs").json()["jobs"]
bob_jobs = bob.get("/api/jobs").json()["jobs"]
check(len(alice_jobs) >= 2 and bob_jobs == [], "bob sees none of alice's jobs")
r = bob.post_form("/api/jobs/delete", {"id": str(alice_jobs[0]["job_id"])})
check(r.status == 404, "bob deleting alice's job: 404")
check(len(c.get("/api/jobs").json()["jobs"]) == len(alice_jobs), "alice's job is still there")

# ---- delete a job: its raws go too ----
victim = [jj for jj in alice_jobs if jj["n_files"] == 12][0]
st = c.get("/upload/status?session_token=" + tok12).json()
paths = [os.path.join(buffer_dir, "sess_" + tok12, "%d.fit" % f["file_id"]) for f in st["files"]]
check(all(os.path.exists(p) for p in paths), "the 12 raws are in the buffer")
r = c.post_form("/api/jobs/delete", {"id": str(victim["job_id"])})
check(r.status == 200 and r.json()["raws_deleted"] == 12, "delete a job: 200, 12 raws deleted")
check(not any(os.path.exists(p) for p in paths), "the raws' files are gone")
check(all(jj["job_id"] != victim["job_id"] for jj in c.get("/api/jobs").json()["jobs"]), "the job is gone")

# ---- privacy: no site location in anything a user gets back ----
body = c.get("/upload/status?session_token=" + tok32).body + c.get("/api/jobs").body
check(b"SITELAT" not in body.upper() and b"SITE_LAT" not in body.upper(), "no site location in status/jobs JSON")

# ---- log out ----
old = dict(c.cookies)
r = c.post_form("/logout", {})
check(r.status == 200 and "cs_session" not in c.cookies, "log out clears the cookie")
c.cookies = old
r = c.get("/api/me")
check(r.status == 401, "after log out the old session cookie is dead")

done()
