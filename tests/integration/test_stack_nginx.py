#!/usr/bin/python3
"""test_stack_nginx.py - the test stack's front door: nginx in front of
crowdsky-fcgi (health, security headers, body limits per route) and the local
WebDAV store at /dav/ (basic auth, MKCOL/PUT/GET/PROPFIND/COPY/MOVE/DELETE).

Python 3 standard library only. Exits 77 (skipped) without CS_TEST_URL."""
import base64
import http.client
import json
import os
import secrets
import sys
import urllib.parse

if not os.environ.get("CS_TEST_URL"):
    print("CS_TEST_URL is not set: no test stack, skipping")
    sys.exit(77)

URL = urllib.parse.urlsplit(os.environ["CS_TEST_URL"])
DAV = urllib.parse.urlsplit(os.environ["CS_TEST_DAV_URL"])
DAV_AUTH = "Basic " + base64.b64encode(
    ("%s:%s" % (os.environ["CS_TEST_DAV_USER"], os.environ["CS_TEST_DAV_PASSWORD"])).encode()).decode()
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def request(method, path, body=None, headers=None, host=URL):
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def announce_only(method, path, length):
    """Sends only the request head with a large Content-Length: nginx decides
    on the size before reading any of the body."""
    conn = http.client.HTTPConnection(URL.hostname, URL.port, timeout=30)
    try:
        conn.putrequest(method, path)
        conn.putheader("Content-Type", "multipart/form-data; boundary=x")
        conn.putheader("Content-Length", str(length))
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


# --- the app behind nginx ---------------------------------------------------
status, headers, body = request("GET", "/health")
check(status == 200, "GET /health answers 200 (got %d)" % status)
try:
    doc = json.loads(body)
    check(isinstance(doc, dict), "GET /health is a JSON object")
except ValueError:
    check(False, "GET /health is JSON")
check(headers.get("x-content-type-options") == "nosniff", "X-Content-Type-Options: nosniff")
check(headers.get("x-frame-options") == "DENY", "X-Frame-Options: DENY")
check("frame-ancestors 'none'" in headers.get("content-security-policy", ""), "Content-Security-Policy set")
check("referrer-policy" in headers, "Referrer-Policy set")
check("nginx/" not in headers.get("server", ""), "server_tokens off (no nginx version)")

status, headers, _ = request("GET", "/no-such-page-%s" % secrets.token_hex(4))
check(status == 404, "unknown route is answered by the app with 404 (got %d)" % status)
check(headers.get("x-frame-options") == "DENY", "security headers on a 404 too")

status, _, _ = request("GET", "/static/no-such-file-%s.css" % secrets.token_hex(4))
check(status == 404, "missing static file is 404 from nginx (got %d)" % status)

# body limits: 1 MB on ordinary routes, 51 MB on the upload routes
two_mb = b"x" * (2 * 1024 * 1024)
status, _, _ = request("POST", "/finalize", body=two_mb,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
check(status == 413, "2 MB to /finalize is refused by nginx with 413 (got %d)" % status)
for route in ("/api/raw_upload?action=file", "/upload", "/api/upload_stack.php"):
    status, _, _ = request("POST", route, body=two_mb,
                           headers={"Content-Type": "multipart/form-data; boundary=x"})
    check(status != 413 and status < 500,
          "2 MB to %s passes nginx and gets the app's answer (got %d)" % (route, status))
    status = announce_only("POST", route, 60 * 1024 * 1024)
    check(status == 413, "60 MB to %s is refused with 413 (got %d)" % (route, status))

# --- the WebDAV store ---------------------------------------------------------
base = DAV.path.rstrip("/") + "/itest-%s" % secrets.token_hex(6)
auth = {"Authorization": DAV_AUTH}

status, _, _ = request("PUT", base + "/x.txt", body=b"no", host=DAV)
check(status == 401, "PUT without credentials is 401 (got %d)" % status)
bad = {"Authorization": "Basic " + base64.b64encode(b"crowdsky-dav:wrong").decode()}
status, _, _ = request("PUT", base + "/x.txt", body=b"no", headers=bad, host=DAV)
check(status == 401, "PUT with a wrong password is 401 (got %d)" % status)
status, _, _ = request("GET", base + "/x.txt", headers=auth, host=DAV)
check(status == 404, "nothing was stored by the refused PUTs (got %d)" % status)

status, _, _ = request("MKCOL", base + "/", headers=auth, host=DAV)
check(status == 201, "MKCOL creates a folder: 201 (got %d)" % status)
status, _, _ = request("MKCOL", base + "/", headers=auth, host=DAV)
check(status == 405, "MKCOL on an existing folder: 405 (got %d)" % status)
status, _, _ = request("MKCOL", base + "/missing/child/", headers=auth, host=DAV)
check(status == 409, "MKCOL with a missing parent: 409 (got %d)" % status)

payload = secrets.token_bytes(3 * 1024 * 1024 + 17)
path = base + "/stacks/u/20250115.78_83.6_+22.0/7/stacked.fits"
status, _, _ = request("PUT", path, body=payload, headers=auth, host=DAV)
check(status == 201, "PUT of 3 MB into missing folders (create_full_put_path): 201 (got %d)" % status)
status, headers, got = request("GET", path, headers=auth, host=DAV)
check(status == 200 and got == payload, "GET returns the same bytes")
status, headers, _ = request("HEAD", path, headers=auth, host=DAV)
check(status == 200 and headers.get("content-length") == str(len(payload)), "HEAD gives the size")
status, _, got = request("PROPFIND", base + "/stacks/u/20250115.78_83.6_+22.0/7/",
                         headers=dict(auth, Depth="1"), host=DAV)
check(status == 207 and b"stacked.fits" in got, "PROPFIND Depth 1 lists the file: 207 (got %d)" % status)
status, _, _ = request("OPTIONS", base + "/", headers=auth, host=DAV)
check(status == 200, "OPTIONS answers 200 (got %d)" % status)
dest = "%s://%s%s" % (DAV.scheme, DAV.netloc, base + "/copy.fits")
status, _, _ = request("COPY", path, headers=dict(auth, Destination=dest), host=DAV)
check(status in (201, 204), "COPY: 201/204 (got %d)" % status)
dest2 = "%s://%s%s" % (DAV.scheme, DAV.netloc, base + "/moved.fits")
status, _, _ = request("MOVE", base + "/copy.fits", headers=dict(auth, Destination=dest2), host=DAV)
check(status in (201, 204), "MOVE: 201/204 (got %d)" % status)
status, _, got = request("GET", base + "/moved.fits", headers=auth, host=DAV)
check(status == 200 and got == payload, "the moved copy holds the same bytes")
status, _, _ = request("GET", "/dav/../conf/crowdsky.conf", headers=auth, host=DAV)
check(status in (400, 404), "no path escapes the store (got %d)" % status)
status, _, _ = request("DELETE", base + "/", headers=auth, host=DAV)
check(status == 204, "DELETE of the folder: 204 (got %d)" % status)
status, _, _ = request("GET", path, headers=auth, host=DAV)
check(status == 404, "gone after DELETE (got %d)" % status)

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("all checks passed")
