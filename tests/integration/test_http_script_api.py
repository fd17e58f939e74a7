#!/usr/bin/python3
"""test_http_script_api.py - the script and telescope-app API (SPEC section 6)
driven with plain HTTP exactly as a client such as seestarpy speaks it: HTTP
Basic auth, /api/raw_upload?action=start|file|finalize|status and
/api/my_stacks[?object=], with their .php aliases; the skip-if-stacked rule,
overwrite, scrub_location; resume with action=status; privacy."""
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cstest import (Client, check, chunk_key, done, fits_header, mean_pointing, new_user,  # noqa: E402
                    read_conf, real_frames, skip_unless_stack, sql)

skip_unless_stack()
conf = read_conf()


browser, name, pw = new_user("scripter")
api = Client(basic=(name, pw))

# ---- authentication ----
r = Client().post_form("/api/raw_upload?action=start", {}, csrf=False)
check(r.status == 401 and r.header("WWW-Authenticate", ) and "Basic" in r.header("WWW-Authenticate"),
      "no credentials: 401 with WWW-Authenticate: Basic")
r = Client(basic=(name, "wrong password")).post_form("/api/raw_upload?action=start", {}, csrf=False)
check(r.status == 401 and "error" in r.json(), "wrong password: 401 {error}")
r = api.request("POST", "/api/raw_upload?action=start")
check(r.status == 200 and len(r.json().get("session_token", "")) == 64, "POST /api/raw_upload?action=start -> {session_token}")
token = r.json()["session_token"]
r = api.request("POST", "/api/raw_upload.php?action=start")
check(r.status == 200 and "session_token" in r.json(), "the .php alias answers the same")

# ---- files: form session_token + multipart file, no CSRF, no cookies ----
frames = real_frames("m94-s50-2025-03-27")
for f in frames[:8]:
    with open(f, "rb") as fh:
        data = fh.read()
    r = api.post_multipart("/api/raw_upload?action=file", [("session_token", token)],
                           [("file", os.path.basename(f), data)], csrf=False)
    t, ra, dec = fits_header(f)
    j = r.json() if r.status == 200 else {}
    check(r.status == 200 and j.get("ok") is True and j.get("filename") == os.path.basename(f)
          and j.get("chunk_key") == chunk_key(t, ra, dec) and j.get("date_obs", "").startswith("2025-03-27T01:2"),
          "action=file -> {ok, filename, chunk_key, date_obs}: %r" % j)
check(not api.cookies, "the script API sets no cookies")
with open(frames[0], "rb") as fh:
    good = fh.read()
nodate = bytearray(good)
i = good.find(b"DATE-OBS")
nodate[i:i + 80] = b"COMMENT".ljust(80)
r = api.post_multipart("/api/raw_upload?action=file", [("session_token", token)], [("file", "x.fit", bytes(nodate))],
                       csrf=False)
check(r.status == 400 and "DATE-OBS" in r.json().get("error", ""), "missing DATE-OBS: 400 with {error}")

# ---- resume: status lists what is there; upload the rest through the .php alias ----
r = api.get("/api/raw_upload?action=status&session_token=" + token)
st = r.json() if r.status == 200 else {}
check(r.status == 200 and st.get("state") == "open" and len(st.get("files", [])) == 8,
      "action=status lists the 8 stored files: %r" % {k: st.get(k) for k in ("state", "n_files")})
have = {x["filename"] for x in st.get("files", [])}
for f in frames:
    if os.path.basename(f) in have:
        continue
    with open(f, "rb") as fh:
        r = api.post_multipart("/api/raw_upload.php?action=file", [("session_token", token)],
                               [("file", os.path.basename(f), fh.read())], csrf=False)
    check(r.status == 200, "resume: upload %s" % os.path.basename(f))
other, oname, opw = new_user("snoop")
r = Client(basic=(oname, opw)).get("/api/raw_upload?action=status&session_token=" + token)
check(r.status == 404, "another user's session: 404")

# ---- finalize: scrub_location, overwrite, the skip-if-stacked rule ----
pts = [fits_header(f) for f in frames]
ra, dec = mean_pointing([(p[1], p[2]) for p in pts])
key = chunk_key(pts[0][0], ra, dec)
r = api.post_form("/api/raw_upload?action=finalize", {"session_token": token, "scrub_location": "1", "overwrite": "0"},
                  csrf=False)
j = r.json() if r.status == 200 else {}
check(r.status == 200 and j.get("ok") is True and j.get("jobs") == 1 and len(j.get("job_ids", [])) == 1
      and j.get("chunks") == [key] and j.get("skipped") == [],
      "finalize -> {ok, jobs: 1, job_ids, chunks: [%s], skipped: []}: %r" % (key, j))
job_id = j.get("job_ids", [0])[0]
rows = sql("SELECT COUNT(*), SUM(site_lat IS NULL AND site_long IS NULL) FROM raw_files WHERE job_id = %d" % job_id)
n, scrubbed = (int(x) for x in rows.split())
check(n == 12 and scrubbed == 12, "scrub_location=1 removed SITELAT/SITELONG from the 12 raw rows")
row = sql("SELECT scrub_location, overwrite, frame_count, chunk_key FROM stacking_jobs WHERE id = %d" % job_id).split()
check(row == ["1", "0", "12", key], "the job records scrub_location, overwrite, frame_count, key: %r" % row)
r = api.get("/api/raw_upload?action=status&session_token=" + token)
check(r.json().get("state") == "finalized" and r.json()["jobs"][0]["job_id"] == job_id,
      "status after finalize shows the job")

# a finished stack of that chunk now exists for this user
uid = int(sql("SELECT id FROM users WHERE username = '%s'" % name))
sql("INSERT INTO stacked_frames (job_id, user_id, chunk_key, object_name, n_frames_input, n_frames_aligned, "
    "total_exptime, date_obs_start, date_obs_end, ra_deg, dec_deg, file_size_bytes, webdav_path, site_lat, site_long) "
    "VALUES (%d, %d, '%s', 'M 94', 12, 11, 110, '2025-03-27 01:20:32', '2025-03-27 01:22:48', 193.05, 41.0, "
    "74649600, 'stacks/x/%s/%d/stacked.fits', 48.2, 16.3)" % (job_id, uid, key, key, job_id))


def upload_all(files, path="/api/raw_upload?action="):
    r = api.request("POST", path + "start")
    t = r.json()["session_token"]
    for f in files:
        with open(f, "rb") as fh:
            api.post_multipart(path + "file", [("session_token", t)], [("file", os.path.basename(f), fh.read())],
                               csrf=False)
    return t


t2 = upload_all(frames)
r = api.post_form("/api/raw_upload?action=finalize", {"session_token": t2, "scrub_location": "0", "overwrite": "0"},
                  csrf=False)
j = r.json() if r.status == 200 else {}
check(r.status == 200 and j.get("jobs") == 0 and j.get("job_ids") == [] and j.get("skipped") == [key],
      "a chunk that already has a stack is skipped (overwrite=0): %r" % j)
st = api.get("/api/raw_upload?action=status&session_token=" + t2).json()
check(st.get("files") == [] and not os.listdir(os.path.join(conf["buffer_dir"], "sess_" + t2)),
      "the skipped chunk's raws are removed")
t3 = upload_all(frames, "/api/raw_upload.php?action=")
r = api.post_form("/api/raw_upload.php?action=finalize", {"session_token": t3, "overwrite": "1"}, csrf=False)
j = r.json() if r.status == 200 else {}
check(r.status == 200 and j.get("jobs") == 1 and j.get("chunks") == [key] and j.get("skipped") == [],
      "overwrite=1 queues the chunk again (.php alias): %r" % j)
r = api.post_form("/api/raw_upload?action=finalize", {"session_token": t3}, csrf=False)
check(r.status == 409, "finalize twice: 409")
r = api.post_form("/api/raw_upload?action=finalize", {"session_token": t3, "overwrite": "yes"}, csrf=False)
check(r.status == 400, "overwrite must be 0 or 1: 400")
r = api.post_form("/api/raw_upload?action=bogus", {}, csrf=False)
check(r.status == 400 and "unknown action" in r.json()["error"], "unknown action: 400")

# ---- my_stacks ----
r = api.get("/api/my_stacks")
lst = r.json() if r.status == 200 else None
want = {"id", "chunk_key", "object_name", "n_frames_input", "n_frames_aligned", "total_exptime", "date_obs_start",
        "date_obs_end", "ra_deg", "dec_deg", "file_size_bytes", "created_at"}
check(isinstance(lst, list) and len(lst) == 1 and set(lst[0]) == want, "GET /api/my_stacks -> list with the SPEC keys: %r" % lst)
if lst:
    s = lst[0]
    check(s["chunk_key"] == key and s["object_name"] == "M 94" and s["n_frames_input"] == 12
          and s["n_frames_aligned"] == 11 and s["total_exptime"] == 110 and s["file_size_bytes"] == 74649600
          and s["date_obs_start"] == "2025-03-27T01:20:32", "stack fields: %r" % s)
check(api.get("/api/my_stacks?object=M%2094").json() == lst, "?object=M 94 keeps it")
check(api.get("/api/my_stacks.php?object=NGC%207023").json() == [], "?object=NGC 7023 (.php alias) filters it out")
check(Client(basic=(oname, opw)).get("/api/my_stacks").json() == [], "another user sees none of these stacks")
body = json.dumps(lst).lower()
check("site" not in body and "48.2" not in body and "16.3" not in body, "my_stacks never carries SITELAT/SITELONG")

done()
