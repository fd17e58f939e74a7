/* h_stacks.c - JSON lists of a user's stacks and jobs, and deleting a job
 * with its raws. Nothing here ever returns SITELAT/SITELONG. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "handlers.h"
#include "crowdsky/log.h"

static void add_str_or_null(cJSON *o, const char *name, const char *v)
{
        if (v)
                cJSON_AddStringToObject(o, name, v);
        else
                cJSON_AddNullToObject(o, name);
}

static void add_num_or_null(cJSON *o, const char *name, const struct cs_db_rows *rows, size_t r,
                            size_t c)
{
        if (cs_db_rows_isnull(rows, r, c))
                cJSON_AddNullToObject(o, name);
        else
                cJSON_AddNumberToObject(o, name, cs_db_rows_f64(rows, r, c));
}

#define ISO(col) "DATE_FORMAT(" col ", '%Y-%m-%dT%H:%i:%s')"

/* GET /api/my_stacks[?object=NAME]: a JSON array, exactly SPEC section 6. */
int h_my_stacks(struct cs_req *req)
{
        const char *object = cs_req_arg(req, "object");
        struct cs_db *db = cs_req_db(req);
        struct cs_db_rows *rows = NULL;
        cJSON *arr;
        size_t i;
        int r;

        if (!db)
                return CS_EDB;
        if (object && *object) {
                struct cs_db_param p[] = { CS_DB_I64(req->user_id), CS_DB_STR(object) };
                r = cs_db_query(db,
                                "SELECT id, chunk_key, object_name, n_frames_input, n_frames_aligned, "
                                "total_exptime, " ISO("date_obs_start") ", " ISO("date_obs_end") ", ra_deg, dec_deg, "
                                "file_size_bytes, " ISO("created_at") " FROM stacked_frames "
                                "WHERE user_id = ? AND object_name = ? ORDER BY date_obs_start DESC, id DESC",
                                p, CS_DB_N(p), &rows, &req->err);
        } else {
                r = cs_req_query_user(req,
                                      "SELECT id, chunk_key, object_name, n_frames_input, n_frames_aligned, "
                                      "total_exptime, " ISO("date_obs_start") ", " ISO("date_obs_end") ", ra_deg, "
                                      "dec_deg, file_size_bytes, " ISO("created_at") " FROM stacked_frames "
                                      "WHERE user_id = ? ORDER BY date_obs_start DESC, id DESC",
                                      &rows);
        }
        if (r < 0)
                return r;
        arr = cJSON_CreateArray();
        for (i = 0; i < cs_db_rows_count(rows); i++) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "id", (double)cs_db_rows_i64(rows, i, 0));
                cJSON_AddStringToObject(o, "chunk_key", cs_db_rows_str(rows, i, 1));
                add_str_or_null(o, "object_name", cs_db_rows_str(rows, i, 2));
                cJSON_AddNumberToObject(o, "n_frames_input", (double)cs_db_rows_i64(rows, i, 3));
                cJSON_AddNumberToObject(o, "n_frames_aligned", (double)cs_db_rows_i64(rows, i, 4));
                cJSON_AddNumberToObject(o, "total_exptime", cs_db_rows_f64(rows, i, 5));
                add_str_or_null(o, "date_obs_start", cs_db_rows_str(rows, i, 6));
                add_str_or_null(o, "date_obs_end", cs_db_rows_str(rows, i, 7));
                add_num_or_null(o, "ra_deg", rows, i, 8);
                add_num_or_null(o, "dec_deg", rows, i, 9);
                cJSON_AddNumberToObject(o, "file_size_bytes", (double)cs_db_rows_i64(rows, i, 10));
                add_str_or_null(o, "created_at", cs_db_rows_str(rows, i, 11));
                cJSON_AddItemToArray(arr, o);
        }
        cs_db_rows_free(rows);
        return cs_reply_json(req, 200, arr);
}

/* GET /api/jobs: the user's jobs, newest first (the jobs page polls it). */
int h_jobs_list(struct cs_req *req)
{
        struct cs_db_rows *rows = NULL;
        cJSON *doc, *arr;
        size_t i;
        int r;

        r = cs_req_query_user(req,
                              "SELECT j.id, j.chunk_key, j.object_name, j.frame_count, j.state, j.attempts, "
                              "j.progress_stage, j.progress_done, j.progress_total, j.last_error, "
                              ISO("j.created_at") ", " ISO("j.updated_at") ", j.kind, s.id "
                              "FROM stacking_jobs j LEFT JOIN stacked_frames s ON s.job_id = j.id "
                              "WHERE j.user_id = ? ORDER BY j.id DESC LIMIT 500",
                              &rows);
        if (r < 0)
                return r;
        doc = cJSON_CreateObject();
        arr = cJSON_AddArrayToObject(doc, "jobs");
        for (i = 0; i < cs_db_rows_count(rows); i++) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "job_id", (double)cs_db_rows_i64(rows, i, 0));
                cJSON_AddStringToObject(o, "chunk_key", cs_db_rows_str(rows, i, 1));
                add_str_or_null(o, "object_name", cs_db_rows_str(rows, i, 2));
                cJSON_AddNumberToObject(o, "n_files", (double)cs_db_rows_i64(rows, i, 3));
                cJSON_AddStringToObject(o, "state", cs_db_rows_str(rows, i, 4));
                cJSON_AddNumberToObject(o, "attempts", (double)cs_db_rows_i64(rows, i, 5));
                if (!cs_db_rows_isnull(rows, i, 6)) {
                        cJSON *pg = cJSON_AddObjectToObject(o, "progress");
                        cJSON_AddStringToObject(pg, "stage", cs_db_rows_str(rows, i, 6));
                        cJSON_AddNumberToObject(pg, "done", (double)cs_db_rows_i64(rows, i, 7));
                        cJSON_AddNumberToObject(pg, "total", (double)cs_db_rows_i64(rows, i, 8));
                } else {
                        cJSON_AddNullToObject(o, "progress");
                }
                add_str_or_null(o, "error", cs_db_rows_str(rows, i, 9));
                cJSON_AddStringToObject(o, "created_at", cs_db_rows_str(rows, i, 10));
                cJSON_AddStringToObject(o, "updated_at", cs_db_rows_str(rows, i, 11));
                cJSON_AddStringToObject(o, "kind", cs_db_rows_str(rows, i, 12));
                add_num_or_null(o, "stack_id", rows, i, 13);
                cJSON_AddItemToArray(arr, o);
        }
        cs_db_rows_free(rows);
        return cs_reply_json(req, 200, doc);
}

/* POST /api/jobs/delete id=N: deletes the user's job and its raw files (rows
 * and bytes). A finished stack stays (its job link becomes NULL). */
int h_job_delete(struct cs_req *req)
{
        struct cs_db *db = cs_req_db(req);
        struct cs_db_rows *rows = NULL;
        int64_t id, owner = 0;
        cJSON *doc;
        size_t i, nfiles = 0;
        int r;

        if (cs_req_i64_or_reply(req, "id", &id) < 0)
                return CS_OK;
        if (!db)
                return CS_EDB;
        r = cs_db_begin(db, &req->err);
        if (r < 0)
                return r;
        {
                struct cs_db_param p[] = { CS_DB_I64(id), CS_DB_I64(req->user_id) };
                r = cs_db_query_i64(db, "SELECT user_id FROM stacking_jobs WHERE id = ? AND user_id = ? FOR UPDATE",
                                    p, CS_DB_N(p), &owner, &req->err);
        }
        if (r == CS_ENOTFOUND)
                r = cs_err_set(&req->err, CS_ENOTFOUND, "job not found");
        if (r == CS_OK) {
                struct cs_db_param p[] = { CS_DB_I64(id) };
                r = cs_db_query(db,
                                "SELECT r.id, s.token FROM raw_files r JOIN upload_sessions s ON s.id = r.session_id "
                                "WHERE r.job_id = ?",
                                p, CS_DB_N(p), &rows, &req->err);
        }
        if (r == CS_OK) {
                struct cs_db_param p[] = { CS_DB_I64(id) };
                r = cs_db_exec(db, "DELETE FROM raw_files WHERE job_id = ?", p, CS_DB_N(p), NULL, NULL, &req->err);
                if (r == CS_OK)
                        r = cs_db_exec(db, "DELETE FROM stacking_jobs WHERE id = ?", p, CS_DB_N(p), NULL, NULL,
                                       &req->err);
        }
        if (r == CS_OK)
                r = cs_db_commit(db, &req->err);
        if (r < 0) {
                cs_db_rollback(db, NULL);
                cs_db_rows_free(rows);
                return r;
        }
        cs_job_files_forget(id);
        /* rows are gone; now the bytes (a failure here only leaves an orphan for cleanup) */
        for (i = 0; i < cs_db_rows_count(rows); i++) {
                char path[PATH_MAX];
                if (cs_raw_path(&req->app->cfg, cs_db_rows_str(rows, i, 1), cs_db_rows_i64(rows, i, 0), path,
                                sizeof path) == CS_OK) {
                        if (unlink(path) == 0)
                                nfiles++;
                        else if (errno != ENOENT)
                                cs_log_warn("req=%s unlink '%s': %s, ignoring", req->id, path, strerror(errno));
                }
        }
        cs_db_rows_free(rows);
        cs_log_info("req=%s deleted job=%lld user='%s' raws=%zu", req->id, (long long)id, req->username, nfiles);
        doc = cJSON_CreateObject();
        cJSON_AddBoolToObject(doc, "ok", 1);
        cJSON_AddNumberToObject(doc, "job_id", (double)id);
        cJSON_AddNumberToObject(doc, "raws_deleted", (double)nfiles);
        return cs_reply_json(req, 200, doc);
}
