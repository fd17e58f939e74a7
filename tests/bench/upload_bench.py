#!/usr/bin/python3
"""upload_bench.py URL USER PASSWORD [PARALLEL] [ROUNDS] - upload throughput of
the script API through nginx: PARALLEL uploaders of ONE user, each in its own
upload session, each uploading the 12 real M 94 frames ROUNDS times (bodies
prepared in memory, one keep-alive connection per uploader). Prints one line:
files, MB, seconds, MB/s. Standard library only."""
import base64
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

here = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(here, "..", "integration"))
from cstest import multipart, real_frames  # noqa: E402

url, user, pw = sys.argv[1], sys.argv[2], sys.argv[3]
par = int(sys.argv[4]) if len(sys.argv) > 4 else 4
rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 1
u = urllib.parse.urlsplit(url)
auth = {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()}
frames = []
for f in real_frames("m94-s50-2025-03-27"):
    with open(f, "rb") as fh:
        frames.append((os.path.basename(f), fh.read()))
errors = []
sent = [0] * par


def worker(i):
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=120)
    for r in range(rounds):
        conn.request("POST", "/api/raw_upload?action=start", headers=auth)
        resp = conn.getresponse()
        tok = json.loads(resp.read())["session_token"]
        for name, data in frames:
            body, ct = multipart([("session_token", tok)], [("file", name, data)])
            conn.request("POST", "/api/raw_upload?action=file", body=body, headers=dict(auth, **{"Content-Type": ct}))
            resp = conn.getresponse()
            out = resp.read()
            if resp.status != 200:
                errors.append((resp.status, out[:200]))
            else:
                sent[i] += len(data)
    conn.close()


# one request first so the Basic credential is verified (argon2id) and cached
c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=60)
c.request("GET", "/api/my_stacks", headers=auth)
c.getresponse().read()
c.close()
threads = [threading.Thread(target=worker, args=(i,)) for i in range(par)]
t0 = time.time()
for t in threads:
    t.start()
for t in threads:
    t.join()
dt = time.time() - t0
total = sum(sent)
print("%d files, %.1f MB in %.2f s with %d parallel uploads: %.0f MB/s%s" % (
    total // len(frames[0][1]), total / 1e6, dt, par, total / 1e6 / dt,
    ", %d errors: %r" % (len(errors), errors[:3]) if errors else ""))
sys.exit(1 if errors else 0)
