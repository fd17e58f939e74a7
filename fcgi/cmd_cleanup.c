/* cmd_cleanup.c - crowdsky-fcgi cleanup [--config FILE] [--dry-run]
 * [--min-age SECONDS] [--no-verify] [--verbose]: the housekeeping run of the
 * systemd timer (crowdsky-cleanup.timer); see crowdsky/cleanup.h for what it
 * removes and what it never touches.
 *
 * A finished job's raws go only when its stack is confirmed on WebDAV (a
 * HEAD/PROPFIND of the stored FITS); --no-verify takes the database row as
 * confirmation (a store that is down keeps raws otherwise).
 *
 * Output: one line per removal/report with --verbose (or in a dry run), then
 * one summary line on stdout:
 *   cleanup: sessions_removed=N files_removed=N bytes_freed=N orphans=N
 *   jobs_returned=N jobs_failed=N raws_removed=N young_kept=N missing=N
 *   unconfirmed=N foreign=N logins_purged=N attempts_purged=N dry_run=0|1 seconds=S
 * Exit 0 on success, 1 on a failure (one-line reason on stderr), 2 on usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "crowdsky/cleanup.h"
#include "crowdsky/db.h"
#include "crowdsky/log.h"
#include "crowdsky/str.h"
#include "crowdsky/webdav.h"

struct ctx {
        struct cs_webdav *dav;
        bool verbose;
        bool dry_run;
};

static void usage(FILE *f)
{
        fprintf(f, "usage: crowdsky-fcgi cleanup [--config FILE] [--dry-run] [--min-age SECONDS] [--no-verify] "
                   "[--verbose]\n"
                   "  removes upload sessions not finalized in upload_session_ttl_seconds, raws of finished\n"
                   "  jobs whose stack is confirmed, orphan files in buffer_dir; returns jobs whose lease expired.\n"
                   "  --dry-run   report what would be done, change nothing\n"
                   "  --min-age   unknown files younger than this are kept (default %d s)\n"
                   "  --no-verify do not check stacks on WebDAV before removing their raws\n",
                CS_CLEANUP_MIN_FILE_AGE);
}

static int confirm(void *ud, const char *webdav_path, struct cs_err *err)
{
        struct ctx *c = ud;
        int64_t size = 0;
        int r;

        r = cs_webdav_stat(c->dav, webdav_path, &size, err);
        if (r == CS_OK && size <= 0)
                return cs_err_set(err, CS_ENOTFOUND, "stack '%s' is empty on WebDAV", webdav_path);
        return r;
}

static void note(void *ud, const char *what, const char *path, int64_t bytes, const char *why)
{
        struct ctx *c = ud;

        if (!strcmp(what, "missing") || !strcmp(what, "error") || !strcmp(what, "foreign"))
                cs_log_warn("cleanup %s path='%s' %s", what, path ? path : "", why ? why : "");
        if (c->verbose || c->dry_run)
                printf("%s%s '%s' bytes=%lld (%s)\n", c->dry_run ? "would remove " : "",
                       what, path ? path : "", (long long)bytes, why ? why : "");
}

static void set_log_level(const char *s)
{
        if (!strcmp(s, "error"))
                cs_log_set_level(CS_LOG_ERROR);
        else if (!strcmp(s, "warn"))
                cs_log_set_level(CS_LOG_WARN);
        else if (!strcmp(s, "debug"))
                cs_log_set_level(CS_LOG_DEBUG);
        else
                cs_log_set_level(CS_LOG_INFO);
}

int cmd_cleanup(int argc, char **argv)
{
        const char *conf = NULL;
        struct cs_config cfg;
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *db = NULL;
        struct cs_cleanup_opts opts = { 0 };
        struct cs_cleanup_stats st;
        struct ctx c = { 0 };
        bool verify = true;
        int i, r, rc = 1;

        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--config") && i + 1 < argc) {
                        conf = argv[++i];
                } else if (!strncmp(argv[i], "--config=", 9)) {
                        conf = argv[i] + 9;
                } else if (!strcmp(argv[i], "--dry-run")) {
                        c.dry_run = true;
                } else if (!strcmp(argv[i], "--no-verify")) {
                        verify = false;
                } else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) {
                        c.verbose = true;
                } else if (!strcmp(argv[i], "--min-age") && i + 1 < argc) {
                        int64_t v;
                        if (cs_parse_i64_c(argv[++i], &v) < 0 || v < 1 || v > 86400 * 30) {
                                fprintf(stderr, "crowdsky-fcgi cleanup: --min-age must be 1..2592000 seconds, "
                                                "not '%s'\n", argv[i]);
                                return 2;
                        }
                        opts.min_file_age_seconds = (int)v;
                } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
                        usage(stdout);
                        return 0;
                } else {
                        fprintf(stderr, "crowdsky-fcgi cleanup: unknown argument '%s' (try --help)\n", argv[i]);
                        return 2;
                }
        }
        if (cs_config_load(conf, &cfg, &err) < 0) {
                fprintf(stderr, "crowdsky-fcgi cleanup: %s\n", err.msg);
                return 1;
        }
        set_log_level(cfg.log_level);
        if (cfg.upload_session_ttl_seconds < 60) {
                fprintf(stderr, "crowdsky-fcgi cleanup: upload_session_ttl_seconds must be at least 60\n");
                return 1;
        }
        db = cs_db_open(&cfg, &err);
        if (!db) {
                fprintf(stderr, "crowdsky-fcgi cleanup: %s\n", err.msg);
                return 1;
        }
        if (verify) {
                struct cs_webdav_opts wo = { 0 };
                wo.url = cfg.webdav_url;
                wo.user = cfg.webdav_user;
                wo.password = cfg.webdav_password;
                wo.max_attempts = 2;
                wo.backoff_base_ms = 200;
                wo.connect_timeout_s = 5;
                wo.request_timeout_s = 15;
                if (cs_webdav_new(&wo, &c.dav, &err) < 0) {
                        fprintf(stderr, "crowdsky-fcgi cleanup: webdav_url: %s\n", err.msg);
                        goto out;
                }
                opts.confirm = confirm;
        }
        opts.dry_run = c.dry_run;
        opts.note = note;
        opts.ud = &c;
        r = cs_cleanup_run(db, &cfg, &opts, &st, &err);
        printf("cleanup: sessions_removed=%d files_removed=%lld bytes_freed=%lld orphans=%d jobs_returned=%d "
               "jobs_failed=%d raws_removed=%d young_kept=%d missing=%d unconfirmed=%d foreign=%d "
               "logins_purged=%d attempts_purged=%d dry_run=%d seconds=%.3f\n",
               st.sessions_removed, (long long)st.files_removed, (long long)st.bytes_freed, st.orphans,
               st.jobs_returned, st.jobs_failed, st.raws_removed, st.young_kept, st.missing, st.unconfirmed,
               st.foreign, st.logins_purged, st.attempts_purged, c.dry_run ? 1 : 0, st.seconds);
        fflush(stdout);
        if (r < 0) {
                fprintf(stderr, "crowdsky-fcgi cleanup: %s\n", err.msg);
                goto out;
        }
        if (st.sessions_removed || st.files_removed || st.jobs_returned || st.jobs_failed)
                cs_log_info("cleanup sessions=%d files=%lld bytes=%lld orphans=%d jobs_returned=%d jobs_failed=%d%s",
                            st.sessions_removed, (long long)st.files_removed, (long long)st.bytes_freed,
                            st.orphans, st.jobs_returned, st.jobs_failed, c.dry_run ? " (dry run)" : "");
        rc = 0;
out:
        cs_webdav_free(c.dav);
        cs_db_free(db);
        return rc;
}
