/* dispatch.c - one request from accept to log line: route lookup, query
 * arguments, body cap, authentication, small-body parsing, CSRF, handler,
 * error reply. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "handlers.h"
#include "metrics.h"
#include "crowdsky/alloc.h"
#include "crowdsky/jobs.h"
#include "crowdsky/log.h"
#include "crowdsky/multipart.h"

#define QUERY_MAX_FIELDS 64
#define QUERY_MAX_BYTES (16 * 1024)

static unsigned method_bit(const char *m)
{
        if (!strcmp(m, "GET"))
                return CS_M_GET;
        if (!strcmp(m, "POST"))
                return CS_M_POST;
        if (!strcmp(m, "HEAD"))
                return CS_M_HEAD;
        if (!strcmp(m, "DELETE"))
                return CS_M_DELETE;
        if (!strcmp(m, "PUT"))
                return CS_M_PUT;
        return 0;
}

static bool path_matches(const struct cs_route *rt, const char *path, const char **ret_rest)
{
        size_t n = strlen(rt->path);

        if (rt->flags & CS_R_PREFIX) {
                if (strncmp(path, rt->path, n) == 0 && path[n] && !strchr(path + n, '/')) {
                        *ret_rest = path + n;
                        return true;
                }
                return false;
        }
        if (strncmp(path, rt->path, n) != 0)
                return false;
        if (path[n] == '\0')
                return true;
        return (rt->flags & CS_R_PHP) && strcmp(path + n, ".php") == 0;
}

/* Finds the route; *ret_allowed collects the methods of routes with this path. */
static const struct cs_route *find_route(struct cs_req *req, unsigned *ret_allowed)
{
        size_t i;
        unsigned want = req->method_bit == CS_M_HEAD ? CS_M_GET : req->method_bit;
        const char *rest = NULL;

        *ret_allowed = 0;
        for (i = 0; i < cs_routes_count; i++) {
                const struct cs_route *rt = &cs_routes[i];
                if (!path_matches(rt, req->path, &rest))
                        continue;
                *ret_allowed |= rt->methods;
                if (rt->methods & want) {
                        req->path_rest = rest;
                        return rt;
                }
        }
        return NULL;
}

/* ---- authentication ---- */

/* The in-memory throttle of this process (cheap: asked on every Basic
 * request) and, with shared, the database's count over every process (asked
 * before a password is verified, which costs far more). A database that
 * does not answer leaves the decision to the memory (logged). */
static bool throttled(struct cs_req *req, const char *user, bool shared)
{
        char key[CS_USERNAME_MAX + 64];
        int retry = 0, r2 = 0;
        bool blocked;
        int64_t now = cs_now();

        snprintf(key, sizeof key, "user:%s", user);
        for (char *p = key; *p; p++)
                *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
        blocked = cs_throttle_blocked(req->app->throttle, key, now, &retry);
        snprintf(key, sizeof key, "addr:%s", req->client_addr);
        if (cs_throttle_blocked(req->app->throttle, key, now, &r2)) {
                blocked = true;
                if (r2 > retry)
                        retry = r2;
        }
        if (!blocked && shared) {
                struct cs_db *db = cs_req_db(req);
                struct cs_err err = CS_ERR_INIT;
                int r = db ? cs_login_failures(db, user, req->client_addr, CS_LOGIN_WINDOW_SECONDS,
                                               CS_LOGIN_MAX_FAILURES, &retry, &err)
                           : CS_EDB;

                if (r == 1)
                        blocked = true;
                else if (r < 0)
                        cs_log_warn("req=%s log-in throttle: the database's count is unavailable: %s", req->id,
                                    db ? err.msg : "no connection");
        }
        if (blocked) {
                cs_reply_header(req, "Retry-After", "%d", retry > 0 ? retry : 1);
                cs_log_warn("req=%s throttled user='%s' addr=%s", req->id,
                            cs_user_validate_name(user, NULL) == CS_OK ? user : "(not a valid name)",
                            req->client_addr);
        }
        return blocked;
}

void cs_auth_note_failure(struct cs_req *req, const char *user)
{
        char key[CS_USERNAME_MAX + 64];
        int64_t now = cs_now();
        struct cs_db *db = cs_req_db(req);
        struct cs_err err = CS_ERR_INIT;

        snprintf(key, sizeof key, "user:%s", user);
        for (char *p = key; *p; p++)
                *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
        cs_throttle_fail(req->app->throttle, key, now);
        snprintf(key, sizeof key, "addr:%s", req->client_addr);
        cs_throttle_fail(req->app->throttle, key, now);
        if (!db || cs_login_failure_record(db, user, req->client_addr, &err) < 0)
                cs_log_warn("req=%s log-in throttle: failure not recorded in the database: %s", req->id,
                            db ? err.msg : "no connection");
}

bool cs_auth_is_throttled(struct cs_req *req, const char *user)
{
        return throttled(req, user, true);
}

static int auth_session(struct cs_req *req, bool required)
{
        char cookie[80], hash[CS_AUTH_HEX];
        struct cs_db *db;
        struct cs_err err = CS_ERR_INIT;
        int64_t now = cs_now();
        int r;

        if (!cs_req_cookie(req, CS_SESSION_COOKIE, cookie, sizeof cookie) || !cs_session_hash(cookie, hash))
                goto none;
        if (!cs_sesscache_get(req->app->sesscache, hash, now, &req->session)) {
                db = cs_req_db(req);
                if (!db)
                        return CS_EDB;
                r = cs_session_lookup(db, &req->app->cfg, cookie, &req->session, &err);
                if (r == CS_ENOTFOUND)
                        goto none;
                if (r < 0)
                        return cs_err_set(&req->err, r, "%s", err.msg);
                cs_sesscache_put(req->app->sesscache, &req->session, now);
        }
        req->has_session = true;
        req->user_id = req->session.user_id;
        snprintf(req->username, sizeof req->username, "%s", req->session.username);
        req->is_admin = req->session.is_admin;
        return CS_OK;
none:
        if (!required)
                return CS_OK;
        if ((req->route->flags & CS_R_PAGE) && req->method_bit & (CS_M_GET | CS_M_HEAD)) {
                struct cs_buf loc = CS_BUF_INIT(2048);
                cs_buf_adds(&loc, "/login?next=");
                cs_url_encode(cs_str_c(req->path), &loc);
                cs_reply_redirect(req, 303, loc.data);
                cs_buf_release(&loc);
                return CS_EAUTH;
        }
        cs_reply_error(req, 401, "not logged in");
        return CS_EAUTH;
}

static int auth_basic(struct cs_req *req)
{
        const char *hdr = cs_req_param(req, "HTTP_AUTHORIZATION");
        char user[CS_USERNAME_MAX + 1], secret[CS_AUTH_PASSWORD_MAX + 1];
        struct cs_user u;
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *db;
        int r;

        if (!hdr || cs_http_basic_parse(hdr, user, sizeof user, secret, sizeof secret) < 0) {
                cs_reply_error(req, 401, "authentication required (HTTP Basic: username and password or API token)");
                return CS_EAUTH;
        }
        if (throttled(req, user, false)) {
                cs_reply_error(req, 429, "too many failed log-in attempts; try again later");
                r = CS_ERATELIMIT;
                goto out;
        }
        db = cs_req_db(req);
        if (!db) {
                r = CS_EDB;
                goto out;
        }
        r = cs_user_find(db, user, &u, &err);
        if (r == CS_ENOTFOUND) {
                r = CS_EAUTH;
                goto fail;
        }
        if (r < 0) {
                cs_err_set(&req->err, r, "%s", err.msg);
                goto out;
        }
        if (cs_auth_is_api_token(secret)) {
                r = cs_apitoken_check(db, u.id, secret, &err);
                if (r == CS_EAUTH)
                        goto fail;
                if (r < 0) {
                        cs_err_set(&req->err, r, "%s", err.msg);
                        goto out;
                }
        } else {
                unsigned char key[32];
                char stamp[CS_AUTH_HEX];
                int64_t now = cs_now();

                cs_auth_sha256_hex(u.password_hash, strlen(u.password_hash), stamp);
                cs_credcache_key(req->app->cfg.site_secret, u.name, secret, key);
                if (!cs_credcache_check(req->app->credcache, key, u.id, stamp, now)) {
                        /* a password to verify: the count of every process first
                         * (API tokens are 256-bit random: nothing to guess) */
                        if (throttled(req, user, true)) {
                                cs_reply_error(req, 429, "too many failed log-in attempts; try again later");
                                r = CS_ERATELIMIT;
                                goto out;
                        }
                        r = cs_auth_password_verify(u.password_hash, secret, strlen(secret), &err);
                        if (r < 0)
                                goto fail;
                        cs_credcache_put(req->app->credcache, key, u.id, stamp, now);
                }
        }
        req->user_id = u.id;
        snprintf(req->username, sizeof req->username, "%s", u.name);
        req->is_admin = u.is_admin;
        r = CS_OK;
        goto out;
fail:
        cs_auth_note_failure(req, user);
        cs_log_info("req=%s basic auth failed user='%s' addr=%s", req->id,
                    cs_user_validate_name(user, NULL) == CS_OK ? user : "(not a valid name)", req->client_addr);
        cs_reply_error(req, 401, "wrong username, password or API token");
        r = CS_EAUTH;
out:
        memset(secret, 0, sizeof secret);
        return r;
}

static int auth_bearer(struct cs_req *req)
{
        struct cs_str tok;
        char text[256];
        struct cs_db *db;
        struct cs_err err = CS_ERR_INIT;
        int r;

        if (!cs_http_bearer_parse(cs_req_param(req, "HTTP_AUTHORIZATION"), &tok) ||
            !cs_str_copy(tok, text, sizeof text)) {
                cs_reply_error(req, 401, "worker token required (Authorization: Bearer ...)");
                return CS_EAUTH;
        }
        db = cs_req_db(req);
        if (!db)
                return CS_EDB;
        /* digest lookup + constant-time comparison + last-seen bookkeeping live in the jobs module */
        r = cs_worker_token_verify(db, text, &req->worker_token_id, req->worker_name, &err);
        memset(text, 0, sizeof text);
        if (r == CS_EAUTH) {
                cs_log_info("req=%s bad worker token addr=%s", req->id, req->client_addr);
                cs_reply_error(req, 401, "unknown or revoked worker token");
                return CS_EAUTH;
        }
        if (r < 0)
                return cs_err_set(&req->err, r, "%s", err.msg);
        return CS_OK;
}

/* ---- small bodies ---- */

static int field_begin(void *ud, const struct cs_multipart_part *part, struct cs_err *err)
{
        struct cs_req *req = ud;

        if (part->has_filename)
                return cs_err_set(err, CS_EINVAL, "a file upload is not expected here");
        return cs_form_add(&req->form, part->name, strlen(part->name), "", 0, err);
}

static int field_data(void *ud, const char *p, size_t n, struct cs_err *err)
{
        struct cs_req *req = ud;
        struct cs_form_field *f = &req->form.fields[req->form.n - 1];

        if (n > req->form.max_bytes - req->form.bytes)
                return cs_err_set(err, CS_ETOOBIG, "form fields too large");
        f->value = cs_xrealloc(f->value, f->value_len + n + 1);
        memcpy(f->value + f->value_len, p, n);
        f->value_len += n;
        f->value[f->value_len] = '\0';
        req->form.bytes += n;
        return CS_OK;
}

int cs_req_read_form(struct cs_req *req)
{
        struct cs_str mt = cs_header_media_type(cs_str_c(req->content_type));
        int64_t cap = cs_req_body_cap(req);
        int r;

        cs_buf_init(&req->body, (size_t)cap);
        for (;;) {
                long k;
                r = cs_buf_grow(&req->body, 16384);
                if (r < 0) {
                        /* the buffer is at the cap: any further byte is too much */
                        if (cs_req_read(req, req->w->iobuf, 1) == 0)
                                break;
                        cs_reply_error(req, 413, "request body too large (limit %lld bytes)", (long long)cap);
                        return CS_ETOOBIG;
                }
                k = cs_req_read(req, req->body.data + req->body.len, req->body.alloc - req->body.len - 1);
                if (k == CS_ETOOBIG) {
                        cs_reply_error(req, 413, "request body too large (limit %lld bytes)", (long long)cap);
                        return CS_ETOOBIG;
                }
                if (k < 0)
                        return cs_err_set(&req->err, CS_EIO, "reading the request body failed");
                if (k == 0)
                        break;
                req->body.len += (size_t)k;
                req->body.data[req->body.len] = '\0';
        }
        if (cs_str_eq_nocase(mt, "application/x-www-form-urlencoded")) {
                r = cs_form_parse(&req->form, req->body.data, req->body.len, &req->err);
                if (r < 0) {
                        cs_reply_error(req, cs_http_status_of(r), "%s", req->err.msg);
                        return r;
                }
        } else if (cs_str_eq_nocase(mt, "multipart/form-data")) {
                static const struct cs_multipart_cb cb = { field_begin, field_data, NULL };
                struct cs_multipart *mp = NULL;
                r = cs_multipart_new(req->content_type, &cb, req, NULL, &mp, &req->err);
                if (r == CS_OK)
                        r = cs_multipart_feed(mp, req->body.data, req->body.len, &req->err);
                if (r == CS_OK)
                        r = cs_multipart_finish(mp, &req->err);
                cs_multipart_free(mp);
                if (r < 0) {
                        cs_reply_error(req, cs_http_status_of(r), "%s", req->err.msg);
                        return r;
                }
        }
        return CS_OK;
}

/* Same-origin check for log-in/sign-up forms (no session yet, so no synchronizer
 * token): a browser always sends Origin on a cross-site POST. */
bool cs_req_same_origin(struct cs_req *req)
{
        const char *origin = cs_req_header(req, "Origin");
        const char *host = cs_req_header(req, "Host");
        const char *o;

        if (!origin || !strcmp(origin, "null"))
                return origin == NULL;
        o = strstr(origin, "://");
        if (!o)
                return false;
        o += 3;
        if (host && strcasecmp(o, host) == 0)
                return true;
        /* the configured public URL */
        {
                const char *s = strstr(req->app->cfg.site_url, "://");
                if (s && strncasecmp(o, s + 3, strcspn(s + 3, "/")) == 0 && strlen(o) == strcspn(s + 3, "/"))
                        return true;
        }
        return false;
}

/* ---- the table itself ---- */

int cs_routes_check(struct cs_err *err)
{
        size_t i, j;

        for (i = 0; i < cs_routes_count; i++) {
                const struct cs_route *a = &cs_routes[i];
                size_t n = strlen(a->path);
                if (!a->fn || a->path[0] != '/' || !a->methods)
                        return cs_err_set(err, CS_EINVAL, "route %zu ('%s'): no handler, path or method", i, a->path);
                if ((a->flags & CS_R_PREFIX) && a->path[n - 1] != '/')
                        return cs_err_set(err, CS_EINVAL, "route '%s': a prefix route must end with '/'", a->path);
                if ((a->flags & CS_R_STREAM) && a->body_max == 0)
                        return cs_err_set(err, CS_EINVAL, "route '%s': a streaming route needs a body cap", a->path);
                for (j = 0; j < i; j++) {
                        const struct cs_route *b = &cs_routes[j];
                        if (strcmp(a->path, b->path) == 0 && (a->methods & b->methods))
                                return cs_err_set(err, CS_EINVAL,
                                                  "route '%s' appears twice for the same method (row %zu is never reached)",
                                                  a->path, i);
                }
        }
        return CS_OK;
}

/* ---- dispatch ---- */

static void fill_request(struct cs_req *req)
{
        const char *uri, *v;
        size_t n;

        req->method = cs_req_param(req, "REQUEST_METHOD");
        if (!req->method)
                req->method = "GET";
        req->method_bit = method_bit(req->method);
        req->head_only = req->method_bit == CS_M_HEAD;
        /* nginx's DOCUMENT_URI is the normalised path; REQUEST_URI the raw one */
        uri = cs_req_param(req, "DOCUMENT_URI");
        if (!uri)
                uri = cs_req_param(req, "REQUEST_URI");
        if (!uri)
                uri = "/";
        n = strcspn(uri, "?");
        if (n >= sizeof req->path)
                n = sizeof req->path - 1;
        memcpy(req->path, uri, n);
        req->path[n] = '\0';
        /* nginx hands over the decoded path: no control characters in our
         * logs (no route contains any, so matching is unaffected) */
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)req->path[i] < 0x20 || req->path[i] == 0x7f || req->path[i] == '\'')
                        req->path[i] = '?';
        req->query = cs_req_param(req, "QUERY_STRING");
        if (!req->query)
                req->query = "";
        req->client_addr = cs_req_param(req, "REMOTE_ADDR");
        if (!req->client_addr)
                req->client_addr = "";
        req->content_type = cs_req_param(req, "CONTENT_TYPE");
        if (!req->content_type)
                req->content_type = "";
        v = cs_req_param(req, "CONTENT_LENGTH");
        req->content_length = -1;
        if (v && *v) {
                int64_t x;
                if (cs_parse_i64_c(v, &x) == CS_OK && x >= 0)
                        req->content_length = x;
        }
}

static int run(struct cs_req *req)
{
        unsigned allowed;
        int r;

        req->route = find_route(req, &allowed);
        if (!req->route) {
                if (allowed) {
                        cs_reply_header(req, "Allow", "%s%s%s", allowed & CS_M_GET ? "GET, HEAD" : "",
                                        (allowed & CS_M_GET) && (allowed & CS_M_POST) ? ", " : "",
                                        allowed & CS_M_POST ? "POST" : "");
                        return cs_reply_error(req, 405, "method %s not allowed on %s", req->method, req->path);
                }
                return cs_reply_error(req, 404, "no such page: %s", req->path);
        }
        cs_form_init(&req->args, QUERY_MAX_FIELDS, QUERY_MAX_BYTES);
        cs_form_init(&req->form, CS_FORM_MAX_FIELDS, CS_FORM_MAX_BYTES);
        r = cs_form_parse(&req->args, req->query, strlen(req->query), &req->err);
        if (r < 0)
                return cs_reply_error(req, 400, "bad query string: %s", req->err.msg);
        if (req->content_length > cs_req_body_cap(req))
                return cs_reply_error(req, 413, "request body too large (limit %lld bytes)",
                                      (long long)cs_req_body_cap(req));

        switch (req->route->auth) {
        case CS_AUTH_NONE:
                r = (req->route->flags & CS_R_OPTIONAL) ? auth_session(req, false) : CS_OK;
                break;
        case CS_AUTH_SESSION:
        case CS_AUTH_SESSION_CSRF:
                r = auth_session(req, !(req->route->flags & CS_R_OPTIONAL));
                break;
        case CS_AUTH_BASIC:
                r = auth_basic(req);
                break;
        case CS_AUTH_BEARER:
                r = auth_bearer(req);
                break;
        default:
                r = cs_err_set(&req->err, CS_EINVAL, "route with unknown auth level");
        }
        if (r < 0)
                return req->status ? CS_OK : r;

        if (!(req->route->flags & CS_R_STREAM) && (req->method_bit & (CS_M_POST | CS_M_PUT | CS_M_DELETE))) {
                r = cs_req_read_form(req);
                if (r < 0)
                        return req->status ? CS_OK : r;
        }

        if (req->route->auth == CS_AUTH_SESSION_CSRF && req->has_session) {
                const char *tok = cs_req_header(req, "X-CSRF-Token");
                if (!tok && !(req->route->flags & CS_R_STREAM))
                        tok = cs_req_field(req, "csrf_token");
                if (tok)
                        cs_req_csrf_check(req, tok);
                if (!req->csrf_ok && (tok || !(req->route->flags & CS_R_STREAM)))
                        return cs_reply_error(req, 403, "missing or wrong CSRF token");
        }
        return req->route->fn(req);
}

void cs_dispatch(struct cs_req *req)
{
        int r;

        req->t_start_us = cs_now_us();
        cs_buf_init(&req->headers, 64 * 1024);
        cs_buf_init(&req->body, 0);
        fill_request(req);
        r = run(req);
        if (r < 0 && !req->status) {
                if (!req->err.code)
                        cs_err_set(&req->err, r, "request failed");
                cs_reply_fail(req, r, &req->err);
        } else if (!req->status) {
                cs_log_error("req=%s path='%s' handler returned without replying", req->id, req->path);
                cs_reply_error(req, 500, "internal error (request %s)", req->id);
        }
        cs_log(req->status >= 500 ? CS_LOG_WARN : req->status >= 400 ? CS_LOG_INFO : CS_LOG_DEBUG,
               "req=%s %s '%s' status=%d user='%s' ms=%.1f in=%lld out=%lld", req->id, req->method,
               req->path, req->status, req->username,
               (double)(cs_now_us() - req->t_start_us) / 1000.0, (long long)req->body_read,
               (long long)req->bytes_out);
        cs_metrics_observe(req);
        cs_form_release(&req->args);
        cs_form_release(&req->form);
        cs_buf_release(&req->body);
        cs_buf_release(&req->headers);
}
