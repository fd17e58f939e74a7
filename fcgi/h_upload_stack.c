/* h_upload_stack.c - POST /api/upload_stack (HTTP Basic): a stack made on the
 * telescope. The FITS is streamed into the raw buffer (its header checked as
 * it arrives: DATE-OBS, RA, DEC, sizes), recorded as the one raw file of an
 * upload session of its own, and queued as a job of kind 'upload_stack'. A
 * worker then validates the pixels, writes the thumbnail, stores both on
 * WebDAV and completes it, so it is listed like any other stack.
 *
 * Fields: file (required), thumbnail (optional; accepted but not kept: the
 * worker draws every thumbnail with the same stretch), n_frames_input,
 * n_frames_aligned, date_obs_start, date_obs_end, scrub_location (0/1).
 * Reply: {ok, job_id, chunk_key, status: "queued"}. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handlers.h"
#include "crowdsky/alloc.h"
#include "crowdsky/chunkkey.h"
#include "crowdsky/fits.h"
#include "crowdsky/jobs.h"
#include "crowdsky/log.h"
#include "crowdsky/multipart.h"
#include "crowdsky/rand.h"

#define THUMB_MAX (8 << 20)

struct upstack {
        struct cs_req *req;
        char token[CS_AUTH_HEX];   /* the session folder's token */
        char dir[PATH_MAX];
        char tmp_path[PATH_MAX];
        char filename[256];
        int fd;
        int part;                  /* 0 none, 1 file, 2 thumbnail, 3 field */
        int nfiles;
        bool file_done;
        uint64_t size, thumb_size;
        int64_t max_file;
        struct cs_sha256 *sha;
        struct cs_fits_reader *fits;
        struct cs_fits_info info;
        char sha_hex[CS_AUTH_HEX];
        int http;
        char msg[300];
};

static int refuse(struct upstack *u, int http, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(struct upstack *u, int http, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(u->msg, sizeof u->msg, fmt, ap);
        va_end(ap);
        u->http = http;
        return CS_ECANCELLED;
}

static int file_begin(struct upstack *u, const struct cs_multipart_part *part)
{
        const char *base = part->filename, *dot;
        char rnd[17];
        int r;

        if (!strcmp(part->name, "thumbnail")) {
                u->part = 2;
                return CS_OK;
        }
        if (strcmp(part->name, "file") != 0)
                return refuse(u, 400, "unexpected file field '%s' (expected 'file')", part->name);
        if (++u->nfiles > 1)
                return refuse(u, 400, "one stack per request");
        {
                const char *s1 = strrchr(base, '/'), *s2 = strrchr(base, '\\');
                if (s1 || s2)
                        base = (s1 > s2 ? s1 : s2) + 1;
        }
        snprintf(u->filename, sizeof u->filename, "%s", *base ? base : "stack.fits");
        dot = strrchr(u->filename, '.');
        if (!dot || (strcasecmp(dot, ".fit") && strcasecmp(dot, ".fits")))
                return refuse(u, 400, "'%s': only .fit and .fits files are accepted", u->filename);
        r = cs_random_hex(u->token, 32, &u->req->err);
        if (r < 0)
                return r;
        if ((size_t)snprintf(u->dir, sizeof u->dir, "%s/sess_%s", u->req->app->cfg.buffer_dir, u->token) >=
            sizeof u->dir - 40)
                return cs_err_set(&u->req->err, CS_EIO, "buffer_dir path too long");
        if (mkdir(u->dir, 0700) < 0 && errno != EEXIST)
                return cs_err_set(&u->req->err, CS_EIO, "mkdir '%s': %s", u->dir, strerror(errno));
        r = cs_random_hex(rnd, 8, &u->req->err);
        if (r < 0)
                return r;
        if ((size_t)snprintf(u->tmp_path, sizeof u->tmp_path, "%s/.incoming-%s", u->dir, rnd) >=
            sizeof u->tmp_path) {
                u->tmp_path[0] = '\0';
                return cs_err_set(&u->req->err, CS_EIO, "buffer_dir path too long");
        }
        u->fd = open(u->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (u->fd < 0) {
                u->tmp_path[0] = '\0';
                return cs_err_set(&u->req->err, CS_EIO, "create in '%s': %s", u->dir, strerror(errno));
        }
        u->sha = cs_sha256_new();
        u->fits = cs_fits_reader_new();
        u->part = 1;
        return CS_OK;
}

static int on_begin(void *ud, const struct cs_multipart_part *part, struct cs_err *err)
{
        struct upstack *u = ud;

        (void)err;
        if (part->has_filename)
                return file_begin(u, part);
        u->part = 3;
        return cs_form_add(&u->req->form, part->name, strlen(part->name), "", 0, &u->req->err) < 0
                       ? refuse(u, 413, "form fields too large")
                       : CS_OK;
}

static int on_data(void *ud, const char *p, size_t n, struct cs_err *err)
{
        struct upstack *u = ud;
        struct cs_err ferr = CS_ERR_INIT;
        int r;

        (void)err;
        if (u->part == 3) {
                struct cs_form *f = &u->req->form;
                struct cs_form_field *fld = &f->fields[f->n - 1];
                if (n > f->max_bytes - f->bytes)
                        return refuse(u, 413, "form fields too large");
                fld->value = cs_xrealloc(fld->value, fld->value_len + n + 1);
                memcpy(fld->value + fld->value_len, p, n);
                fld->value_len += n;
                fld->value[fld->value_len] = '\0';
                f->bytes += n;
                return CS_OK;
        }
        if (u->part == 2) {
                u->thumb_size += n;
                return u->thumb_size > THUMB_MAX ? refuse(u, 413, "the thumbnail is larger than %d bytes", THUMB_MAX)
                                                 : CS_OK;
        }
        if (u->part != 1)
                return CS_OK;
        u->size += n;
        if (u->size > (uint64_t)u->max_file)
                return refuse(u, 413, "'%s' is larger than %lld bytes", u->filename, (long long)u->max_file);
        r = cs_fits_reader_feed(u->fits, p, n, &ferr);
        if (r < 0)
                return refuse(u, r == CS_ETOOBIG ? 413 : 400, "'%s': %s", u->filename, ferr.msg);
        cs_sha256_update(u->sha, p, n);
        while (n) {
                ssize_t k = write(u->fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == ENOSPC || errno == EDQUOT)
                                return refuse(u, 507, "the raw-frame buffer disk is full");
                        return cs_err_set(&u->req->err, CS_EIO, "write '%s': %s", u->tmp_path, strerror(errno));
                }
                p += k;
                n -= (size_t)k;
        }
        return CS_OK;
}

static int on_end(void *ud, struct cs_err *err)
{
        struct upstack *u = ud;
        struct cs_err ferr = CS_ERR_INIT;
        int r;

        (void)err;
        if (u->part != 1) {
                u->part = 0;
                return CS_OK;
        }
        u->part = 0;
        r = cs_fits_reader_finish(u->fits, CS_FITS_SIZE_FED, &u->info, &ferr);
        if (r < 0)
                return refuse(u, r == CS_ETOOBIG ? 413 : 400, "'%s': %s", u->filename, ferr.msg);
        if (u->info.naxis == 3 && u->info.naxes[2] != 3 && u->info.naxes[2] != 1)
                return refuse(u, 400, "'%s': a stack has 1 or 3 planes, not %lld", u->filename,
                              (long long)u->info.naxes[2]);
        cs_sha256_final_hex(u->sha, u->sha_hex);
        if (close(u->fd) < 0) {
                u->fd = -1;
                return cs_err_set(&u->req->err, CS_EIO, "close '%s': %s", u->tmp_path, strerror(errno));
        }
        u->fd = -1;
        u->file_done = true;
        return CS_OK;
}

static int stream_body(struct upstack *u)
{
        static const struct cs_multipart_cb cb = { on_begin, on_data, on_end };
        struct cs_multipart_limits lim = { 8192, 16 };
        struct cs_req *req = u->req;
        struct cs_multipart *mp = NULL;
        struct cs_err perr = CS_ERR_INIT;
        int r;

        r = cs_multipart_new(req->content_type, &cb, u, &lim, &mp, &perr);
        if (r < 0)
                return refuse(u, 400, "%s", perr.msg);
        for (;;) {
                long k = cs_req_read(req, req->w->iobuf, CS_IOBUF_SIZE);
                if (k == 0)
                        break;
                if (k == CS_ETOOBIG) {
                        r = refuse(u, 413, "request body too large");
                        break;
                }
                if (k < 0) {
                        r = cs_err_set(&req->err, CS_EIO, "reading the request body failed");
                        break;
                }
                r = cs_multipart_feed(mp, req->w->iobuf, (size_t)k, &perr);
                if (r < 0)
                        break;
        }
        if (r == CS_OK)
                r = cs_multipart_finish(mp, &perr);
        cs_multipart_free(mp);
        if (r < 0 && !u->http && !req->err.code)
                r = refuse(u, cs_http_status_of(r) == 413 ? 413 : 400, "%s", perr.msg);
        return r;
}

/* The optional numeric/date fields, checked, as the job's params. */
static int params_json(struct upstack *u, char **ret)
{
        static const char *ints[] = { "n_frames_input", "n_frames_aligned" };
        static const char *dates[] = { "date_obs_start", "date_obs_end" };
        cJSON *o = cJSON_CreateObject();
        size_t i;

        for (i = 0; i < 2; i++) {
                const char *v = cs_form_get_text(&u->req->form, ints[i]);
                int64_t x;
                if (!v || !*v)
                        continue;
                if (cs_parse_i64_c(v, &x) < 0 || x < 0 || x > 100000) {
                        cJSON_Delete(o);
                        return refuse(u, 400, "%s must be an integer from 0 to 100000", ints[i]);
                }
                cJSON_AddNumberToObject(o, ints[i], (double)x);
        }
        for (i = 0; i < 2; i++) {
                const char *v = cs_form_get_text(&u->req->form, dates[i]);
                char norm[32];
                double t;
                if (!v || !*v)
                        continue;
                if (cs_fits_parse_datetime(v, &t, norm) < 0) {
                        cJSON_Delete(o);
                        return refuse(u, 400, "%s must be an ISO date-time (YYYY-MM-DDTHH:MM:SS)", dates[i]);
                }
                cJSON_AddStringToObject(o, dates[i], norm);
        }
        cJSON_AddStringToObject(o, "filename", u->filename);
        cJSON_AddBoolToObject(o, "thumbnail_uploaded", u->thumb_size > 0);
        *ret = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        return CS_OK;
}

/* Session + raw row + job in one transaction; the file is renamed into place
 * first so a committed row always has its file. */
static int store(struct upstack *u, struct cs_db *db, const char *params, int scrub, int64_t *ret_job,
                 char key[CS_CHUNKKEY_MAX])
{
        struct cs_req *req = u->req;
        struct cs_fits_info *fi = &u->info;
        struct cs_err kerr = CS_ERR_INIT;
        char final_path[PATH_MAX];
        uint64_t sid = 0, fid = 0, jid = 0;
        int64_t used = 0;
        int r;

        r = cs_chunkkey_format(fi->obs_time, fi->ra, fi->dec, key, &kerr);
        if (r < 0)
                return refuse(u, 400, "'%s': %s", u->filename, kerr.msg);
        r = cs_db_query_i64(db,
                            "SELECT COALESCE(SUM(r.size_bytes), 0) FROM raw_files r "
                            "LEFT JOIN stacking_jobs j ON j.id = r.job_id "
                            "WHERE j.id IS NULL OR j.state <> 'completed'",
                            NULL, 0, &used, &req->err);
        if (r < 0)
                return r;
        if (used + (int64_t)u->size > req->app->cfg.buffer_quota_bytes)
                return refuse(u, 507, "the raw-frame buffer is full (quota %lld bytes); try again later",
                              (long long)req->app->cfg.buffer_quota_bytes);
        r = cs_db_begin(db, &req->err);
        if (r < 0)
                return r;
        {
                struct cs_db_param p[] = { CS_DB_STR(u->token), CS_DB_I64(req->user_id), CS_DB_I64(u->size) };
                r = cs_db_exec(db,
                               "INSERT INTO upload_sessions (token, user_id, state, n_files, bytes, finalized_at) "
                               "VALUES (?, ?, 'finalized', 1, ?, UTC_TIMESTAMP(6))",
                               p, CS_DB_N(p), NULL, &sid, &req->err);
        }
        if (r == CS_OK) {
                struct cs_db_param p[] = {
                        CS_DB_I64(req->user_id), CS_DB_I64(sid), CS_DB_STR(key),
                        fi->object[0] ? CS_DB_STR(fi->object) : CS_DB_NULL, CS_DB_BOOL(scrub), CS_DB_STR(params),
                        CS_DB_I64(req->app->cfg.max_attempts),
                };
                r = cs_db_exec(db,
                               "INSERT INTO stacking_jobs (user_id, kind, session_id, chunk_key, object_name, "
                               "frame_count, scrub_location, overwrite, params, max_attempts) "
                               "VALUES (?, 'upload_stack', ?, ?, ?, 1, ?, 1, ?, ?)",
                               p, CS_DB_N(p), NULL, &jid, &req->err);
        }
        if (r == CS_OK) {
                struct cs_db_param p[] = {
                        CS_DB_I64(sid), CS_DB_I64(req->user_id), CS_DB_I64(jid), CS_DB_STR(u->filename),
                        CS_DB_I64(u->size), CS_DB_STR(u->sha_hex), CS_DB_STR(fi->date_obs), CS_DB_F64(fi->obs_time),
                        CS_DB_F64(fi->ra), CS_DB_F64(fi->dec),
                        fi->has_exptime ? CS_DB_F64(fi->exptime) : CS_DB_NULL,
                        fi->object[0] ? CS_DB_STR(fi->object) : CS_DB_NULL,
                        CS_DB_I64(fi->width), CS_DB_I64(fi->height), CS_DB_STR(key),
                        !scrub && fi->has_site ? CS_DB_F64(fi->sitelat) : CS_DB_NULL,
                        !scrub && fi->has_site ? CS_DB_F64(fi->sitelong) : CS_DB_NULL,
                };
                r = cs_db_exec(db,
                               "INSERT INTO raw_files (session_id, user_id, job_id, original_filename, size_bytes, "
                               "sha256, date_obs, obs_time, ra_deg, dec_deg, exptime, object_name, width, height, "
                               "chunk_key, site_lat, site_long) "
                               "VALUES (?, ?, ?, ?, ?, ?, REPLACE(?, 'T', ' '), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               p, CS_DB_N(p), NULL, &fid, &req->err);
        }
        if (r == CS_OK) {
                r = cs_raw_path(&req->app->cfg, u->token, (int64_t)fid, final_path, sizeof final_path);
                if (r == CS_OK && rename(u->tmp_path, final_path) < 0)
                        r = cs_err_set(&req->err, CS_EIO, "rename to '%s': %s", final_path, strerror(errno));
        }
        if (r == CS_OK) {
                r = cs_db_commit(db, &req->err);
                if (r < 0)
                        (void)unlink(final_path);
                else
                        u->tmp_path[0] = '\0';
        }
        if (r < 0) {
                cs_db_rollback(db, NULL);
                return r;
        }
        cs_jobs_queue_changed(); /* a new job: idle pollers look again */
        *ret_job = (int64_t)jid;
        return CS_OK;
}

int h_upload_stack(struct cs_req *req)
{
        struct upstack u;
        struct cs_db *db = cs_req_db(req);
        const char *scrub_s;
        char key[CS_CHUNKKEY_MAX] = "", *params = NULL;
        int64_t job_id = 0;
        int scrub = 1, r;
        cJSON *doc;

        if (!db)
                return CS_EDB;
        memset(&u, 0, sizeof u);
        u.req = req;
        u.fd = -1;
        u.max_file = req->app->cfg.max_upload_bytes;
        r = stream_body(&u);
        if (r == CS_OK && !u.file_done)
                r = refuse(&u, 400, "no 'file' part with the stack");
        if (r == CS_OK) {
                scrub_s = cs_form_get_text(&req->form, "scrub_location");
                if (scrub_s && strcmp(scrub_s, "0") && strcmp(scrub_s, "1")) {
                        r = refuse(&u, 400, "scrub_location must be 0 or 1");
                } else if (scrub_s) {
                        scrub = scrub_s[0] == '1';
                } else {
                        struct cs_user usr;
                        r = cs_user_get(db, req->user_id, &usr, &req->err);
                        scrub = r == CS_OK ? usr.scrub_location : 1;
                }
        }
        if (r == CS_OK)
                r = params_json(&u, &params);
        if (r == CS_OK)
                r = store(&u, db, params, scrub, &job_id, key);

        if (u.fd >= 0)
                close(u.fd);
        if (u.tmp_path[0] && unlink(u.tmp_path) < 0 && errno != ENOENT)
                cs_log_warn("req=%s unlink '%s': %s", req->id, u.tmp_path, strerror(errno));
        if (r < 0 && u.dir[0])
                (void)rmdir(u.dir); /* nothing of a refused upload is kept */
        cs_sha256_free(u.sha);
        cs_fits_reader_free(u.fits);
        cJSON_free(params);
        if (u.http)
                return cs_reply_error(req, u.http, "%s", u.msg);
        if (r < 0)
                return r;
        cs_log_info("req=%s upload_stack user='%s' job=%lld chunk='%s' bytes=%llu", req->id, req->username,
                    (long long)job_id, key, (unsigned long long)u.size);
        doc = cJSON_CreateObject();
        cJSON_AddBoolToObject(doc, "ok", 1);
        cJSON_AddNumberToObject(doc, "job_id", (double)job_id);
        cJSON_AddStringToObject(doc, "chunk_key", key);
        cJSON_AddStringToObject(doc, "status", "queued");
        return cs_reply_json(req, 200, doc);
}
