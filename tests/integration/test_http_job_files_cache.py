#!/usr/bin/python3
"""test_http_job_files_cache.py - the job_files answer cache of crowdsky-fcgi
(fcgi/h_worker.c, CS_JOB_FILES_CACHE_US = 1 s) never serves a worker that lost
its job for longer than the window, and never gives it data:

  - the holder's repeated job_files answers are identical;
  - a job handed back (fail_job) or claimed by another token through this
    server: the old holder is refused job_files at once (dropped in-process);
  - a job taken away by another process (here: SQL, as `crowdsky-fcgi
    cleanup` returning an expired lease does): download_raw refuses at once,
    job_files within the 1 s window (allowed: 1.5 s);
  - refusals are not remembered: the new holder gets the list at once.

Uses two worker tokens of its own; the stack's workers are paused (SIGSTOP)
from before the upload to the end."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cstest import Client, check, done, new_user, script_upload, simulate, skip_unless_stack, sql, stack_workers  # noqa: E402

skip_unless_stack()
FCGI = os.environ.get("CS_FCGI")
CONF = os.environ["CS_TEST_CONF"]
WINDOW = 1.0  # CS_JOB_FILES_CACHE_US
SLACK = 0.5


def new_token(name):
    p = subprocess.run([FCGI, "token", "create", name, "--config", CONF], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    tok = p.stdout.decode().split()[-1] if p.returncode == 0 and p.stdout.split() else ""
    check(p.returncode == 0 and tok.startswith("cswt_"), "token create %s" % name)
    return tok


def revoke(name):
    subprocess.run([FCGI, "token", "revoke", name, "--config", CONF], stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)


class Worker:
    def __init__(self, tok):
        self.h = {"Authorization": "Bearer " + tok}
        self.c = Client()

    def get(self, path):
        return self.c.request("GET", path, headers=self.h)

    def post(self, path, doc):
        return self.c.request("POST", path, headers=self.h, ctype="application/json", body=json.dumps(doc))

    def files(self, jid):
        return self.get("/api/job_files?job_id=%d" % jid)

    def claim(self, jid):
        """Claims job jid (other jobs this token gets are handed back at once)."""
        for _ in range(60):
            r = self.get("/api/next_job")
            if r.status == 200 and r.json().get("job_id") == jid:
                return r.json()
            if r.status == 200:
                j = r.json()
                self.post("/api/fail_job", {"job_id": j["job_id"], "lease": j["lease"], "error": "test: not mine",
                                            "retryable": True})
            time.sleep(0.1)
        return None


def main():
    if not FCGI:
        check(False, "CS_FCGI (the crowdsky-fcgi binary) is set")
        return
    suffix = os.urandom(3).hex()
    names = ["jfc-a-" + suffix, "jfc-b-" + suffix]
    a, b = Worker(new_token(names[0])), Worker(new_token(names[1]))
    user, uname, upw = new_user("jfc")
    api = Client(basic=(uname, upw))

    tmp = tempfile.mkdtemp(prefix="cs-jfc-")
    # the stack's own workers would claim the new job: paused until the end
    stack_workers(signal.SIGSTOP)
    try:
        upload_and_run(a, b, user, api, tmp)
    finally:
        stack_workers(signal.SIGCONT)
        shutil.rmtree(tmp, ignore_errors=True)
        for n in names:
            revoke(n)


def upload_and_run(a, b, user, api, tmp):
    frames = simulate(os.path.join(tmp, "sim"), 3, start="2025-05-%02dT21:00:00" % (1 + os.getpid() % 27),
                      seed=os.getpid() % 1000 + 7)
    if not check(frames and len(frames) == 3, "3 simulated frames"):
        return
    _, r = script_upload(api, frames)
    jid = r.json().get("job_ids", [None])[0] if r.status == 200 else None
    if not check(jid is not None, "finalize made a job: %r" % r):
        return

    try:
        run(a, b, jid)
    finally:
        r = user.post_form("/api/jobs/delete", {"id": str(jid)})
        check(r.status == 200, "the test's job is deleted: %r" % r)


def run(a, b, jid):
    claim = a.claim(jid)
    if not check(claim is not None, "worker A claims the job"):
        return
    r1, r2 = a.files(jid), a.files(jid)
    check(r1.status == 200 and len(r1.json().get("files", [])) == 3, "A: job_files lists 3 files")
    check(r2.status == 200 and r2.body == r1.body, "A: asked again, the same answer")
    check(r2.header("Cache-Control") == "no-store" and r2.header("Content-Type") == "application/json",
          "a remembered answer has the same headers (no-store, JSON)")
    file_id = r1.json()["files"][0]["file_id"]
    r = a.get("/api/download_raw?file_id=%d" % file_id)
    check(r.status == 200 and len(r.body) == r1.json()["files"][0]["size"], "A downloads a raw while holding")

    # handed back through this server: dropped at once
    r = a.post("/api/fail_job", {"job_id": jid, "lease": claim["lease"], "error": "test: hand back",
                                 "retryable": True})
    check(r.status == 200 and r.json().get("state") == "pending", "A hands the job back (fail_job retryable)")
    r = a.files(jid)
    check(r.status == 403, "A is refused job_files at once after handing back (%d)" % r.status)

    # another token claims it through this server (without the retry backoff)
    sql("UPDATE stacking_jobs SET not_before = NOW() - INTERVAL 1 SECOND WHERE id = %d" % jid)
    claim_b = b.claim(jid)
    if not check(claim_b is not None, "worker B claims the job"):
        return
    r = a.files(jid)
    check(r.status == 403, "A (lost the job) is refused job_files at once (%d)" % r.status)
    r = a.get("/api/download_raw?file_id=%d" % file_id)
    check(r.status == 403, "A (lost the job) is refused download_raw (%d)" % r.status)
    rb = b.files(jid)
    check(rb.status == 200 and rb.json().get("files") == r1.json().get("files"),
          "B (new holder) gets the list at once: a refusal is never remembered")

    # taken away by another process (as cleanup's lease expiry does): only the
    # window bounds job_files; download_raw checks the database every time
    b.files(jid)  # fresh in the cache
    sql("UPDATE stacking_jobs SET state = 'pending', lease_id = NULL, lease_expires_at = NULL, holder = NULL, "
        "holder_token_id = NULL, not_before = NOW() + INTERVAL 1 HOUR WHERE id = %d" % jid)
    t0 = time.monotonic()
    r = b.get("/api/download_raw?file_id=%d" % file_id)
    check(r.status == 403, "B (lease taken away elsewhere) is refused download_raw at once (%d)" % r.status)
    first = b.files(jid).status
    while True:
        st = b.files(jid).status
        el = time.monotonic() - t0
        if st != 200 or el > WINDOW + SLACK + 1.0:
            break
        time.sleep(0.05)
    print("# job_files right after the change: %d; refused after %.2f s" % (first, el))
    check(first in (200, 403), "job_files right after the change: the remembered list or a refusal (%d)" % first)
    check(st == 403 and el <= WINDOW + SLACK,
          "B is refused job_files within the %.1f s window (+%.1f s slack): %d after %.2f s"
          % (WINDOW, SLACK, st, el))


main()
done()
