/* cmd_serve.c - crowdsky-fcgi serve [--config FILE]: the responder pool. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cmds.h"
#include "pool.h"
#include "crowdsky/log.h"
#include "crowdsky/rand.h"

#define THROTTLE_MAX_KEYS 100000
#define CREDCACHE_ENTRIES 4096
#define CREDCACHE_TTL_SECONDS 120
#define SESSCACHE_ENTRIES 8192
#define SESSCACHE_TTL_SECONDS 5
#define LISTEN_BACKLOG 256

static void set_log_level(const char *s)
{
        if (!strcasecmp(s, "error"))
                cs_log_set_level(CS_LOG_ERROR);
        else if (!strcasecmp(s, "warn"))
                cs_log_set_level(CS_LOG_WARN);
        else if (!strcasecmp(s, "debug"))
                cs_log_set_level(CS_LOG_DEBUG);
        else
                cs_log_set_level(CS_LOG_INFO);
}

/* mkdir -p with mode 0700 for the parts it creates. */
static int make_dirs(const char *path)
{
        char buf[CS_CONF_STR];
        size_t i, n = strlen(path);

        if (n == 0 || n >= sizeof buf)
                return errno = EINVAL, -1;
        memcpy(buf, path, n + 1);
        for (i = 1; i <= n; i++) {
                if (buf[i] != '/' && buf[i] != '\0')
                        continue;
                buf[i] = '\0';
                if (mkdir(buf, 0700) < 0 && errno != EEXIST)
                        return -1;
                buf[i] = path[i];
        }
        return 0;
}

int cmd_serve(int argc, char **argv)
{
        static struct cs_app app;
        struct cs_err err = CS_ERR_INIT;
        const char *conf = NULL;
        int i, fd, rc;

        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--config") && i + 1 < argc) {
                        conf = argv[++i];
                } else if (!strncmp(argv[i], "--config=", 9)) {
                        conf = argv[i] + 9;
                } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
                        printf("usage: crowdsky-fcgi serve [--config FILE]\n");
                        return 0;
                } else {
                        fprintf(stderr, "crowdsky-fcgi serve: unknown argument '%s'\n", argv[i]);
                        return 2;
                }
        }
        if (cs_config_load(conf, &app.cfg, &err) < 0) {
                fprintf(stderr, "crowdsky-fcgi: %s\n", err.msg);
                return 1;
        }
        set_log_level(app.cfg.log_level);
        if (app.cfg.fcgi_threads < 1 || app.cfg.fcgi_threads > 256) {
                fprintf(stderr, "crowdsky-fcgi: fcgi_threads must be 1..256, not %d\n", app.cfg.fcgi_threads);
                return 1;
        }
        if (!app.cfg.site_secret[0]) {
                /* keyed hashes then only live as long as this process */
                cs_log_warn("site_secret is not set; using a random one for this process");
                if (cs_random_hex(app.cfg.site_secret, 32, &err) < 0) {
                        fprintf(stderr, "crowdsky-fcgi: %s\n", err.msg);
                        return 1;
                }
        }
        app.nthreads = app.cfg.fcgi_threads;
        pthread_mutex_init(&app.quota_lock, NULL);
        app.started_at = cs_now();
        app.throttle = cs_throttle_new(CS_LOGIN_MAX_FAILURES, CS_LOGIN_WINDOW_SECONDS, THROTTLE_MAX_KEYS);
        app.credcache = cs_credcache_new(CREDCACHE_ENTRIES, CREDCACHE_TTL_SECONDS);
        app.sesscache = cs_sesscache_new(SESSCACHE_ENTRIES, SESSCACHE_TTL_SECONDS);
        if (cs_routes_check(&err) < 0) {
                fprintf(stderr, "crowdsky-fcgi: route table: %s\n", err.msg);
                return 1;
        }
        if (make_dirs(app.cfg.buffer_dir) < 0)
                cs_log_warn("cannot create buffer_dir '%s': %s; uploads will fail until it exists",
                            app.cfg.buffer_dir, strerror(errno));
        if (FCGX_Init() != 0) {
                fprintf(stderr, "crowdsky-fcgi: FCGX_Init failed\n");
                return 1;
        }
        fd = cs_pool_listen(app.cfg.fcgi_listen, LISTEN_BACKLOG, &err);
        if (fd < 0) {
                fprintf(stderr, "crowdsky-fcgi: %s\n", err.msg);
                return 1;
        }
        cs_log_info("listening on '%s' version=%s", app.cfg.fcgi_listen, CS_VERSION);
        rc = cs_pool_run(&app, fd);
        app.throttle = cs_throttle_free(app.throttle);
        app.credcache = cs_credcache_free(app.credcache);
        app.sesscache = cs_sesscache_free(app.sesscache);
        return rc;
}
