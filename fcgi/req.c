/* req.c - request helpers: parameters, headers, arguments, cookies, body
 * reading with caps, the per-thread database handle. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "crowdsky/log.h"

const char *cs_req_param(const struct cs_req *req, const char *name)
{
        return FCGX_GetParam(name, req->fx->envp);
}

const char *cs_req_header(const struct cs_req *req, const char *name)
{
        char key[128] = "HTTP_";
        size_t i, n = strlen(name);

        if (n + 6 > sizeof key)
                return NULL;
        for (i = 0; i < n; i++)
                key[5 + i] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
        key[5 + n] = '\0';
        return FCGX_GetParam(key, req->fx->envp);
}

const char *cs_req_arg(const struct cs_req *req, const char *name)
{
        return cs_form_get_text(&req->args, name);
}

const char *cs_req_field(const struct cs_req *req, const char *name)
{
        return cs_form_get_text(&req->form, name);
}

const char *cs_req_value(const struct cs_req *req, const char *name)
{
        const char *v = cs_req_field(req, name);

        return v ? v : cs_req_arg(req, name);
}

int cs_req_i64_or_reply(struct cs_req *req, const char *name, int64_t *ret)
{
        const char *v = cs_req_value(req, name);
        int64_t x;

        if (!v || !*v) {
                cs_reply_error(req, 400, "missing parameter '%s'", name);
                return CS_EINVAL;
        }
        if (cs_parse_i64_c(v, &x) < 0) {
                cs_reply_error(req, 400, "parameter '%s' must be an integer", name);
                return CS_EINVAL;
        }
        *ret = x;
        return CS_OK;
}

bool cs_req_cookie(const struct cs_req *req, const char *name, char *out, size_t outsz)
{
        struct cs_str v;

        if (!cs_cookie_find(cs_req_param(req, "HTTP_COOKIE"), name, &v))
                return false;
        return cs_str_copy(v, out, outsz);
}

struct cs_db *cs_req_db(struct cs_req *req)
{
        struct cs_worker *w = req->w;

        if (!w->db) {
                struct cs_err err = CS_ERR_INIT;
                w->db = cs_db_open(&req->app->cfg, &err);
                if (!w->db) {
                        cs_log_error("req=%s thread=%d database connect failed: %s", req->id, w->index,
                                     err.msg);
                        cs_err_set(&req->err, CS_EDB, "database unavailable: %s", err.msg);
                        return NULL;
                }
        }
        /* a transaction a previous handler left open is not ours to continue */
        if (cs_db_in_transaction(w->db))
                cs_db_rollback(w->db, NULL);
        return w->db;
}

int64_t cs_req_body_cap(const struct cs_req *req)
{
        int64_t cap = req->route ? req->route->body_max : 0;

        /* CS_BODY_UPLOAD (-1): the configured file cap plus room for the multipart framing */
        if (cap < 0)
                cap = req->app->cfg.max_upload_bytes + 64 * 1024;
        return cap;
}

long cs_req_read(struct cs_req *req, char *buf, size_t n)
{
        int64_t cap = cs_req_body_cap(req);
        int k;

        if (req->body_read >= cap) {
                /* at the cap: one more byte means too big */
                char probe;
                if (FCGX_GetStr(&probe, 1, req->fx->in) <= 0)
                        return 0;
                return CS_ETOOBIG;
        }
        if ((int64_t)n > cap - req->body_read)
                n = (size_t)(cap - req->body_read);
        if (n > (1u << 30))
                n = 1u << 30;
        k = FCGX_GetStr(buf, (int)n, req->fx->in);
        if (k < 0)
                return CS_EIO;
        if (k == 0 && FCGX_GetError(req->fx->in) != 0)
                return CS_EIO;
        req->body_read += k;
        return k;
}

bool cs_req_csrf_check(struct cs_req *req, const char *token)
{
        req->csrf_ok = req->has_session && cs_session_csrf_ok(&req->session, token);
        return req->csrf_ok;
}

int64_t cs_now(void)
{
        return (int64_t)time(NULL);
}

static int64_t clock_us(clockid_t id)
{
        struct timespec ts;

        clock_gettime(id, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t cs_now_us(void)
{
        return clock_us(CLOCK_REALTIME);
}

int64_t cs_mono_us(void)
{
        return clock_us(CLOCK_MONOTONIC);
}

int cs_req_query_user(struct cs_req *req, const char *sql, struct cs_db_rows **ret_rows)
{
        struct cs_db *db = cs_req_db(req);
        struct cs_db_param p[] = { CS_DB_I64(req->user_id) };

        if (!db)
                return CS_EDB;
        return cs_db_query(db, sql, p, CS_DB_N(p), ret_rows, &req->err);
}
