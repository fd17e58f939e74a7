/* proxy.c - stacks and thumbnails streamed from WebDAV through the app. */
#include <stdio.h>
#include <string.h>

#include "handlers.h"
#include "proxy.h"
#include "crowdsky/log.h"
#include "crowdsky/webdav.h"

struct stream {
        struct cs_req *req;
        const char *content_type;
        const char *attachment;
};

static int s_begin(void *ud, int64_t length, const char *ctype)
{
        struct stream *s = ud;
        (void)ctype; /* ours is authoritative: a store may say octet-stream */

        if (s->attachment) {
                /* the name is a chunk key or an id: [0-9A-Za-z._+-] only, no quoting needed */
                cs_reply_header(s->req, "Content-Disposition", "attachment; filename=\"%s\"", s->attachment);
                cs_reply_header(s->req, "Cache-Control", "private, no-store");
        } else {
                cs_reply_header(s->req, "Cache-Control", "private, max-age=3600");
        }
        cs_reply_header(s->req, "X-Content-Type-Options", "nosniff");
        return cs_reply_begin(s->req, 200, s->content_type, length);
}

static int s_data(void *ud, const void *p, size_t n)
{
        struct stream *s = ud;
        /* a client that went away stops the transfer from WebDAV too */
        return cs_reply_write(s->req, p, n) == CS_OK ? CS_OK : CS_ECANCELLED;
}

/* A name safe inside a quoted header parameter. */
static void safe_name(const char *in, char *out, size_t n)
{
        size_t i, o = 0;

        for (i = 0; in[i] && o + 1 < n; i++) {
                char c = in[i];
                out[o++] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                            c == '.' || c == '_' || c == '+' || c == '-')
                                   ? c
                                   : '_';
        }
        out[o] = '\0';
}

int cs_proxy_webdav_path(struct cs_req *req, const char *path, const char *content_type,
                         const char *attachment_name)
{
        const struct cs_config *cfg = &req->app->cfg;
        struct cs_webdav_opts o = { 0 };
        struct cs_webdav *dav = NULL;
        struct cs_err err = CS_ERR_INIT;
        struct stream s = { req, content_type, NULL };
        char name[160];
        int r;

        if (attachment_name) {
                safe_name(attachment_name, name, sizeof name);
                s.attachment = name;
        }
        o.url = cfg->webdav_url;
        o.user = cfg->webdav_user;
        o.password = cfg->webdav_password;
        /* a person is waiting: two quick tries, not the worker's patience */
        o.max_attempts = 2;
        o.backoff_base_ms = 200;
        o.connect_timeout_s = 5;
        r = cs_webdav_new(&o, &dav, &err);
        if (r == CS_OK) {
                struct cs_webdav_sink sink = { s_begin, s_data, &s };
                r = cs_webdav_get(dav, path, &sink, &err);
        }
        cs_webdav_free(dav);
        if (r == CS_OK)
                return CS_OK;
        if (req->status) {
                /* bytes were sent: nothing to reply any more, only to log */
                cs_log_warn("req=%s proxy '%s' stopped after %lld bytes: %s", req->id, path,
                            (long long)req->bytes_out, err.msg);
                return CS_OK;
        }
        if (r == CS_ENOTFOUND) {
                cs_log_warn("req=%s proxy '%s': missing on WebDAV", req->id, path);
                return cs_reply_error(req, 404, "the file is missing from the stack store");
        }
        cs_log_error("req=%s proxy '%s': %s", req->id, path, err.msg);
        return cs_reply_error(req, 502, "the stack store is not reachable (request %s)", req->id);
}

/* Loads (webdav_path, thumbnail_path, chunk_key) of one of user_id's stacks. */
static int load_stack(struct cs_req *req, const char *sql, const struct cs_db_param *p, size_t n,
                      char *path, char *thumb, char *key)
{
        struct cs_db *db = cs_req_db(req);
        struct cs_db_rows *rows = NULL;
        int r;

        if (!db)
                return CS_EDB;
        r = cs_db_query(db, sql, p, n, &rows, &req->err);
        if (r < 0)
                return r;
        if (cs_db_rows_count(rows) == 0) {
                cs_db_rows_free(rows);
                return cs_err_set(&req->err, CS_ENOTFOUND, "no such stack");
        }
        snprintf(path, 512, "%s", cs_db_rows_str(rows, 0, 0));
        snprintf(thumb, 512, "%s", cs_db_rows_isnull(rows, 0, 1) ? "" : cs_db_rows_str(rows, 0, 1));
        snprintf(key, 64, "%s", cs_db_rows_str(rows, 0, 2));
        cs_db_rows_free(rows);
        return CS_OK;
}

int cs_proxy_stack_by_key(struct cs_req *req, int64_t user_id, const char *chunk_key)
{
        char path[512], thumb[512], key[64], name[80];
        int r;

        if (!chunk_key || !*chunk_key || strlen(chunk_key) > 32)
                return cs_reply_error(req, 400, "chunk_key is required");
        {
                struct cs_db_param p[] = { CS_DB_I64(user_id), CS_DB_STR(chunk_key) };
                r = load_stack(req,
                               "SELECT webdav_path, thumbnail_path, chunk_key FROM stacked_frames "
                               "WHERE user_id = ? AND chunk_key = ?",
                               p, CS_DB_N(p), path, thumb, key);
        }
        if (r == CS_ENOTFOUND)
                return cs_reply_error(req, 404, "you have no stack with chunk key '%s'", chunk_key);
        if (r < 0)
                return r;
        snprintf(name, sizeof name, "%s.fits", key);
        return cs_proxy_webdav_path(req, path, "application/fits", name);
}

/* The stack stack_id if user_id owns it (CS_ENOTFOUND if not): as load_stack. */
static int load_owned(struct cs_req *req, int64_t user_id, int64_t stack_id, char *path, char *thumb, char *key)
{
        struct cs_db_param p[] = { CS_DB_I64(stack_id), CS_DB_I64(user_id) };

        return load_stack(req,
                          "SELECT webdav_path, thumbnail_path, chunk_key FROM stacked_frames "
                          "WHERE id = ? AND user_id = ?",
                          p, CS_DB_N(p), path, thumb, key);
}

int cs_proxy_stack_by_id(struct cs_req *req, int64_t user_id, int64_t stack_id)
{
        char path[512], thumb[512], key[64], name[80];
        int r;

        r = load_owned(req, user_id, stack_id, path, thumb, key);
        if (r == CS_ENOTFOUND)
                return cs_reply_error(req, 404, "no such stack");
        if (r < 0)
                return r;
        snprintf(name, sizeof name, "%s.fits", key);
        return cs_proxy_webdav_path(req, path, "application/fits", name);
}

int cs_proxy_thumbnail(struct cs_req *req, int64_t user_id, int64_t stack_id)
{
        char path[512], thumb[512], key[64];
        int r;

        r = load_owned(req, user_id, stack_id, path, thumb, key);
        if (r == CS_ENOTFOUND)
                return cs_reply_error(req, 404, "no such stack");
        if (r < 0)
                return r;
        if (!thumb[0])
                return cs_reply_error(req, 404, "this stack has no thumbnail");
        return cs_proxy_webdav_path(req, thumb, "image/png", NULL);
}
