/* h_ops.c - operations endpoints: GET /metrics (Prometheus text format) and
 * GET /api/admin/buffer (raw-buffer usage for admins, JSON).
 *
 * /metrics is for a scraper, not for users: with metrics_token set it wants
 * "Authorization: Bearer <metrics_token>" (401 otherwise); with it empty only
 * loopback clients (REMOTE_ADDR 127.0.0.1 / ::1) get it (403 otherwise).
 * nginx passes the real client address, so a remote scrape through nginx
 * needs the token. The database part (jobs by state, buffer bytes, worker
 * last-seen) is cached for METRICS_DB_TTL seconds so a scrape stays cheap
 * whatever the scrape interval and the number of scrapers. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>

#include "handlers.h"
#include "metrics.h"
#include "crowdsky/alloc.h"
#include "crowdsky/cleanup.h"
#include "crowdsky/log.h"
#include "crowdsky/str.h"

#define METRICS_DB_TTL 5
#define METRICS_MAX_WORKERS 1000

struct worker_seen {
        char name[101];
        double last_seen;       /* epoch seconds */
};

/* the cached database part; guarded by db_lock (only /metrics takes it) */
static pthread_mutex_t db_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t db_at;           /* cs_now() of the last refresh, 0 = never */
static bool db_ok;
static int64_t jobs_by_state[4];
static struct cs_buffer_usage buffer;
static struct worker_seen *workers;
static size_t nworkers;

static const char *const job_states[4] = { "pending", "processing", "completed", "failed" };

static bool loopback(const char *addr)
{
        return !strcmp(addr, "127.0.0.1") || !strcmp(addr, "::1") || !strcmp(addr, "::ffff:127.0.0.1");
}

/* Refreshes the cache from the database (db_lock held). */
static void refresh_db(struct cs_req *req)
{
        struct cs_db *db = cs_req_db(req);
        struct cs_db_rows *rows = NULL;
        struct cs_err err = CS_ERR_INIT;
        size_t i, k;
        int r;

        db_ok = false;
        if (!db)
                return;
        memset(jobs_by_state, 0, sizeof jobs_by_state);
        /* GROUP BY state walks the (state, ...) index: no table scan */
        r = cs_db_query(db, "SELECT state, COUNT(*) FROM stacking_jobs GROUP BY state", NULL, 0, &rows, &err);
        if (r < 0)
                goto fail;
        for (i = 0; i < cs_db_rows_count(rows); i++)
                for (k = 0; k < 4; k++)
                        if (!strcmp(cs_db_rows_str(rows, i, 0), job_states[k]))
                                jobs_by_state[k] = cs_db_rows_i64(rows, i, 1);
        rows = cs_db_rows_free(rows);
        r = cs_buffer_usage(db, &buffer, &err);
        if (r < 0)
                goto fail;
        r = cs_db_query(db,
                        "SELECT name, UNIX_TIMESTAMP(last_seen_at) FROM worker_tokens "
                        "WHERE revoked_at IS NULL AND last_seen_at IS NOT NULL ORDER BY name LIMIT 1000",
                        NULL, 0, &rows, &err);
        if (r < 0)
                goto fail;
        free(workers);
        nworkers = cs_db_rows_count(rows);
        workers = cs_xcalloc(nworkers + 1, sizeof *workers);
        for (i = 0; i < nworkers; i++) {
                snprintf(workers[i].name, sizeof workers[i].name, "%s", cs_db_rows_str(rows, i, 0));
                workers[i].last_seen = cs_db_rows_f64(rows, i, 1);
        }
        cs_db_rows_free(rows);
        db_ok = true;
        db_at = cs_now();
        return;
fail:
        cs_db_rows_free(rows);
        cs_log_warn("req=%s metrics: database part unavailable: %s", req->id, err.msg);
}

/* Prometheus label value: escape backslash, quote and newline. */
static int add_label_value(struct cs_buf *out, const char *s)
{
        int r = CS_OK;

        for (; *s && r == CS_OK; s++) {
                if (*s == '\\' || *s == '"')
                        r = cs_buf_addc(out, '\\') < 0 ? CS_ETOOBIG : cs_buf_addc(out, *s);
                else if (*s == '\n')
                        r = cs_buf_adds(out, "\\n");
                else
                        r = cs_buf_addc(out, *s);
        }
        return r;
}

static int render_db(struct cs_req *req, struct cs_buf *out)
{
        int64_t now = cs_now();
        size_t k;
        int r = CS_OK;

        pthread_mutex_lock(&db_lock);
        if (!db_at || now - db_at >= METRICS_DB_TTL || !db_ok)
                refresh_db(req);
        r |= cs_buf_printf(out, "# HELP crowdsky_db_up Whether the last database read of /metrics worked.\n"
                                "# TYPE crowdsky_db_up gauge\ncrowdsky_db_up %d\n", db_ok ? 1 : 0);
        if (db_ok) {
                r |= cs_buf_printf(out, "# HELP crowdsky_jobs Stacking jobs by state (cached %d s).\n"
                                        "# TYPE crowdsky_jobs gauge\n", METRICS_DB_TTL);
                for (k = 0; k < 4; k++)
                        r |= cs_buf_printf(out, "crowdsky_jobs{state=\"%s\"} %lld\n", job_states[k],
                                           (long long)jobs_by_state[k]);
                r |= cs_buf_printf(out,
                                   "# HELP crowdsky_buffer_bytes Bytes of raw frames held in the buffer (what the "
                                   "quota counts).\n# TYPE crowdsky_buffer_bytes gauge\ncrowdsky_buffer_bytes %lld\n"
                                   "# HELP crowdsky_buffer_files Raw frames held in the buffer.\n"
                                   "# TYPE crowdsky_buffer_files gauge\ncrowdsky_buffer_files %lld\n"
                                   "# HELP crowdsky_buffer_quota_bytes The configured buffer quota.\n"
                                   "# TYPE crowdsky_buffer_quota_bytes gauge\ncrowdsky_buffer_quota_bytes %lld\n"
                                   "# HELP crowdsky_upload_sessions_open Upload sessions not finalized yet.\n"
                                   "# TYPE crowdsky_upload_sessions_open gauge\ncrowdsky_upload_sessions_open %lld\n",
                                   (long long)buffer.used_bytes, (long long)buffer.files,
                                   (long long)req->app->cfg.buffer_quota_bytes, (long long)buffer.open_sessions);
                r |= cs_buf_printf(out, "# HELP crowdsky_worker_last_seen_seconds Seconds since a worker token "
                                        "was last used (recorded at most every 30 s).\n"
                                        "# TYPE crowdsky_worker_last_seen_seconds gauge\n");
                for (k = 0; k < nworkers && r == CS_OK; k++) {
                        double ago = (double)cs_now_us() / 1e6 - workers[k].last_seen;
                        r |= cs_buf_adds(out, "crowdsky_worker_last_seen_seconds{worker=\"");
                        r |= add_label_value(out, workers[k].name);
                        r |= cs_buf_printf(out, "\"} %.0f\n", ago < 0 ? 0.0 : ago);
                }
        }
        pthread_mutex_unlock(&db_lock);
        return r < 0 ? CS_ETOOBIG : CS_OK;
}

int h_metrics(struct cs_req *req)
{
        const char *tok = req->app->cfg.metrics_token;
        struct cs_buf out = CS_BUF_INIT(4 << 20);
        int r;

        if (tok[0]) {
                const char *h = cs_req_header(req, "Authorization");
                if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !cs_ct_equal(h + 7, strlen(h + 7), tok, strlen(tok))) {
                        cs_reply_header(req, "WWW-Authenticate", "Bearer realm=\"metrics\"");
                        return cs_reply_error(req, 401, "/metrics needs the metrics token (Authorization: Bearer)");
                }
        } else if (!loopback(req->client_addr)) {
                return cs_reply_error(req, 403, "/metrics is served to loopback clients only (set metrics_token "
                                                "to scrape from elsewhere)");
        }
        r = cs_metrics_render_requests(req->app, &out);
        if (r == CS_OK)
                r = render_db(req, &out);
        if (r < 0) {
                cs_buf_release(&out);
                return cs_err_set(&req->err, r, "metrics output too large");
        }
        r = cs_reply_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len);
        cs_buf_release(&out);
        return r;
}

/* GET /api/admin/buffer (session, admins only): what the quota counts and the
 * disk under buffer_dir. {used_bytes, quota_bytes, percent, files,
 * open_sessions, disk_free_bytes, disk_total_bytes, buffer_dir} */
int h_admin_buffer(struct cs_req *req)
{
        struct cs_db *db;
        struct cs_buffer_usage u;
        struct statvfs vfs;
        int64_t quota = req->app->cfg.buffer_quota_bytes;
        cJSON *doc;
        int r;

        if (!req->is_admin)
                return cs_reply_error(req, 403, "only administrators can see the buffer");
        db = cs_req_db(req);
        if (!db)
                return CS_EDB;
        r = cs_buffer_usage(db, &u, &req->err);
        if (r < 0)
                return r;
        doc = cJSON_CreateObject();
        cJSON_AddNumberToObject(doc, "used_bytes", (double)u.used_bytes);
        cJSON_AddNumberToObject(doc, "quota_bytes", (double)quota);
        cJSON_AddNumberToObject(doc, "percent", quota > 0 ? 100.0 * (double)u.used_bytes / (double)quota : 0.0);
        cJSON_AddNumberToObject(doc, "files", (double)u.files);
        cJSON_AddNumberToObject(doc, "open_sessions", (double)u.open_sessions);
        if (statvfs(req->app->cfg.buffer_dir, &vfs) == 0) {
                cJSON_AddNumberToObject(doc, "disk_free_bytes", (double)vfs.f_bavail * (double)vfs.f_frsize);
                cJSON_AddNumberToObject(doc, "disk_total_bytes", (double)vfs.f_blocks * (double)vfs.f_frsize);
        } else {
                cJSON_AddNullToObject(doc, "disk_free_bytes");
                cJSON_AddNullToObject(doc, "disk_total_bytes");
        }
        return cs_reply_json(req, 200, doc);
}
