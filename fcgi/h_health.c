/* h_health.c - GET /health: 200 {"status":"ok","db":true,"buffer":true,
 * "webdav":true,...} when the database answers, the raw buffer folder is
 * writable and the WebDAV store answers; else 503 with "status":"degraded",
 * the failing parts false and a short reason for each in "problems".
 *
 * The database is pinged on every call (the thread's own connection). The
 * buffer write test (create + unlink a file) and the WebDAV PROPFIND are
 * cached for CHECK_TTL seconds and refreshed by one caller at a time (a
 * try-lock: the others answer with the cached result), so /health stays
 * cheap and a slow store never piles up responder threads.
 *
 * GET /health?check=db is the liveness probe of a container: the process and
 * its database only, so a pool can become healthy before the WebDAV store it
 * needs is up (docker-compose starts nginx + WebDAV after the pool). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handlers.h"
#include "crowdsky/log.h"
#include "crowdsky/webdav.h"

#define CHECK_TTL 5

struct cached {
        int64_t at;     /* cs_now() of the check; 0 = never */
        bool ok;
        char why[160];
};

/* refresh_lock: held by the one thread running the checks (try-locked);
 * data_lock: held briefly to copy the results in or out. */
static pthread_mutex_t refresh_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t data_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cached buffer_check, dav_check; /* guarded by data_lock */

static void check_buffer(const struct cs_config *cfg, struct cached *c)
{
        char path[PATH_MAX];
        int fd;

        if ((size_t)snprintf(path, sizeof path, "%s/.health-XXXXXX", cfg->buffer_dir) >= sizeof path) {
                c->ok = false;
                snprintf(c->why, sizeof c->why, "buffer_dir path too long");
                return;
        }
        fd = mkstemp(path);
        if (fd < 0) {
                c->ok = false;
                snprintf(c->why, sizeof c->why, "buffer_dir not writable: %s", strerror(errno));
                return;
        }
        close(fd);
        unlink(path);
        c->ok = true;
        c->why[0] = '\0';
}

static void check_webdav(const struct cs_config *cfg, struct cached *c)
{
        struct cs_webdav_opts o = { 0 };
        struct cs_webdav *dav = NULL;
        struct cs_err err = CS_ERR_INIT;
        int r;

        o.url = cfg->webdav_url;
        o.user = cfg->webdav_user;
        o.password = cfg->webdav_password;
        o.max_attempts = 1;
        o.connect_timeout_s = 2;
        o.request_timeout_s = 3;
        r = cs_webdav_new(&o, &dav, &err);
        if (r == CS_OK)
                r = cs_webdav_ping(dav, &err);
        cs_webdav_free(dav);
        c->ok = r == CS_OK;
        /* the detail names the URL, which is no secret for an admin; keep it short */
        snprintf(c->why, sizeof c->why, "%s", r == CS_OK ? "" : (r == CS_EAUTH ? "WebDAV refused the credentials"
                                                                              : "WebDAV store unreachable"));
        if (r < 0)
                cs_log_warn("health: webdav check failed: %s", err.msg);
}

/* Copies the cached results, refreshing them first if stale and no other
 * thread is at it (then the previous results are answered; a first call
 * waits for the first check). */
static void checks(const struct cs_config *cfg, struct cached *ret_buf, struct cached *ret_dav)
{
        int64_t now = cs_now();
        struct cached b, d;
        bool stale;

        pthread_mutex_lock(&data_lock);
        b = buffer_check;
        d = dav_check;
        pthread_mutex_unlock(&data_lock);
        stale = !b.at || now - b.at >= CHECK_TTL || !d.at || now - d.at >= CHECK_TTL;
        if (stale && (pthread_mutex_trylock(&refresh_lock) == 0 || (!b.at && pthread_mutex_lock(&refresh_lock) == 0))) {
                pthread_mutex_lock(&data_lock);
                b = buffer_check;
                d = dav_check;
                pthread_mutex_unlock(&data_lock);
                if (!b.at || now - b.at >= CHECK_TTL) {
                        check_buffer(cfg, &b);
                        b.at = cs_now();
                }
                if (!d.at || now - d.at >= CHECK_TTL) {
                        check_webdav(cfg, &d);
                        d.at = cs_now();
                }
                pthread_mutex_lock(&data_lock);
                buffer_check = b;
                dav_check = d;
                pthread_mutex_unlock(&data_lock);
                pthread_mutex_unlock(&refresh_lock);
        }
        *ret_buf = b;
        *ret_dav = d;
}

int h_health(struct cs_req *req)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *db = cs_req_db(req);
        bool db_ok = db && cs_db_ping(db, &err) == CS_OK;
        struct cached buf = { 0, true, "" }, dav = { 0, true, "" };
        const char *scope = cs_req_arg(req, "check");
        bool ok, only_db = scope && !strcmp(scope, "db");
        cJSON *doc, *problems;

        if (scope && !only_db)
                return cs_reply_error(req, 400, "check must be 'db' (or absent for every part)");
        if (!only_db)
                checks(&req->app->cfg, &buf, &dav);
        ok = db_ok && buf.ok && dav.ok;
        doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "status", ok ? "ok" : "degraded");
        cJSON_AddBoolToObject(doc, "db", db_ok);
        if (!only_db) {
                cJSON_AddBoolToObject(doc, "buffer", buf.ok);
                cJSON_AddBoolToObject(doc, "webdav", dav.ok);
        }
        if (!ok) {
                problems = cJSON_AddObjectToObject(doc, "problems");
                if (!db_ok)
                        cJSON_AddStringToObject(problems, "db", "database unreachable");
                if (!buf.ok)
                        cJSON_AddStringToObject(problems, "buffer", buf.why);
                if (!dav.ok)
                        cJSON_AddStringToObject(problems, "webdav", dav.why);
        }
        cJSON_AddStringToObject(doc, "version", CS_VERSION);
        cJSON_AddNumberToObject(doc, "uptime_seconds", (double)(cs_now() - req->app->started_at));
        cJSON_AddNumberToObject(doc, "threads", req->app->nthreads);
        cJSON_AddNumberToObject(doc, "busy", atomic_load(&req->app->busy));
        cJSON_AddNumberToObject(doc, "requests", (double)atomic_load(&req->app->requests));
        if (!only_db)
                cJSON_AddNumberToObject(doc, "checked_seconds_ago", (double)(cs_now() - dav.at));
        return cs_reply_json(req, ok ? 200 : 503, doc);
}
