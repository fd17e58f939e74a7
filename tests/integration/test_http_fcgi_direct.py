#!/usr/bin/python3
"""test_http_fcgi_direct.py - a private crowdsky-fcgi (the stack's config and
database, its own socket and settings through CROWDSKY_* variables), spoken to
in FastCGI directly:
  - the raw-buffer quota: an upload that would pass it gets 507 and nothing of
    it is kept, and nothing already stored is touched;
  - graceful shutdown: SIGTERM while a request is in flight lets it finish with
    a complete reply, idle responder threads wake up, the process exits 0."""
import base64
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cstest import (check, done, fcgi_encode, fcgi_params, fcgi_parse, fcgi_request, multipart, new_user,  # noqa: E402
                    read_conf, real_frames, recv_all, skip_unless_stack, sql, start_pool, stack_workers, stop_pool)

skip_unless_stack()
conf = read_conf()
fcgi_bin = os.environ.get("CS_FCGI")
if not fcgi_bin or not os.access(fcgi_bin, os.X_OK):
    print("CS_FCGI is not set or not executable")
    sys.exit(1)


def sql_i64(statement):
    return int(sql(statement).strip() or 0)


frames = real_frames("m94-s50-2025-03-27")
with open(frames[0], "rb") as fh:
    f0 = fh.read()
with open(frames[1], "rb") as fh:
    f1 = fh.read()
_, name, pw = new_user("quota")
auth = {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (name, pw)).encode()).decode()}

tmp = tempfile.mkdtemp(prefix="cs-fcgi-")
sock = os.path.join(tmp, "fcgi.sock")

# ---- quota: room for one more frame, not two ----
# The buffer is shared with the stack's workers: one finishing an earlier
# test's job deletes its raws and frees room mid-test. Pause them (and let an
# answer already on its way land) so the usage holds still; resumed below.
stack_workers(signal.SIGSTOP)
time.sleep(1.0)
used = sql_i64("SELECT COALESCE(SUM(r.size_bytes), 0) FROM raw_files r LEFT JOIN stacking_jobs j ON j.id = r.job_id "
               "WHERE j.id IS NULL OR j.state <> 'completed'")
quota = used + len(f0) + len(f0) // 2
pool = start_pool(sock, {"CROWDSKY_BUFFER_QUOTA_BYTES": str(quota)})
try:
    r = fcgi_request(sock, fcgi_params("GET", "/health"))
    check(r.status == 200 and r.json()["threads"] == 3, "private pool answers /health over FastCGI")
    r = fcgi_request(sock, fcgi_params("POST", "/api/raw_upload", "action=start", auth))
    check(r.status == 200, "start a session")
    token = r.json()["session_token"]

    def up(fname, data):
        body, ct = multipart([("session_token", token)], [("file", fname, data)])
        return fcgi_request(sock, fcgi_params("POST", "/api/raw_upload", "action=file", auth, ct, len(body)), body)

    r = up("first.fit", f0)
    check(r.status == 200, "a frame within the quota is stored: %r" % r)
    r = up("second.fit", f1)
    check(r.status == 507 and "quota" in r.json().get("error", ""), "a frame past the quota: 507 %r" % r)
    st = fcgi_request(sock, fcgi_params("GET", "/api/raw_upload", "action=status&session_token=" + token, auth)).json()
    d = os.path.join(conf["buffer_dir"], "sess_" + token)
    check([x["filename"] for x in st["files"]] == ["first.fit"], "the refused frame left no row")
    check(sorted(os.listdir(d)) == ["%d.fit" % st["files"][0]["file_id"]], "the refused frame left no bytes: %r" % os.listdir(d))
    with open(os.path.join(d, "%d.fit" % st["files"][0]["file_id"]), "rb") as fh:
        check(fh.read() == f0, "the stored frame is untouched")
    # a body announced bigger than the cap is refused before it is read
    r = fcgi_request(sock, fcgi_params("POST", "/api/raw_upload", "action=file", auth,
                                       "multipart/form-data; boundary=x", 60 * 1024 * 1024))
    check(r.status == 413, "Content-Length over the upload cap: 413 without reading")
    r = fcgi_request(sock, fcgi_params("POST", "/login", "", {}, "application/x-www-form-urlencoded", 200000),
                     b"a" * 200000)
    check(r.status == 413, "a form body over 64 KiB: 413")
finally:
    stack_workers(signal.SIGCONT)
    check(stop_pool(pool) == 0, "pool stops on SIGTERM with status 0")

# ---- graceful shutdown with a request in flight ----
pool = start_pool(sock)
r = fcgi_request(sock, fcgi_params("POST", "/api/raw_upload", "action=start", auth))
token = r.json()["session_token"]
body, ct = multipart([("session_token", token)], [("file", "inflight.fit", f1)])
req = fcgi_encode(fcgi_params("POST", "/api/raw_upload", "action=file", auth, ct, len(body)), body)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(30)
s.connect(sock)
half = len(req) // 2
s.sendall(req[:half])
time.sleep(0.5)                       # the request is being served (body half read)
pool.send_signal(signal.SIGTERM)
time.sleep(0.5)
check(pool.poll() is None, "SIGTERM waits for the in-flight request")
s.sendall(req[half:])
r = fcgi_parse(recv_all(s))
check(r.status == 200 and r.json().get("ok") is True, "the in-flight upload completes with its reply: %r" % r)
try:
    rc = pool.wait(15)
except subprocess.TimeoutExpired:
    pool.kill()
    rc = None
check(rc == 0, "then the pool exits 0 (idle threads were woken)")
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    c.connect(sock)
    refused = False
except OSError:
    refused = True
c.close()
check(refused and not os.path.exists(sock), "no new connections after shutdown; the socket file is removed")
with open(sock + ".log") as fh:
    log = fh.read()
check("finishing in-flight requests" in log and "stopped after" in log, "shutdown is logged")

done()
