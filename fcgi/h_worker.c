/* h_worker.c - the worker API of SPEC section 6 (Bearer worker token) and the
 * script API's stack downloads (HTTP Basic).
 *
 *   GET  /api/next_job                 claim -> 200 {job...} | 204
 *   GET  /api/job_files?job_id=N       the claimed job's raw files
 *   GET  /api/download_raw?file_id=N   the bytes of one raw of a job this token holds
 *   POST /api/heartbeat                {job_id, lease, progress:{stage,done,total}}
 *   POST /api/complete_job             {job_id, lease, metadata:{...}}
 *   POST /api/fail_job                 {job_id, lease, error, retryable}
 *   GET  /api/download_stack?chunk_key=KEY, GET /api/thumbnail?id=N   (Basic)
 *
 * A lease that is not the job's current one is 409 and changes nothing. Bodies
 * are JSON; form fields with the same names are accepted too (metadata then as
 * a JSON string field). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handlers.h"
#include "memo.h"
#include "proxy.h"
#include "crowdsky/alloc.h"
#include "crowdsky/jobs.h"
#include "crowdsky/log.h"
#include "crowdsky/webdav.h"

/* ---- small helpers -------------------------------------------------------- */

/* The request's JSON object (JSON body, else the form fields as strings).
 * NULL after replying 400. Caller deletes. */
static cJSON *body_json(struct cs_req *req)
{
        cJSON *doc;
        size_t i;

        if (req->body.len) {
                doc = cJSON_ParseWithLength(req->body.data, req->body.len);
                if (!doc || !cJSON_IsObject(doc)) {
                        cJSON_Delete(doc);
                        cs_reply_error(req, 400, "the body must be a JSON object");
                        return NULL;
                }
                return doc;
        }
        doc = cJSON_CreateObject();
        for (i = 0; i < req->form.n; i++) {
                const struct cs_form_field *f = &req->form.fields[i];
                if (!strcmp(f->name, "metadata") || !strcmp(f->name, "progress")) {
                        cJSON *sub = cJSON_ParseWithLength(f->value, f->value_len);
                        if (!sub) {
                                cJSON_Delete(doc);
                                cs_reply_error(req, 400, "'%s' must be JSON", f->name);
                                return NULL;
                        }
                        cJSON_AddItemToObject(doc, f->name, sub);
                } else {
                        cJSON_AddStringToObject(doc, f->name, f->value);
                }
        }
        return doc;
}

/* An integer member (number or decimal string). */
static bool json_i64(const cJSON *o, const char *name, int64_t *ret)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

        if (cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble == (double)(int64_t)v->valuedouble) {
                *ret = (int64_t)v->valuedouble;
                return true;
        }
        if (cJSON_IsString(v) && cs_parse_i64_c(v->valuestring, ret) == CS_OK)
                return true;
        return false;
}

static bool json_f64(const cJSON *o, const char *name, double *ret)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

        if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) {
                *ret = v->valuedouble;
                return true;
        }
        if (cJSON_IsString(v) && cs_parse_f64_c(v->valuestring, ret) == CS_OK)
                return true;
        return false;
}

static const char *json_str(const cJSON *o, const char *name)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool json_bool(const cJSON *o, const char *name, bool dflt)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

        if (cJSON_IsBool(v))
                return cJSON_IsTrue(v);
        if (cJSON_IsNumber(v))
                return v->valuedouble != 0;
        if (cJSON_IsString(v))
                return !strcmp(v->valuestring, "1") || !strcmp(v->valuestring, "true");
        return dflt;
}

/* job_id + lease of a POST body, or a 400 reply (returns false). */
static bool job_and_lease(struct cs_req *req, const cJSON *doc, int64_t *ret_id, const char **ret_lease)
{
        const char *lease = json_str(doc, "lease");

        if (!json_i64(doc, "job_id", ret_id) || *ret_id <= 0) {
                cs_reply_error(req, 400, "job_id (a positive integer) is required");
                return false;
        }
        if (!lease || !*lease) {
                cs_reply_error(req, 400, "lease is required");
                return false;
        }
        *ret_lease = lease;
        return true;
}

static void policy(const struct cs_req *req, struct cs_jobs_policy *pol)
{
        cs_jobs_policy_from_config(&req->app->cfg, pol);
}

static struct cs_webdav *dav_open(struct cs_req *req, int attempts)
{
        const struct cs_config *cfg = &req->app->cfg;
        struct cs_webdav_opts o = { 0 };
        struct cs_webdav *dav = NULL;

        o.url = cfg->webdav_url;
        o.user = cfg->webdav_user;
        o.password = cfg->webdav_password;
        o.max_attempts = attempts;
        o.backoff_base_ms = 200;
        o.connect_timeout_s = 5;
        o.request_timeout_s = 20;
        if (cs_webdav_new(&o, &dav, &req->err) < 0)
                return NULL;
        return dav;
}

/* ---- GET /api/next_job ----------------------------------------------------- */

int h_next_job(struct cs_req *req)
{
        struct cs_db *db = cs_req_db(req);
        struct cs_jobs_policy pol;
        struct cs_job_claim c;
        cJSON *doc, *params;
        int r;

        if (!db)
                return CS_EDB;
        policy(req, &pol);
        r = cs_jobs_claim(db, &pol, req->worker_token_id, req->worker_name, &c, &req->err);
        if (r == CS_ENOTFOUND)
                return cs_reply_empty(req, 204);
        if (r < 0)
                return r;
        /* a new holder: a previous holder's remembered file list goes */
        cs_job_files_forget(c.job_id);
        doc = cJSON_CreateObject();
        cJSON_AddNumberToObject(doc, "job_id", (double)c.job_id);
        cJSON_AddStringToObject(doc, "kind", c.kind);
        cJSON_AddStringToObject(doc, "chunk_key", c.chunk_key);
        cJSON_AddStringToObject(doc, "object_name", c.object_name);
        cJSON_AddNumberToObject(doc, "frame_count", c.frame_count);
        cJSON_AddStringToObject(doc, "lease", c.lease);
        cJSON_AddNumberToObject(doc, "lease_seconds", c.lease_seconds);
        cJSON_AddNumberToObject(doc, "attempts", c.attempts);
        cJSON_AddNumberToObject(doc, "max_attempts", c.max_attempts);
        cJSON_AddStringToObject(doc, "user", c.username);
        cJSON_AddBoolToObject(doc, "scrub_location", c.scrub_location);
        cJSON_AddStringToObject(doc, "stack_path", c.stack_path);
        cJSON_AddStringToObject(doc, "thumbnail_path", c.thumbnail_path);
        params = c.params ? cJSON_Parse(c.params) : NULL;
        if (params)
                cJSON_AddItemToObject(doc, "params", params);
        cs_log_info("req=%s job=%lld claimed chunk='%s' kind=%s worker='%s' attempt=%d/%d", req->id,
                    (long long)c.job_id, c.chunk_key, c.kind, req->worker_name, c.attempts, c.max_attempts);
        cs_job_claim_release(&c);
        return cs_reply_json(req, 200, doc);
}

/* ---- GET /api/job_files ---------------------------------------------------- */

/* The job_files answer cache. A worker's job_files answer (the JSON body of a
 * 200) is remembered in this process for at most CS_JOB_FILES_CACHE_US, keyed
 * by (job id, worker token id), so repeated asks by the holder cost no query.
 * What it means:
 *   - Only a 200 is remembered, i.e. the holder check passed for that token
 *     when the query ran; the entry's clock starts BEFORE the query, so an
 *     answer is never served more than CS_JOB_FILES_CACHE_US after the
 *     database said "this token holds the job". Refusals (403/404) are never
 *     remembered: a new holder is answered from the database at once (its
 *     token is a different key anyway).
 *   - When this process changes who holds a job (a claim, complete_job,
 *     fail_job, a user's delete: cs_job_files_forget), the job's entry is
 *     dropped at once, and a query that was running meanwhile does not store
 *     its answer (the generation check below). A change made by another
 *     process (another responder pool, `crowdsky-fcgi cleanup` returning an
 *     expired lease, an admin's SQL) reaches this cache within
 *     CS_JOB_FILES_CACHE_US: for that long a worker that lost the job may
 *     still get the file LIST (names, sizes, hashes of the job's raws; only
 *     ever a worker token that held the job a moment ago).
 *   - It never gives data: GET /api/download_raw checks the holder in the
 *     database on every request, so a worker that lost its lease is refused
 *     the bytes at once, whatever this cache says.
 *   - Bounded memory: CACHE_SLOTS entries of at most CACHE_BODY_MAX bytes,
 *     direct-mapped by job id (two tokens of one job share a slot).
 * A worker asks for a job's files once per job, so in normal operation the
 * cache saves little; it absorbs retries and pollers of the same list. */
#define CACHE_SLOTS 64
#define CACHE_BODY_MAX (64 * 1024)

static struct cs_memo_entry files_entries[CACHE_SLOTS];
static struct cs_memo files_cache = CS_MEMO_INIT(files_entries);

void cs_job_files_forget(int64_t job_id)
{
        cs_memo_forget(&files_cache, job_id);
}

/* Row order of job_files: by observation time, then id. */
struct file_order {
        double obs_time;
        int64_t id;
        size_t row;
};

static int by_obs_time(const void *a, const void *b)
{
        const struct file_order *x = a, *y = b;

        if (x->obs_time != y->obs_time)
                return x->obs_time < y->obs_time ? -1 : 1;
        return (x->id > y->id) - (x->id < y->id);
}

int h_job_files(struct cs_req *req)
{
        struct cs_db *db = cs_req_db(req);
        struct cs_db_rows *rows = NULL;
        struct file_order *order = NULL;
        int64_t job_id, t0_us;
        uint64_t gen;
        cJSON *doc, *arr;
        char *body;
        size_t i, n = 0, len = 0;
        int r;

        if (cs_req_i64_or_reply(req, "job_id", &job_id) < 0)
                return CS_OK;
        body = cs_memo_get(&files_cache, job_id, req->worker_token_id, &len);
        if (body) {
                cs_reply_header(req, "Cache-Control", "no-store");
                r = cs_reply_text(req, 200, "application/json", body, len);
                free(body);
                return r;
        }
        if (!db)
                return CS_EDB;
        gen = cs_memo_gen(&files_cache);
        t0_us = cs_mono_us();
        {
                /* One round trip: the job row (for the holder check below,
                 * which cs_jobs_check_holder would make with a query of its
                 * own) and its files, which the join reads only when the job
                 * is processing and held by this token. A job without files
                 * still gives its one row (file columns NULL). The few rows
                 * are put in order here and date_obs is formatted here: an
                 * ORDER BY over the join costs the server a temporary table
                 * and a filesort, which measured ~40% of the query's CPU. */
                struct cs_db_param p[] = { CS_DB_I64(req->worker_token_id), CS_DB_I64(job_id) };
                r = cs_db_query(db,
                                "SELECT j.state, j.holder_token_id, j.chunk_key, f.id, f.original_filename, "
                                "f.size_bytes, f.sha256, f.date_obs, f.exptime, f.obs_time "
                                "FROM stacking_jobs j LEFT JOIN raw_files f ON f.job_id = j.id "
                                "AND j.state = 'processing' AND j.holder_token_id = ? "
                                "WHERE j.id = ?",
                                p, CS_DB_N(p), &rows, &req->err);
        }
        if (r < 0)
                return r;
        if (cs_db_rows_count(rows) == 0) {
                cs_db_rows_free(rows);
                return cs_err_set(&req->err, CS_ENOTFOUND, "no job %lld", (long long)job_id);
        }
        if (strcmp(cs_db_rows_str(rows, 0, 0), "processing") != 0 || cs_db_rows_isnull(rows, 0, 1) ||
            cs_db_rows_i64(rows, 0, 1) != req->worker_token_id) {
                cs_db_rows_free(rows);
                return cs_err_set(&req->err, CS_EFORBIDDEN, "job %lld is not held by this worker",
                                  (long long)job_id);
        }
        order = cs_xcalloc(cs_db_rows_count(rows), sizeof *order);
        for (i = 0; i < cs_db_rows_count(rows); i++) {
                if (cs_db_rows_isnull(rows, i, 3))
                        continue;
                order[n].obs_time = cs_db_rows_f64(rows, i, 9);
                order[n].id = cs_db_rows_i64(rows, i, 3);
                order[n].row = i;
                n++;
        }
        qsort(order, n, sizeof *order, by_obs_time);
        doc = cJSON_CreateObject();
        cJSON_AddNumberToObject(doc, "job_id", (double)job_id);
        cJSON_AddStringToObject(doc, "chunk_key", cs_db_rows_str(rows, 0, 2));
        arr = cJSON_AddArrayToObject(doc, "files");
        for (i = 0; i < n; i++) {
                size_t k = order[i].row;
                /* DATETIME(6) as text: "YYYY-MM-DD HH:MM:SS.ffffff" -> ISO 8601 with a 'T' */
                char date[40];
                cJSON *f = cJSON_CreateObject();

                snprintf(date, sizeof date, "%s", cs_db_rows_str(rows, k, 7) ? cs_db_rows_str(rows, k, 7) : "");
                if (strlen(date) > 10 && date[10] == ' ')
                        date[10] = 'T';
                cJSON_AddNumberToObject(f, "file_id", (double)cs_db_rows_i64(rows, k, 3));
                cJSON_AddStringToObject(f, "filename", cs_db_rows_str(rows, k, 4));
                cJSON_AddNumberToObject(f, "size", (double)cs_db_rows_i64(rows, k, 5));
                cJSON_AddStringToObject(f, "sha256", cs_db_rows_str(rows, k, 6));
                cJSON_AddStringToObject(f, "date_obs", date);
                if (cs_db_rows_isnull(rows, k, 8))
                        cJSON_AddNullToObject(f, "exptime");
                else
                        cJSON_AddNumberToObject(f, "exptime", cs_db_rows_f64(rows, k, 8));
                cJSON_AddItemToArray(arr, f);
        }
        free(order);
        cs_db_rows_free(rows);
        body = cJSON_PrintUnformatted(doc);
        cJSON_Delete(doc);
        if (!body)
                return cs_err_set(&req->err, CS_ENOMEM, "out of memory");
        len = strlen(body);
        if (len <= CACHE_BODY_MAX)
                cs_memo_put(&files_cache, job_id, req->worker_token_id, body, len, gen,
                            t0_us + CS_JOB_FILES_CACHE_US);
        cs_reply_header(req, "Cache-Control", "no-store");
        r = cs_reply_text(req, 200, "application/json", body, len);
        cJSON_free(body);
        return r;
}

/* ---- GET /api/download_raw ------------------------------------------------- */

int h_download_raw(struct cs_req *req)
{
        struct cs_db *db = cs_req_db(req);
        struct cs_db_rows *rows = NULL;
        char path[PATH_MAX];
        int64_t file_id, size;
        struct stat st;
        int fd = -1, r;

        if (cs_req_i64_or_reply(req, "file_id", &file_id) < 0)
                return CS_OK;
        if (!db)
                return CS_EDB;
        {
                struct cs_db_param p[] = { CS_DB_I64(file_id) };
                r = cs_db_query(db,
                                "SELECT r.size_bytes, s.token, j.state, j.holder_token_id, r.job_id "
                                "FROM raw_files r JOIN upload_sessions s ON s.id = r.session_id "
                                "LEFT JOIN stacking_jobs j ON j.id = r.job_id WHERE r.id = ?",
                                p, CS_DB_N(p), &rows, &req->err);
        }
        if (r < 0)
                return r;
        if (cs_db_rows_count(rows) == 0) {
                cs_db_rows_free(rows);
                return cs_reply_error(req, 404, "no raw file %lld", (long long)file_id);
        }
        /* only the raws of a job this token holds right now */
        if (cs_db_rows_isnull(rows, 0, 4) || !cs_db_rows_str(rows, 0, 2) ||
            strcmp(cs_db_rows_str(rows, 0, 2), "processing") != 0 ||
            cs_db_rows_i64(rows, 0, 3) != req->worker_token_id) {
                cs_db_rows_free(rows);
                return cs_reply_error(req, 403, "raw file %lld does not belong to a job this worker holds",
                                      (long long)file_id);
        }
        size = cs_db_rows_i64(rows, 0, 0);
        r = cs_raw_path(&req->app->cfg, cs_db_rows_str(rows, 0, 1), file_id, path, sizeof path);
        cs_db_rows_free(rows);
        if (r < 0)
                return cs_err_set(&req->err, r, "raw path too long");
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0 || st.st_size != size) {
                cs_log_error("req=%s raw file %lld at '%s' is missing or has the wrong size: %s", req->id,
                             (long long)file_id, path, fd < 0 ? strerror(errno) : "size differs");
                if (fd >= 0)
                        close(fd);
                return cs_reply_error(req, 410, "raw file %lld is missing from the buffer", (long long)file_id);
        }
        r = cs_reply_begin(req, 200, "application/fits", size);
        while (r == CS_OK) {
                ssize_t k = read(fd, req->w->iobuf, CS_IOBUF_SIZE);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        cs_log_error("req=%s read '%s': %s", req->id, path, strerror(errno));
                        break;
                }
                if (k == 0)
                        break;
                r = cs_reply_write(req, req->w->iobuf, (size_t)k);
        }
        close(fd);
        return CS_OK;
}

/* ---- POST /api/heartbeat ---------------------------------------------------- */

int h_heartbeat(struct cs_req *req)
{
        struct cs_db *db = cs_req_db(req);
        struct cs_jobs_policy pol;
        const cJSON *prog;
        const char *lease, *stage = NULL;
        int64_t job_id, done = -1, total = -1;
        cJSON *doc, *out;
        char stage_buf[33];
        int r;

        if (!db)
                return CS_EDB;
        doc = body_json(req);
        if (!doc)
                return CS_OK;
        if (!job_and_lease(req, doc, &job_id, &lease)) {
                cJSON_Delete(doc);
                return CS_OK;
        }
        prog = cJSON_GetObjectItemCaseSensitive(doc, "progress");
        if (cJSON_IsObject(prog)) {
                const char *s = json_str(prog, "stage");
                if (s) {
                        size_t i;
                        for (i = 0; s[i]; i++)
                                if (i >= 32 || !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                                                 (s[i] >= '0' && s[i] <= '9') || s[i] == ' ' || s[i] == '-' ||
                                                 s[i] == '_')) {
                                        cJSON_Delete(doc);
                                        return cs_reply_error(req, 400, "progress.stage: up to 32 letters, "
                                                                        "digits, spaces, '-' or '_'");
                                }
                        snprintf(stage_buf, sizeof stage_buf, "%s", s);
                        stage = stage_buf;
                }
                if (!json_i64(prog, "done", &done) || done < 0 || done > 1000000)
                        done = -1;
                if (!json_i64(prog, "total", &total) || total < 0 || total > 1000000)
                        total = -1;
        }
        policy(req, &pol);
        r = cs_jobs_heartbeat(db, &pol, job_id, req->worker_token_id, lease, stage, (int)done, (int)total,
                              &req->err);
        cJSON_Delete(doc);
        if (r < 0)
                return r;
        out = cJSON_CreateObject();
        cJSON_AddBoolToObject(out, "ok", 1);
        cJSON_AddNumberToObject(out, "lease_seconds", pol.lease_seconds);
        return cs_reply_json(req, 200, out);
}

/* ---- POST /api/complete_job ------------------------------------------------- */

/* What the server expects of the job: its store folder and whether the lease
 * is current. */
struct job_view {
        char state[16];
        char username[64];
        char chunk_key[40];
        bool lease_ok;
};

static int load_view(struct cs_req *req, struct cs_db *db, int64_t job_id, const char *lease,
                     struct job_view *v)
{
        struct cs_db_rows *rows = NULL;
        struct cs_db_param p[] = { CS_DB_I64(job_id) };
        const char *stored;
        int r;

        r = cs_db_query(db,
                        "SELECT j.state, u.username, j.chunk_key, j.lease_id FROM stacking_jobs j "
                        "JOIN users u ON u.id = j.user_id WHERE j.id = ?",
                        p, CS_DB_N(p), &rows, &req->err);
        if (r < 0)
                return r;
        if (cs_db_rows_count(rows) == 0) {
                cs_db_rows_free(rows);
                return cs_err_set(&req->err, CS_ENOTFOUND, "no job %lld", (long long)job_id);
        }
        snprintf(v->state, sizeof v->state, "%s", cs_db_rows_str(rows, 0, 0));
        snprintf(v->username, sizeof v->username, "%s", cs_db_rows_str(rows, 0, 1));
        snprintf(v->chunk_key, sizeof v->chunk_key, "%s", cs_db_rows_str(rows, 0, 2));
        stored = cs_db_rows_str(rows, 0, 3);
        v->lease_ok = stored && cs_ct_equal(stored, strlen(stored), lease, strlen(lease));
        cs_db_rows_free(rows);
        return CS_OK;
}

static void unlink_raws(struct cs_req *req, const struct cs_job_completion *c)
{
        char path[PATH_MAX], dir[PATH_MAX];
        int i;

        for (i = 0; i < c->n_raw; i++) {
                if (cs_raw_path(&req->app->cfg, c->raw_tokens[i], c->raw_ids[i], path, sizeof path) < 0)
                        continue;
                if (unlink(path) < 0 && errno != ENOENT)
                        cs_log_warn("req=%s unlink '%s': %s, ignoring", req->id, path, strerror(errno));
                /* the session folder goes when its last raw went */
                snprintf(dir, sizeof dir, "%s", path);
                {
                        char *slash = strrchr(dir, '/');
                        if (slash) {
                                *slash = '\0';
                                (void)rmdir(dir);
                        }
                }
        }
}

/* Deletes a replaced stack's files and folder on WebDAV (best effort). */
static void delete_old_stack(struct cs_req *req, struct cs_webdav *dav, const struct cs_job_completion *c)
{
        struct cs_err err = CS_ERR_INIT;
        char dir[512];
        char *slash;

        if (c->old_thumbnail_path && cs_webdav_delete(dav, c->old_thumbnail_path, 0, &err) < 0)
                cs_log_warn("req=%s delete old thumbnail: %s, ignoring", req->id, err.msg);
        if (!c->old_webdav_path)
                return;
        if (cs_webdav_delete(dav, c->old_webdav_path, 0, &err) < 0)
                cs_log_warn("req=%s delete old stack: %s, ignoring", req->id, err.msg);
        snprintf(dir, sizeof dir, "%s", c->old_webdav_path);
        slash = strrchr(dir, '/');
        /* stacks/<user>/<key>/<job>/stacked.fits: its job folder only */
        if (slash && !strncmp(dir, "stacks/", 7)) {
                *slash = '\0';
                if (cs_webdav_delete(dav, dir, 0, &err) < 0)
                        cs_log_warn("req=%s delete old stack folder: %s, ignoring", req->id, err.msg);
        }
}

int h_complete_job(struct cs_req *req)
{
        struct cs_db *db = cs_req_db(req);
        struct cs_jobs_policy pol;
        struct cs_job_result res;
        struct cs_job_completion done;
        struct cs_webdav *dav = NULL;
        struct job_view v;
        const cJSON *meta, *report;
        const char *lease;
        char stack_path[512], thumb_path[512], *report_text = NULL;
        int64_t job_id, size = -1, want = -1, thumb_size = -1, n;
        double x;
        cJSON *doc = NULL, *out;
        int r;

        memset(&done, 0, sizeof done);
        if (!db)
                return CS_EDB;
        doc = body_json(req);
        if (!doc)
                return CS_OK;
        if (!job_and_lease(req, doc, &job_id, &lease)) {
                r = CS_OK;
                goto out;
        }
        meta = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
        if (meta && !cJSON_IsObject(meta)) {
                r = cs_reply_error(req, 400, "metadata must be a JSON object");
                goto out;
        }
        r = load_view(req, db, job_id, lease, &v);
        if (r < 0)
                goto out;
        if (!v.lease_ok) {
                r = cs_err_set(&req->err, CS_ECONFLICT, "job %lld: lease is stale (the job was reclaimed or returned)",
                               (long long)job_id);
                goto out;
        }
        snprintf(stack_path, sizeof stack_path, "stacks/%s/%s/%lld/stacked.fits", v.username, v.chunk_key,
                 (long long)job_id);
        snprintf(thumb_path, sizeof thumb_path, "stacks/%s/%s/%lld/thumbnail.png", v.username, v.chunk_key,
                 (long long)job_id);

        memset(&res, 0, sizeof res);
        res.webdav_path = stack_path;
        res.n_frames_input = -1;
        res.total_exptime = -1;
        res.ra_deg = res.dec_deg = res.fwhm = NAN;
        if (meta) {
                const char *p = json_str(meta, "webdav_path");
                if (p && strcmp(p, stack_path) != 0) {
                        r = cs_reply_error(req, 400, "the stack of job %lld belongs at '%s', not '%s'",
                                           (long long)job_id, stack_path, p);
                        goto out;
                }
                if (json_i64(meta, "n_frames_input", &n) && n >= 0 && n <= 100000)
                        res.n_frames_input = (int)n;
                if (json_i64(meta, "n_frames_aligned", &n) && n >= 0 && n <= 100000)
                        res.n_frames_aligned = (int)n;
                if (json_f64(meta, "total_exptime", &x) && x >= 0)
                        res.total_exptime = x;
                if (json_f64(meta, "ra_deg", &x) && x >= 0 && x < 360)
                        res.ra_deg = x;
                if (json_f64(meta, "dec_deg", &x) && x >= -90 && x <= 90)
                        res.dec_deg = x;
                if (json_f64(meta, "fwhm", &x) && x > 0)
                        res.fwhm = x;
                if (json_i64(meta, "file_size_bytes", &n) && n > 0)
                        want = n;
                res.object_name = json_str(meta, "object_name");
                if (res.object_name && strlen(res.object_name) > 255)
                        res.object_name = NULL;
                res.date_obs_start = json_str(meta, "date_obs_start");
                res.date_obs_end = json_str(meta, "date_obs_end");
                report = cJSON_GetObjectItemCaseSensitive(meta, "report");
                if (report && (cJSON_IsObject(report) || cJSON_IsArray(report)))
                        report_text = cJSON_PrintUnformatted(report);
                res.report_json = report_text;
        }

        if (strcmp(v.state, "completed") != 0) {
                /* the raws go only once the stack is confirmed on WebDAV */
                struct cs_err derr = CS_ERR_INIT;
                dav = dav_open(req, 3);
                if (!dav) {
                        r = req->err.code;
                        goto out;
                }
                r = cs_webdav_stat(dav, stack_path, &size, &derr);
                if (r == CS_ENOTFOUND) {
                        r = cs_err_set(&req->err, CS_ECONFLICT, "job %lld: the stack is not on WebDAV at '%s'",
                                       (long long)job_id, stack_path);
                        goto out;
                }
                if (r < 0) {
                        r = cs_err_set(&req->err, CS_EREMOTE, "verifying the stack: %s", derr.msg);
                        goto out;
                }
                if (size <= 0 || (want > 0 && size != want)) {
                        r = cs_err_set(&req->err, CS_ECONFLICT,
                                       "job %lld: the stack on WebDAV has %lld bytes, the worker reported %lld",
                                       (long long)job_id, (long long)size, (long long)want);
                        goto out;
                }
                res.file_size_bytes = size;
                if (cs_webdav_stat(dav, thumb_path, &thumb_size, &derr) == CS_OK && thumb_size > 0)
                        res.thumbnail_path = thumb_path;
        }

        policy(req, &pol);
        r = cs_jobs_complete(db, &pol, job_id, req->worker_token_id, lease, &res, &done, &req->err);
        if (r < 0)
                goto out;
        cs_job_files_forget(job_id);
        cs_home_list_forget(); /* a published stack of this chunk may have been replaced */
        unlink_raws(req, &done);
        if (dav && (done.old_webdav_path || done.old_thumbnail_path))
                delete_old_stack(req, dav, &done);
        cs_log_info("req=%s job=%lld completed chunk='%s' stack=%lld bytes=%lld raws_deleted=%d%s", req->id,
                    (long long)job_id, v.chunk_key, (long long)done.stacked_id, (long long)size, done.n_raw,
                    done.already ? " (repeat)" : "");
        out = cJSON_CreateObject();
        cJSON_AddBoolToObject(out, "ok", 1);
        cJSON_AddNumberToObject(out, "job_id", (double)job_id);
        cJSON_AddNumberToObject(out, "stack_id", (double)done.stacked_id);
        cJSON_AddBoolToObject(out, "already", done.already);
        r = cs_reply_json(req, 200, out);
out:
        cs_job_completion_release(&done);
        cs_webdav_free(dav);
        cJSON_free(report_text);
        cJSON_Delete(doc);
        return r;
}

/* ---- POST /api/fail_job ----------------------------------------------------- */

int h_fail_job(struct cs_req *req)
{
        struct cs_db *db = cs_req_db(req);
        struct cs_jobs_policy pol;
        enum cs_job_state st = CS_JOB_FAILED;
        const char *lease, *error;
        int64_t job_id;
        bool retryable;
        cJSON *doc, *out;
        int r;

        if (!db)
                return CS_EDB;
        doc = body_json(req);
        if (!doc)
                return CS_OK;
        if (!job_and_lease(req, doc, &job_id, &lease)) {
                cJSON_Delete(doc);
                return CS_OK;
        }
        error = json_str(doc, "error");
        retryable = json_bool(doc, "retryable", false);
        policy(req, &pol);
        r = cs_jobs_fail(db, &pol, job_id, req->worker_token_id, lease, error, retryable, &st, &req->err);
        if (r == CS_OK)
                cs_job_files_forget(job_id);
        if (r == CS_OK)
                cs_log_info("req=%s job=%lld failed retryable=%d state=%s error='%.200s'", req->id,
                            (long long)job_id, retryable, cs_job_state_name(st), error ? error : "");
        cJSON_Delete(doc);
        if (r < 0)
                return r;
        out = cJSON_CreateObject();
        cJSON_AddBoolToObject(out, "ok", 1);
        cJSON_AddStringToObject(out, "state", cs_job_state_name(st));
        return cs_reply_json(req, 200, out);
}

/* ---- script API: downloads ------------------------------------------------- */

int h_download_stack(struct cs_req *req)
{
        return cs_proxy_stack_by_key(req, req->user_id, cs_req_arg(req, "chunk_key"));
}

int h_thumbnail(struct cs_req *req)
{
        int64_t id;

        if (cs_req_i64_or_reply(req, "id", &id) < 0)
                return CS_OK;
        return cs_proxy_thumbnail(req, req->user_id, id);
}
