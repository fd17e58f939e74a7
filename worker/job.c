/* job.c - one claimed job, start to finish (see job.h).
 *
 * Threads: the job runs on the main thread; a heartbeat thread with its own
 * API client extends the lease every lease_seconds / 3 with the latest
 * progress ("aligning 12 / 32"), sets the cancel flag when the lease went
 * stale (409) or when a shutdown was asked for while the job is not close
 * to done (still downloading, or less than 3/4 through stacking). */
#include <errno.h>
#include <fitsio.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "crowdsky/alloc.h"
#include "crowdsky/fits.h"
#include "crowdsky/log.h"
#include "crowdsky/png.h"
#include "crowdsky/stack.h"
#include "crowdsky/str.h"

#define COMPLETE_TRIES 4
#define PROGRESS_BEAT 5.0 /* seconds between heartbeats that only carry progress */

struct job {
        struct wk_ctx *ctx;
        int64_t id;
        char kind[16];
        char key[40];
        char lease[64];
        char stack_path[512];
        char thumb_path[512];
        bool scrub;
        int lease_seconds;
        const cJSON *params;
        char dir[1024];          /* scratch folder of this job */
        char fits[1100];         /* scratch/stacked.fits */
        char png[1100];          /* scratch/thumbnail.png */
        char **files;            /* local raw paths */
        size_t nfiles;
        int64_t bytes_in;

        /* shared with the heartbeat thread */
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool hb_quit;
        char stage[32];
        long done, total;
        bool close_to_done;      /* finish even if asked to stop */
        unsigned seq;            /* bumped on every progress change */
        volatile sig_atomic_t cancel;
        bool lost;               /* the lease went stale */
        bool auth_failed;
};

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_progress(struct job *j, const char *stage, long done, long total, bool close)
{
        pthread_mutex_lock(&j->mu);
        snprintf(j->stage, sizeof j->stage, "%s", stage);
        j->done = done;
        j->total = total;
        j->close_to_done = close;
        j->seq++;
        pthread_mutex_unlock(&j->mu);
}

/* ---- heartbeat thread ----------------------------------------------------- */

static int heartbeat_once(struct job *j, struct wk_api *api)
{
        struct cs_err err = CS_ERR_INIT;
        cJSON *body = cJSON_CreateObject(), *prog;
        char stage[32];
        long done, total;
        int r;

        pthread_mutex_lock(&j->mu);
        snprintf(stage, sizeof stage, "%s", j->stage);
        done = j->done;
        total = j->total;
        pthread_mutex_unlock(&j->mu);
        cJSON_AddNumberToObject(body, "job_id", (double)j->id);
        cJSON_AddStringToObject(body, "lease", j->lease);
        prog = cJSON_AddObjectToObject(body, "progress");
        cJSON_AddStringToObject(prog, "stage", stage);
        if (total > 0) {
                cJSON_AddNumberToObject(prog, "done", (double)done);
                cJSON_AddNumberToObject(prog, "total", (double)total);
        }
        r = wk_api_post_json(api, "/api/heartbeat", body, NULL, &err);
        cJSON_Delete(body);
        if (r == CS_ECONFLICT || r == CS_ENOTFOUND) {
                cs_log_warn("job=%lld chunk='%s' event=lease_lost reason='%s'", (long long)j->id, j->key, err.msg);
                pthread_mutex_lock(&j->mu);
                j->lost = true;
                pthread_mutex_unlock(&j->mu);
                j->cancel = 1;
        } else if (r == CS_EAUTH) {
                cs_log_error("job=%lld event=heartbeat_refused reason='%s'", (long long)j->id, err.msg);
                pthread_mutex_lock(&j->mu);
                j->auth_failed = true;
                pthread_mutex_unlock(&j->mu);
                j->cancel = 1;
        } else if (r < 0) {
                cs_log_warn("job=%lld event=heartbeat_failed reason='%s', ignoring", (long long)j->id, err.msg);
        } else {
                cs_log_debug("job=%lld event=heartbeat stage=%s done=%ld total=%ld", (long long)j->id, stage, done,
                             total);
        }
        return r;
}

static void *heartbeat_main(void *ud)
{
        struct job *j = ud;
        struct wk_api *api = NULL;
        struct cs_err err = CS_ERR_INIT;
        double interval = j->lease_seconds / 3.0, next, last;
        unsigned sent_seq = 0;

        if (interval < 1)
                interval = 1;
        if (wk_api_new(j->ctx->cfg->api_url, j->ctx->cfg->worker_token, &api, &err) < 0) {
                cs_log_error("job=%lld heartbeat client: %s", (long long)j->id, err.msg);
                return NULL;
        }
        last = now_s();
        next = last + interval;
        pthread_mutex_lock(&j->mu);
        while (!j->hb_quit) {
                struct timespec ts;
                bool beat;

                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 250 * 1000000L; /* wake 4x a second to watch for a shutdown */
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&j->cv, &j->mu, &ts);
                if (j->hb_quit)
                        break;
                if (*j->ctx->stop && (!j->close_to_done || *j->ctx->stop > 1) && !j->cancel) {
                        cs_log_info("job=%lld chunk='%s' event=shutdown_cancel stage=%s", (long long)j->id, j->key,
                                    j->stage);
                        j->cancel = 1;
                }
                /* every lease/3 to keep the lease; sooner (at most every
                 * PROGRESS_BEAT s) when the progress moved, so the jobs page
                 * shows "aligning 12 / 32" while it is true */
                beat = now_s() >= next || (j->seq != sent_seq && now_s() - last >= PROGRESS_BEAT);
                if (beat) {
                        sent_seq = j->seq;
                        pthread_mutex_unlock(&j->mu);
                        heartbeat_once(j, api);
                        last = now_s();
                        next = last + interval;
                        pthread_mutex_lock(&j->mu);
                }
        }
        pthread_mutex_unlock(&j->mu);
        wk_api_free(api);
        return NULL;
}

/* ---- scratch ---------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        if (remove(path) < 0 && errno != ENOENT)
                cs_log_warn("remove '%s': %s, ignoring", path, strerror(errno));
        return 0;
}

static void scratch_clean(struct job *j)
{
        if (j->dir[0])
                nftw(j->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int mkdir_p(const char *path, struct cs_err *err)
{
        char tmp[1024];
        size_t i, n = strlen(path);

        if (n >= sizeof tmp)
                return cs_err_set(err, CS_EINVAL, "scratch path too long");
        memcpy(tmp, path, n + 1);
        for (i = 1; i <= n; i++) {
                if (tmp[i] == '/' || tmp[i] == '\0') {
                        char c = tmp[i];
                        tmp[i] = '\0';
                        if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
                                return cs_err_set(err, CS_EIO, "mkdir '%s': %s", tmp, strerror(errno));
                        tmp[i] = c;
                }
        }
        return CS_OK;
}

/* ---- steps ------------------------------------------------------------------ */

static bool retryable_download(int r)
{
        return r != CS_ENOTFOUND && r != CS_EFORBIDDEN && r != CS_EINVAL;
}

static int download_raws(struct job *j, bool *ret_retryable, struct cs_err *err)
{
        struct wk_api *api = j->ctx->api;
        char path[128];
        cJSON *doc = NULL;
        const cJSON *files, *f;
        size_t i = 0, n;
        double t0 = now_s();
        int r;

        *ret_retryable = true;
        snprintf(path, sizeof path, "/api/job_files?job_id=%lld", (long long)j->id);
        r = wk_api_get_json(api, path, &doc, err);
        if (r < 0) {
                *ret_retryable = retryable_download(r);
                return r;
        }
        files = doc ? cJSON_GetObjectItemCaseSensitive(doc, "files") : NULL;
        if (!cJSON_IsArray(files) || cJSON_GetArraySize(files) == 0) {
                cJSON_Delete(doc);
                *ret_retryable = false;
                return cs_err_set(err, CS_ENOTFOUND, "job %lld has no raw files", (long long)j->id);
        }
        n = (size_t)cJSON_GetArraySize(files);
        j->files = cs_xcalloc(n, sizeof *j->files);
        cJSON_ArrayForEach(f, files)
        {
                const cJSON *id = cJSON_GetObjectItemCaseSensitive(f, "file_id");
                const cJSON *size = cJSON_GetObjectItemCaseSensitive(f, "size");
                const cJSON *sha = cJSON_GetObjectItemCaseSensitive(f, "sha256");
                char local[1200], got_sha[65], url[96];
                int64_t got = 0;

                if (!cJSON_IsNumber(id) || !cJSON_IsNumber(size)) {
                        r = cs_err_set(err, CS_EREMOTE, "job_files: a file without file_id/size");
                        break;
                }
                set_progress(j, "downloading", (long)i, (long)n, false);
                snprintf(local, sizeof local, "%s/raw-%lld.fit", j->dir, (long long)id->valuedouble);
                snprintf(url, sizeof url, "/api/download_raw?file_id=%lld", (long long)id->valuedouble);
                r = wk_api_download(api, url, local, &got, got_sha, err);
                if (r < 0) {
                        *ret_retryable = retryable_download(r);
                        break;
                }
                if (got != (int64_t)size->valuedouble) {
                        r = cs_err_set(err, CS_EIO, "raw %lld: got %lld bytes, expected %lld",
                                       (long long)id->valuedouble, (long long)got, (long long)size->valuedouble);
                        break;
                }
                if (cJSON_IsString(sha) && strcmp(sha->valuestring, got_sha) != 0) {
                        r = cs_err_set(err, CS_EIO, "raw %lld: SHA-256 mismatch (the transfer was damaged)",
                                       (long long)id->valuedouble);
                        break;
                }
                j->files[i++] = cs_xstrdup(local);
                j->nfiles = i;
                j->bytes_in += got;
        }
        cJSON_Delete(doc);
        if (r == CS_OK)
                cs_log_info("job=%lld chunk='%s' event=downloaded files=%zu bytes=%lld secs=%.2f", (long long)j->id,
                            j->key, j->nfiles, (long long)j->bytes_in, now_s() - t0);
        return r;
}

static void on_stack_progress(void *ud, enum cs_stack_stage stage, size_t done, size_t total)
{
        struct job *j = ud;
        bool close = stage == CS_STAGE_WRITE || (stage == CS_STAGE_STACK && total && done * 4 >= total * 3);

        set_progress(j, cs_stack_stage_name(stage), (long)done, (long)total, close);
}

static void iso_time(double t, char out[64])
{
        time_t s = (time_t)floor(t);
        long us = lround((t - floor(t)) * 1e6);
        struct tm tm;

        if (us >= 1000000) {
                s++;
                us -= 1000000;
        }
        gmtime_r(&s, &tm);
        snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%06ld", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, us % 1000000);
}

static int cmp_dbl(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

/* kind 'stack': the engine; fills meta. */
static int stack_raws(struct job *j, cJSON *meta, bool *ret_retryable, struct cs_err *err)
{
        struct cs_stack_params p;
        struct cs_stack_result res;
        double t0 = now_s(), t_first = INFINITY, t_last = -INFINITY, *fw;
        size_t i, nfw = 0;
        char *report;
        int r;

        memset(&res, 0, sizeof res);
        cs_stack_params_default(&p);
        p.threads = j->ctx->threads;
        p.output = j->fits;
        p.thumbnail = j->png;
        p.scrub_location = j->scrub;
        p.max_fwhm_ratio = j->ctx->cfg->stack_max_fwhm_ratio;
        p.min_stars_ratio = j->ctx->cfg->stack_min_stars_ratio;
        {
                /* the uploader's choice for this job wins over the worker's default */
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(j->params, "max_fwhm_ratio");

                if (cJSON_IsNumber(v) && cs_stack_fwhm_ratio_valid(v->valuedouble))
                        p.max_fwhm_ratio = v->valuedouble;
        }
        p.progress = on_stack_progress;
        p.progress_ctx = j;
        p.cancel = &j->cancel;
        set_progress(j, "reading", 0, (long)j->nfiles, false);
        r = cs_stack_run(&p, (const char *const *)j->files, j->nfiles, &res, err);
        if (r < 0) {
                /* bad frames do not get better by retrying; a machine problem may */
                *ret_retryable = r == CS_EIO || r == CS_ENOMEM || r == CS_ECANCELLED;
                return r;
        }
        fw = cs_xcalloc(res.n ? res.n : 1, sizeof *fw);
        for (i = 0; i < res.n; i++) {
                const struct cs_stack_frame *f = &res.frames[i];
                if (!f->used)
                        continue;
                if (isfinite(f->date_obs)) {
                        if (f->date_obs < t_first)
                                t_first = f->date_obs;
                        if (f->date_obs + f->exptime > t_last)
                                t_last = f->date_obs + f->exptime;
                }
                if (f->fwhm > 0)
                        fw[nfw++] = f->fwhm;
        }
        cJSON_AddNumberToObject(meta, "n_frames_input", (double)res.n);
        cJSON_AddNumberToObject(meta, "n_frames_aligned", (double)res.n_used);
        cJSON_AddNumberToObject(meta, "total_exptime", res.total_exptime);
        if (isfinite(t_first)) {
                char s[64];
                iso_time(t_first, s);
                cJSON_AddStringToObject(meta, "date_obs_start", s);
                iso_time(t_last, s);
                cJSON_AddStringToObject(meta, "date_obs_end", s);
        }
        if (res.reference < res.n && isfinite(res.frames[res.reference].ra) &&
            isfinite(res.frames[res.reference].dec)) {
                cJSON_AddNumberToObject(meta, "ra_deg", res.frames[res.reference].ra);
                cJSON_AddNumberToObject(meta, "dec_deg", res.frames[res.reference].dec);
        }
        if (res.stack_fwhm > 0) {
                /* what the stack page shows: the stack's own stars */
                cJSON_AddNumberToObject(meta, "fwhm", res.stack_fwhm);
        } else if (nfw) {
                /* too few stars in the stack to measure: the frames' median */
                qsort(fw, nfw, sizeof *fw, cmp_dbl);
                cJSON_AddNumberToObject(meta, "fwhm", nfw % 2 ? fw[nfw / 2] : 0.5 * (fw[nfw / 2 - 1] + fw[nfw / 2]));
        }
        free(fw);
        if (res.object[0])
                cJSON_AddStringToObject(meta, "object_name", res.object);
        report = cs_stack_report_json(&res);
        if (report) {
                cJSON *rep = cJSON_Parse(report);
                if (rep)
                        cJSON_AddItemToObject(meta, "report", rep);
                free(report);
        }
        cs_log_info("job=%lld chunk='%s' event=stacked used=%zu rejected=%zu size=%zux%zu secs=%.2f", (long long)j->id,
                    j->key, res.n_used, res.n_rejected, res.width, res.height, now_s() - t0);
        cs_stack_result_release(&res);
        return CS_OK;
}

/* kind 'upload_stack': check the uploaded FITS with cfitsio, draw its
 * thumbnail, drop the site keywords if asked; fills meta. */
static int check_upload(struct job *j, cJSON *meta, bool *ret_retryable, struct cs_err *err)
{
        fitsfile *ff = NULL;
        int st = 0, bitpix = 0, naxis = 0, nplanes, any = 0, r = CS_OK;
        long naxes[3] = { 1, 1, 1 }, fpix[3] = { 1, 1, 1 };
        size_t npix, finite = 0, i;
        float *px = NULL;
        char msg[FLEN_ERRMSG], val[FLEN_VALUE];
        double d;
        const cJSON *v;
        FILE *in = NULL, *out = NULL;

        *ret_retryable = false;
        set_progress(j, "validating", 0, 1, false);
        if (j->nfiles != 1)
                return cs_err_set(err, CS_EINVAL, "an uploaded stack is one file, not %zu", j->nfiles);
        /* the stored copy: the upload, byte for byte (minus the site keywords) */
        in = fopen(j->files[0], "rb");
        out = fopen(j->fits, "wb");
        if (!in || !out) {
                r = cs_err_set(err, CS_EIO, "copy to '%s': %s", j->fits, strerror(errno));
        } else {
                char buf[65536];
                size_t k;
                while ((k = fread(buf, 1, sizeof buf, in)) > 0)
                        if (fwrite(buf, 1, k, out) != k) {
                                r = cs_err_set(err, CS_EIO, "copy to '%s': %s", j->fits, strerror(errno));
                                break;
                        }
        }
        if (in)
                fclose(in);
        if (out && fclose(out) != 0 && r == CS_OK)
                r = cs_err_set(err, CS_EIO, "copy to '%s': %s", j->fits, strerror(errno));
        if (r < 0) {
                *ret_retryable = true;
                return r;
        }
        if (fits_open_file(&ff, j->fits, j->scrub ? READWRITE : READONLY, &st) ||
            fits_get_img_param(ff, 3, &bitpix, &naxis, naxes, &st)) {
                fits_get_errstatus(st, msg);
                fits_clear_errmsg();
                r = cs_err_set(err, CS_EFITS, "the uploaded stack is not a readable FITS image: %s", msg);
                goto out;
        }
        nplanes = naxis == 3 ? (int)naxes[2] : 1;
        if ((naxis != 2 && naxis != 3) || (nplanes != 1 && nplanes != 3) || naxes[0] < 8 || naxes[1] < 8 ||
            naxes[0] > 20000 || naxes[1] > 20000) {
                r = cs_err_set(err, CS_EFITS, "the uploaded stack has an unexpected shape (NAXIS %d: %ld x %ld x %ld)",
                               naxis, naxes[0], naxes[1], naxes[2]);
                goto out;
        }
        npix = (size_t)naxes[0] * (size_t)naxes[1];
        px = cs_alloc_array(npix * 3, sizeof *px, 0);
        if (!px) {
                r = cs_err_set(err, CS_ENOMEM, "no memory for a %ld x %ld stack", naxes[0], naxes[1]);
                *ret_retryable = true;
                goto out;
        }
        if (fits_read_pix(ff, TFLOAT, fpix, (LONGLONG)(npix * (size_t)nplanes), NULL, px, &any, &st)) {
                fits_get_errstatus(st, msg);
                fits_clear_errmsg();
                r = cs_err_set(err, CS_EFITS, "reading the uploaded stack's pixels: %s", msg);
                goto out;
        }
        for (i = 0; i < npix * (size_t)nplanes; i++)
                finite += isfinite(px[i]) ? 1 : 0;
        if (finite < npix / 10) {
                r = cs_err_set(err, CS_EFITS, "the uploaded stack holds almost no valid pixels");
                goto out;
        }
        if (nplanes == 1) {
                memcpy(px + npix, px, npix * sizeof *px);
                memcpy(px + 2 * npix, px, npix * sizeof *px);
        }
        set_progress(j, "thumbnail", 0, 1, true);
        r = cs_png_write_thumbnail(j->png, px, px + npix, px + 2 * npix, (int)naxes[0], (int)naxes[1], 0, err);
        if (r < 0) {
                *ret_retryable = r == CS_EIO || r == CS_ENOMEM;
                goto out;
        }
        if (j->scrub) {
                int s2 = 0;
                fits_delete_key(ff, "SITELAT", &s2);
                s2 = 0;
                fits_delete_key(ff, "SITELONG", &s2);
                fits_clear_errmsg();
        }

        /* what the telescope said, then the header */
        st = 0;
        if (!fits_read_key(ff, TSTRING, "OBJECT", val, NULL, &st) && val[0])
                cJSON_AddStringToObject(meta, "object_name", val);
        st = 0;
        if ((v = cJSON_GetObjectItemCaseSensitive(j->params, "n_frames_input")) && cJSON_IsNumber(v))
                cJSON_AddNumberToObject(meta, "n_frames_input", v->valuedouble);
        else if (!fits_read_key(ff, TDOUBLE, "NCOMBINE", &d, NULL, &st) && d >= 0)
                cJSON_AddNumberToObject(meta, "n_frames_input", d);
        st = 0;
        if ((v = cJSON_GetObjectItemCaseSensitive(j->params, "n_frames_aligned")) && cJSON_IsNumber(v))
                cJSON_AddNumberToObject(meta, "n_frames_aligned", v->valuedouble);
        else if (!fits_read_key(ff, TDOUBLE, "NCOMBINE", &d, NULL, &st) && d >= 0)
                cJSON_AddNumberToObject(meta, "n_frames_aligned", d);
        st = 0;
        if (!fits_read_key(ff, TDOUBLE, "EXPTIME", &d, NULL, &st) && d >= 0)
                cJSON_AddNumberToObject(meta, "total_exptime", d);
        st = 0;
        if ((v = cJSON_GetObjectItemCaseSensitive(j->params, "date_obs_start")) && cJSON_IsString(v))
                cJSON_AddStringToObject(meta, "date_obs_start", v->valuestring);
        if ((v = cJSON_GetObjectItemCaseSensitive(j->params, "date_obs_end")) && cJSON_IsString(v)) {
                cJSON_AddStringToObject(meta, "date_obs_end", v->valuestring);
        } else if (!fits_read_key(ff, TSTRING, "DATE-END", val, NULL, &st)) {
                double t;
                char norm[32];
                if (cs_fits_parse_datetime(val, &t, norm) == CS_OK)
                        cJSON_AddStringToObject(meta, "date_obs_end", norm);
        }
        fits_clear_errmsg();
        cs_log_info("job=%lld chunk='%s' event=validated size=%ldx%ldx%d", (long long)j->id, j->key, naxes[0], naxes[1],
                    nplanes);
out:
        if (ff) {
                int s2 = 0;
                fits_close_file(ff, &s2);
                if (s2 && r == CS_OK) {
                        fits_get_errstatus(s2, msg);
                        r = cs_err_set(err, CS_EIO, "closing the stack: %s", msg);
                        *ret_retryable = true;
                }
                fits_clear_errmsg();
        }
        free(px);
        return r;
}

/* MKCOL + PUT FITS and PNG, then check the FITS size on the store. */
static int upload(struct job *j, int64_t *ret_size, bool *ret_has_png, struct cs_err *err)
{
        struct cs_webdav *dav = j->ctx->dav;
        char dir[512], *slash;
        struct stat st;
        int64_t remote = -1;
        double t0 = now_s();
        int r;

        set_progress(j, "uploading", 0, 2, true);
        if (stat(j->fits, &st) < 0)
                return cs_err_set(err, CS_EIO, "the stack '%s' is missing: %s", j->fits, strerror(errno));
        snprintf(dir, sizeof dir, "%s", j->stack_path);
        slash = strrchr(dir, '/');
        if (slash)
                *slash = '\0';
        r = cs_webdav_mkcol_p(dav, dir, err);
        if (r == CS_OK)
                r = cs_webdav_put_file(dav, j->stack_path, j->fits, "application/fits", err);
        if (r < 0)
                return r;
        set_progress(j, "uploading", 1, 2, true);
        *ret_has_png = access(j->png, R_OK) == 0;
        if (*ret_has_png) {
                r = cs_webdav_put_file(dav, j->thumb_path, j->png, "image/png", err);
                if (r < 0)
                        return r;
        }
        r = cs_webdav_stat(dav, j->stack_path, &remote, err);
        if (r < 0)
                return r;
        if (remote != (int64_t)st.st_size)
                return cs_err_set(err, CS_EREMOTE, "the store holds %lld bytes of '%s', %lld were sent",
                                  (long long)remote, j->stack_path, (long long)st.st_size);
        *ret_size = remote;
        cs_log_info("job=%lld chunk='%s' event=uploaded path='%s' bytes=%lld thumbnail=%s secs=%.2f", (long long)j->id,
                    j->key, j->stack_path, (long long)remote, *ret_has_png ? "yes" : "no", now_s() - t0);
        return CS_OK;
}

static int complete(struct job *j, cJSON *meta, struct cs_err *err)
{
        cJSON *body = cJSON_CreateObject();
        int r = CS_OK, t;

        set_progress(j, "completing", 0, 0, true);
        cJSON_AddNumberToObject(body, "job_id", (double)j->id);
        cJSON_AddStringToObject(body, "lease", j->lease);
        cJSON_AddItemReferenceToObject(body, "metadata", meta);
        /* complete_job is idempotent: a lost reply is simply asked again */
        for (t = 1; t <= COMPLETE_TRIES; t++) {
                r = wk_api_post_json(j->ctx->api, "/api/complete_job", body, NULL, err);
                if (r != CS_EREMOTE || t == COMPLETE_TRIES)
                        break;
                cs_log_warn("job=%lld event=complete_retry attempt=%d reason='%s'", (long long)j->id, t, err->msg);
                sleep((unsigned)(1 << t));
        }
        cJSON_Delete(body);
        return r;
}

static enum wk_outcome report_failure(struct job *j, const char *error, bool retryable)
{
        struct cs_err err = CS_ERR_INIT;
        cJSON *body = cJSON_CreateObject(), *reply = NULL;
        const cJSON *state;
        int r, t;

        cJSON_AddNumberToObject(body, "job_id", (double)j->id);
        cJSON_AddStringToObject(body, "lease", j->lease);
        cJSON_AddStringToObject(body, "error", error);
        cJSON_AddBoolToObject(body, "retryable", retryable);
        for (t = 1;; t++) {
                r = wk_api_post_json(j->ctx->api, "/api/fail_job", body, &reply, &err);
                if (r != CS_EREMOTE || t >= 3)
                        break;
                sleep((unsigned)(1 << t));
        }
        cJSON_Delete(body);
        if (r == CS_ECONFLICT) {
                cs_log_warn("job=%lld chunk='%s' event=fail_refused reason='%s'", (long long)j->id, j->key, err.msg);
                return WK_LOST;
        }
        if (r < 0) {
                if (r == CS_EAUTH)
                        j->auth_failed = true;
                cs_log_error("job=%lld chunk='%s' event=fail_unreported reason='%s' (the lease will expire)",
                             (long long)j->id, j->key, err.msg);
                return WK_ERROR;
        }
        state = reply ? cJSON_GetObjectItemCaseSensitive(reply, "state") : NULL;
        cs_log_info("job=%lld chunk='%s' event=failed retryable=%s state=%s error='%s'", (long long)j->id, j->key,
                    retryable ? "yes" : "no", cJSON_IsString(state) ? state->valuestring : "?", error);
        cJSON_Delete(reply);
        return WK_FAILED;
}

static bool copy_str(const cJSON *o, const char *name, char *dst, size_t n)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

        if (!cJSON_IsString(v) || strlen(v->valuestring) >= n)
                return false;
        memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
        return true;
}

enum wk_outcome wk_job_run(struct wk_ctx *ctx, const cJSON *claim, bool *ret_auth_failed)
{
        struct job *j = cs_xcalloc(1, sizeof *j);
        struct cs_err err = CS_ERR_INIT;
        const cJSON *v;
        pthread_t hb;
        bool hb_started = false, retryable = true, has_png = false;
        cJSON *meta = cJSON_CreateObject();
        enum wk_outcome out = WK_ERROR;
        double t0 = now_s();
        int64_t size = 0;
        size_t i;
        int r;

        *ret_auth_failed = false;
        j->ctx = ctx;
        pthread_mutex_init(&j->mu, NULL);
        pthread_cond_init(&j->cv, NULL);
        v = cJSON_GetObjectItemCaseSensitive(claim, "job_id");
        j->id = cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
        v = cJSON_GetObjectItemCaseSensitive(claim, "lease_seconds");
        j->lease_seconds = cJSON_IsNumber(v) && v->valuedouble >= 1 ? (int)v->valuedouble : 300;
        v = cJSON_GetObjectItemCaseSensitive(claim, "scrub_location");
        j->scrub = !cJSON_IsFalse(v);
        j->params = cJSON_GetObjectItemCaseSensitive(claim, "params");
        snprintf(j->kind, sizeof j->kind, "stack");
        copy_str(claim, "kind", j->kind, sizeof j->kind);
        if (j->id <= 0 || !copy_str(claim, "lease", j->lease, sizeof j->lease) ||
            !copy_str(claim, "chunk_key", j->key, sizeof j->key) ||
            !copy_str(claim, "stack_path", j->stack_path, sizeof j->stack_path) ||
            !copy_str(claim, "thumbnail_path", j->thumb_path, sizeof j->thumb_path)) {
                cs_log_error("event=bad_claim reason='the next_job reply lacks job_id/lease/chunk_key/stack_path'");
                goto done;
        }
        cs_log_info("job=%lld chunk='%s' event=claimed kind=%s lease_seconds=%d", (long long)j->id, j->key, j->kind,
                    j->lease_seconds);
        snprintf(j->dir, sizeof j->dir, "%s/job-%lld", ctx->cfg->scratch_dir, (long long)j->id);
        snprintf(j->fits, sizeof j->fits, "%s/stacked.fits", j->dir);
        snprintf(j->png, sizeof j->png, "%s/thumbnail.png", j->dir);
        set_progress(j, "starting", 0, 0, false);
        if (pthread_create(&hb, NULL, heartbeat_main, j) == 0)
                hb_started = true;
        else
                cs_log_warn("job=%lld event=no_heartbeat_thread, ignoring", (long long)j->id);
        wk_api_set_cancel(ctx->api, &j->cancel);

        scratch_clean(j); /* leftovers of a crashed run of the same job */
        r = mkdir_p(j->dir, &err);
        if (r == CS_OK)
                r = download_raws(j, &retryable, &err);
        if (r == CS_OK)
                r = !strcmp(j->kind, "upload_stack") ? check_upload(j, meta, &retryable, &err)
                                                     : stack_raws(j, meta, &retryable, &err);
        if (r == CS_OK && j->cancel)
                r = cs_err_set(&err, CS_ECANCELLED, "cancelled");
        if (r == CS_OK) {
                retryable = true; /* storage trouble is never the job's fault */
                r = upload(j, &size, &has_png, &err);
        }
        if (r == CS_OK) {
                cJSON_AddNumberToObject(meta, "file_size_bytes", (double)size);
                cJSON_AddStringToObject(meta, "webdav_path", j->stack_path);
                r = complete(j, meta, &err);
        }
        wk_api_set_cancel(ctx->api, NULL);

        if (r == CS_OK) {
                cs_log_info("job=%lld chunk='%s' event=completed bytes_in=%lld bytes_out=%lld secs=%.2f",
                            (long long)j->id, j->key, (long long)j->bytes_in, (long long)size, now_s() - t0);
                out = WK_COMPLETED;
        } else if (j->lost || (r == CS_ECONFLICT && strstr(err.msg, "lease"))) {
                cs_log_warn("job=%lld chunk='%s' event=abandoned reason='%s'", (long long)j->id, j->key,
                            j->lost ? "the lease was taken over" : err.msg);
                out = WK_LOST;
        } else if (r == CS_EAUTH && (j->auth_failed || !strncmp(err.msg, "GET /api", 8) ||
                                     !strncmp(err.msg, "POST /api", 9))) {
                j->auth_failed = true;
                cs_log_error("job=%lld event=token_refused reason='%s'", (long long)j->id, err.msg);
                out = WK_ERROR;
        } else if (r == CS_ECANCELLED || (j->cancel && *ctx->stop)) {
                out = report_failure(j, "the worker was shut down before finishing; retrying elsewhere", true);
                if (out == WK_FAILED)
                        out = WK_GIVEN_BACK;
        } else if (r == CS_ECONFLICT) {
                /* the app could not confirm the stored stack (a worker and an app
                 * pointed at different stores?): not the job's fault */
                out = report_failure(j, err.msg, true);
        } else {
                out = report_failure(j, err.msg, retryable);
        }

done:
        if (hb_started) {
                pthread_mutex_lock(&j->mu);
                j->hb_quit = true;
                pthread_cond_signal(&j->cv);
                pthread_mutex_unlock(&j->mu);
                pthread_join(hb, NULL);
        }
        *ret_auth_failed = j->auth_failed;
        scratch_clean(j);
        for (i = 0; i < j->nfiles; i++)
                free(j->files[i]);
        free(j->files);
        cJSON_Delete(meta);
        pthread_mutex_destroy(&j->mu);
        pthread_cond_destroy(&j->cv);
        free(j);
        return out;
}
