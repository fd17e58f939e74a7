#!/usr/bin/python3
"""test_http_pages.py - the HTML pages and their routes through nginx (issue 4):
every page renders for its owner, sends visitors to log in, carries no inline
script or style (the CSP forbids them), escapes user data; and nobody sees
another user's jobs, upload sessions, private stacks, their previews, FITS or
PNG downloads, or archives, while a published stack shows its page and preview
to everyone, its FITS only when it was made without the observing site, and
SITELAT/SITELONG never reach another user. Stacks are made by the stack's own
worker when it runs one, else by tests/browser/mini_worker.py through the real
worker API."""
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from html.parser import HTMLParser

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cstest import Client, check, done, new_user, simulate, skip_unless_stack  # noqa: E402

skip_unless_stack()
HERE = os.path.dirname(os.path.abspath(__file__))
MINI = os.path.join(HERE, "..", "browser", "mini_worker.py")
SITE = ("32.8965", "-79.7625")  # the simulator's SITELAT / SITELONG values


def worker_running():
    run = os.path.join(os.environ.get("CS_TEST_STACK", "/nonexistent"), "run")
    try:
        names = [n for n in os.listdir(run) if re.match(r"worker-\d+\.pid$", n)]
    except OSError:
        return False
    for n in names:
        try:
            pid = int(open(os.path.join(run, n)).read().strip())
            os.kill(pid, 0)
            if b"crowdsky-worker" in open("/proc/%d/cmdline" % pid, "rb").read():
                return True
        except (OSError, ValueError):
            pass
    return False


def stack_jobs(c, user, n_jobs):
    """Waits until the user's jobs are completed (stacking them with the mini
    worker when the stack runs no worker); returns the jobs."""
    if not worker_running():
        p = subprocess.run(["/usr/bin/python3", MINI, user, "20"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        print(p.stdout.decode(errors="replace").strip())
        check(p.returncode == 0, "mini worker stacked %s's jobs" % user)
    end = time.time() + 300
    while True:
        jobs = c.get("/api/jobs").json()["jobs"]
        if len(jobs) >= n_jobs and all(j["state"] in ("completed", "failed") for j in jobs):
            return jobs
        if time.time() > end:
            check(False, "jobs of %s completed in time: %r" % (user, jobs))
            return jobs
        time.sleep(1)


def upload_session(c, files, path="/upload"):
    tok = c.post_form(path, {"action": "start"}).json()["session_token"]
    for f in files:
        with open(f, "rb") as fh:
            r = c.post_multipart(path, [("action", "file"), ("session_token", tok)],
                                 [("file", os.path.basename(f), fh.read())])
        check(r.status == 200, "upload %s: %r" % (os.path.basename(f), r))
    return tok


class Inline(HTMLParser):
    """Collects what the CSP (script-src 'self'; style-src 'self') would block."""

    def __init__(self):
        super().__init__()
        self.bad = []

    def handle_starttag(self, tag, attrs):
        names = [k for k, _ in attrs]
        if tag == "script" and "src" not in names:
            self.bad.append("inline <script>")
        if tag == "style":
            self.bad.append("<style> block")
        for k in names:
            if k == "style" or k.startswith("on"):
                self.bad.append("%s attribute on <%s>" % (k, tag))


def html_ok(r, what):
    body = r.body.decode("utf-8", "replace")
    check(r.status == 200 and r.header("Content-Type").startswith("text/html"), "%s renders (%d)" % (what, r.status))
    p = Inline()
    p.feed(body)
    check(not p.bad, "%s has no inline script, style or event handler %r" % (what, p.bad[:3]))
    return body


tmp = tempfile.mkdtemp(prefix="cs-pages-")
EVIL = '<img src=x onerror=alert(1)>"&'

# ---- visitors ----
anon = Client()
for p in ("/upload", "/jobs", "/stacks", "/skymap", "/account"):
    r = anon.get(p)
    check(r.status == 303 and r.header("Location") == "/login?next=" + p.replace("/", "%2F"),
          "visitor at %s is sent to log in (%d %s)" % (p, r.status, r.header("Location")))
for p in ("/api/stacks", "/stacks/archive.tar?ids=1"):
    check(anon.get(p).status == 401, "visitor gets 401 at %s" % p)
for p in ("/", "/login", "/signup"):
    html_ok(anon.get(p), "visitor's %s" % p)
r = anon.get("/login?next=//evil.example/")
check(b'value="//evil.example/"' not in r.body and b'value="/"' in r.body, "log-in page never carries a foreign next")

# ---- A: pages, escaping, a stack ----
a, a_name, a_pw = new_user("pa")
frames = simulate(os.path.join(tmp, "a"), 6, object=EVIL)
check(frames and len(frames) == 6, "simulated 6 frames with a hostile OBJECT")
a_tok = upload_session(a, frames)
r = a.post_form("/finalize", {"session_token": a_tok})
check(r.status == 200 and len(r.json()["jobs"]) == 1, "A finalized one job")
a_job = r.json()["jobs"][0]["job_id"]
a_key = r.json()["jobs"][0]["chunk_key"]
body = html_ok(a.get("/jobs"), "A's jobs page")
check(a_key in body, "A's jobs page lists A's job")
check("&lt;img src=x onerror=alert(1)&gt;&quot;&amp;" in body, "the hostile OBJECT is escaped on the jobs page")
check("<img src=x" not in body, "no raw markup from OBJECT on the jobs page")

# A second stack through the script API made WITH the observing site kept (scrub_location=0)
frames_k = simulate(os.path.join(tmp, "k"), 6, start="2025-03-28T02:00:00", ra=150.0, dec=20.0, object="Kept site")
basic = Client(basic=(a_name, a_pw))
r = basic.post_form("/api/raw_upload?action=start", {})
k_tok = r.json()["session_token"]
for f in frames_k:
    with open(f, "rb") as fh:
        r = basic.post_multipart("/api/raw_upload?action=file", [("session_token", k_tok)],
                                 [("file", os.path.basename(f), fh.read())], csrf=False)
    check(r.status == 200, "script upload %s" % os.path.basename(f))
r = basic.post_form("/api/raw_upload?action=finalize", {"session_token": k_tok, "scrub_location": "0", "overwrite": "0"},
                    csrf=False)
check(r.status == 200 and r.json()["jobs"] == 1, "script finalize with scrub_location=0: %r" % r)

jobs = stack_jobs(a, a_name, 2)
stacks = a.get("/api/stacks").json()["stacks"]
check(len(stacks) == 2, "A has two stacks: %r" % [s["chunk_key"] for s in stacks])
by_obj = {s["object_name"]: s for s in stacks}
s1 = by_obj.get(EVIL, {}).get("id")
s2 = by_obj.get("Kept site", {}).get("id")
check(s1 and s2, "both stacks listed by /api/stacks with their targets")
check(all(("site_lat" not in s and "SITELAT" not in json.dumps(s)) for s in stacks), "/api/stacks carries no site")

for p in ("/", "/upload", "/stacks", "/skymap", "/account", "/stack?id=%d" % s1, "/stack?id=%d" % s2):
    b = html_ok(a.get(p), "A's %s" % p)
    check("<img src=x" not in b, "A's %s shows the hostile OBJECT escaped" % p)
    for v in SITE:
        check(v not in b, "A's %s never shows the site value %s" % (p, v))
page = a.get("/stack?id=%d" % s1).body.decode()
m = re.search(r'<details class="frames card"><summary>Every frame \((\d+)\)</summary>(.*?)</details>', page, re.S)
check(m is not None and int(m.group(1)) >= 1 and m.group(2).count("<tr") == int(m.group(1)) + 1 and
      " px</td>" in m.group(2) and "%</td>" in m.group(2),
      "A's stack page lists every frame with its FWHM, stars and weight")
r = a.get("/stack/fits?id=%d" % s1)
check(r.status == 200 and r.body[:9] == b"SIMPLE  =" and
      re.match(r'attachment; filename="[0-9A-Za-z._+-]+\.fits"', r.header("Content-Disposition") or ""),
      "A downloads the FITS as an attachment (%s)" % r.header("Content-Disposition"))
check(b"SITELAT" not in r.body[:2880 * 4], "A's scrubbed stack has no SITELAT")
r2 = a.get("/stack/fits?id=%d" % s2)
check(r2.status == 200 and b"SITELAT" in r2.body[:2880 * 4], "A's kept-site stack keeps SITELAT for A")
r = a.get("/stack/png?id=%d" % s1)
check(r.status == 200 and r.body[:4] == b"\x89PNG" and "attachment" in (r.header("Content-Disposition") or ""),
      "A downloads the PNG as an attachment")
r = a.get("/stacks/archive.tar?ids=%d,%d" % (s1, s2))
check(r.status == 200 and r.header("Content-Type") == "application/x-tar" and
      int(r.header("Content-Length")) == len(r.body), "archive of both stacks, exact length")
with tarfile.open(fileobj=io.BytesIO(r.body)) as t:
    names = sorted(m.name for m in t.getmembers())
    sizes = [m.size for m in t.getmembers()]
check(len(names) == 2 and all(n.endswith(".fits") for n in names), "archive holds two FITS: %r" % names)
check(t is not None and min(sizes) > 2880, "archive members have their sizes")
check(a.get("/stacks/archive.tar?ids=1,x").status == 400, "archive: bad ids -> 400")
check(a.get("/stacks/archive.tar?ids=" + ",".join(["1"] * 501)).status == 413, "archive: too many ids -> 413")

# ---- B: nothing of A's ----
b, b_name, _ = new_user("pb")
for p in ("/stack?id=%d" % s1, "/stack/thumb?id=%d" % s1, "/stack/png?id=%d" % s1, "/stack/fits?id=%d" % s1,
          "/stacks/archive.tar?ids=%d" % s1, "/upload/status?session_token=" + a_tok):
    check(b.get(p).status == 404, "B gets 404 at A's private %s" % p)
    check(anon.get(p).status in (401, 404), "a visitor gets 401/404 at A's private %s" % p)
check(a_key not in b.get("/jobs").body.decode(), "B's jobs page does not show A's job")
check(b.get("/api/stacks").json()["stacks"] == [], "B's /api/stacks is empty")
check(a_key.encode() not in b.get("/stacks").body, "B's gallery does not show A's stack")
check(b.post_form("/stack/publish", {"id": s1, "public": "1"}).status == 404, "B cannot publish A's stack")
check(b.post_form("/api/jobs/delete", {"id": a_job}).status == 404, "B cannot delete A's job")
check(a_key.encode() not in anon.get("/").body, "the home page does not list A's private stack")

# ---- publishing (CSRF, owner only) ----
check(a.post_form("/stack/publish", {"id": s1, "public": "1"}, csrf=False).status == 403, "publish without CSRF -> 403")
for sid in (s1, s2):
    r = a.post_form("/stack/publish", {"id": sid, "public": "1"})
    check(r.status == 200 and r.json()["public"] is True, "A publishes stack %d" % sid)
r = a.request("POST", "/stack/publish", body="id=%d&public=1&csrf_token=%s" % (s1, a.csrf),
              headers={"Accept": "text/html"}, ctype="application/x-www-form-urlencoded")
check(r.status == 303 and r.header("Location") == "/stack?id=%d" % s1, "the publish form redirects back to the page")
home = html_ok(anon.get("/"), "home with published stacks")
check("/stack?id=%d" % s1 in home and "/stack?id=%d" % s2 in home, "the home page lists both published stacks")
for who, c in (("B", b), ("a visitor", anon)):
    page = c.get("/stack?id=%d" % s1)
    check(page.status == 200, "%s sees A's published stack page" % who)
    check(b"form method=\"post\" action=\"/stack/publish\"" not in page.body, "%s gets no publish toggle" % who)
    check(b"Rejected frames" not in page.body, "%s does not see A's file names" % who)
    check(b"Every frame" not in page.body, "%s does not see A's frame table" % who)
    check(c.get("/stack/thumb?id=%d" % s1).status == 200, "%s sees the preview" % who)
    r = c.get("/stack/fits?id=%d" % s1)
    check(r.status == 200 and b"SITELAT" not in r.body[:2880 * 4] and b"SITELONG" not in r.body[:2880 * 4],
          "%s downloads the scrubbed FITS, without the site" % who)
    check(c.get("/stack/fits?id=%d" % s2).status == 403, "%s cannot download the FITS that keeps the site" % who)
    page2 = c.get("/stack?id=%d" % s2).body
    check(b"/stack/fits?id=%d" % s2 not in page2, "%s gets no FITS link for the kept-site stack" % who)
    for v in SITE:
        check(v.encode() not in page.body + page2 + c.get("/").body, "%s never sees the site value %s" % (who, v))
check(b.get("/stacks/archive.tar?ids=%d" % s1).status == 404, "B cannot archive A's stacks, even published ones")
check(a.post_form("/stack/publish", {"id": s1, "public": "0"}).status == 200, "A makes a stack private again")
check(b.get("/stack?id=%d" % s1).status == 404, "B no longer sees it")

# ---- admin view of the buffer is for admins only ----
check(b"Raw buffer (admin)" not in b.get("/account").body, "a user sees no buffer gauge")
fcgi = os.environ.get("CS_FCGI")
if fcgi and os.access(fcgi, os.X_OK):
    adm_name, adm_pw = "adm" + os.urandom(4).hex(), "pw-" + os.urandom(8).hex()
    p = subprocess.run([fcgi, "user", "create", adm_name, adm_name + "@example.org", "--admin",
                        "--config", os.environ["CS_TEST_CONF"]], input=(adm_pw + "\n").encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    check(p.returncode == 0, "admin created: %s" % p.stdout.decode(errors="replace").strip()[-200:])
    adm = Client()
    check(adm.login(adm_name, adm_pw).status == 200, "admin logs in")
    body = html_ok(adm.get("/account"), "admin's account page")
    check("Raw buffer (admin)" in body and re.search(r"<progress max=\"1000\" value=\"\d+\">", body) and
          re.search(r"raw files waiting", body), "the admin sees how full the raw buffer is")
else:
    check(False, "CS_FCGI is set (needed to make an admin)")

done()
