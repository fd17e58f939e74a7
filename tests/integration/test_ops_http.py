#!/usr/bin/python3
"""test_ops_http.py - operations endpoints (suite http):
  - GET /health through nginx: 200 with db, buffer and webdav true; a private
    crowdsky-fcgi (FastCGI direct) with an unreachable WebDAV store, wrong
    WebDAV credentials or a missing buffer folder answers 503 naming the part;
  - GET /metrics: valid Prometheus text (every sample line parses, histogram
    buckets are cumulative and end at _count), request counters that move
    with the requests made, jobs by state equal to the database, buffer bytes
    equal to the quota's measure, worker last-seen for a worker that called;
    loopback only without metrics_token (403 for another REMOTE_ADDR), the
    bearer token when metrics_token is set (401 without or with a wrong one);
  - GET /api/admin/buffer: 401 without a session, 403 for a non-admin, the
    quota's numbers for an admin;
  - the raw-buffer quota on the browser upload path and on upload_stack
    (a private pool with a tiny buffer_quota_bytes): 507 with a clear message,
    nothing of the refused file kept, the stored file untouched."""
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cstest import (Client, check, done, fcgi_params, fcgi_request, multipart, new_user, read_conf,  # noqa: E402
                    simulate, skip_unless_stack, start_pool, stop_pool)

skip_unless_stack()
conf = read_conf()
fcgi_bin = os.environ.get("CS_FCGI")
if not fcgi_bin or not os.access(fcgi_bin, os.X_OK):
    print("CS_FCGI is not set or not executable")
    sys.exit(1)


def sql(statement):
    args = ["mariadb", "--no-defaults", "-N", "-B", "-u", conf.get("db_user", "crowdsky"), conf.get("db_name", "crowdsky")]
    if conf.get("db_socket"):
        args.insert(2, "--socket=" + conf["db_socket"])
    p = subprocess.run(args, input=statement.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=dict(os.environ, MYSQL_PWD=conf.get("db_password", "")), check=True)
    return [line.split("\t") for line in p.stdout.decode().splitlines()]


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
                    r'(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})? (-?[0-9.e+]+|\+Inf|NaN)$')


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value}; asserts the format."""
    out = {}
    bad = []
    types = {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        if line.startswith("# HELP "):
            continue
        m = SAMPLE.match(line)
        if not m:
            bad.append(line)
            continue
        labels = {}
        if m.group(3):
            for kv in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3)):
                labels[kv[0]] = kv[1]
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(5))
    check(not bad, "every sample line parses as Prometheus text: %r" % bad[:3])
    return out, types


def value(metrics, name, **labels):
    return metrics.get((name, frozenset(labels.items())))


anon = Client()

# ---- /health through nginx ----
r = anon.get("/health")
h = r.json()
check(r.status == 200 and h["status"] == "ok" and h["db"] is True and h["buffer"] is True and h["webdav"] is True,
      "/health: 200 with db, buffer and webdav true: %r" % r)

# ---- /metrics through nginx (the test runs on loopback) ----
r = anon.get("/metrics")
check(r.status == 200 and r.header("Content-Type").startswith("text/plain; version=0.0.4"),
      "/metrics from loopback: 200 text/plain version 0.0.4 (%r)" % r.header("Content-Type"))
m1, types = parse_metrics(r.body.decode())
check(types.get("crowdsky_http_requests_total") == "counter" and
      types.get("crowdsky_http_request_duration_seconds") == "histogram" and
      types.get("crowdsky_jobs") == "gauge", "metric types declared")
for _ in range(3):
    anon.get("/health")
anon.get("/no-such-page-%d" % os.getpid())
r = anon.get("/metrics")
m2, _ = parse_metrics(r.body.decode())
health = dict(route="/health", methods="GET", status="200")
d = (value(m2, "crowdsky_http_requests_total", **health) or 0) - (value(m1, "crowdsky_http_requests_total", **health) or 0)
check(d >= 3, "the /health counter moved by the 3 requests made (+%d)" % d)
check((value(m2, "crowdsky_http_requests_total", route="unmatched", methods="", status="404") or 0) >= 1,
      "an unknown path is counted as route=unmatched, status 404")
# exact counts under concurrency: 8 client threads, 800 requests (per-thread slots, merged)
import threading
m_a, _ = parse_metrics(anon.get("/metrics").body.decode())


def hammer(n):
    import http.client
    c = http.client.HTTPConnection(anon.host, anon.port, timeout=30)
    for _ in range(n):
        c.request("GET", "/health")
        c.getresponse().read()
    c.close()


ths = [threading.Thread(target=hammer, args=(100,)) for _ in range(8)]
for t in ths:
    t.start()
for t in ths:
    t.join()
m_b, _ = parse_metrics(anon.get("/metrics").body.decode())
d = (value(m_b, "crowdsky_http_requests_total", **health) or 0) - (value(m_a, "crowdsky_http_requests_total", **health) or 0)
dc = (value(m_b, "crowdsky_http_request_duration_seconds_count", route="/health", methods="GET") or 0) - \
    (value(m_a, "crowdsky_http_request_duration_seconds_count", route="/health", methods="GET") or 0)
check(d == 800 and dc == 800, "800 concurrent /health requests counted exactly (+%d, histogram +%d)" % (d, dc))
m2 = m_b
# histogram consistency per route
lab = dict(route="/health", methods="GET")
buckets = sorted(((float("inf") if dict(k[1])["le"] == "+Inf" else float(dict(k[1])["le"])), v) for k, v in m2.items()
                 if k[0] == "crowdsky_http_request_duration_seconds_bucket" and
                 {x: y for x, y in k[1] if x != "le"} == lab)
cnt = value(m2, "crowdsky_http_request_duration_seconds_count", **lab)
check(len(buckets) >= 10 and all(buckets[i][1] <= buckets[i + 1][1] for i in range(len(buckets) - 1)) and
      buckets[-1][0] == float("inf") and buckets[-1][1] == cnt,
      "latency buckets are cumulative and +Inf equals _count (%s)" % cnt)
check(value(m2, "crowdsky_http_request_duration_seconds_sum", **lab) > 0, "latency sum is positive")
check(value(m2, "crowdsky_http_requests_in_flight") >= 1, "in-flight gauge counts this request")
start = value(m2, "process_start_time_seconds")
check(start and time.time() - 86400 * 30 < start <= time.time(), "process start time is a plausible epoch")

# ---- a private pool: fresh cache, chosen REMOTE_ADDR, metrics token ----
tmp = tempfile.mkdtemp(prefix="cs-ops-")
sock = os.path.join(tmp, "fcgi.sock")
wtok = os.environ.get("CS_TEST_WORKER_TOKEN", "")
if wtok:
    r = anon.get("/api/next_job", headers={"Authorization": "Bearer " + wtok})
    check(r.status in (200, 204), "the stack's worker token calls the API (%d)" % r.status)
    if r.status == 200:  # give the job back: we are not a real worker
        j = r.json()
        anon.post_form("/api/fail_job", {"job_id": j["job_id"], "lease": j["lease"], "error": "test_ops_http",
                                         "retryable": "1"}, csrf=False,
                       headers={"Authorization": "Bearer " + wtok})
pool = start_pool(sock, threads=2)
try:
    r = fcgi_request(sock, fcgi_params("GET", "/metrics", remote="127.0.0.1"))
    check(r.status == 200, "private pool: /metrics for 127.0.0.1")
    m, _ = parse_metrics(r.body.decode())
    states = dict((s, int(n)) for s, n in sql("SELECT state, COUNT(*) FROM stacking_jobs GROUP BY state"))
    for s in ("pending", "processing", "completed", "failed"):
        check(value(m, "crowdsky_jobs", state=s) == states.get(s, 0),
              "jobs{state=%s} = %d as in the database" % (s, states.get(s, 0)))
    used = int(sql("SELECT COALESCE(SUM(r.size_bytes), 0) FROM raw_files r LEFT JOIN stacking_jobs j "
                   "ON j.id = r.job_id WHERE j.id IS NULL OR j.state <> 'completed'")[0][0])
    check(value(m, "crowdsky_buffer_bytes") == used, "buffer bytes = what the quota counts (%d)" % used)
    seen = {dict(k[1])["worker"]: v for k, v in m.items() if k[0] == "crowdsky_worker_last_seen_seconds"}
    names = [row[0] for row in sql("SELECT name FROM worker_tokens WHERE revoked_at IS NULL AND last_seen_at IS NOT NULL")]
    check(sorted(seen) == sorted(names) and (not wtok or len(names) >= 1),
          "worker last-seen for every worker that called: %r" % seen)
    check(all(0 <= v < 3600 for v in seen.values()), "last-seen values are recent seconds")
    r = fcgi_request(sock, fcgi_params("GET", "/metrics", remote="::1"))
    check(r.status == 200, "/metrics for ::1")
    r = fcgi_request(sock, fcgi_params("GET", "/metrics", remote="10.1.2.3"))
    check(r.status == 403 and "loopback" in r.json()["error"], "/metrics for 10.1.2.3 without a token: 403")
finally:
    stop_pool(pool)

pool = start_pool(sock, {"CROWDSKY_METRICS_TOKEN": "mt-secret-123"}, threads=2)
try:
    r = fcgi_request(sock, fcgi_params("GET", "/metrics", remote="10.1.2.3"))
    check(r.status == 401 and r.header("WWW-Authenticate"), "metrics_token set: no token -> 401")
    r = fcgi_request(sock, fcgi_params("GET", "/metrics", headers={"Authorization": "Bearer wrong"},
                                       remote="127.0.0.1"))
    check(r.status == 401, "metrics_token set: a wrong token -> 401, even from loopback")
    r = fcgi_request(sock, fcgi_params("GET", "/metrics", headers={"Authorization": "Bearer mt-secret-123"},
                                       remote="10.1.2.3"))
    check(r.status == 200 and b"crowdsky_jobs" in r.body, "metrics_token set: the right token -> 200 from anywhere")
finally:
    stop_pool(pool)

# ---- /health with broken parts ----
# the pool creates a missing buffer_dir at start: make one it cannot create (under a file)
open(os.path.join(tmp, "a-file"), "w").close()
pool = start_pool(sock, {"CROWDSKY_WEBDAV_URL": "http://127.0.0.1:9/dav/",
                         "CROWDSKY_BUFFER_DIR": os.path.join(tmp, "a-file", "buffer")}, threads=2)
try:
    t0 = time.time()
    r = fcgi_request(sock, fcgi_params("GET", "/health"))
    h = r.json()
    check(r.status == 503 and h["status"] == "degraded" and h["db"] is True and h["buffer"] is False and
          h["webdav"] is False and "webdav" in h["problems"] and "buffer" in h["problems"],
          "unreachable WebDAV + missing buffer: 503 naming both: %r" % r)
    t1 = time.time()
    for _ in range(5):
        r = fcgi_request(sock, fcgi_params("GET", "/health"))
    check(r.status == 503 and time.time() - t1 < 2.0, "the checks are cached: 5 more calls take %.2f s" % (time.time() - t1))
    r = fcgi_request(sock, fcgi_params("GET", "/health", "check=db"))
    check(r.status == 200 and r.json()["db"] is True and "webdav" not in r.json(),
          "/health?check=db (container liveness) ignores the store and the buffer: %r" % r)
    r = fcgi_request(sock, fcgi_params("GET", "/health", "check=nonsense"))
    check(r.status == 400, "/health?check=nonsense: 400")
finally:
    stop_pool(pool)
pool = start_pool(sock, {"CROWDSKY_WEBDAV_PASSWORD": "wrong-password"}, threads=2)
try:
    r = fcgi_request(sock, fcgi_params("GET", "/health"))
    h = r.json()
    check(r.status == 503 and h["webdav"] is False and h["buffer"] is True and "credentials" in h["problems"]["webdav"],
          "wrong WebDAV password: 503, webdav false: %r" % r)
finally:
    stop_pool(pool)

# ---- /api/admin/buffer ----
r = anon.get("/api/admin/buffer")
check(r.status == 401, "admin buffer without a session: 401")
c, name, pw = new_user("ops")
r = c.get("/api/admin/buffer")
check(r.status == 403, "admin buffer for a non-admin: 403")
sql("UPDATE users SET is_admin = 1 WHERE username = '%s'" % name)
c = Client()
check(c.login(name, pw).status == 200, "admin logs in")
r = c.get("/api/admin/buffer")
b = r.json() if r.status == 200 else {}
used, files = (int(x) for x in sql("SELECT COALESCE(SUM(r.size_bytes), 0), COUNT(r.id) FROM raw_files r "
                                     "LEFT JOIN stacking_jobs j ON j.id = r.job_id "
                                     "WHERE j.id IS NULL OR j.state <> 'completed'")[0])
quota = int(conf.get("buffer_quota_bytes", 50 * 1000 ** 3))
check(r.status == 200 and b["used_bytes"] == used and b["files"] == files and b["quota_bytes"] == quota and
      abs(b["percent"] - 100.0 * used / quota) < 1e-6 and b["disk_free_bytes"] > 0,
      "admin buffer: used %d bytes, %d files, quota %d: %r" % (used, files, quota, r))

# ---- the quota on the browser path (session + CSRF) and on upload_stack ----
frames = simulate(os.path.join(tmp, "sim"), 2)
check(frames is not None, "2 simulated frames")
f0, f1 = open(frames[0], "rb").read(), open(frames[1], "rb").read()
c, name, pw = new_user("quota")
used = int(sql("SELECT COALESCE(SUM(r.size_bytes), 0) FROM raw_files r LEFT JOIN stacking_jobs j ON j.id = r.job_id "
               "WHERE j.id IS NULL OR j.state <> 'completed'")[0][0])
quota = used + len(f0) + len(f0) // 2       # room for one frame, not two
sql("UPDATE users SET is_admin = 1 WHERE username = '%s'" % name)
pool = start_pool(sock, {"CROWDSKY_BUFFER_QUOTA_BYTES": str(quota)}, threads=2)
try:
    body = ("username=%s&password=%s" % (name, pw)).encode()
    r = fcgi_request(sock, fcgi_params("POST", "/login", "", {}, "application/x-www-form-urlencoded", len(body)), body)
    check(r.status == 200, "log in over FastCGI")
    cookie = "; ".join(v.split(";", 1)[0] for k, v in r.headers if k.lower() == "set-cookie")
    hdr = {"Cookie": cookie, "X-CSRF-Token": r.json()["csrf_token"]}
    body = b"action=start"
    r = fcgi_request(sock, fcgi_params("POST", "/upload", "", hdr, "application/x-www-form-urlencoded", len(body)), body)
    tok = r.json()["session_token"]

    def up(fname, data):
        b, ct = multipart([("action", "file"), ("session_token", tok)], [("file", fname, data)])
        return fcgi_request(sock, fcgi_params("POST", "/upload", "", hdr, ct, len(b)), b)

    r = up("one.fit", f0)
    check(r.status == 200, "browser upload within the quota: stored (%d)" % r.status)
    stored = r.json().get("file_id")
    r = up("two.fit", f1)
    check(r.status == 507 and "buffer is full" in r.json().get("error", ""),
          "browser upload past the quota: 507 with a clear message: %r" % r)
    d = os.path.join(conf["buffer_dir"], "sess_" + tok)
    check(sorted(os.listdir(d)) == ["%d.fit" % stored], "nothing of the refused file is kept: %r" % os.listdir(d))
    check(open(os.path.join(d, "%d.fit" % stored), "rb").read() == f0, "the stored frame is untouched")
    auth = {"Authorization": "Basic " + __import__("base64").b64encode(("%s:%s" % (name, pw)).encode()).decode()}
    b, ct = multipart([], [("file", "stack.fits", f1)])
    r = fcgi_request(sock, fcgi_params("POST", "/api/upload_stack", "", auth, ct, len(b)), b)
    check(r.status == 507, "upload_stack past the quota: 507 (%d)" % r.status)
    # the admin view reports the full buffer against this quota (the user was made admin before logging in)
    r = fcgi_request(sock, fcgi_params("GET", "/api/admin/buffer", "", hdr))
    check(r.status == 200 and r.json()["quota_bytes"] == quota and r.json()["used_bytes"] == used + len(f0) and
          r.json()["percent"] > 60, "admin buffer view under the tiny quota: %r" % r)
finally:
    stop_pool(pool)
    subprocess.run(["rm", "-rf", tmp])
done()
