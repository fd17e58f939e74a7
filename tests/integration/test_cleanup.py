#!/usr/bin/python3
"""test_cleanup.py - `crowdsky-fcgi cleanup` against a real MariaDB (suite db).

Everything runs in a database and a raw buffer of its own (a fresh
crowdsky_cl<hex> database on the stack's server, migrated by `crowdsky-fcgi
migrate`, and a temp buffer folder), so the counts are exact and the other
tests' state is never touched. State is made through the real API (a private
crowdsky-fcgi spoken to in FastCGI: Basic upload, finalize, worker claim) and
SQL; the clock is moved by config (CROWDSKY_CLOCK_OFFSET_SECONDS), never by
sleeping. The WebDAV store of the stack confirms stacks.

Checks: a dry run changes nothing; abandoned sessions go with rows and files
only after the TTL, not while a file is being uploaded into them; an expired
lease returns the job to pending (its raws stay), a lease that expires on the
last attempt fails the job with its error; raws of a completed job go once its
stack is confirmed on WebDAV, not when the stack is missing; raws of a failed
job go after the TTL; orphans go, but not files younger than the minimum age;
the files of pending and processing jobs survive every run; a file with a
name CrowdSky never writes is reported, not removed; a second run finds
nothing to do."""
import base64
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cstest import (check, done, fcgi_params, fcgi_request, multipart, read_conf, simulate,  # noqa: E402
                    skip_unless_stack, start_pool, stop_pool)

skip_unless_stack()
conf = read_conf()
fcgi_bin = os.environ.get("CS_FCGI")
if not fcgi_bin or not os.access(fcgi_bin, os.X_OK):
    print("CS_FCGI is not set or not executable")
    sys.exit(1)

tmp = tempfile.mkdtemp(prefix="cs-cleanup-")
buffer_dir = os.path.join(tmp, "buffer")
os.mkdir(buffer_dir)
sock = os.path.join(tmp, "fcgi.sock")
db_name = "%s_cl%s" % (conf.get("db_name", "crowdsky"), secrets.token_hex(4))
ENV = dict(os.environ, CROWDSKY_DB_NAME=db_name, CROWDSKY_BUFFER_DIR=buffer_dir, CROWDSKY_FCGI_LISTEN=sock,
           CROWDSKY_FCGI_THREADS="2", CROWDSKY_LEASE_SECONDS="300", CROWDSKY_UPLOAD_SESSION_TTL_SECONDS="86400",
           CROWDSKY_MAX_ATTEMPTS="3")
CONF = os.environ["CS_TEST_CONF"]
DAY = 86400


def sql(statement, db=None):
    args = ["mariadb", "--no-defaults", "-N", "-B", "-u", conf.get("db_user", "crowdsky"), db or db_name]
    if conf.get("db_socket"):
        args.insert(2, "--socket=" + conf["db_socket"])
    p = subprocess.run(args, input=statement.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=dict(os.environ, MYSQL_PWD=conf.get("db_password", "")))
    if p.returncode != 0:
        raise RuntimeError("SQL failed: %s: %s" % (statement, p.stderr.decode()))
    return [line.split("\t") for line in p.stdout.decode().splitlines()]


def sql1(statement):
    rows = sql(statement)
    return rows[0][0] if rows else None


def fcgi_cmd(*args, stdin=None, offset=0):
    env = dict(ENV, CROWDSKY_CLOCK_OFFSET_SECONDS=str(offset))
    p = subprocess.run([fcgi_bin] + list(args) + ["--config", CONF], input=stdin, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def cleanup(offset=0, dry=False):
    args = ["cleanup"] + (["--dry-run"] if dry else [])
    rc, out, err = fcgi_cmd(*args, offset=offset)
    m = re.search(r"^cleanup: (.*)$", out, re.M)
    if rc != 0 or not m:
        print(out + err)
        raise AssertionError("cleanup failed (exit %d)" % rc)
    stats = {}
    for kv in m.group(1).split():
        k, v = kv.split("=")
        stats[k] = float(v) if "." in v else int(v)
    return stats


def snapshot():
    """Every file and folder under the buffer with its size."""
    out = {}
    for root, dirs, files in os.walk(buffer_dir):
        for d in dirs:
            out[os.path.relpath(os.path.join(root, d), buffer_dir) + "/"] = 0
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, buffer_dir)] = os.path.getsize(p)
    return out


def db_state():
    return (sql("SELECT id, state, attempts FROM stacking_jobs ORDER BY id"),
            sql("SELECT id, job_id FROM raw_files ORDER BY id"),
            sql("SELECT id, state FROM upload_sessions ORDER BY id"))


def age(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))


def expect(stats, **want):
    for k, v in want.items():
        check(stats[k] == v, "%s = %s (got %s)" % (k, v, stats[k]))


# ---- a database and an API of our own ----
rc, out, err = fcgi_cmd("migrate")
if not check(rc == 0, "migrate the private database %s: %s" % (db_name, (out + err).strip()[-200:])):
    done()
users = {}
for name in ("alice", "bob", "carol", "dave"):
    pw = "pw-" + secrets.token_hex(8)
    rc, out, err = fcgi_cmd("user", "create", name, name + "@example.org", stdin=(pw + "\n").encode())
    check(rc == 0, "create user %s %s" % (name, err.strip()))
    users[name] = {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (name, pw)).encode()).decode()}
rc, out, err = fcgi_cmd("token", "create", "w-test")
wtoken = out.split()[-1] if rc == 0 and out.split() else ""
check(wtoken.startswith("cswt_"), "worker token created")

pool = start_pool(sock, threads=2, env=ENV)

frames = simulate(os.path.join(tmp, "sim"), 8)
if not check(frames is not None and len(frames) == 8, "8 simulated frames"):
    done()
blobs = [open(f, "rb").read() for f in frames]


def api(user, method, action, fields=None, files=None):
    q = "action=" + action
    if method == "GET":
        q += "&" + "&".join("%s=%s" % kv for kv in (fields or []))
        return fcgi_request(sock, fcgi_params("GET", "/api/raw_upload", q, users[user]))
    body, ct = multipart(fields or [], files or [])
    return fcgi_request(sock, fcgi_params("POST", "/api/raw_upload", q, users[user], ct, len(body)), body)


def session(user, idx, finalize):
    r = api(user, "POST", "start")
    tok = r.json()["session_token"]
    ids = []
    for i in idx:
        r = api(user, "POST", "file", [("session_token", tok)], [("file", "f%d.fit" % i, blobs[i])])
        check(r.status == 200, "%s uploads frame %d: %r" % (user, i, r))
        ids.append(r.json()["file_id"])
    job = None
    if finalize:
        r = api(user, "POST", "finalize", [("session_token", tok)])
        check(r.status == 200 and r.json()["jobs"] == 1, "%s finalizes: %r" % (user, r))
        job = r.json()["job_ids"][0]
    return tok, ids, job


def raw(tok, fid):
    return os.path.join("sess_" + tok, "%d.fit" % fid)


try:
    tok_a, ids_a, _ = session("alice", [0, 1], False)          # abandoned later
    tok_b, ids_b, job_b = session("alice", [2, 3], True)       # pending job
    tok_c, ids_c, job_c = session("bob", [4, 5], True)         # claimed -> processing
    tok_d, ids_d, job_d = session("alice", [6], True)          # completed, stack on WebDAV
    tok_e, ids_e, job_e = session("bob", [7], True)            # failed an hour ago
    tok_f, ids_f, job_f = session("carol", [0], True)          # completed, stack missing on WebDAV
    tok_g, ids_g, job_g = session("dave", [1], True)           # processing, last attempt, lease expired
    tok_h, ids_h, _ = session("dave", [2], False)              # idle for 2 days, but a file is arriving

    # bob's worker claims C (jobs are claimed oldest first: B is alice's pending job)
    sql("UPDATE stacking_jobs SET not_before = UTC_TIMESTAMP(6) + INTERVAL 1 HOUR WHERE id <> %d" % job_c)
    r = fcgi_request(sock, fcgi_params("GET", "/api/next_job", "", {"Authorization": "Bearer " + wtoken}))
    check(r.status == 200 and r.json()["job_id"] == job_c, "the worker claims job C: %r" % r)
    sql("UPDATE stacking_jobs SET not_before = UTC_TIMESTAMP(6) WHERE id <> %d" % job_c)

    # D: completed, its stack stored on the stack's WebDAV
    ck_d = sql1("SELECT chunk_key FROM stacking_jobs WHERE id = %d" % job_d)
    dav_dir = "cstest-cleanup-" + secrets.token_hex(6)
    dav_path = "%s/%d/stacked.fits" % (dav_dir, job_d)
    dav_url = conf["webdav_url"].rstrip("/") + "/"
    auth = "Basic " + base64.b64encode(("%s:%s" % (conf["webdav_user"], conf["webdav_password"])).encode()).decode()
    for seg in (dav_dir, "%s/%d" % (dav_dir, job_d)):
        try:
            urllib.request.urlopen(urllib.request.Request(dav_url + seg + "/", method="MKCOL",
                                                          headers={"Authorization": auth}))
        except urllib.error.HTTPError as e:
            if e.code != 405:
                raise
    urllib.request.urlopen(urllib.request.Request(dav_url + dav_path, data=b"SIMPLE  =  T" * 100, method="PUT",
                                                  headers={"Authorization": auth}))
    sql("UPDATE stacking_jobs SET state = 'completed', finished_at = UTC_TIMESTAMP(6) WHERE id = %d" % job_d)
    sql("INSERT INTO stacked_frames (job_id, user_id, chunk_key, webdav_path) SELECT id, user_id, chunk_key, '%s' "
        "FROM stacking_jobs WHERE id = %d" % (dav_path, job_d))
    # E: failed an hour ago, no stack
    sql("UPDATE stacking_jobs SET state = 'failed', last_error = 'bad frames', "
        "finished_at = UTC_TIMESTAMP(6) - INTERVAL 1 HOUR WHERE id = %d" % job_e)
    # F: completed, but the stack is not on WebDAV
    sql("UPDATE stacking_jobs SET state = 'completed', finished_at = UTC_TIMESTAMP(6) WHERE id = %d" % job_f)
    sql("INSERT INTO stacked_frames (job_id, user_id, chunk_key, webdav_path) SELECT id, user_id, chunk_key, "
        "'stacks/carol/nowhere/%d/stacked.fits' FROM stacking_jobs WHERE id = %d" % (job_f, job_f))
    # G: processing on its last attempt, lease expired a minute ago
    sql("UPDATE stacking_jobs SET state = 'processing', attempts = 3, max_attempts = 3, holder = 'w-dead', "
        "lease_id = REPEAT('a', 32), lease_expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 MINUTE, started_at = UTC_TIMESTAMP(6) "
        "WHERE id = %d" % job_g)
    # H: idle for two days, but a file is being received into it right now
    sql("UPDATE upload_sessions SET updated_at = UTC_TIMESTAMP(6) - INTERVAL 2 DAY WHERE token = '%s'" % tok_h)
    incoming_h = os.path.join(buffer_dir, "sess_" + tok_h, ".incoming-0123456789abcdef")
    open(incoming_h, "wb").write(b"x" * 1000)

    # orphans: an unknown session folder, an unknown file in B's folder (old); a foreign stray file;
    # young ones: a half-received file in B's folder, a fresh unknown session folder
    o1_dir = os.path.join(buffer_dir, "sess_" + secrets.token_hex(32))
    os.mkdir(o1_dir)
    open(os.path.join(o1_dir, "5.fit"), "wb").write(b"o" * 3000)
    age(os.path.join(o1_dir, "5.fit"), 7200)
    age(o1_dir, 7200)
    o2 = os.path.join(buffer_dir, "sess_" + tok_b, "999999.fit")
    open(o2, "wb").write(b"o" * 5000)
    age(o2, 7200)
    o3 = os.path.join(buffer_dir, "stray.txt")
    open(o3, "wb").write(b"o" * 700)
    age(o3, 7200)
    y1 = os.path.join(buffer_dir, "sess_" + tok_b, ".incoming-fedcba9876543210")
    open(y1, "wb").write(b"y" * 100)
    y2_dir = os.path.join(buffer_dir, "sess_" + secrets.token_hex(32))
    os.mkdir(y2_dir)
    open(os.path.join(y2_dir, "1.fit"), "wb").write(b"y" * 200)

    must_survive = [raw(tok_b, i) for i in ids_b] + [raw(tok_c, i) for i in ids_c]
    before = snapshot()
    db_before = db_state()
    check(all(p in before for p in must_survive), "the pending and processing jobs' raws are on disk")

    # ---- dry run: reports, changes nothing ----
    st = cleanup(dry=True)
    expect(st, dry_run=1, jobs_failed=1, jobs_returned=0, sessions_removed=0)
    check(st["files_removed"] == 3 and st["orphans"] == 2 and st["foreign"] == 1,
          "dry run counts D's raw, 2 orphan files and 1 foreign file: %r" % st)
    check(snapshot() == before, "dry run: the buffer is unchanged")
    check(db_state() == db_before, "dry run: the database is unchanged")

    # ---- run 1, real clock ----
    d_bytes = len(blobs[6])
    st = cleanup()
    after = snapshot()
    expect(st, dry_run=0, jobs_failed=1, jobs_returned=0, sessions_removed=0, unconfirmed=1, missing=0,
           young_kept=3, raws_removed=1, files_removed=3, orphans=3, foreign=1,
           bytes_freed=d_bytes + 3000 + 5000)
    check(sql1("SELECT CONCAT(state, '|', last_error) FROM stacking_jobs WHERE id = %d" % job_g).startswith(
        "failed|worker 'w-dead' stopped responding"), "G failed on its last attempt, with the error")
    check(sql1("SELECT state FROM stacking_jobs WHERE id = %d" % job_c) == "processing", "C still processing")
    check(raw(tok_d, ids_d[0]) not in after and sql1("SELECT COUNT(*) FROM raw_files WHERE job_id = %d" % job_d) == "0",
          "D's raw (stack confirmed on WebDAV) is gone, file and row")
    check(raw(tok_f, ids_f[0]) in after and sql1("SELECT COUNT(*) FROM raw_files WHERE job_id = %d" % job_f) == "1",
          "F's raw stays: its stack is not on WebDAV")
    check(raw(tok_e, ids_e[0]) in after, "E's raw stays: failed only an hour ago")
    check(raw(tok_g, ids_g[0]) in after, "G's raw stays: failed just now")
    check(all(raw(tok_a, i) in after for i in ids_a), "A's raws stay: the session is not 24 h old")
    check(raw(tok_h, ids_h[0]) in after and os.path.exists(incoming_h),
          "H stays although idle for 2 days: a file is being uploaded into it")
    check(not os.path.exists(o1_dir) and not os.path.exists(o2),
          "old orphans are gone (unknown session folder, unknown file in a session folder)")
    check(os.path.exists(o3), "a file CrowdSky never names so (stray.txt) is reported as foreign, not removed")
    check(os.path.exists(y1) and os.path.exists(os.path.join(y2_dir, "1.fit")), "young unknown files stay")
    check(all(p in after and after[p] == before[p] for p in must_survive),
          "the pending and processing jobs' raws survive")

    # ---- run 2, 25 hours later ----
    st = cleanup(offset=DAY + 3600)
    after = snapshot()
    e_g_bytes = len(blobs[7]) + len(blobs[1])
    a_h_bytes = len(blobs[0]) + len(blobs[1]) + len(blobs[2])
    expect(st, jobs_returned=1, jobs_failed=0, sessions_removed=2, raws_removed=3 + 2, unconfirmed=1,
           young_kept=0, missing=0)
    check(st["files_removed"] == 5 + 3 and st["orphans"] == 5,
          "removed A's 2 + H's 1 + E's + G's raws, 3 orphan files and 2 orphan folders: %r" % st)
    check(st["bytes_freed"] == e_g_bytes + a_h_bytes + 100 + 1000 + 200,
          "bytes freed = sizes of everything removed (%d)" % st["bytes_freed"])
    check(sql1("SELECT CONCAT(state, '|', attempts) FROM stacking_jobs WHERE id = %d" % job_c) == "pending|1",
          "C returned to pending after its lease expired")
    check(not os.path.exists(os.path.join(buffer_dir, "sess_" + tok_a)) and
          sql1("SELECT COUNT(*) FROM upload_sessions WHERE token IN ('%s', '%s')" % (tok_a, tok_h)) == "0" and
          sql1("SELECT COUNT(*) FROM raw_files WHERE id IN (%s)" % ",".join(map(str, ids_a + ids_h))) == "0",
          "abandoned sessions A and H are gone: rows, files, folders")
    r = api("alice", "GET", "status", [("session_token", tok_a)])
    check(r.status == 404, "the API no longer knows session A: %r" % r)
    check(raw(tok_e, ids_e[0]) not in after and raw(tok_g, ids_g[0]) not in after,
          "failed jobs' raws go after the TTL")
    check(sql1("SELECT COUNT(*) FROM stacking_jobs WHERE id IN (%d, %d) AND state = 'failed'" % (job_e, job_g)) == "2",
          "the failed jobs themselves stay, with their errors")
    check(not os.path.exists(y1) and not os.path.exists(y2_dir), "yesterday's young orphans are gone now")
    check(raw(tok_f, ids_f[0]) in after, "F's raw still stays (stack unconfirmed)")
    check(all(p in after and after[p] == before[p] for p in must_survive),
          "the pending jobs' raws (B, and C returned to pending) survive")
    check(sql1("SELECT COUNT(*) FROM raw_files WHERE job_id IN (%d, %d)" % (job_b, job_c)) == "4",
          "their rows too")

    # ---- run 3: nothing left to do ----
    st = cleanup(offset=DAY + 3600)
    expect(st, sessions_removed=0, files_removed=0, bytes_freed=0, orphans=0, jobs_returned=0, jobs_failed=0,
           raws_removed=0, young_kept=0, missing=0, unconfirmed=1, foreign=1)

    # a raw row whose file vanished is reported, not "fixed"
    os.unlink(os.path.join(buffer_dir, raw(tok_b, ids_b[0])))
    st = cleanup()
    expect(st, missing=1, files_removed=0)
    # failed log-ins (the shared throttle's rows): kept a day, then purged
    sql("INSERT INTO login_attempts (username, ip, success, attempted_at) VALUES "
        "('alice', '10.1.1.1', 0, UTC_TIMESTAMP(6) - INTERVAL 2 DAY), "
        "('bob', '10.1.1.2', 0, UTC_TIMESTAMP(6) - INTERVAL 1 HOUR)")
    st = cleanup(dry=True)
    expect(st, attempts_purged=1)
    check(sql1("SELECT COUNT(*) FROM login_attempts WHERE ip LIKE '10.1.1.%'") == "2",
          "a dry run deletes no failed log-in")
    st = cleanup()
    expect(st, attempts_purged=1)
    check(sql1("SELECT GROUP_CONCAT(username) FROM login_attempts WHERE ip LIKE '10.1.1.%'") == "bob",
          "the failed log-in of two days ago is gone, the one of an hour ago stays")
    rc, out, err = fcgi_cmd("cleanup", "--bogus")
    check(rc == 2 and "unknown argument" in err, "a bad argument: exit 2 with a reason")
finally:
    stop_pool(pool)
    try:
        sql("DROP DATABASE `%s`" % db_name, db=conf.get("db_name", "crowdsky"))
    except RuntimeError as e:
        print("could not drop %s: %s" % (db_name, e))
    try:
        urllib.request.urlopen(urllib.request.Request(dav_url + dav_dir + "/", method="DELETE",
                                                      headers={"Authorization": auth}))
    except Exception:
        pass
    shutil.rmtree(tmp, ignore_errors=True)
done()
