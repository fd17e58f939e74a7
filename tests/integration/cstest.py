"""cstest.py - shared helpers of the HTTP integration tests (Python 3 stdlib only).

The tests talk to the real stack that script/test starts (nginx + crowdsky-fcgi
+ MariaDB) through the CS_TEST_* variables, and exit 77 (skipped) when
CS_TEST_URL is unset (a developer's partial run).

    from cstest import Client, skip_unless_stack, new_user, ...
"""
import http.client
import json
import os
import random
import re
import secrets
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.parse

SKIP = 77


def skip_unless_stack():
    if not os.environ.get("CS_TEST_URL"):
        print("CS_TEST_URL is not set: no test stack, skipping")
        sys.exit(SKIP)


def base_url():
    return os.environ["CS_TEST_URL"].rstrip("/")


def read_conf(path=None):
    """The crowdsky.conf of the stack as a dict (key = value lines)."""
    path = path or os.environ["CS_TEST_CONF"]
    conf = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            k, v = line.split("=", 1)
            conf[k.strip()] = v.strip()
    return conf


def sql(statement):
    """Runs SQL as the app's database user of the stack (CS_TEST_CONF) with the
    mariadb client; returns the tab-separated output without column names."""
    conf = read_conf()
    args = ["mariadb", "--no-defaults", "-N", "-B", "-u", conf.get("db_user", "crowdsky"),
            conf.get("db_name", "crowdsky")]
    if conf.get("db_socket"):
        args.insert(2, "--socket=" + conf["db_socket"])
    env = dict(os.environ, MYSQL_PWD=conf.get("db_password", ""))
    p = subprocess.run(args, input=statement.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if p.returncode != 0:
        raise RuntimeError(p.stderr.decode())
    return p.stdout.decode()


def script_upload(api, files, **finalize):
    """The script API's whole upload (SPEC 6) as a Basic-auth client `api`:
    start, every file, finalize with the given extra fields. Each refused file
    is a failed check. Returns (session token, finalize Response)."""
    r = api.request("POST", "/api/raw_upload?action=start")
    token = r.json()["session_token"]
    for f in files:
        with open(f, "rb") as fh:
            data = fh.read()
        r = api.post_multipart("/api/raw_upload?action=file", [("session_token", token)],
                               [("file", os.path.basename(f), data)], csrf=False)
        if r.status != 200:
            check(False, "upload %s: %r" % (os.path.basename(f), r))
    fields = {"session_token": token}
    fields.update(finalize)
    return token, api.post_form("/api/raw_upload?action=finalize", fields, csrf=False)


def stack_workers(sig):
    """Sends sig (signal.SIGSTOP / SIGCONT) to the stack's workers (their pid
    files in $CS_TEST_STACK/run): a test that needs the queue or the raw buffer
    to hold still pauses them, and resumes them when done."""
    run = os.path.join(os.environ.get("CS_TEST_STACK", ""), "run")
    if not os.path.isdir(run):
        return
    for f in os.listdir(run):
        if f.startswith("worker-") and f.endswith(".pid"):
            try:
                with open(os.path.join(run, f)) as fh:
                    os.kill(int(fh.read().strip()), sig)
            except (OSError, ValueError):
                pass


def random_loopback():
    """A random 127.x.y.z source address: tests that make log-in failures use
    their own address so the per-address throttle never touches other tests."""
    return "127.%d.%d.%d" % (random.randint(1, 254), random.randint(1, 254), random.randint(2, 254))


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def headers_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            raise AssertionError("not JSON (HTTP %d): %r" % (self.status, self.body[:300]))

    def __repr__(self):
        return "<HTTP %d %r>" % (self.status, self.body[:300])


def multipart(fields, files, boundary=None):
    """fields: list of (name, value); files: list of (name, filename, bytes).
    Fields come first, as browsers' FormData and python-requests send them."""
    boundary = boundary or "----cstest" + secrets.token_hex(12)
    out = []
    for name, value in fields:
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n" % (boundary, name)).encode())
        out.append(value.encode() if isinstance(value, str) else value)
        out.append(b"\r\n")
    for name, filename, data in files:
        fn = filename if isinstance(filename, bytes) else filename.encode()
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"" % (boundary, name)).encode()
                   + fn + b"\"\r\nContent-Type: application/octet-stream\r\n\r\n")
        out.append(data)
        out.append(b"\r\n")
    out.append(("--%s--\r\n" % boundary).encode())
    return b"".join(out), "multipart/form-data; boundary=" + boundary


class Client:
    """A tiny browser: one cookie jar, optional Basic credentials, optional
    source address."""

    def __init__(self, url=None, source=None, basic=None):
        u = urllib.parse.urlsplit(url or base_url())
        self.host, self.port = u.hostname, u.port or 80
        self.source = source
        self.cookies = {}
        self.basic = basic
        self.csrf = None

    def request(self, method, path, body=None, headers=None, ctype=None):
        h = dict(headers or {})
        if self.cookies and "Cookie" not in h:
            h["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        if self.basic and "Authorization" not in h:
            import base64
            h["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % self.basic).encode()).decode()
        if ctype:
            h["Content-Type"] = ctype
        conn = http.client.HTTPConnection(self.host, self.port, timeout=120,
                                          source_address=(self.source, 0) if self.source else None)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            resp = Response(r.status, r.getheaders(), r.read())
        finally:
            conn.close()
        for v in resp.headers_all("Set-Cookie"):
            kv = v.split(";", 1)[0]
            k, _, val = kv.partition("=")
            if "Max-Age=0" in v:
                self.cookies.pop(k.strip(), None)
            else:
                self.cookies[k.strip()] = val.strip()
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post_form(self, path, fields, csrf=True, headers=None):
        h = dict(headers or {})
        if csrf and self.csrf:
            h.setdefault("X-CSRF-Token", self.csrf)
        body = urllib.parse.urlencode(fields)
        return self.request("POST", path, body=body, headers=h, ctype="application/x-www-form-urlencoded")

    def post_multipart(self, path, fields, files, csrf=True, headers=None):
        h = dict(headers or {})
        if csrf and self.csrf:
            h.setdefault("X-CSRF-Token", self.csrf)
        body, ct = multipart(fields, files)
        return self.request("POST", path, body=body, headers=h, ctype=ct)

    # --- account helpers ---
    def signup(self, name, password, email=None):
        r = self.post_form("/signup", {"username": name, "email": email or name + "@example.org",
                                       "password": password}, csrf=False)
        if r.status == 201:
            self.csrf = r.json()["csrf_token"]
        return r

    def login(self, name, password):
        r = self.post_form("/login", {"username": name, "password": password}, csrf=False)
        if r.status == 200:
            self.csrf = r.json()["csrf_token"]
        return r


def new_user(prefix="u", source=None):
    """Signs up a fresh user; returns (client, name, password)."""
    name = "%s%s" % (prefix, secrets.token_hex(4))
    pw = "pw-" + secrets.token_hex(8)
    c = Client(source=source)
    r = c.signup(name, pw)
    check(r.status == 201, "sign up %s: %r" % (name, r))
    return c, name, pw


failures = 0


def check(cond, msg):
    global failures
    if cond:
        print("ok   - " + msg)
    else:
        failures += 1
        print("FAIL - " + msg)
    return cond


def done():
    print("%d failure(s)" % failures)
    sys.exit(1 if failures else 0)


# --- data ---

def shared_data():
    d = os.environ.get("CS_SHARED_DATA")
    if not d:
        here = os.path.dirname(os.path.abspath(__file__))
        d = os.path.join(here, "..", "..", "..", "shared", "data", "seestar")
    return d


def real_frames(folder):
    d = os.path.join(shared_data(), folder)
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".fit"))


def simulate(out_dir, frames, **opts):
    """Runs crowdsky-worker simulate; returns the .fit paths (sorted), or None
    when the simulator is not available."""
    worker = os.environ.get("CS_WORKER")
    if not worker or not os.access(worker, os.X_OK):
        return None
    args = [worker, "simulate", "--out", out_dir, "--frames", str(frames),
            "--width", "256", "--height", "192", "--threads", "1"]
    for k, v in opts.items():
        args += ["--" + k.replace("_", "-"), str(v)]
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        print("simulate failed: %s" % p.stderr.decode(errors="replace")[-300:])
        return None
    return sorted(os.path.join(out_dir, f) for f in os.listdir(out_dir) if f.endswith((".fit", ".fits")))


def fits_set_card(data, key, card_text):
    """Returns FITS bytes with the header card `key` replaced by card_text
    (padded to 80 bytes), e.g. to turn DATE-OBS into a COMMENT."""
    card = card_text.ljust(80).encode()[:80]
    i = 0
    while i < len(data):
        c = data[i:i + 80]
        if c[:8].decode(errors="replace").rstrip() == key:
            return data[:i] + card + data[i + 80:]
        if c[:8] == b"END     ":
            break
        i += 80
    raise ValueError("no card " + key)


# --- chunk keys, computed independently of the C code ---

def chunk_key(obs_time, ra, dec):
    import math
    import time
    t = time.gmtime(int(math.floor(obs_time)))
    slot = int((math.floor(obs_time) % 86400) // 900)
    r = float("%.1f" % (ra % 360.0))
    if r >= 360.0:
        r -= 360.0
    d = "%+.1f" % dec
    if d == "-0.0":
        d = "+0.0"
    return "%04d%02d%02d.%02d_%.1f_%s" % (t.tm_year, t.tm_mon, t.tm_mday, slot, r, d)


def mean_pointing(points):
    import math
    x = y = z = 0.0
    for ra, dec in points:
        a, d = math.radians(ra), math.radians(dec)
        x += math.cos(d) * math.cos(a)
        y += math.cos(d) * math.sin(a)
        z += math.sin(d)
    ra = math.degrees(math.atan2(y, x)) % 360.0
    dec = math.degrees(math.atan2(z, math.hypot(x, y)))
    return ra, dec


def fits_header(path_or_bytes):
    """DATE-OBS (epoch seconds), RA, DEC of a FITS file (primary header)."""
    import calendar
    data = path_or_bytes
    if isinstance(path_or_bytes, str):
        with open(path_or_bytes, "rb") as f:
            data = f.read(2880 * 10)
    vals = {}
    for i in range(0, len(data), 80):
        c = data[i:i + 80].decode("ascii", errors="replace")
        k = c[:8].rstrip()
        if k == "END":
            break
        if c[8:10] == "= ":
            v = c[10:].split("/", 1)[0].strip() if not c[10:].strip().startswith("'") else \
                c[10:].strip()[1:].split("'", 1)[0].strip()
            vals[k] = v
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?", vals["DATE-OBS"])
    whole = calendar.timegm(tuple(int(x) for x in m.groups()[:6]) + (0, 0, 0))
    frac = float(m.group(7)) if m.group(7) else 0.0
    return whole + frac, float(vals["RA"]), float(vals["DEC"])


# --- direct FastCGI (a private crowdsky-fcgi with its own settings) ---

def fcgi_encode(params, body=b""):
    """The bytes of one FastCGI responder request (id 1): BEGIN_REQUEST, PARAMS,
    STDIN records (the empty STDIN record that ends the body included)."""
    def rec(t, content):
        pad = (8 - len(content) % 8) % 8
        return struct.pack("!BBHHBB", 1, t, 1, len(content), pad, 0) + content + b"\0" * pad

    def nv(k, v):
        k, v = k.encode(), v.encode()

        def ln(n):
            return struct.pack("!B", n) if n < 128 else struct.pack("!I", n | 0x80000000)
        return ln(len(k)) + ln(len(v)) + k + v

    out = [rec(1, struct.pack("!HB5x", 1, 0))]
    p = b"".join(nv(k, v) for k, v in params.items())
    for i in range(0, len(p), 65535):
        out.append(rec(4, p[i:i + 65535]))
    out.append(rec(4, b""))
    for i in range(0, len(body), 65535):
        out.append(rec(5, body[i:i + 65535]))
    out.append(rec(5, b""))
    return b"".join(out)


def fcgi_parse(data):
    """Response from the bytes a FastCGI responder sent back."""
    stdout = b""
    i = 0
    while i + 8 <= len(data):
        _, t, _, clen, pad, _ = struct.unpack("!BBHHBB", data[i:i + 8])
        if t == 6:
            stdout += data[i + 8:i + 8 + clen]
        i += 8 + clen + pad
    head, _, body = stdout.partition(b"\r\n\r\n")
    headers = []
    status = 200
    for line in head.decode("latin-1").split("\r\n"):
        k, _, v = line.partition(":")
        if k.lower() == "status":
            status = int(v.strip().split()[0])
        headers.append((k.strip(), v.strip()))
    return Response(status, headers, body)


def fcgi_params(method, path, query="", headers=None, ctype="", body_len=0, remote="127.0.0.1"):
    p = {"REQUEST_METHOD": method, "DOCUMENT_URI": path, "REQUEST_URI": path + ("?" + query if query else ""),
         "QUERY_STRING": query, "REMOTE_ADDR": remote, "CONTENT_TYPE": ctype, "CONTENT_LENGTH": str(body_len),
         "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "127.0.0.1"}
    for k, v in (headers or {}).items():
        p["HTTP_" + k.upper().replace("-", "_")] = v
    return p


def start_pool(sock, extra_env=None, threads=3, env=None):
    """A private crowdsky-fcgi ($CS_FCGI) serving the stack's config on the unix
    socket sock, settings changed through CROWDSKY_* variables (extra_env, on
    top of env or the test's environment); returns its Popen once the socket
    accepts. Its output goes to sock + ".log"."""
    e = dict(env if env is not None else os.environ, CROWDSKY_FCGI_LISTEN=sock, CROWDSKY_FCGI_THREADS=str(threads))
    e.update(extra_env or {})
    log = open(sock + ".log", "wb")
    p = subprocess.Popen([os.environ["CS_FCGI"], "serve", "--config", os.environ["CS_TEST_CONF"]], env=e,
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    for _ in range(200):
        try:
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(sock)
            c.close()
            break
        except OSError:
            time.sleep(0.05)
    return p


def stop_pool(p):
    """SIGTERM, up to 15 s to finish; its exit status, or None if it had to be killed."""
    p.send_signal(signal.SIGTERM)
    try:
        return p.wait(15)
    except subprocess.TimeoutExpired:
        p.kill()
        return None


def recv_all(s):
    """Everything a socket sends until the peer closes it; closes it."""
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return data


def fcgi_request(sock_path, params, body=b""):
    """One FastCGI responder request over a unix socket; returns Response."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(120)
    s.connect(sock_path)
    s.sendall(fcgi_encode(params, body))
    return fcgi_parse(recv_all(s))
