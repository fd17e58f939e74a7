"""mini_worker.py - stacks every pending job of the test stack once, through
the real worker API, when the stack runs no `crowdsky-worker run` of its own.

It does what a worker does, with the real programs: GET /api/next_job (Bearer
CS_TEST_WORKER_TOKEN), /api/job_files, /api/download_raw, `crowdsky-worker
stack` (CS_WORKER), PUT of the FITS and PNG to the stack's WebDAV
(CS_TEST_DAV_*), POST /api/complete_job with the metadata. Standard library
only. Prints one line per job; exit 1 on any failure.

    python3 mini_worker.py USERNAME [MAX_JOBS]

Only USERNAME's jobs are stacked; a job of anybody else that it happens to
claim is handed back at once (fail_job, retryable) so it is never lost.
"""
import base64
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

URL = os.environ["CS_TEST_URL"].rstrip("/")
TOKEN = os.environ["CS_TEST_WORKER_TOKEN"]
DAV = os.environ["CS_TEST_DAV_URL"].rstrip("/") + "/"
DAV_AUTH = "Basic " + base64.b64encode(("%s:%s" % (os.environ["CS_TEST_DAV_USER"],
                                                    os.environ["CS_TEST_DAV_PASSWORD"])).encode()).decode()
WORKER = os.environ["CS_WORKER"]


def api(method, path, body=None):
    req = urllib.request.Request(URL + path, method=method, data=body,
                                 headers={"Authorization": "Bearer " + TOKEN, "Accept": "application/json"})
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def dav(method, path, data=None, ctype=None):
    req = urllib.request.Request(DAV + urllib.parse.quote(path), method=method, data=data,
                                 headers={"Authorization": DAV_AUTH})
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def put(path, local, ctype):
    parts = path.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        st = dav("MKCOL", "/".join(parts[:i]) + "/")
        if st not in (201, 405):
            raise RuntimeError("MKCOL %s: HTTP %d" % ("/".join(parts[:i]), st))
    with open(local, "rb") as f:
        st = dav("PUT", path, f.read(), ctype)
    if st not in (200, 201, 204):
        raise RuntimeError("PUT %s: HTTP %d" % (path, st))


HANDED_BACK = set()


def one_job(tmp, user):
    st, body = api("GET", "/api/next_job")
    if st == 204:
        return None
    if st != 200:
        raise RuntimeError("next_job: HTTP %d %r" % (st, body[:200]))
    job = json.loads(body)
    jid = job["job_id"]
    if job.get("user") != user:
        api("POST", "/api/fail_job", json.dumps({"job_id": jid, "lease": job["lease"], "retryable": True,
                                                 "error": "handed back by the browser test's mini worker"}).encode())
        print("mini_worker: job %d is not %s's, handed back" % (jid, user))
        if jid in HANDED_BACK:
            return None  # only foreign work is left: stop rather than churn its attempts
        HANDED_BACK.add(jid)
        return jid
    st, body = api("GET", "/api/job_files?job_id=%d" % jid)
    if st != 200:
        raise RuntimeError("job_files: HTTP %d %r" % (st, body[:200]))
    files = json.loads(body)["files"]
    d = os.path.join(tmp, "job%d" % jid)
    os.makedirs(d)
    paths = []
    for f in files:
        st, data = api("GET", "/api/download_raw?file_id=%d" % f["file_id"])
        if st != 200:
            raise RuntimeError("download_raw: HTTP %d" % st)
        p = os.path.join(d, "%d.fit" % f["file_id"])
        with open(p, "wb") as out:
            out.write(data)
        paths.append(p)
    out, png, rep = (os.path.join(d, n) for n in ("stacked.fits", "thumbnail.png", "report.json"))
    keep = [] if job.get("scrub_location", True) else ["--keep-location"]
    subprocess.run([WORKER, "stack", "--output", out, "--thumbnail", png, "--report", rep] + keep + paths,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with open(rep) as f:
        report = json.load(f)
    put(job["stack_path"], out, "application/fits")
    put(job["thumbnail_path"], png, "image/png")
    dates = sorted(f["date_obs"] for f in files)
    meta = {
        "webdav_path": job["stack_path"],
        "n_frames_input": report.get("n_frames", len(files)),
        "n_frames_aligned": report.get("n_used", len(files)),
        "total_exptime": report.get("total_exptime", 0),
        "object_name": report.get("object") or job.get("object_name"),
        "date_obs_start": dates[0], "date_obs_end": dates[-1],
        "file_size_bytes": os.path.getsize(out),
        "report": report,
    }
    if report.get("stack_fwhm") or report.get("best_input_fwhm"):
        meta["fwhm"] = report.get("stack_fwhm") or report["best_input_fwhm"]  # as the real worker
    # the pointing from the chunk key (YYYYMMDD.CC_RRR.R_sDD.D)
    _, ra, dec = job["chunk_key"].split("_")
    meta["ra_deg"], meta["dec_deg"] = float(ra), float(dec)
    st, body = api("POST", "/api/complete_job",
                   json.dumps({"job_id": jid, "lease": job["lease"], "metadata": meta}).encode())
    if st != 200:
        raise RuntimeError("complete_job: HTTP %d %r" % (st, body[:300]))
    print("mini_worker: job %d (%s) stacked from %d frames" % (jid, job["chunk_key"], len(files)))
    return jid


def main():
    user = sys.argv[1]
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    with tempfile.TemporaryDirectory(prefix="cs-mini-worker-") as tmp:
        n = 0
        while n < limit and one_job(tmp, user) is not None:
            n += 1
    print("mini_worker: %d jobs done" % n)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one line for the test log
        print("mini_worker: %s" % e, file=sys.stderr)
        sys.exit(1)
