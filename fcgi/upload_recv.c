/* upload_recv.c - one uploaded FITS file from a multipart body (see
 * upload_recv.h). No per-byte work besides the parser's boundary search: the
 * file's bytes go to the FITS reader, SHA-256 and write(2). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "upload_recv.h"
#include "crowdsky/alloc.h"
#include "crowdsky/log.h"
#include "crowdsky/rand.h"

void upload_recv_init(struct upload_recv *rx, struct cs_req *req, const struct upload_recv_ops *ops, void *ud)
{
        memset(rx, 0, sizeof *rx);
        rx->req = req;
        rx->ops = ops;
        rx->ud = ud;
        rx->fd = -1;
        rx->max_file = req->app->cfg.max_upload_bytes;
}

int upload_recv_refuse(struct upload_recv *rx, int http, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(rx->msg, sizeof rx->msg, fmt, ap);
        va_end(ap);
        rx->http = http;
        return CS_ECANCELLED;
}

int upload_recv_open_file(struct upload_recv *rx, const char *dir)
{
        struct cs_req *req = rx->req;
        char rnd[17];
        int r;

        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return cs_err_set(&req->err, CS_EIO, "mkdir '%s': %s", dir, strerror(errno));
        r = cs_random_hex(rnd, 8, &req->err);
        if (r < 0)
                return r;
        if ((size_t)snprintf(rx->tmp_path, sizeof rx->tmp_path, "%s/.incoming-%s", dir, rnd) >=
            sizeof rx->tmp_path) {
                rx->tmp_path[0] = '\0';
                return cs_err_set(&req->err, CS_EIO, "buffer_dir path too long");
        }
        rx->fd = open(rx->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (rx->fd < 0) {
                rx->tmp_path[0] = '\0';
                return cs_err_set(&req->err, CS_EIO, "create in '%s': %s", dir, strerror(errno));
        }
        rx->sha = cs_sha256_new();
        rx->fits = cs_fits_reader_new();
        rx->part = UPLOAD_RECV_FILE;
        return CS_OK;
}

static int on_begin(void *ud, const struct cs_multipart_part *part, struct cs_err *err)
{
        struct upload_recv *rx = ud;

        (void)err;
        if (part->has_filename) {
                if (rx->ops->other_field && !strcmp(part->name, rx->ops->other_field)) {
                        rx->part = UPLOAD_RECV_OTHER;
                        return CS_OK;
                }
                if (strcmp(part->name, "file") != 0)
                        return upload_recv_refuse(rx, 400, "unexpected file field '%s' (expected 'file')",
                                                  part->name);
                if (++rx->nfiles > 1)
                        return upload_recv_refuse(rx, 400, "%s", rx->ops->one_file);
                return rx->ops->file_begin(rx, part);
        }
        /* a small field */
        rx->part = UPLOAD_RECV_FIELD;
        return cs_form_add(&rx->req->form, part->name, strlen(part->name), "", 0, &rx->req->err) < 0
                   ? upload_recv_refuse(rx, 413, "form fields too large")
                   : CS_OK;
}

static int field_data(struct upload_recv *rx, const char *p, size_t n)
{
        struct cs_form *f = &rx->req->form;
        struct cs_form_field *fld = &f->fields[f->n - 1];

        if (n > f->max_bytes - f->bytes)
                return upload_recv_refuse(rx, 413, "form fields too large");
        fld->value = cs_xrealloc(fld->value, fld->value_len + n + 1);
        memcpy(fld->value + fld->value_len, p, n);
        fld->value_len += n;
        fld->value[fld->value_len] = '\0';
        f->bytes += n;
        return CS_OK;
}

static int on_data(void *ud, const char *p, size_t n, struct cs_err *err)
{
        struct upload_recv *rx = ud;
        struct cs_err ferr = CS_ERR_INIT;
        int r;

        (void)err;
        if (rx->part == UPLOAD_RECV_FIELD)
                return field_data(rx, p, n);
        if (rx->part == UPLOAD_RECV_OTHER)
                return rx->ops->other_data ? rx->ops->other_data(rx, n) : CS_OK;
        if (rx->part != UPLOAD_RECV_FILE)
                return CS_OK;
        rx->size += n;
        if (rx->size > (uint64_t)rx->max_file)
                return upload_recv_refuse(rx, 413, "'%s' is larger than %lld bytes", rx->filename,
                                          (long long)rx->max_file);
        r = cs_fits_reader_feed(rx->fits, p, n, &ferr);
        if (r < 0)
                return upload_recv_refuse(rx, r == CS_ETOOBIG ? 413 : 400, "'%s': %s", rx->filename,
                                          ferr.msg);
        cs_sha256_update(rx->sha, p, n);
        while (n) {
                ssize_t k = write(rx->fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == ENOSPC || errno == EDQUOT)
                                return upload_recv_refuse(rx, 507, "the raw-frame buffer disk is full");
                        return cs_err_set(&rx->req->err, CS_EIO, "write '%s': %s", rx->tmp_path,
                                          strerror(errno));
                }
                p += k;
                n -= (size_t)k;
        }
        return CS_OK;
}

static int on_end(void *ud, struct cs_err *err)
{
        struct upload_recv *rx = ud;
        struct cs_err ferr = CS_ERR_INIT;
        bool was_file = rx->part == UPLOAD_RECV_FILE;
        int r;

        (void)err;
        rx->part = UPLOAD_RECV_NONE;
        if (!was_file)
                return CS_OK;
        r = cs_fits_reader_finish(rx->fits, CS_FITS_SIZE_FED, &rx->info, &ferr);
        if (r < 0)
                return upload_recv_refuse(rx, r == CS_ETOOBIG ? 413 : 400, "'%s': %s", rx->filename,
                                          ferr.msg);
        if (rx->ops->file_check) {
                r = rx->ops->file_check(rx);
                if (r < 0)
                        return r;
        }
        cs_sha256_final_hex(rx->sha, rx->sha_hex);
        if (close(rx->fd) < 0) {
                rx->fd = -1;
                return cs_err_set(&rx->req->err, CS_EIO, "close '%s': %s", rx->tmp_path, strerror(errno));
        }
        rx->fd = -1;
        rx->file_done = true;
        return CS_OK;
}

int upload_recv_stream(struct upload_recv *rx)
{
        static const struct cs_multipart_cb cb = { on_begin, on_data, on_end };
        struct cs_multipart_limits lim = { 8192, 16 };
        struct cs_req *req = rx->req;
        struct cs_multipart *mp = NULL;
        struct cs_err perr = CS_ERR_INIT;
        int r;

        r = cs_multipart_new(req->content_type, &cb, rx, &lim, &mp, &perr);
        if (r < 0)
                return upload_recv_refuse(rx, 400, "%s", perr.msg);
        for (;;) {
                long k = cs_req_read(req, req->w->iobuf, CS_IOBUF_SIZE);
                if (k == 0)
                        break;
                if (k == CS_ETOOBIG) {
                        r = upload_recv_refuse(rx, 413, "request body too large");
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
        if (r < 0 && !rx->http && !req->err.code)
                r = upload_recv_refuse(rx, cs_http_status_of(r) == 413 ? 413 : 400, "%s", perr.msg);
        return r;
}

void upload_recv_release(struct upload_recv *rx)
{
        if (rx->fd >= 0) {
                close(rx->fd);
                rx->fd = -1;
        }
        if (rx->tmp_path[0]) {
                if (unlink(rx->tmp_path) < 0 && errno != ENOENT)
                        cs_log_warn("req=%s unlink '%s': %s", rx->req->id, rx->tmp_path, strerror(errno));
                rx->tmp_path[0] = '\0';
        }
        rx->sha = cs_sha256_free(rx->sha);
        rx->fits = cs_fits_reader_free(rx->fits);
}

bool upload_recv_fits_name(const char *name)
{
        const char *dot = strrchr(name, '.');

        return dot && (!strcasecmp(dot, ".fit") || !strcasecmp(dot, ".fits"));
}

int upload_recv_buffer_used(struct cs_req *req, struct cs_db *db, bool cached, int64_t *ret)
{
        struct cs_app *app = req->app;
        int64_t now = cs_now_us(), used;
        int r;

        if (cached) {
                pthread_mutex_lock(&app->quota_lock);
                if (app->quota_at_us && now - app->quota_at_us < 2000000 && now >= app->quota_at_us) {
                        *ret = app->quota_used;
                        pthread_mutex_unlock(&app->quota_lock);
                        return CS_OK;
                }
                pthread_mutex_unlock(&app->quota_lock);
        }
        r = cs_db_query_i64(db,
                            "SELECT COALESCE(SUM(r.size_bytes), 0) FROM raw_files r "
                            "LEFT JOIN stacking_jobs j ON j.id = r.job_id "
                            "WHERE j.id IS NULL OR j.state <> 'completed'",
                            NULL, 0, &used, &req->err);
        if (r < 0)
                return r;
        if (cached) {
                pthread_mutex_lock(&app->quota_lock);
                app->quota_used = used;
                app->quota_at_us = now;
                pthread_mutex_unlock(&app->quota_lock);
        }
        *ret = used;
        return CS_OK;
}

void upload_recv_buffer_add(struct cs_app *app, int64_t n)
{
        pthread_mutex_lock(&app->quota_lock);
        app->quota_used += n;
        pthread_mutex_unlock(&app->quota_lock);
}
