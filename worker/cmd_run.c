/* cmd_run.c - crowdsky-worker run: the polling daemon.
 *
 *   crowdsky-worker run [--config FILE] [--once] [--max-jobs N] [--idle-exit SECONDS]
 *
 * Configuration: the config file and CROWDSKY_* environment (api_url,
 * worker_token, webdav_url/user/password, scratch_dir, worker_threads,
 * poll_interval_seconds, poll_max_seconds, log_level).
 *
 * Loop: claim (GET /api/next_job); on a job, run it (job.c); when idle or
 * when the API fails, sleep poll_interval_seconds doubling up to
 * poll_max_seconds, each sleep with +-20 % jitter so a fleet does not poll in
 * step. SIGTERM/SIGINT: stop claiming; a running job is finished when it is
 * close to done (writing, uploading, completing, or 3/4 through stacking),
 * else handed back (fail_job, retryable) at once; a second signal hands it
 * back whatever its stage. Exit status: 0 after a clean stop, 1 on a
 * configuration error or when the API refuses the token (401). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "cmds.h"
#include "job.h"
#include "crowdsky/config.h"
#include "crowdsky/log.h"
#include "crowdsky/rand.h"
#include "crowdsky/str.h"
#include "crowdsky/webdav.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
        (void)sig;
        if (g_stop < 2)
                g_stop++;
}

static void usage(FILE *f)
{
        fprintf(f, "usage: crowdsky-worker run [--config FILE] [--once] [--max-jobs N] [--idle-exit SECONDS]\n"
                   "\n"
                   "Polls the CrowdSky API for stacking jobs, stacks them and stores the results on WebDAV.\n"
                   "\n"
                   "  --config FILE        key = value settings (else the embedded defaults + CROWDSKY_* env)\n"
                   "  --once               handle at most one job, then exit (exit at once when idle)\n"
                   "  --max-jobs N         exit after N jobs\n"
                   "  --idle-exit SECONDS  exit after SECONDS without a job (batch schedulers)\n"
                   "SIGTERM/SIGINT: finish the current job if it is close to done, else hand it back.\n");
}

static void on_dav_retry(void *ud, const char *what, const char *reason, int attempt, int delay_ms)
{
        (void)ud;
        cs_log_warn("event=webdav_retry op='%s' attempt=%d delay_ms=%d reason='%s'", what, attempt, delay_ms,
                    reason);
}

/* Sleeps about secs (+-20 %), returning early on a signal. */
static void nap(double secs)
{
        uint32_t rnd = 0;
        struct timespec ts;
        double f;

        cs_random_bytes(&rnd, sizeof rnd, NULL);
        f = 0.8 + 0.4 * ((double)rnd / 4294967295.0);
        secs *= f;
        ts.tv_sec = (time_t)secs;
        ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
        while (!g_stop && nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static enum cs_log_level level_of(const char *s)
{
        if (!strcmp(s, "error"))
                return CS_LOG_ERROR;
        if (!strcmp(s, "warn"))
                return CS_LOG_WARN;
        if (!strcmp(s, "debug"))
                return CS_LOG_DEBUG;
        return CS_LOG_INFO;
}

static int parse_int(const char *opt, const char *v, int64_t lo, int64_t *ret)
{
        if (!v || cs_parse_i64_c(v, ret) < 0 || *ret < lo) {
                fprintf(stderr, "crowdsky-worker run: %s needs an integer >= %lld\n", opt, (long long)lo);
                return -1;
        }
        return 0;
}

int cmd_run(int argc, char **argv)
{
        const char *conf = NULL;
        struct cs_config cfg;
        struct cs_err err = CS_ERR_INIT;
        struct wk_api *api = NULL;
        struct cs_webdav *dav = NULL;
        struct cs_webdav_opts o = { 0 };
        struct wk_ctx ctx;
        struct sigaction sa;
        int64_t max_jobs = 0, idle_exit = 0, v;
        bool once = false;
        int64_t jobs = 0, completed = 0, failed = 0;
        double idle_since, delay;
        int i, rc = 1;

        for (i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (!strcmp(a, "--config") && i + 1 < argc) {
                        conf = argv[++i];
                } else if (!strncmp(a, "--config=", 9)) {
                        conf = a + 9;
                } else if (!strcmp(a, "--once")) {
                        once = true;
                } else if (!strcmp(a, "--max-jobs")) {
                        if (parse_int(a, i + 1 < argc ? argv[++i] : NULL, 1, &v) < 0)
                                return 2;
                        max_jobs = v;
                } else if (!strcmp(a, "--idle-exit")) {
                        if (parse_int(a, i + 1 < argc ? argv[++i] : NULL, 1, &v) < 0)
                                return 2;
                        idle_exit = v;
                } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
                        usage(stdout);
                        return 0;
                } else {
                        fprintf(stderr, "crowdsky-worker run: unknown argument '%s' (try --help)\n", a);
                        return 2;
                }
        }
        if (once)
                max_jobs = 1;
        if (cs_config_load(conf, &cfg, &err) < 0) {
                fprintf(stderr, "crowdsky-worker run: %s\n", err.msg);
                return 1;
        }
        cs_log_set_level(level_of(cfg.log_level));
        if (cfg.poll_interval_seconds < 1)
                cfg.poll_interval_seconds = 1;
        if (cfg.poll_max_seconds < cfg.poll_interval_seconds)
                cfg.poll_max_seconds = cfg.poll_interval_seconds;
        if (wk_api_new(cfg.api_url, cfg.worker_token, &api, &err) < 0) {
                fprintf(stderr, "crowdsky-worker run: %s\n", err.msg);
                return 1;
        }
        o.url = cfg.webdav_url;
        o.user = cfg.webdav_user;
        o.password = cfg.webdav_password;
        o.on_retry = on_dav_retry;
        if (cs_webdav_new(&o, &dav, &err) < 0) {
                fprintf(stderr, "crowdsky-worker run: %s\n", err.msg);
                goto out;
        }
        if (mkdir(cfg.scratch_dir, 0700) < 0 && errno != EEXIST) {
                fprintf(stderr, "crowdsky-worker run: scratch_dir '%s': %s\n", cfg.scratch_dir, strerror(errno));
                goto out;
        }

        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal; /* no SA_RESTART: a signal ends a nap at once */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        memset(&ctx, 0, sizeof ctx);
        ctx.cfg = &cfg;
        ctx.api = api;
        ctx.dav = dav;
        ctx.stop = &g_stop;
        ctx.threads = cfg.worker_threads;
        cs_log_info("event=start api='%s' webdav='%s' scratch='%s' threads=%d poll=%d..%ds", cfg.api_url,
                    cfg.webdav_url, cfg.scratch_dir, cfg.worker_threads, cfg.poll_interval_seconds,
                    cfg.poll_max_seconds);

        rc = 0;
        delay = cfg.poll_interval_seconds;
        idle_since = (double)time(NULL);
        while (!g_stop) {
                cJSON *claim = NULL;
                int r = wk_api_get_json(api, "/api/next_job", &claim, &err);

                if (r == CS_EAUTH) {
                        cs_log_error("event=token_refused reason='%s'", err.msg);
                        rc = 1;
                        break;
                }
                if (r == CS_OK && claim) {
                        bool auth_failed = false;
                        enum wk_outcome oc = wk_job_run(&ctx, claim, &auth_failed);
                        cJSON_Delete(claim);
                        jobs++;
                        completed += oc == WK_COMPLETED;
                        failed += oc == WK_FAILED;
                        delay = cfg.poll_interval_seconds;
                        idle_since = (double)time(NULL);
                        if (auth_failed) {
                                rc = 1;
                                break;
                        }
                        if (max_jobs && jobs >= max_jobs)
                                break;
                        continue; /* there may be more: ask again at once */
                }
                if (r < 0)
                        cs_log_warn("event=poll_failed reason='%s' retry_in=%.0fs", err.msg, delay);
                else if (once)
                        break; /* --once and nothing to do */
                if (idle_exit && (double)time(NULL) - idle_since >= (double)idle_exit) {
                        cs_log_info("event=idle_exit idle_seconds=%lld", (long long)idle_exit);
                        break;
                }
                nap(delay);
                delay *= 2;
                if (delay > cfg.poll_max_seconds)
                        delay = cfg.poll_max_seconds;
        }
        cs_log_info("event=stop jobs=%lld completed=%lld failed=%lld signal=%s", (long long)jobs, (long long)completed,
                    (long long)failed, g_stop ? "yes" : "no");
out:
        cs_webdav_free(dav);
        wk_api_free(api);
        return rc;
}
