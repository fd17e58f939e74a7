#!/usr/bin/python3
"""test_http_throttle_shared.py - the log-in throttle counts every process's
failures: two private crowdsky-fcgi processes (the stack's config and
database, their own sockets), spoken to in FastCGI directly, as two app
containers behind one nginx would be.
  - 5 wrong passwords on each process: the 11th attempt, on either, is 429
    with Retry-After, even with the right password (each process alone has
    seen only 5 failures);
  - Basic auth with a password on a credential not yet verified is held by
    the same count; an address with 10 failures spread over the two is held
    for every account it tries;
  - the failures are rows of login_attempts (account and address)."""
import base64
import os
import sys
import tempfile
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cstest import (check, done, fcgi_params, fcgi_request, new_user, random_loopback,  # noqa: E402
                    skip_unless_stack, sql, start_pool, stop_pool)

skip_unless_stack()
if not os.access(os.environ.get("CS_FCGI", ""), os.X_OK):
    print("CS_FCGI is not set or not executable")
    sys.exit(1)


def login(sock, name, pw, addr):
    body = urllib.parse.urlencode({"username": name, "password": pw}).encode()
    return fcgi_request(sock, fcgi_params("POST", "/login", headers={"Origin": "http://127.0.0.1"},
                                          ctype="application/x-www-form-urlencoded", body_len=len(body),
                                          remote=addr), body)


def basic(sock, name, pw, addr):
    auth = {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (name, pw)).encode()).decode()}
    return fcgi_request(sock, fcgi_params("GET", "/api/my_stacks", headers=auth, remote=addr))


tmp = tempfile.mkdtemp(prefix="cs-throttle-")
sock_a, sock_b = os.path.join(tmp, "a.sock"), os.path.join(tmp, "b.sock")
pool_a, pool_b = start_pool(sock_a), start_pool(sock_b)
try:
    check(fcgi_request(sock_a, fcgi_params("GET", "/health")).status == 200 and
          fcgi_request(sock_b, fcgi_params("GET", "/health")).status == 200, "two private processes answer")

    # ---- one account, failures spread over the two processes ----
    _, name, pw = new_user("spread")
    codes = []
    for i in range(10):
        codes.append(login(sock_a if i % 2 else sock_b, name, "wrong-%d-pass" % i, random_loopback()).status)
    check(codes == [401] * 10, "10 wrong passwords, 5 on each process: 401 each (%r)" % codes)
    n = int(sql("SELECT COUNT(*) FROM login_attempts WHERE username = '%s' AND success = 0" % name).strip())
    check(n == 10, "10 rows in login_attempts for the account (%d)" % n)
    for sock, label in ((sock_a, "A"), (sock_b, "B")):
        r = login(sock, name, pw, random_loopback())
        check(r.status == 429 and int(r.header("Retry-After") or 0) >= 1,
              "process %s: the right password after 10 failures anywhere: 429 + Retry-After (%d %s)"
              % (label, r.status, r.header("Retry-After")))
    r = basic(sock_a, name, pw, random_loopback())
    check(r.status == 429, "Basic auth with the password, never verified here: 429 (%d)" % r.status)

    # ---- one address, failures spread over accounts and processes ----
    addr = random_loopback()
    for i in range(10):
        login(sock_a if i % 2 else sock_b, "no such user %d" % i, "wrong password", addr)
    _, other, other_pw = new_user("bystander")
    r = login(sock_a, other, other_pw, addr)
    check(r.status == 429, "an address with 10 failures over both processes is held for every account (%d)"
          % r.status)
    r = login(sock_b, other, other_pw, random_loopback())
    check(r.status in (200, 303), "the same account from another address logs in (%d)" % r.status)
    n = int(sql("SELECT COUNT(*) FROM login_attempts WHERE ip = '%s' AND username IS NULL" % addr).strip())
    check(n == 10, "names no account can have are stored as NULL, the address counts (%d rows)" % n)
finally:
    stop_pool(pool_a)
    stop_pool(pool_b)
done()
