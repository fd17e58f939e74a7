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
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "handlers.h"
#include "upload_recv.h"
#include "crowdsky/chunkkey.h"
#include "crowdsky/fits.h"
#include "crowdsky/jobs.h"
#include "crowdsky/log.h"
#include "crowdsky/multipart.h"
#include "crowdsky/rand.h"

#define THUMB_MAX (8 << 20)

struct upstack {
        struct upload_recv rx;     /* the file part and the fields; first */
        char token[CS_AUTH_HEX];   /* the session folder's token */
        char dir[PATH_MAX];
        uint64_t thumb_size;
};

/* upload_recv hook: the 'file' part (the stack), into a session folder of its own. */
static int file_begin(struct upload_recv *rx, const struct cs_multipart_part *part)
{
        struct upstack *u = rx->ud;
        struct cs_req *req = rx->req;
        const char *base = part->filename;
        int r;

        {
                const char *s1 = strrchr(base, '/'), *s2 = strrchr(base, '\\');
                if (s1 || s2)
                        base = (s1 > s2 ? s1 : s2) + 1;
        }
        snprintf(rx->filename, sizeof rx->filename, "%s", *base ? base : "stack.fits");
        if (!upload_recv_fits_name(rx->filename))
                return upload_recv_refuse(rx, 400, "'%s': only .fit and .fits files are accepted",
                                          rx->filename);
        r = cs_random_hex(u->token, 32, &req->err);
        if (r < 0)
                return r;
        if ((size_t)snprintf(u->dir, sizeof u->dir, "%s/sess_%s", req->app->cfg.buffer_dir, u->token) >=
            sizeof u->dir - 40)
                return cs_err_set(&req->err, CS_EIO, "buffer_dir path too long");
        return upload_recv_open_file(rx, u->dir);
}

/* upload_recv hook: the thumbnail's bytes, only counted. */
static int thumb_data(struct upload_recv *rx, size_t n)
{
        struct upstack *u = rx->ud;

        u->thumb_size += n;
        return u->thumb_size > THUMB_MAX
                   ? upload_recv_refuse(rx, 413, "the thumbnail is larger than %d bytes", THUMB_MAX)
                   : CS_OK;
}

/* upload_recv hook: a stack has 1 or 3 planes. */
static int stack_check(struct upload_recv *rx)
{
        if (rx->info.naxis == 3 && rx->info.naxes[2] != 3 && rx->info.naxes[2] != 1)
                return upload_recv_refuse(rx, 400, "'%s': a stack has 1 or 3 planes, not %lld", rx->filename,
                                          (long long)rx->info.naxes[2]);
        return CS_OK;
}

static const struct upload_recv_ops recv_ops = {
        .one_file = "one stack per request",
        .other_field = "thumbnail", /* accepted but not kept */
        .file_begin = file_begin,
        .other_data = thumb_data,
        .file_check = stack_check,
};

/* The optional numeric/date fields, checked, as the job's params. */
static int params_json(struct upstack *u, char **ret)
{
        static const char *ints[] = { "n_frames_input", "n_frames_aligned" };
        static const char *dates[] = { "date_obs_start", "date_obs_end" };
        struct upload_recv *rx = &u->rx;
        cJSON *o = cJSON_CreateObject();
        size_t i;

        for (i = 0; i < 2; i++) {
                const char *v = cs_form_get_text(&rx->req->form, ints[i]);
                int64_t x;
                if (!v || !*v)
                        continue;
                if (cs_parse_i64_c(v, &x) < 0 || x < 0 || x > 100000) {
                        cJSON_Delete(o);
                        return upload_recv_refuse(rx, 400, "%s must be an integer from 0 to 100000", ints[i]);
                }
                cJSON_AddNumberToObject(o, ints[i], (double)x);
        }
        for (i = 0; i < 2; i++) {
                const char *v = cs_form_get_text(&rx->req->form, dates[i]);
                char norm[32];
                double t;
                if (!v || !*v)
                        continue;
                if (cs_fits_parse_datetime(v, &t, norm) < 0) {
                        cJSON_Delete(o);
                        return upload_recv_refuse(rx, 400, "%s must be an ISO date-time (YYYY-MM-DDTHH:MM:SS)",
                                                  dates[i]);
                }
                cJSON_AddStringToObject(o, dates[i], norm);
        }
        cJSON_AddStringToObject(o, "filename", rx->filename);
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
        struct upload_recv *rx = &u->rx;
        struct cs_req *req = rx->req;
        struct cs_fits_info *fi = &rx->info;
        struct cs_err kerr = CS_ERR_INIT;
        char final_path[PATH_MAX];
        uint64_t sid = 0, fid = 0, jid = 0;
        int64_t used = 0;
        int r;

        r = cs_chunkkey_format(fi->obs_time, fi->ra, fi->dec, key, &kerr);
        if (r < 0)
                return upload_recv_refuse(rx, 400, "'%s': %s", rx->filename, kerr.msg);
        r = upload_recv_buffer_used(req, db, false, &used);
        if (r < 0)
                return r;
        if (used + (int64_t)rx->size > req->app->cfg.buffer_quota_bytes)
                return upload_recv_refuse(rx, 507,
                                          "the raw-frame buffer is full (quota %lld bytes); try again later",
                                          (long long)req->app->cfg.buffer_quota_bytes);
        r = cs_db_begin(db, &req->err);
        if (r < 0)
                return r;
        {
                struct cs_db_param p[] = { CS_DB_STR(u->token), CS_DB_I64(req->user_id), CS_DB_I64(rx->size) };
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
                        CS_DB_I64(sid), CS_DB_I64(req->user_id), CS_DB_I64(jid), CS_DB_STR(rx->filename),
                        CS_DB_I64(rx->size), CS_DB_STR(rx->sha_hex), CS_DB_STR(fi->date_obs), CS_DB_F64(fi->obs_time),
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
                if (r == CS_OK && rename(rx->tmp_path, final_path) < 0)
                        r = cs_err_set(&req->err, CS_EIO, "rename to '%s': %s", final_path, strerror(errno));
        }
        if (r == CS_OK) {
                r = cs_db_commit(db, &req->err);
                if (r < 0)
                        (void)unlink(final_path);
                else
                        rx->tmp_path[0] = '\0';
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
        upload_recv_init(&u.rx, req, &recv_ops, &u);
        r = upload_recv_stream(&u.rx);
        if (r == CS_OK && !u.rx.file_done)
                r = upload_recv_refuse(&u.rx, 400, "no 'file' part with the stack");
        if (r == CS_OK) {
                scrub_s = cs_form_get_text(&req->form, "scrub_location");
                if (scrub_s && strcmp(scrub_s, "0") && strcmp(scrub_s, "1")) {
                        r = upload_recv_refuse(&u.rx, 400, "scrub_location must be 0 or 1");
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

        upload_recv_release(&u.rx); /* the temporary file, unless store() kept it */
        if (r < 0 && u.dir[0])
                (void)rmdir(u.dir); /* nothing of a refused upload is kept */
        cJSON_free(params);
        if (u.rx.http)
                return cs_reply_error(req, u.rx.http, "%s", u.rx.msg);
        if (r < 0)
                return r;
        cs_log_info("req=%s upload_stack user='%s' job=%lld chunk='%s' bytes=%llu", req->id, req->username,
                    (long long)job_id, key, (unsigned long long)u.rx.size);
        doc = cJSON_CreateObject();
        cJSON_AddBoolToObject(doc, "ok", 1);
        cJSON_AddNumberToObject(doc, "job_id", (double)job_id);
        cJSON_AddStringToObject(doc, "chunk_key", key);
        cJSON_AddStringToObject(doc, "status", "queued");
        return cs_reply_json(req, 200, doc);
}
