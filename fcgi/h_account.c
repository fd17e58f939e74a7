/* h_account.c - sign up, log in, log out, who-am-I, account settings
 * and personal API tokens. JSON by default; a plain HTML form post (Accept:
 * text/html) gets a 303 redirect on success and a small HTML error page. */
#include <stdio.h>
#include <string.h>

#include "handlers.h"
#include "crowdsky/log.h"

static bool wants_html(const struct cs_req *req)
{
        const char *accept = cs_req_header(req, "Accept");

        return accept && strstr(accept, "text/html") && !cs_req_header(req, "X-Requested-With");
}

/* A local path to go to after a form post, or "/". */
static const char *next_path(const struct cs_req *req)
{
        const char *next = cs_req_value(req, "next");

        if (!next || next[0] != '/' || next[1] == '/' || next[1] == '\\' || strpbrk(next, "\r\n"))
                return "/";
        return next;
}

static int form_error(struct cs_req *req, int http, const char *msg)
{
        if (wants_html(req)) {
                struct cs_buf page = CS_BUF_INIT(16384);
                int r;
                cs_html(&page,
                        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                        "<title>CrowdSky - error</title></head><body><main><h1>Sorry</h1>"
                        "<p class=\"error\">%s</p><p><a href=\"javascript:history.back()\">Back</a> · "
                        "<a href=\"/\">Home</a></p></main></body></html>",
                        msg);
                r = cs_reply_html(req, http, &page);
                cs_buf_release(&page);
                return r;
        }
        return cs_reply_error(req, http, "%s", msg);
}

/* Replaces any session the browser brought with a new one (rotation: a
 * pre-set or old cookie is never adopted) and queues the cookie. */
static int start_session(struct cs_req *req, struct cs_db *db, int64_t user_id,
                         struct cs_session *ret)
{
        char old[80], cookie[CS_AUTH_HEX];
        int r;

        if (cs_req_cookie(req, CS_SESSION_COOKIE, old, sizeof old)) {
                char h[CS_AUTH_HEX];
                if (cs_session_hash(old, h))
                        cs_sesscache_forget(req->app->sesscache, h);
                (void)cs_session_destroy(db, old, NULL);
        }
        r = cs_session_create(db, &req->app->cfg, user_id, cookie, ret, &req->err);
        if (r < 0)
                return r;
        cs_reply_cookie(req, CS_SESSION_COOKIE, cookie, -1);
        req->has_session = true;
        req->session = *ret;
        req->user_id = user_id;
        snprintf(req->username, sizeof req->username, "%s", ret->username);
        return CS_OK;
}

static int reply_logged_in(struct cs_req *req, int http, const struct cs_session *s)
{
        cJSON *doc;

        if (wants_html(req))
                return cs_reply_redirect(req, 303, next_path(req));
        doc = cJSON_CreateObject();
        cJSON_AddBoolToObject(doc, "ok", 1);
        cJSON_AddNumberToObject(doc, "user_id", (double)s->user_id);
        cJSON_AddStringToObject(doc, "username", s->username);
        cJSON_AddStringToObject(doc, "csrf_token", s->csrf);
        return cs_reply_json(req, http, doc);
}

int h_signup(struct cs_req *req)
{
        const char *name = cs_req_field(req, "username"), *email = cs_req_field(req, "email");
        const char *pw = cs_req_field(req, "password"), *pw2 = cs_req_field(req, "password_confirm");
        struct cs_err err = CS_ERR_INIT;
        struct cs_session s;
        struct cs_db *db;
        int64_t id;
        int r;

        if (!cs_req_same_origin(req))
                return form_error(req, 403, "cross-site form submission refused");
        if (!name || !*name)
                return form_error(req, 400, "username is required");
        if (!email || !*email)
                return form_error(req, 400, "email address is required");
        if (!pw || !*pw)
                return form_error(req, 400, "password is required");
        if (pw2 && strcmp(pw, pw2) != 0)
                return form_error(req, 400, "the two passwords differ");
        db = cs_req_db(req);
        if (!db)
                return CS_EDB;
        r = cs_user_create(db, name, email, pw, false, &id, &err);
        if (r == CS_EINVAL || r == CS_ECONFLICT)
                return form_error(req, cs_http_status_of(r), err.msg);
        if (r < 0)
                return cs_err_set(&req->err, r, "%s", err.msg);
        cs_log_info("req=%s signed up user='%s' id=%lld", req->id, name, (long long)id);
        r = start_session(req, db, id, &s);
        if (r < 0)
                return r;
        return reply_logged_in(req, 201, &s);
}

int h_login(struct cs_req *req)
{
        const char *name = cs_req_field(req, "username"), *pw = cs_req_field(req, "password");
        struct cs_err err = CS_ERR_INIT;
        struct cs_session s;
        struct cs_user u;
        struct cs_db *db;
        int r;

        if (!cs_req_same_origin(req))
                return form_error(req, 403, "cross-site form submission refused");
        if (!name || !*name || !pw || !*pw)
                return form_error(req, 400, "username and password are required");
        if (strlen(name) >= CS_USERNAME_MAX)
                return form_error(req, 401, "wrong username or password");
        if (cs_auth_is_throttled(req, name))
                return form_error(req, 429, "too many failed log-in attempts; try again in 15 minutes");
        db = cs_req_db(req);
        if (!db)
                return CS_EDB;
        r = cs_user_find(db, name, &u, &err);
        if (r == CS_OK)
                r = cs_auth_password_verify(u.password_hash, pw, strlen(pw), &err);
        else if (r == CS_ENOTFOUND)
                r = CS_EAUTH;
        if (r == CS_EAUTH) {
                cs_auth_note_failure(req, name);
                cs_log_info("req=%s login failed user='%s' addr=%s", req->id,
                            cs_user_validate_name(name, NULL) == CS_OK ? name : "(not a valid name)",
                            req->client_addr);
                return form_error(req, 401, "wrong username or password");
        }
        if (r < 0)
                return cs_err_set(&req->err, r, "%s", err.msg);
        {
                char key[CS_USERNAME_MAX + 8];
                snprintf(key, sizeof key, "user:%s", u.name);
                for (char *p = key; *p; p++)
                        *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
                cs_throttle_clear(req->app->throttle, key);
        }
        r = start_session(req, db, u.id, &s);
        if (r < 0)
                return r;
        cs_log_info("req=%s login user='%s'", req->id, u.name);
        return reply_logged_in(req, 200, &s);
}

int h_logout(struct cs_req *req)
{
        char cookie[80];
        struct cs_db *db = cs_req_db(req);
        cJSON *doc;

        if (!db)
                return CS_EDB;
        if (cs_req_cookie(req, CS_SESSION_COOKIE, cookie, sizeof cookie)) {
                char h[CS_AUTH_HEX];
                if (cs_session_hash(cookie, h))
                        cs_sesscache_forget(req->app->sesscache, h);
                (void)cs_session_destroy(db, cookie, NULL);
        }
        cs_reply_cookie(req, CS_SESSION_COOKIE, "", 0);
        if (wants_html(req))
                return cs_reply_redirect(req, 303, "/");
        doc = cJSON_CreateObject();
        cJSON_AddBoolToObject(doc, "ok", 1);
        return cs_reply_json(req, 200, doc);
}

int h_me(struct cs_req *req)
{
        struct cs_user u;
        struct cs_db *db = cs_req_db(req);
        cJSON *doc;
        int r;

        if (!db)
                return CS_EDB;
        r = cs_user_get(db, req->user_id, &u, &req->err);
        if (r < 0)
                return r;
        doc = cJSON_CreateObject();
        cJSON_AddNumberToObject(doc, "user_id", (double)u.id);
        cJSON_AddStringToObject(doc, "username", u.name);
        cJSON_AddStringToObject(doc, "email", u.email);
        cJSON_AddBoolToObject(doc, "is_admin", u.is_admin);
        cJSON_AddBoolToObject(doc, "scrub_location", u.scrub_location);
        cJSON_AddStringToObject(doc, "csrf_token", req->session.csrf);
        return cs_reply_json(req, 200, doc);
}

/* POST /api/account: scrub_location=0|1 (the script API's default) and/or a
 * password change (current_password + new_password: ends every session,
 * forgets cached credentials, and starts a fresh session here). */
int h_account_settings(struct cs_req *req)
{
        const char *scrub = cs_req_field(req, "scrub_location");
        const char *cur = cs_req_field(req, "current_password"), *npw = cs_req_field(req, "new_password");
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *db = cs_req_db(req);
        cJSON *doc;
        int r;

        if (!db)
                return CS_EDB;
        if (scrub) {
                if (strcmp(scrub, "0") != 0 && strcmp(scrub, "1") != 0)
                        return cs_reply_error(req, 400, "scrub_location must be 0 or 1");
                struct cs_db_param p[] = { CS_DB_BOOL(scrub[0] == '1'), CS_DB_I64(req->user_id) };
                r = cs_db_exec(db, "UPDATE users SET scrub_location = ? WHERE id = ?", p, CS_DB_N(p), NULL,
                               NULL, &req->err);
                if (r < 0)
                        return r;
        }
        if (npw) {
                struct cs_user u;
                struct cs_session s;
                if (!cur)
                        return cs_reply_error(req, 400, "current_password is required to change the password");
                if (cs_auth_is_throttled(req, req->username))
                        return cs_reply_error(req, 429, "too many failed attempts; try again later");
                r = cs_user_get(db, req->user_id, &u, &req->err);
                if (r < 0)
                        return r;
                if (cs_auth_password_verify(u.password_hash, cur, strlen(cur), &err) < 0) {
                        cs_auth_note_failure(req, req->username);
                        return cs_reply_error(req, 403, "current password is wrong");
                }
                r = cs_user_set_password(db, req->user_id, npw, &err);
                if (r == CS_EINVAL)
                        return cs_reply_error(req, 400, "%s", err.msg);
                if (r < 0)
                        return cs_err_set(&req->err, r, "%s", err.msg);
                cs_credcache_forget_user(req->app->credcache, req->user_id);
                cs_sesscache_forget_user(req->app->sesscache, req->user_id);
                r = start_session(req, db, req->user_id, &s);
                if (r < 0)
                        return r;
                cs_log_info("req=%s password changed user='%s'", req->id, req->username);
        }
        doc = cJSON_CreateObject();
        cJSON_AddBoolToObject(doc, "ok", 1);
        cJSON_AddStringToObject(doc, "csrf_token", req->session.csrf);
        return cs_reply_json(req, 200, doc);
}

int h_tokens_list(struct cs_req *req)
{
        struct cs_db_rows *rows = NULL;
        cJSON *doc, *arr;
        size_t i;
        int r;

        r = cs_req_query_user(req,
                              "SELECT id, name, DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%sZ'), "
                              "DATE_FORMAT(last_used_at, '%Y-%m-%dT%H:%i:%sZ') FROM api_tokens "
                              "WHERE user_id = ? AND revoked_at IS NULL ORDER BY id",
                              &rows);
        if (r < 0)
                return r;
        doc = cJSON_CreateObject();
        arr = cJSON_AddArrayToObject(doc, "tokens");
        for (i = 0; i < cs_db_rows_count(rows); i++) {
                cJSON *t = cJSON_CreateObject();
                const char *used = cs_db_rows_str(rows, i, 3);
                cJSON_AddNumberToObject(t, "id", (double)cs_db_rows_i64(rows, i, 0));
                cJSON_AddStringToObject(t, "name", cs_db_rows_str(rows, i, 1));
                cJSON_AddStringToObject(t, "created_at", cs_db_rows_str(rows, i, 2));
                if (used)
                        cJSON_AddStringToObject(t, "last_used_at", used);
                else
                        cJSON_AddNullToObject(t, "last_used_at");
                cJSON_AddItemToArray(arr, t);
        }
        cs_db_rows_free(rows);
        return cs_reply_json(req, 200, doc);
}

int h_tokens_create(struct cs_req *req)
{
        const char *name = cs_req_field(req, "name");
        char tok[CS_API_TOKEN_LEN + 1];
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *db = cs_req_db(req);
        cJSON *doc;
        int64_t id;
        int r;

        if (!db)
                return CS_EDB;
        if (name && !cs_text_ok(name))
                return cs_reply_error(req, 400, "token name must be UTF-8 text without control characters");
        r = cs_apitoken_create(db, req->user_id, name, tok, &id, &err);
        if (r == CS_EINVAL)
                return cs_reply_error(req, 400, "%s", err.msg);
        if (r < 0)
                return cs_err_set(&req->err, r, "%s", err.msg);
        doc = cJSON_CreateObject();
        cJSON_AddNumberToObject(doc, "id", (double)id);
        cJSON_AddStringToObject(doc, "name", name && *name ? name : "API token");
        cJSON_AddStringToObject(doc, "token", tok);
        memset(tok, 0, sizeof tok);
        return cs_reply_json(req, 201, doc);
}

int h_tokens_revoke(struct cs_req *req)
{
        struct cs_db *db = cs_req_db(req);
        cJSON *doc;
        int64_t id;
        int r;

        if (cs_req_i64_or_reply(req, "id", &id) < 0)
                return CS_OK;
        if (!db)
                return CS_EDB;
        r = cs_apitoken_revoke(db, req->user_id, id, &req->err);
        if (r < 0)
                return r;
        doc = cJSON_CreateObject();
        cJSON_AddBoolToObject(doc, "ok", 1);
        return cs_reply_json(req, 200, doc);
}
