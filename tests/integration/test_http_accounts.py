#!/usr/bin/python3
"""test_http_accounts.py - sign up, log in, log out, session cookie, session
fixation, CSRF on account forms, throttling (429), API tokens, password
change, health, 404/405."""
import os
import re
import secrets
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cstest import Client, check, done, new_user, random_loopback, skip_unless_stack, sql  # noqa: E402

skip_unless_stack()

r = Client().get("/health")
check(r.status == 200 and r.json().get("status") == "ok" and r.json().get("db") is True, "GET /health: 200 ok, db true")
r = Client().get("/")
check(r.status == 200 and b"CrowdSky" in r.body and r.header("Content-Type").startswith("text/html"), "GET / answers HTML")
r = Client().get("/no/such/page")
check(r.status == 404 and "error" in r.json(), "unknown path: 404 JSON")
r = Client().request("DELETE", "/health")
check(r.status == 405, "wrong method: 405")
check(r.header("X-Content-Type-Options") == "nosniff" and "frame-ancestors" in (r.header("Content-Security-Policy") or ""),
      "security headers on every answer")

# ---- sign up: clear errors ----
src = random_loopback()
name = "carol" + secrets.token_hex(3)
cases = [
    ({"username": name, "email": name + "@example.org", "password": "short"}, 400, "at least 10"),
    ({"username": "x", "email": "c@example.org", "password": "long enough pw"}, 400, "3 to 40"),
    ({"username": "bad name!", "email": "c@example.org", "password": "long enough pw"}, 400, "letters"),
    ({"username": name, "email": "not-an-email", "password": "long enough pw"}, 400, "email"),
    ({"username": name, "email": "c@example.org"}, 400, "password is required"),
    ({"email": "c@example.org", "password": "long enough pw"}, 400, "username is required"),
]
for fields, status, text in cases:
    r = Client(source=src).post_form("/signup", fields, csrf=False)
    check(r.status == status and text in r.json().get("error", ""), "sign up refused (%d, '%s'): %r" % (status, text, r))
c = Client(source=src)
r = c.signup(name, "long enough pw")
check(r.status == 201 and r.json()["username"] == name, "sign up works")
cookie = c.cookies.get("cs_session", "")
check(re.fullmatch(r"[0-9a-f]{64}", cookie) is not None, "session id is 256 random bits (64 hex)")
r = Client(source=src).signup(name, "long enough pw")
check(r.status == 409 and "taken" in r.json()["error"], "same username again: 409")
r = Client(source=src).signup(name.upper(), "long enough pw", email="other@example.org")
check(r.status == 409, "usernames are case-insensitive: 409")
r = Client(source=src).post_form("/signup", {"username": "zz" + secrets.token_hex(3), "email": "z@example.org",
                                             "password": "long enough pw"}, csrf=False,
                                 headers={"Origin": "http://evil.example"})
check(r.status == 403, "cross-site sign-up form: 403")
pn = "p" + secrets.token_hex(4)
r = Client(source=src).post_form("/signup.php", {"username": pn, "email": pn + "@example.org",
                                                 "password": "long enough pw"}, csrf=False)
check(r.status == 201, "POST /signup.php answers the same")

# ---- log in / out, plain HTML form posts ----
c2 = Client(source=src)
r = c2.post_form("/login", {"username": name, "password": "long enough pw", "next": "/upload"}, csrf=False,
                 headers={"Accept": "text/html"})
check(r.status == 303 and r.header("Location") == "/upload", "HTML form log in: 303 to next")
r = c2.post_form("/login", {"username": name, "password": "long enough pw", "next": "//evil.example/"},
                 csrf=False, headers={"Accept": "text/html"})
check(r.status == 303 and r.header("Location") == "/", "an off-site next is ignored")
r = Client(source=src).post_form("/login", {"username": name, "password": "wrong password"}, csrf=False)
check(r.status == 401 and "wrong username or password" in r.json()["error"], "wrong password: 401")
r = Client(source=src).post_form("/login", {"username": "nobody" + secrets.token_hex(3), "password": "whatever12"},
                                 csrf=False)
check(r.status == 401 and "wrong username or password" in r.json()["error"], "unknown user: the same 401")

# ---- session fixation: a pre-set cookie is never adopted ----
planted = secrets.token_hex(32)
v = Client(source=src)
v.cookies["cs_session"] = planted
r = v.login(name, "long enough pw")
check(r.status == 200 and v.cookies["cs_session"] != planted, "log in issues a new session id, not the planted one")
a = Client(source=src)
a.cookies["cs_session"] = planted
check(a.get("/api/me").status == 401, "the planted id is not a session")
# an attacker's real session planted in a victim's browser is replaced at log in
att, att_name, att_pw = new_user("mallory", source=src)
att_cookie = att.cookies["cs_session"]
v2 = Client(source=src)
v2.cookies["cs_session"] = att_cookie
r = v2.login(name, "long enough pw")
check(r.status == 200 and v2.cookies["cs_session"] != att_cookie and v2.get("/api/me").json()["username"] == name,
      "log in over another session rotates the id")
old = Client(source=src)
old.cookies["cs_session"] = att_cookie
check(old.get("/api/me").status == 401, "the replaced session is ended")
# rotation at every log in
c3 = Client(source=src)
c3.login(name, "long enough pw")
first = c3.cookies["cs_session"]
c3.login(name, "long enough pw")
check(c3.cookies["cs_session"] != first, "each log in rotates the session id")

# ---- idle and absolute expiry ----
ex, exname, _ = new_user("expiry", source=src)
check(ex.get("/api/me").status == 200, "a fresh session works")
ex2, exname2, _ = new_user("expiry", source=src)
check(ex2.get("/api/me").status == 200, "another fresh session works")
sql("UPDATE login_sessions s JOIN users u ON u.id = s.user_id SET s.last_seen_at = s.last_seen_at - INTERVAL 3 HOUR "
    "WHERE u.username = '%s'" % exname)
sql("UPDATE login_sessions s JOIN users u ON u.id = s.user_id SET s.expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND "
    "WHERE u.username = '%s'" % exname2)
time.sleep(5.5)  # the responder pool caches a looked-up session for 5 s
check(ex.get("/api/me").status == 401, "a session idle for longer than session_idle_seconds is dead")
check(ex2.get("/api/me").status == 401, "a session past its absolute expiry is dead, however active")
row = sql("SELECT COUNT(*) FROM login_sessions WHERE session_hash = '%s'" % ex2.cookies["cs_session"]).strip()
check(row == "0", "the cookie value itself is not stored (only its hash)")

# ---- CSRF on state-changing account calls ----
r = c3.post_form("/logout", {}, csrf=False)
check(r.status == 403, "log out without CSRF token: 403")
r = c3.post_form("/api/tokens", {"name": "x"}, csrf=False)
check(r.status == 403, "create API token without CSRF token: 403")

# ---- API tokens ----
r = c3.post_form("/api/tokens", {"name": "my script"})
tok = r.json().get("token", "") if r.status == 201 else ""
check(r.status == 201 and re.fullmatch(r"cst_[0-9a-f]{64}", tok) is not None, "create an API token")
lst = c3.get("/api/tokens").json()["tokens"]
check(len(lst) == 1 and lst[0]["name"] == "my script" and "token" not in lst[0], "tokens are listed, never shown again")
basic = Client(source=src, basic=(name, tok))
check(basic.get("/api/my_stacks").status == 200, "Basic auth with username + API token")
r = c3.post_form("/api/tokens/revoke", {"id": str(lst[0]["id"])})
check(r.status == 200, "revoke the token")
check(basic.get("/api/my_stacks").status == 401, "a revoked token no longer works")
other, _, _ = new_user("dave", source=src)
r = other.post_form("/api/tokens/revoke", {"id": str(lst[0]["id"])})
check(r.status == 404, "revoking another user's token: 404")

# ---- password change: sessions end, cached Basic credentials are forgotten ----
pwc = Client(source=src, basic=(name, "long enough pw"))
check(pwc.get("/api/my_stacks").status == 200, "Basic auth with the password (now cached)")
r = c3.post_form("/api/account", {"current_password": "wrong one!!", "new_password": "another password"})
check(r.status == 403, "password change with a wrong current password: 403")
r = c3.post_form("/api/account", {"current_password": "long enough pw", "new_password": "short"})
check(r.status == 400, "password change to a too-short password: 400")
r = c3.post_form("/api/account", {"current_password": "long enough pw", "new_password": "another password"})
check(r.status == 200 and c3.get("/api/me").status == 200, "password change keeps this browser logged in")
c3.csrf = r.json()["csrf_token"]  # a new session, so a new CSRF token
check(c2.get("/api/me").status == 401, "other sessions of the user ended")
check(pwc.get("/api/my_stacks").status == 401, "the old password no longer works for Basic auth (cache invalidated)")
check(Client(source=src, basic=(name, "another password")).get("/api/my_stacks").status == 200,
      "the new password works for Basic auth")
r = c3.post_form("/api/account", {"scrub_location": "0"})
check(r.status == 200 and c3.get("/api/me").json()["scrub_location"] is False, "account default scrub_location")

# ---- throttling: 10 failures / 15 min -> 429, per account and per address ----
victim, vname, vpw = new_user("erin")
src2 = random_loopback()
codes = [Client(source=src2).post_form("/login", {"username": vname, "password": "wrong-%d-pass" % i}, csrf=False).status
         for i in range(10)]
check(codes == [401] * 10, "10 wrong passwords: 401 each")
r = Client(source=src2).post_form("/login", {"username": vname, "password": vpw}, csrf=False)
check(r.status == 429 and r.header("Retry-After"), "11th attempt, even with the right password: 429 + Retry-After")
r = Client(source=random_loopback()).post_form("/login", {"username": vname, "password": vpw}, csrf=False)
check(r.status == 429, "the account is throttled from any address")
src3 = random_loopback()
for i in range(10):
    Client(source=src3).post_form("/login", {"username": "ghost%d" % i, "password": "wrong password"}, csrf=False)
r = Client(source=src3).post_form("/login", {"username": name, "password": "another password"}, csrf=False)
check(r.status == 429, "an address with 10 failures is throttled for every account")
r = Client(source=random_loopback()).post_form("/login", {"username": name, "password": "another password"},
                                               csrf=False)
check(r.status == 200, "other addresses and accounts are not affected")
# Basic auth failures count the same
src4 = random_loopback()
fuser, fname, fpw = new_user("frank")
codes = [Client(source=src4, basic=(fname, "bad-%d-password" % i)).get("/api/my_stacks").status for i in range(10)]
check(codes == [401] * 10, "10 wrong Basic passwords: 401 each")
r = Client(source=src4, basic=(fname, fpw)).get("/api/my_stacks")
check(r.status == 429, "Basic auth is throttled like log in: 429")

done()
