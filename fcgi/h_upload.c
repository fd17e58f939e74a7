/* h_upload.c - the upload flow (SPEC section 6): browser POST /upload
 * (action=start|file), POST /finalize, GET /upload/status, and the script API
 * /api/raw_upload?action=start|file|finalize|status.
 *
 * A file part is streamed (upload_recv.c) from the FastCGI input (256 KiB
 * reads) through the multipart parser straight into a temporary file in the session's folder,
 * while the streaming FITS reader checks the header from the first blocks and
 * SHA-256 is computed; no per-byte work besides the boundary search. Only when
 * the whole file is valid is its raw_files row inserted and the file renamed
 * to <buffer_dir>/sess_<token>/<file_id>.fit. Any refusal removes the
 * temporary file, so nothing of a refused file is kept.
 *
 * Finalize takes session_token, and optionally scrub_location (0/1),
 * overwrite (0/1, scripts) and max_fwhm_ratio (0 = stack every frame, or 1 to
 * 100: leave out frames whose stars are wider than that times the chunk's
 * median frame's), which goes to each job's params for its worker. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handlers.h"
#include "upload_recv.h"
#include "crowdsky/alloc.h"
#include "crowdsky/chunkkey.h"
#include "crowdsky/fits.h"
#include "crowdsky/jobs.h"
#include "crowdsky/log.h"
#include "crowdsky/multipart.h"
#include "crowdsky/rand.h"
#include "crowdsky/stack.h"

int cs_raw_path(const struct cs_config *cfg, const char *token, int64_t file_id, char *out,
                size_t outsz)
{
        int n = snprintf(out, outsz, "%s/sess_%s/%lld.fit", cfg->buffer_dir, token, (long long)file_id);

        return n > 0 && (size_t)n < outsz ? CS_OK : CS_ETOOBIG;
}

static bool is_hex64(const char *s)
{
        size_t i;

        if (!s)
                return false;
        for (i = 0; i < 64; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return s[64] == '\0';
}

/* ---- upload sessions ---- */

struct upsession {
        int64_t id;
        char token[CS_AUTH_HEX];
        char state[16];
        int64_t n_files, bytes;
};

/* Loads the session of token if it belongs to the request's user.
 * CS_ENOTFOUND (also for another user's session: no oracle), CS_EDB. */
static int session_load(struct cs_req *req, struct cs_db *db, const char *token, bool for_update,
                        struct upsession *ret)
{
        struct cs_db_rows *rows = NULL;
        int r;

        if (!is_hex64(token))
                return cs_err_set(&req->err, CS_ENOTFOUND, "upload session not found");
        {
                struct cs_db_param p[] = { CS_DB_STR(token), CS_DB_I64(req->user_id) };
                r = cs_db_query(db,
                                for_update ? "SELECT id, state, n_files, bytes FROM upload_sessions "
                                             "WHERE token = ? AND user_id = ? FOR UPDATE"
                                           : "SELECT id, state, n_files, bytes FROM upload_sessions "
                                             "WHERE token = ? AND user_id = ?",
                                p, CS_DB_N(p), &rows, &req->err);
        }
        if (r < 0)
                return r;
        if (cs_db_rows_count(rows) == 0) {
                cs_db_rows_free(rows);
                return cs_err_set(&req->err, CS_ENOTFOUND, "upload session not found");
        }
        memset(ret, 0, sizeof *ret);
        ret->id = cs_db_rows_i64(rows, 0, 0);
        snprintf(ret->state, sizeof ret->state, "%s", cs_db_rows_str(rows, 0, 1));
        ret->n_files = cs_db_rows_i64(rows, 0, 2);
        ret->bytes = cs_db_rows_i64(rows, 0, 3);
        memcpy(ret->token, token, CS_AUTH_HEX);
        cs_db_rows_free(rows);
        return CS_OK;
}

static int do_start(struct cs_req *req)
{
        char token[CS_AUTH_HEX];
        struct cs_db *db = cs_req_db(req);
        cJSON *doc;
        int r;

        if (!db)
                return CS_EDB;
        r = cs_random_hex(token, 32, &req->err);
        if (r < 0)
                return r;
        {
                struct cs_db_param p[] = { CS_DB_STR(token), CS_DB_I64(req->user_id) };
                r = cs_db_exec(db, "INSERT INTO upload_sessions (token, user_id) VALUES (?, ?)", p,
                               CS_DB_N(p), NULL, NULL, &req->err);
        }
        if (r < 0)
                return r;
        cs_log_info("req=%s upload session started user='%s'", req->id, req->username);
        doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "session_token", token);
        return cs_reply_json(req, 200, doc);
}

/* ---- one file ---- */

struct upload {
        struct upload_recv rx; /* the file part and the fields; first */
        struct cs_db *db;
        bool api;                 /* script API: Basic auth, no CSRF */
        struct upsession sess;
};

/* upload_recv hook: the 'file' part, checked before a byte of it is kept
 * (CSRF, name, session, duplicates, quota). */
static int file_begin(struct upload_recv *rx, const struct cs_multipart_part *part)
{
        struct upload *u = rx->ud;
        struct cs_req *req = rx->req;
        const char *base, *token;
        char dir[PATH_MAX];
        int64_t used = 0, dup = 0;
        int r;

        if (!u->api && !req->csrf_ok && !cs_req_csrf_check(req, cs_form_get_text(&req->form, "csrf_token")))
                return upload_recv_refuse(rx, 403, "missing or wrong CSRF token");
        /* the browser may send a folder-relative name: keep the last component only */
        base = part->filename;
        for (const char *q = part->filename; *q; q++)
                if (*q == '/' || *q == '\\')
                        base = q + 1;
        if (!*base)
                return upload_recv_refuse(rx, 400, "the file has no name");
        if (!cs_text_ok(base))
                return upload_recv_refuse(rx, 400,
                                          "the file name must be UTF-8 text without control characters");
        if (strlen(base) > 255)
                return upload_recv_refuse(rx, 400, "file name too long (at most 255 bytes)");
        snprintf(rx->filename, sizeof rx->filename, "%s", base);
        if (!upload_recv_fits_name(rx->filename))
                return upload_recv_refuse(rx, 400, "'%s': only .fit and .fits files are accepted",
                                          rx->filename);

        token = cs_form_get_text(&req->form, "session_token");
        if (!token)
                token = cs_req_arg(req, "session_token");
        if (!token || !*token)
                return upload_recv_refuse(rx, 400, "session_token is required (send it before the file)");
        r = session_load(req, u->db, token, false, &u->sess);
        if (r == CS_ENOTFOUND)
                return upload_recv_refuse(rx, 404, "upload session not found");
        if (r < 0)
                return r;
        if (strcmp(u->sess.state, "open") != 0)
                return upload_recv_refuse(rx, 409, "upload session is already %s", u->sess.state);
        {
                struct cs_db_param p[] = { CS_DB_I64(u->sess.id), CS_DB_STR(rx->filename) };
                r = cs_db_query_i64(u->db,
                                    "SELECT COUNT(*) FROM raw_files WHERE session_id = ? AND original_filename = ?",
                                    p, CS_DB_N(p), &dup, &req->err);
        }
        if (r < 0)
                return r;
        if (dup)
                return upload_recv_refuse(rx, 409, "'%s' was already uploaded in this session", rx->filename);
        r = upload_recv_buffer_used(req, u->db, true, &used);
        if (r < 0)
                return r;
        if (used + (req->content_length > 0 ? req->content_length : 0) > req->app->cfg.buffer_quota_bytes)
                return upload_recv_refuse(rx, 507,
                                          "the raw-frame buffer is full (quota %lld bytes); try again after "
                                          "pending jobs have been stacked",
                                          (long long)req->app->cfg.buffer_quota_bytes);

        if ((size_t)snprintf(dir, sizeof dir, "%s/sess_%s", req->app->cfg.buffer_dir, u->sess.token) >= sizeof dir - 32)
                return cs_err_set(&req->err, CS_EIO, "buffer_dir path too long");
        return upload_recv_open_file(rx, dir);
}

static const struct upload_recv_ops recv_ops = {
        .one_file = "one file per request",
        .file_begin = file_begin,
};

/* Stores a validated file: checks, row, rename. */
static int store_file(struct upload *u, int64_t *ret_id, char ret_key[CS_CHUNKKEY_MAX])
{
        struct upload_recv *rx = &u->rx;
        struct cs_req *req = rx->req;
        struct cs_fits_info *fi = &rx->info;
        char key[CS_CHUNKKEY_MAX], final_path[PATH_MAX];
        struct cs_err kerr = CS_ERR_INIT;
        int64_t dup = 0, used = 0;
        uint64_t id = 0;
        int r;

        r = cs_chunkkey_format(fi->obs_time, fi->ra, fi->dec, key, &kerr);
        if (r < 0)
                return upload_recv_refuse(rx, 400, "'%s': %s", rx->filename, kerr.msg);
        {
                struct cs_db_param p[] = { CS_DB_I64(u->sess.id), CS_DB_STR(rx->sha_hex) };
                r = cs_db_query_i64(u->db, "SELECT COUNT(*) FROM raw_files WHERE session_id = ? AND sha256 = ?",
                                    p, CS_DB_N(p), &dup, &req->err);
        }
        if (r < 0)
                return r;
        if (dup)
                return upload_recv_refuse(rx, 409,
                                          "'%s': the same file content was already uploaded in this session",
                                          rx->filename);
        r = upload_recv_buffer_used(req, u->db, true, &used);
        if (r < 0)
                return r;
        if (used + (int64_t)rx->size > req->app->cfg.buffer_quota_bytes)
                return upload_recv_refuse(rx, 507, "the raw-frame buffer is full (quota %lld bytes)",
                                          (long long)req->app->cfg.buffer_quota_bytes);
        {
                struct cs_db_param p[] = {
                        CS_DB_I64(u->sess.id),
                        CS_DB_I64(req->user_id),
                        CS_DB_STR(rx->filename),
                        CS_DB_I64(rx->size),
                        CS_DB_STR(rx->sha_hex),
                        CS_DB_STR(fi->date_obs),
                        CS_DB_F64(fi->obs_time),
                        CS_DB_F64(fi->ra),
                        CS_DB_F64(fi->dec),
                        fi->has_exptime ? CS_DB_F64(fi->exptime) : CS_DB_NULL,
                        fi->object[0] ? CS_DB_STR(fi->object) : CS_DB_NULL,
                        CS_DB_I64(fi->width),
                        CS_DB_I64(fi->height),
                        fi->bayer[0] ? CS_DB_STR(fi->bayer) : CS_DB_NULL,
                        CS_DB_STR(key),
                        fi->has_site ? CS_DB_F64(fi->sitelat) : CS_DB_NULL,
                        fi->has_site ? CS_DB_F64(fi->sitelong) : CS_DB_NULL,
                };
                r = cs_db_exec(u->db,
                               "INSERT INTO raw_files (session_id, user_id, original_filename, size_bytes, "
                               "sha256, date_obs, obs_time, ra_deg, dec_deg, exptime, object_name, width, "
                               "height, bayer, chunk_key, site_lat, site_long) "
                               "VALUES (?, ?, ?, ?, ?, REPLACE(?, 'T', ' '), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               p, CS_DB_N(p), NULL, &id, &req->err);
        }
        if (r == CS_ECONFLICT)
                return upload_recv_refuse(rx, 409, "'%s' was already uploaded in this session", rx->filename);
        if (r < 0)
                return r;
        r = cs_raw_path(&req->app->cfg, u->sess.token, (int64_t)id, final_path, sizeof final_path);
        if (r == CS_OK && rename(rx->tmp_path, final_path) < 0)
                r = cs_err_set(&req->err, CS_EIO, "rename to '%s': %s", final_path, strerror(errno));
        if (r < 0) {
                struct cs_db_param p[] = { CS_DB_I64(id) };
                (void)cs_db_exec(u->db, "DELETE FROM raw_files WHERE id = ?", p, CS_DB_N(p), NULL, NULL, NULL);
                return r;
        }
        rx->tmp_path[0] = '\0'; /* it is the stored file now */
        upload_recv_buffer_add(req->app, (int64_t)rx->size);
        {
                struct cs_db_param p[] = { CS_DB_I64(rx->size), CS_DB_I64(u->sess.id) };
                (void)cs_db_exec(u->db,
                                 "UPDATE upload_sessions SET n_files = n_files + 1, bytes = bytes + ?, "
                                 "updated_at = UTC_TIMESTAMP(6) WHERE id = ?",
                                 p, CS_DB_N(p), NULL, NULL, NULL);
        }
        *ret_id = (int64_t)id;
        memcpy(ret_key, key, CS_CHUNKKEY_MAX);
        return CS_OK;
}

/* action=file: the whole multipart request. */
static int do_file(struct cs_req *req, struct upload *u)
{
        struct upload_recv *rx = &u->rx;
        char key[CS_CHUNKKEY_MAX];
        int64_t id = 0;
        cJSON *doc;
        int r;

        if (!rx->file_done)
                return cs_reply_error(req, 400, "no file in the request (multipart field 'file')");
        r = store_file(u, &id, key);
        if (r == CS_ECANCELLED && rx->http)
                return cs_reply_error(req, rx->http, "%s", rx->msg);
        if (r < 0)
                return r;
        cs_log_info("req=%s stored file_id=%lld user='%s' bytes=%llu chunk=%s", req->id, (long long)id,
                    req->username, (unsigned long long)rx->size, key);
        doc = cJSON_CreateObject();
        cJSON_AddBoolToObject(doc, "ok", 1);
        cJSON_AddNumberToObject(doc, "file_id", (double)id);
        cJSON_AddStringToObject(doc, "filename", rx->filename);
        cJSON_AddStringToObject(doc, "chunk_key", key);
        cJSON_AddStringToObject(doc, "date_obs", rx->info.date_obs);
        cJSON_AddNumberToObject(doc, "size", (double)rx->size);
        if (rx->info.object[0])
                cJSON_AddStringToObject(doc, "object", rx->info.object);
        return cs_reply_json(req, 200, doc);
}

/* ---- finalize ---- */

struct fin_group {
        char key[CS_CHUNKKEY_MAX];
        char object[256];
        int n;
        int64_t job_id;
        bool skipped;
};

/* The transaction: group the session's unassigned files, create one job per
 * group (or skip it), assign the files, close the session. */
static int finalize_tx(struct cs_req *req, struct cs_db *db, const char *token, bool api, int scrub,
                       int overwrite, const char *params, struct fin_group **ret_groups, size_t *ret_ng,
                       int64_t **ret_skip_ids, size_t *ret_nskip)
{
        struct upsession s;
        struct cs_db_rows *rows = NULL;
        struct cs_chunk_point *pts = NULL;
        struct fin_group *groups = NULL;
        int64_t *skip_ids = NULL;
        size_t i, n = 0, ng = 0, nskip = 0;
        int *grp = NULL;
        struct cs_err gerr = CS_ERR_INIT;
        int r;

        r = cs_db_begin(db, &req->err);
        if (r < 0)
                return r;
        r = session_load(req, db, token, true, &s);
        if (r < 0)
                goto out;
        if (strcmp(s.state, "open") != 0) {
                r = cs_err_set(&req->err, CS_ECONFLICT, "upload session is already %s", s.state);
                goto out;
        }
        {
                struct cs_db_param p[] = { CS_DB_I64(s.id) };
                r = cs_db_query(db,
                                "SELECT id, obs_time, ra_deg, dec_deg, COALESCE(object_name, '') "
                                "FROM raw_files WHERE session_id = ? AND job_id IS NULL ORDER BY obs_time, id",
                                p, CS_DB_N(p), &rows, &req->err);
        }
        if (r < 0)
                goto out;
        n = cs_db_rows_count(rows);
        if (n == 0) {
                r = cs_err_set(&req->err, CS_EINVAL, "no files were uploaded in this session");
                goto out;
        }
        pts = cs_alloc_array(n, sizeof *pts, 1);
        grp = cs_alloc_array(n, sizeof *grp, 1);
        skip_ids = cs_alloc_array(n, sizeof *skip_ids, 1);
        if (!pts || !grp || !skip_ids) {
                r = cs_err_set(&req->err, CS_ENOMEM, "out of memory grouping %zu files", n);
                goto out;
        }
        for (i = 0; i < n; i++) {
                pts[i].obs_time = cs_db_rows_f64(rows, i, 1);
                pts[i].ra = cs_db_rows_f64(rows, i, 2);
                pts[i].dec = cs_db_rows_f64(rows, i, 3);
        }
        r = cs_chunk_group(pts, n, CS_CHUNK_RADIUS_DEG, grp, &ng, &gerr);
        if (r < 0) {
                r = cs_err_set(&req->err, r, "grouping: %s", gerr.msg);
                goto out;
        }
        groups = cs_xcalloc(ng, sizeof *groups);
        for (i = 0; i < ng; i++) {
                r = cs_chunk_group_key(pts, n, grp, (int)i, groups[i].key, NULL, NULL, &gerr);
                if (r < 0) {
                        r = cs_err_set(&req->err, r, "chunk key: %s", gerr.msg);
                        goto out;
                }
        }
        for (i = 0; i < n; i++) {
                struct fin_group *g = &groups[grp[i]];
                const char *obj = cs_db_rows_str(rows, i, 4);
                g->n++;
                if (!g->object[0] && obj && obj[0])
                        snprintf(g->object, sizeof g->object, "%s", obj);
        }
        for (i = 0; i < ng && r == CS_OK; i++) {
                struct fin_group *g = &groups[i];
                uint64_t jid = 0;
                if (api && !overwrite) {
                        int64_t have = 0;
                        struct cs_db_param p[] = { CS_DB_I64(req->user_id), CS_DB_STR(g->key) };
                        r = cs_db_query_i64(db, "SELECT COUNT(*) FROM stacked_frames WHERE user_id = ? AND chunk_key = ?",
                                            p, CS_DB_N(p), &have, &req->err);
                        if (r < 0)
                                break;
                        if (have) {
                                g->skipped = true;
                                continue;
                        }
                }
                {
                        struct cs_db_param p[] = {
                                CS_DB_I64(req->user_id), CS_DB_I64(s.id), CS_DB_STR(g->key),
                                g->object[0] ? CS_DB_STR(g->object) : CS_DB_NULL, CS_DB_I64(g->n),
                                CS_DB_BOOL(scrub), CS_DB_BOOL(overwrite), CS_DB_I64(req->app->cfg.max_attempts),
                                params ? CS_DB_STR(params) : CS_DB_NULL,
                        };
                        r = cs_db_exec(db,
                                       "INSERT INTO stacking_jobs (user_id, kind, session_id, chunk_key, object_name, "
                                       "frame_count, scrub_location, overwrite, max_attempts, params) "
                                       "VALUES (?, 'stack', ?, ?, ?, ?, ?, ?, ?, ?)",
                                       p, CS_DB_N(p), NULL, &jid, &req->err);
                }
                g->job_id = (int64_t)jid;
        }
        for (i = 0; i < n && r == CS_OK; i++) {
                struct fin_group *g = &groups[grp[i]];
                int64_t fid = cs_db_rows_i64(rows, i, 0);
                if (g->skipped) {
                        skip_ids[nskip++] = fid;
                        continue;
                }
                struct cs_db_param p[] = { CS_DB_I64(g->job_id), CS_DB_I64(fid) };
                r = cs_db_exec(db, "UPDATE raw_files SET job_id = ? WHERE id = ?", p, CS_DB_N(p), NULL, NULL,
                               &req->err);
        }
        if (r == CS_OK && nskip) {
                for (i = 0; i < nskip && r == CS_OK; i++) {
                        struct cs_db_param p[] = { CS_DB_I64(skip_ids[i]) };
                        r = cs_db_exec(db, "DELETE FROM raw_files WHERE id = ?", p, CS_DB_N(p), NULL, NULL,
                                       &req->err);
                }
        }
        if (r == CS_OK && scrub) {
                struct cs_db_param p[] = { CS_DB_I64(s.id) };
                r = cs_db_exec(db, "UPDATE raw_files SET site_lat = NULL, site_long = NULL WHERE session_id = ?",
                               p, CS_DB_N(p), NULL, NULL, &req->err);
        }
        if (r == CS_OK) {
                struct cs_db_param p[] = { CS_DB_I64(s.id) };
                r = cs_db_exec(db,
                               "UPDATE upload_sessions SET state = 'finalized', finalized_at = UTC_TIMESTAMP(6), "
                               "updated_at = UTC_TIMESTAMP(6) WHERE id = ?",
                               p, CS_DB_N(p), NULL, NULL, &req->err);
        }
        if (r == CS_OK)
                r = cs_db_commit(db, &req->err);
out:
        if (r < 0) {
                cs_db_rollback(db, NULL);
                free(groups);
                free(skip_ids);
        } else {
                cs_jobs_queue_changed(); /* new jobs: idle pollers look again */
                *ret_groups = groups;
                *ret_ng = ng;
                *ret_skip_ids = skip_ids;
                *ret_nskip = nskip;
        }
        cs_db_rows_free(rows);
        free(pts);
        free(grp);
        return r;
}

static int do_finalize(struct cs_req *req, bool api)
{
        const char *token = cs_req_value(req, "session_token");
        const char *scrub_s = cs_req_value(req, "scrub_location");
        const char *over_s = cs_req_value(req, "overwrite");
        const char *ratio_s = cs_req_value(req, "max_fwhm_ratio");
        char params[64], *pj = NULL;
        struct fin_group *groups = NULL;
        int64_t *skip_ids = NULL;
        size_t i, ng = 0, nskip = 0;
        struct cs_db *db;
        int scrub, overwrite, r, attempt;
        cJSON *doc;

        if (!token || !*token)
                return cs_reply_error(req, 400, "session_token is required");
        if ((scrub_s && strcmp(scrub_s, "0") && strcmp(scrub_s, "1")) ||
            (over_s && strcmp(over_s, "0") && strcmp(over_s, "1")))
                return cs_reply_error(req, 400, "scrub_location and overwrite must be 0 or 1");
        if (ratio_s && *ratio_s) {
                /* frame selection for the stacks of this upload: leave out frames
                 * whose stars are wider than this times the chunk's median */
                double ratio;

                if (cs_parse_f64_c(ratio_s, &ratio) < 0 || !cs_stack_fwhm_ratio_valid(ratio))
                        return cs_reply_error(req, 400, "max_fwhm_ratio must be 0 (stack every frame) or a number "
                                                        "from 1 to 100");
                if (ratio > 0) {
                        snprintf(params, sizeof params, "{\"max_fwhm_ratio\":%.4g}", ratio);
                        pj = params;
                }
        }
        db = cs_req_db(req);
        if (!db)
                return CS_EDB;
        if (scrub_s) {
                scrub = scrub_s[0] == '1';
        } else {
                struct cs_user usr;
                r = cs_user_get(db, req->user_id, &usr, &req->err);
                if (r < 0)
                        return r;
                scrub = usr.scrub_location;
        }
        /* the browser re-uploading a night means "replace"; scripts choose */
        overwrite = api ? (over_s && over_s[0] == '1') : 1;
        for (attempt = 0;; attempt++) {
                r = finalize_tx(req, db, token, api, scrub, overwrite, pj, &groups, &ng, &skip_ids, &nskip);
                if (r == CS_ECONFLICT && cs_db_retryable(db) && attempt < 3)
                        continue;
                break;
        }
        if (r < 0)
                return r;
        /* the skipped chunks' raws: their rows are gone, now the files */
        for (i = 0; i < nskip; i++) {
                char path[PATH_MAX];
                if (cs_raw_path(&req->app->cfg, token, skip_ids[i], path, sizeof path) == CS_OK &&
                    unlink(path) < 0 && errno != ENOENT)
                        cs_log_warn("req=%s unlink '%s': %s, ignoring", req->id, path, strerror(errno));
        }
        doc = cJSON_CreateObject();
        if (api) {
                cJSON *ids = cJSON_CreateArray(), *chunks = cJSON_CreateArray(), *skipped = cJSON_CreateArray();
                int njobs = 0;
                for (i = 0; i < ng; i++) {
                        if (groups[i].skipped) {
                                cJSON_AddItemToArray(skipped, cJSON_CreateString(groups[i].key));
                                continue;
                        }
                        njobs++;
                        cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)groups[i].job_id));
                        cJSON_AddItemToArray(chunks, cJSON_CreateString(groups[i].key));
                }
                cJSON_AddBoolToObject(doc, "ok", 1);
                cJSON_AddNumberToObject(doc, "jobs", njobs);
                cJSON_AddItemToObject(doc, "job_ids", ids);
                cJSON_AddItemToObject(doc, "chunks", chunks);
                cJSON_AddItemToObject(doc, "skipped", skipped);
        } else {
                cJSON *jobs = cJSON_AddArrayToObject(doc, "jobs");
                for (i = 0; i < ng; i++) {
                        cJSON *j = cJSON_CreateObject();
                        cJSON_AddNumberToObject(j, "job_id", (double)groups[i].job_id);
                        cJSON_AddStringToObject(j, "chunk_key", groups[i].key);
                        cJSON_AddNumberToObject(j, "n_files", groups[i].n);
                        cJSON_AddItemToArray(jobs, j);
                }
        }
        cs_log_info("req=%s finalized user='%s' groups=%zu skipped_files=%zu", req->id, req->username, ng, nskip);
        free(groups);
        free(skip_ids);
        return cs_reply_json(req, 200, doc);
}

/* ---- status (resume) ---- */

static int do_status(struct cs_req *req)
{
        const char *token = cs_req_value(req, "session_token");
        struct upsession s;
        struct cs_db_rows *rows = NULL;
        struct cs_db *db;
        cJSON *doc, *files, *jobs;
        size_t i;
        int r;

        if (!token || !*token)
                return cs_reply_error(req, 400, "session_token is required");
        db = cs_req_db(req);
        if (!db)
                return CS_EDB;
        r = session_load(req, db, token, false, &s);
        if (r < 0)
                return r;
        doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "session_token", token);
        cJSON_AddStringToObject(doc, "state", s.state);
        cJSON_AddNumberToObject(doc, "n_files", (double)s.n_files);
        cJSON_AddNumberToObject(doc, "bytes", (double)s.bytes);
        files = cJSON_AddArrayToObject(doc, "files");
        {
                struct cs_db_param p[] = { CS_DB_I64(s.id) };
                r = cs_db_query(db,
                                "SELECT id, original_filename, size_bytes, sha256, chunk_key, "
                                "DATE_FORMAT(date_obs, '%Y-%m-%dT%H:%i:%s.%f'), job_id "
                                "FROM raw_files WHERE session_id = ? ORDER BY id",
                                p, CS_DB_N(p), &rows, &req->err);
        }
        if (r < 0) {
                cJSON_Delete(doc);
                return r;
        }
        for (i = 0; i < cs_db_rows_count(rows); i++) {
                cJSON *f = cJSON_CreateObject();
                cJSON_AddNumberToObject(f, "file_id", (double)cs_db_rows_i64(rows, i, 0));
                cJSON_AddStringToObject(f, "filename", cs_db_rows_str(rows, i, 1));
                cJSON_AddNumberToObject(f, "size", (double)cs_db_rows_i64(rows, i, 2));
                cJSON_AddStringToObject(f, "sha256", cs_db_rows_str(rows, i, 3));
                cJSON_AddStringToObject(f, "chunk_key", cs_db_rows_str(rows, i, 4));
                cJSON_AddStringToObject(f, "date_obs", cs_db_rows_str(rows, i, 5));
                if (cs_db_rows_isnull(rows, i, 6))
                        cJSON_AddNullToObject(f, "job_id");
                else
                        cJSON_AddNumberToObject(f, "job_id", (double)cs_db_rows_i64(rows, i, 6));
                cJSON_AddItemToArray(files, f);
        }
        rows = cs_db_rows_free(rows);
        jobs = cJSON_AddArrayToObject(doc, "jobs");
        {
                struct cs_db_param p[] = { CS_DB_I64(s.id), CS_DB_I64(req->user_id) };
                r = cs_db_query(db,
                                "SELECT id, chunk_key, frame_count, state FROM stacking_jobs "
                                "WHERE session_id = ? AND user_id = ? ORDER BY id",
                                p, CS_DB_N(p), &rows, &req->err);
        }
        if (r < 0) {
                cJSON_Delete(doc);
                return r;
        }
        for (i = 0; i < cs_db_rows_count(rows); i++) {
                cJSON *j = cJSON_CreateObject();
                cJSON_AddNumberToObject(j, "job_id", (double)cs_db_rows_i64(rows, i, 0));
                cJSON_AddStringToObject(j, "chunk_key", cs_db_rows_str(rows, i, 1));
                cJSON_AddNumberToObject(j, "n_files", (double)cs_db_rows_i64(rows, i, 2));
                cJSON_AddStringToObject(j, "state", cs_db_rows_str(rows, i, 3));
                cJSON_AddItemToArray(jobs, j);
        }
        cs_db_rows_free(rows);
        return cs_reply_json(req, 200, doc);
}

/* ---- entry points ---- */

/* Shared by /upload and /api/raw_upload: reads the body (streaming a
 * multipart one), then runs the action. */
static int upload_entry(struct cs_req *req, bool api)
{
        struct upload u;
        struct cs_str mt = cs_header_media_type(cs_str_c(req->content_type));
        const char *action;
        int r = CS_OK;

        memset(&u, 0, sizeof u);
        upload_recv_init(&u.rx, req, &recv_ops, &u);
        u.api = api;

        if (req->method_bit == CS_M_POST && cs_str_eq_nocase(mt, "multipart/form-data")) {
                u.db = cs_req_db(req);
                if (!u.db)
                        return CS_EDB;
                r = upload_recv_stream(&u.rx);
                if (r < 0) {
                        upload_recv_release(&u.rx);
                        if (u.rx.http)
                                return cs_reply_error(req, u.rx.http, "%s", u.rx.msg);
                        return r;
                }
        } else if (req->method_bit == CS_M_POST) {
                r = cs_req_read_form(req);
                if (r < 0)
                        return req->status ? CS_OK : r;
        }
        if (!api && !req->csrf_ok && req->method_bit == CS_M_POST &&
            !cs_req_csrf_check(req, cs_req_field(req, "csrf_token"))) {
                upload_recv_release(&u.rx);
                return cs_reply_error(req, 403, "missing or wrong CSRF token");
        }
        action = cs_req_arg(req, "action");
        if (!action)
                action = cs_req_field(req, "action");
        if (!action && u.rx.nfiles)
                action = "file";
        if (!action) {
                r = cs_reply_error(req, 400, "action is required (start, file, finalize%s)", api ? ", status" : "");
        } else if (!strcmp(action, "file")) {
                r = do_file(req, &u);
        } else if (u.rx.nfiles) {
                r = cs_reply_error(req, 400, "a file was sent with action=%s", action);
        } else if (req->method_bit != CS_M_POST && strcmp(action, "status") != 0) {
                r = cs_reply_error(req, 405, "action=%s needs POST", action);
        } else if (!strcmp(action, "start")) {
                r = do_start(req);
        } else if (!strcmp(action, "finalize")) {
                r = do_finalize(req, api);
        } else if (!strcmp(action, "status")) {
                r = do_status(req);
        } else {
                r = cs_reply_error(req, 400, "unknown action '%s'", action);
        }
        upload_recv_release(&u.rx);
        return r;
}

int h_upload(struct cs_req *req)
{
        return upload_entry(req, false);
}

int h_raw_upload(struct cs_req *req)
{
        return upload_entry(req, true);
}

int h_finalize(struct cs_req *req)
{
        return do_finalize(req, false);
}

int h_upload_status(struct cs_req *req)
{
        return do_status(req);
}
