/* page_archive.c - GET /stacks/archive.tar?ids=1,2,3: "download all" of the
 * sky map's selection as one tar (POSIX ustar) archive, streamed from WebDAV
 * file by file (never a whole FITS in memory). Session auth; only the user's
 * own stacks (ids of others are skipped like missing ones: no oracle).
 *
 * The sizes are taken from WebDAV first (HEAD/PROPFIND), so the reply has an
 * exact Content-Length and every tar header is right before its bytes flow;
 * a file that then arrives with another length ends the reply early (the
 * client sees a short download, never a silently corrupt archive). Members are
 * named <chunk_key>.fits (unique per user). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "pages.h"
#include "crowdsky/alloc.h"
#include "crowdsky/log.h"
#include "crowdsky/webdav.h"

#define ARCHIVE_MAX_IDS 500
#define TAR_BLOCK 512

struct member {
        char path[512];
        char name[64];
        int64_t size;
};

static void octal(char *field, size_t width, uint64_t v)
{
        /* width-1 octal digits, zero-padded, then NUL */
        field[width - 1] = '\0';
        for (size_t i = width - 1; i-- > 0;) {
                field[i] = (char)('0' + (v & 7));
                v >>= 3;
        }
}

static void tar_header(unsigned char h[TAR_BLOCK], const char *name, int64_t size, int64_t mtime)
{
        unsigned sum = 0;

        memset(h, 0, TAR_BLOCK);
        snprintf((char *)h, 100, "%s", name);
        octal((char *)h + 100, 8, 0644);
        octal((char *)h + 108, 8, 0);
        octal((char *)h + 116, 8, 0);
        octal((char *)h + 124, 12, (uint64_t)size);
        octal((char *)h + 136, 12, (uint64_t)mtime);
        memset(h + 148, ' ', 8);
        h[156] = '0';
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
        snprintf((char *)h + 265, 32, "crowdsky");
        snprintf((char *)h + 297, 32, "crowdsky");
        for (size_t i = 0; i < TAR_BLOCK; i++)
                sum += h[i];
        octal((char *)h + 148, 7, sum);
        h[155] = ' ';
}

/* "1,2,3" -> validated, normalised "1,2,3" (digits only). */
static int parse_ids(const char *s, char *out, size_t outsz, int *ret_n)
{
        size_t o = 0;
        int n = 0;

        if (!s || !*s)
                return CS_EINVAL;
        while (*s) {
                const char *start = s;
                while (*s >= '0' && *s <= '9')
                        s++;
                if (s == start || s - start > 18 || (*s && *s != ','))
                        return CS_EINVAL;
                if (++n > ARCHIVE_MAX_IDS || o + (size_t)(s - start) + 2 > outsz)
                        return CS_ETOOBIG;
                if (o)
                        out[o++] = ',';
                memcpy(out + o, start, (size_t)(s - start));
                o += (size_t)(s - start);
                if (*s == ',')
                        s++;
        }
        out[o] = '\0';
        *ret_n = n;
        return CS_OK;
}

struct sink_state {
        struct cs_req *req;
        int64_t expect, got;
};

static int s_begin(void *ud, int64_t length, const char *ctype)
{
        struct sink_state *s = ud;

        (void)ctype;
        if (length >= 0 && length != s->expect)
                return CS_ECONFLICT;
        return CS_OK;
}

static int s_data(void *ud, const void *p, size_t n)
{
        struct sink_state *s = ud;

        if (s->got + (int64_t)n > s->expect)
                return CS_ECONFLICT;
        s->got += (int64_t)n;
        return cs_reply_write(s->req, p, n) == CS_OK ? CS_OK : CS_ECANCELLED;
}

int page_stacks_archive(struct cs_req *req)
{
        const struct cs_config *cfg = &req->app->cfg;
        char ids[ARCHIVE_MAX_IDS * 20];
        struct cs_db *db = cs_req_db(req);
        struct cs_db_rows *rows = NULL;
        struct cs_webdav *dav = NULL;
        struct cs_webdav_opts o = { 0 };
        struct member *m = NULL;
        struct cs_err err = CS_ERR_INIT;
        size_t i, n = 0;
        int64_t total = 2 * TAR_BLOCK, now = cs_now();
        int nids = 0, r;

        r = parse_ids(cs_req_arg(req, "ids"), ids, sizeof ids, &nids);
        if (r == CS_ETOOBIG)
                return cs_reply_error(req, 413, "at most %d stacks per archive", ARCHIVE_MAX_IDS);
        if (r < 0)
                return cs_reply_error(req, 400, "ids must be a comma-separated list of stack ids");
        if (!db)
                return CS_EDB;
        {
                struct cs_db_param p[] = { CS_DB_I64(req->user_id), CS_DB_STR(ids) };
                r = cs_db_query(db,
                                "SELECT webdav_path, chunk_key FROM stacked_frames "
                                "WHERE user_id = ? AND FIND_IN_SET(id, ?) ORDER BY date_obs_start, id",
                                p, CS_DB_N(p), &rows, &req->err);
        }
        if (r < 0)
                return r;
        if (cs_db_rows_count(rows) == 0) {
                cs_db_rows_free(rows);
                return cs_reply_error(req, 404, "none of these stacks is yours");
        }
        n = cs_db_rows_count(rows);
        m = cs_alloc_array(n, sizeof *m, 1);
        if (!m) {
                cs_db_rows_free(rows);
                return cs_err_set(&req->err, CS_ENOMEM, "archive list");
        }
        for (i = 0; i < n; i++) {
                snprintf(m[i].path, sizeof m[i].path, "%s", cs_db_rows_str(rows, i, 0));
                snprintf(m[i].name, sizeof m[i].name, "%s.fits", cs_db_rows_str(rows, i, 1));
        }
        rows = cs_db_rows_free(rows);

        o.url = cfg->webdav_url;
        o.user = cfg->webdav_user;
        o.password = cfg->webdav_password;
        o.max_attempts = 2;
        o.backoff_base_ms = 200;
        o.connect_timeout_s = 5;
        r = cs_webdav_new(&o, &dav, &err);
        for (i = 0; r == CS_OK && i < n; i++) {
                r = cs_webdav_stat(dav, m[i].path, &m[i].size, &err);
                if (r == CS_OK)
                        total += TAR_BLOCK + (m[i].size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
        }
        if (r < 0) {
                cs_log_error("req=%s archive: %s", req->id, err.msg);
                r = r == CS_ENOTFOUND ? cs_reply_error(req, 404, "a stack file is missing from the store")
                                      : cs_reply_error(req, 502, "the stack store is not reachable (request %s)", req->id);
                goto out;
        }
        cs_reply_header(req, "Content-Disposition", "attachment; filename=\"crowdsky-stacks-%zu.tar\"", n);
        cs_reply_header(req, "Cache-Control", "private, no-store");
        r = cs_reply_begin(req, 200, "application/x-tar", total);
        if (req->head_only)
                goto out; /* headers only: fetch nothing from WebDAV */
        for (i = 0; r == CS_OK && i < n; i++) {
                unsigned char h[TAR_BLOCK];
                struct sink_state st = { req, m[i].size, 0 };
                struct cs_webdav_sink sink = { s_begin, s_data, &st };
                tar_header(h, m[i].name, m[i].size, now);
                r = cs_reply_write(req, h, TAR_BLOCK);
                if (r == CS_OK)
                        r = cs_webdav_get(dav, m[i].path, &sink, &err);
                if (r == CS_OK && st.got != m[i].size)
                        r = cs_err_set(&err, CS_ECONFLICT, "'%s' changed size", m[i].path);
                if (r == CS_OK && m[i].size % TAR_BLOCK) {
                        memset(h, 0, TAR_BLOCK);
                        r = cs_reply_write(req, h, (size_t)(TAR_BLOCK - m[i].size % TAR_BLOCK));
                }
        }
        if (r == CS_OK) {
                unsigned char z[2 * TAR_BLOCK];
                memset(z, 0, sizeof z);
                r = cs_reply_write(req, z, sizeof z);
        }
        if (r < 0)
                cs_log_warn("req=%s archive stopped after %lld bytes: %s", req->id, (long long)req->bytes_out,
                            err.msg[0] ? err.msg : "client went away");
        r = CS_OK; /* the reply has begun: nothing more to say */
        cs_log_info("req=%s archive user='%s' stacks=%zu bytes=%lld", req->id, req->username, n, (long long)total);
out:
        cs_webdav_free(dav);
        free(m);
        return r;
}
