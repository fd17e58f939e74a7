/* cleanup.c - housekeeping of the raw buffer and the job queue; see cleanup.h.
 *
 * The raw buffer's layout (fcgi/h_upload.c writes it): a stored raw frame is
 * <buffer_dir>/sess_<session token>/<raw_files.id>.fit; a file being received
 * is <buffer_dir>/sess_<token>/.incoming-<random> until it is renamed. Rows go
 * before files everywhere: a file whose row was deleted but whose unlink
 * failed is an orphan that the next run removes; the reverse order could leave
 * a row pointing at nothing for a job that still needs it. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crowdsky/alloc.h"
#include "crowdsky/cleanup.h"
#include "crowdsky/db.h"
#include "crowdsky/jobs.h"
#include "crowdsky/log.h"
#include "crowdsky/str.h"

#define TOKEN_LEN 64
#define WALK_MAX_DEPTH 8

struct run {
        struct cs_db *db;
        const struct cs_config *cfg;
        const struct cs_cleanup_opts *o;
        struct cs_cleanup_stats *st;
        double now;             /* epoch seconds, clock offset applied */
        int min_age;
        struct cs_err *err;
};

static void note(struct run *R, const char *what, const char *path, int64_t bytes, const char *why)
{
        if (R->o->note)
                R->o->note(R->o->ud, what, path, bytes, why);
}

static bool is_token(const char *s)
{
        size_t i;

        for (i = 0; i < TOKEN_LEN; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return s[TOKEN_LEN] == '\0';
}

static int raw_path(const struct run *R, const char *token, int64_t id, char *out, size_t n)
{
        int k = snprintf(out, n, "%s/sess_%s/%lld.fit", R->cfg->buffer_dir, token, (long long)id);

        return k > 0 && (size_t)k < n ? CS_OK : CS_ETOOBIG;
}

/* Unlinks one file (unless dry run) and counts it. Returns true if it was
 * (or would be) removed. A missing file counts as nothing. */
static bool remove_file(struct run *R, const char *path, const char *what, const char *why)
{
        struct stat sb;

        if (lstat(path, &sb) < 0) {
                if (errno != ENOENT)
                        cs_log_debug("cleanup: stat '%s': %s", path, strerror(errno));
                return false;
        }
        if (!R->o->dry_run && unlink(path) < 0) {
                if (errno != ENOENT)
                        note(R, "error", path, 0, strerror(errno));
                return false;
        }
        R->st->files_removed++;
        R->st->bytes_freed += S_ISREG(sb.st_mode) ? (int64_t)sb.st_size : 0;
        note(R, what, path, S_ISREG(sb.st_mode) ? (int64_t)sb.st_size : 0, why);
        return true;
}

static void session_dir(const struct run *R, const char *token, char *out, size_t n)
{
        snprintf(out, n, "%s/sess_%s", R->cfg->buffer_dir, token);
}

/* Unlinks the files of rows (id, token) already deleted. */
static void unlink_rows(struct run *R, const struct cs_db_rows *rows, size_t col_id, size_t col_token,
                        const char *why)
{
        size_t i;

        for (i = 0; i < cs_db_rows_count(rows); i++) {
                char path[PATH_MAX];
                const char *tok = cs_db_rows_str(rows, i, col_token);
                if (!tok || raw_path(R, tok, cs_db_rows_i64(rows, i, col_id), path, sizeof path) < 0)
                        continue;
                remove_file(R, path, "raw", why);
        }
}

/* ---- 1. expired leases ---- */

static int expire_leases(struct run *R)
{
        struct cs_jobs_policy pol;
        int64_t n = 0;
        int r;

        cs_jobs_policy_from_config(R->cfg, &pol);
        if (!R->o->dry_run)
                return cs_jobs_expire(R->db, &pol, &R->st->jobs_returned, &R->st->jobs_failed, R->err);
        {
                struct cs_db_param p[] = { CS_DB_F64(R->now) };
                r = cs_db_query_i64(R->db,
                                    "SELECT COUNT(*) FROM stacking_jobs WHERE state = 'processing' "
                                    "AND lease_expires_at < FROM_UNIXTIME(?) AND attempts >= max_attempts",
                                    p, CS_DB_N(p), &n, R->err);
        }
        if (r < 0)
                return r;
        R->st->jobs_failed = (int)n;
        {
                struct cs_db_param p[] = { CS_DB_F64(R->now) };
                r = cs_db_query_i64(R->db,
                                    "SELECT COUNT(*) FROM stacking_jobs WHERE state = 'processing' "
                                    "AND lease_expires_at < FROM_UNIXTIME(?) AND attempts < max_attempts",
                                    p, CS_DB_N(p), &n, R->err);
        }
        if (r < 0)
                return r;
        R->st->jobs_returned = (int)n;
        return CS_OK;
}

/* ---- 2. abandoned upload sessions ---- */

/* True if the session folder holds a file being received right now. */
static bool upload_in_flight(struct run *R, const char *token)
{
        char dir[PATH_MAX], path[PATH_MAX];
        DIR *d;
        struct dirent *de;
        bool busy = false;

        session_dir(R, token, dir, sizeof dir);
        d = opendir(dir);
        if (!d)
                return false;
        while (!busy && (de = readdir(d))) {
                struct stat sb;
                if (strncmp(de->d_name, ".incoming-", 10) != 0)
                        continue;
                if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= sizeof path)
                        continue;
                if (lstat(path, &sb) == 0 && R->now - (double)sb.st_mtime < R->min_age)
                        busy = true;
        }
        closedir(d);
        return busy;
}

/* Deletes one abandoned session in a transaction that re-checks it: still open,
 * still idle past the cutoff, no job refers to it or to its files. */
static int remove_session(struct run *R, int64_t sid, const char *token, double cutoff, bool *ret_removed)
{
        struct cs_db_rows *rows = NULL;
        int64_t n = 0;
        int r;

        *ret_removed = false;
        r = cs_db_begin(R->db, R->err);
        if (r < 0)
                return r;
        {
                struct cs_db_param p[] = { CS_DB_I64(sid), CS_DB_F64(cutoff) };
                r = cs_db_query_i64(R->db,
                                    "SELECT COUNT(*) FROM upload_sessions WHERE id = ? AND state = 'open' "
                                    "AND updated_at < FROM_UNIXTIME(?) FOR UPDATE",
                                    p, CS_DB_N(p), &n, R->err);
        }
        if (r < 0 || n == 0)
                goto out;
        {
                struct cs_db_param p[] = { CS_DB_I64(sid), CS_DB_I64(sid) };
                r = cs_db_query_i64(R->db,
                                    "SELECT (SELECT COUNT(*) FROM raw_files WHERE session_id = ? AND job_id IS NOT NULL) "
                                    "+ (SELECT COUNT(*) FROM stacking_jobs WHERE session_id = ?)",
                                    p, CS_DB_N(p), &n, R->err);
        }
        if (r < 0)
                goto out;
        if (n > 0) {
                note(R, "kept", token, 0, "open session is referenced by a job");
                goto out;
        }
        {
                struct cs_db_param p[] = { CS_DB_I64(sid) };
                r = cs_db_query(R->db,
                                "SELECT r.id, s.token FROM raw_files r JOIN upload_sessions s ON s.id = r.session_id "
                                "WHERE r.session_id = ? FOR UPDATE",
                                p, CS_DB_N(p), &rows, R->err);
        }
        if (r < 0)
                goto out;
        if (!R->o->dry_run) {
                struct cs_db_param p[] = { CS_DB_I64(sid) };
                /* raw_files rows go with it (ON DELETE CASCADE) */
                r = cs_db_exec(R->db, "DELETE FROM upload_sessions WHERE id = ?", p, CS_DB_N(p), NULL, NULL,
                               R->err);
                if (r == CS_OK)
                        r = cs_db_commit(R->db, R->err);
        }
        if (r == CS_OK) {
                char dir[PATH_MAX];
                *ret_removed = true;
                R->st->sessions_removed++;
                R->st->raws_removed += (int)cs_db_rows_count(rows);
                note(R, "session", token, 0, "not finalized in time");
                unlink_rows(R, rows, 0, 1, "abandoned session");
                session_dir(R, token, dir, sizeof dir);
                /* anything else in it (an old .incoming-) goes in the orphan step */
                if (!R->o->dry_run)
                        (void)rmdir(dir);
        }
out:
        cs_db_rollback(R->db, NULL);
        cs_db_rows_free(rows);
        return r;
}

static int abandoned_sessions(struct run *R)
{
        double cutoff = R->now - (double)R->cfg->upload_session_ttl_seconds;
        struct cs_db_rows *rows = NULL;
        size_t i;
        int r;

        {
                struct cs_db_param p[] = { CS_DB_F64(cutoff) };
                r = cs_db_query(R->db,
                                "SELECT id, token FROM upload_sessions WHERE state = 'open' "
                                "AND updated_at < FROM_UNIXTIME(?) ORDER BY id LIMIT 10000",
                                p, CS_DB_N(p), &rows, R->err);
        }
        if (r < 0)
                return r;
        for (i = 0; i < cs_db_rows_count(rows) && r == CS_OK; i++) {
                const char *tok = cs_db_rows_str(rows, i, 1);
                bool removed;
                if (!tok || !is_token(tok))
                        continue;
                if (upload_in_flight(R, tok)) {
                        note(R, "kept", tok, 0, "a file is being uploaded into the session");
                        continue;
                }
                r = remove_session(R, cs_db_rows_i64(rows, i, 0), tok, cutoff, &removed);
        }
        cs_db_rows_free(rows);
        return r;
}

/* ---- 3./4./5. raws of finished jobs and leftovers ---- */

/* Deletes the raw rows of job_id if the job is (still) in one of the finished
 * states, then unlinks their files. */
static int remove_job_raws(struct run *R, int64_t job_id, const char *why)
{
        struct cs_db_rows *rows = NULL;
        int r;

        r = cs_db_begin(R->db, R->err);
        if (r < 0)
                return r;
        {
                struct cs_db_param p[] = { CS_DB_I64(job_id) };
                r = cs_db_query(R->db,
                                "SELECT r.id, s.token FROM raw_files r "
                                "JOIN stacking_jobs j ON j.id = r.job_id "
                                "JOIN upload_sessions s ON s.id = r.session_id "
                                "WHERE r.job_id = ? AND j.state IN ('completed', 'failed') FOR UPDATE",
                                p, CS_DB_N(p), &rows, R->err);
        }
        if (r == CS_OK && !R->o->dry_run && cs_db_rows_count(rows) > 0) {
                struct cs_db_param p[] = { CS_DB_I64(job_id) };
                r = cs_db_exec(R->db,
                               "DELETE r FROM raw_files r JOIN stacking_jobs j ON j.id = r.job_id "
                               "WHERE r.job_id = ? AND j.state IN ('completed', 'failed')",
                               p, CS_DB_N(p), NULL, NULL, R->err);
        }
        if (r == CS_OK && !R->o->dry_run)
                r = cs_db_commit(R->db, R->err);
        cs_db_rollback(R->db, NULL);
        if (r == CS_OK) {
                R->st->raws_removed += (int)cs_db_rows_count(rows);
                unlink_rows(R, rows, 0, 1, why);
        }
        cs_db_rows_free(rows);
        return r;
}

static int finished_job_raws(struct run *R)
{
        struct cs_db_rows *rows = NULL;
        double failed_cutoff = R->now - (double)R->cfg->upload_session_ttl_seconds;
        size_t i;
        int r;

        /* finished jobs that still have raws, with the user's stack of their
         * chunk key if there is one (a replaced stack belongs to a newer job) */
        r = cs_db_query(R->db,
                        "SELECT j.id, j.state, sf.webdav_path, UNIX_TIMESTAMP(j.finished_at) "
                        "FROM stacking_jobs j "
                        "LEFT JOIN stacked_frames sf ON sf.user_id = j.user_id AND sf.chunk_key = j.chunk_key "
                        "WHERE j.state IN ('completed', 'failed') "
                        "AND EXISTS (SELECT 1 FROM raw_files r WHERE r.job_id = j.id) "
                        "ORDER BY j.id LIMIT 10000",
                        NULL, 0, &rows, R->err);
        if (r < 0)
                return r;
        for (i = 0; i < cs_db_rows_count(rows) && r == CS_OK; i++) {
                int64_t jid = cs_db_rows_i64(rows, i, 0);
                const char *state = cs_db_rows_str(rows, i, 1);
                const char *path = cs_db_rows_str(rows, i, 2);
                bool failed = state && !strcmp(state, "failed");
                bool confirmed = false;
                char label[64];

                snprintf(label, sizeof label, "job %lld", (long long)jid);
                if (path && *path) {
                        struct cs_err cerr = CS_ERR_INIT;
                        int c = R->o->confirm ? R->o->confirm(R->o->ud, path, &cerr) : CS_OK;
                        if (c == CS_OK)
                                confirmed = true;
                        else if (c != CS_ENOTFOUND)
                                note(R, "kept", label, 0, cerr.msg[0] ? cerr.msg : "stack cannot be checked");
                }
                if (confirmed) {
                        r = remove_job_raws(R, jid, "stack confirmed");
                } else if (failed && !cs_db_rows_isnull(rows, i, 3) &&
                           cs_db_rows_f64(rows, i, 3) < failed_cutoff) {
                        r = remove_job_raws(R, jid, "job failed long ago");
                } else if (!failed) {
                        R->st->unconfirmed++;
                        note(R, "kept", label, 0, "completed but its stack is not confirmed");
                }
        }
        cs_db_rows_free(rows);
        if (r < 0)
                return r;

        /* rows of finalized sessions that no job owns: their job was deleted */
        rows = NULL;
        r = cs_db_begin(R->db, R->err);
        if (r < 0)
                return r;
        r = cs_db_query(R->db,
                        "SELECT r.id, s.token FROM raw_files r JOIN upload_sessions s ON s.id = r.session_id "
                        "WHERE r.job_id IS NULL AND s.state = 'finalized' LIMIT 10000 FOR UPDATE",
                        NULL, 0, &rows, R->err);
        for (i = 0; i < cs_db_rows_count(rows) && r == CS_OK && !R->o->dry_run; i++) {
                struct cs_db_param p[] = { CS_DB_I64(cs_db_rows_i64(rows, i, 0)) };
                r = cs_db_exec(R->db, "DELETE FROM raw_files WHERE id = ? AND job_id IS NULL", p, CS_DB_N(p),
                               NULL, NULL, R->err);
        }
        if (r == CS_OK && !R->o->dry_run)
                r = cs_db_commit(R->db, R->err);
        cs_db_rollback(R->db, NULL);
        if (r == CS_OK) {
                R->st->raws_removed += (int)cs_db_rows_count(rows);
                unlink_rows(R, rows, 0, 1, "no job owns it");
        }
        cs_db_rows_free(rows);
        return r;
}

/* ---- 6. orphans on disk ---- */

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

        return x < y ? -1 : x > y;
}

/* Removes an unknown file if old enough. */
static void orphan_file(struct run *R, const char *path, const struct stat *sb, const char *why)
{
        if (R->now - (double)sb->st_mtime < R->min_age) {
                R->st->young_kept++;
                note(R, "young", path, (int64_t)sb->st_size, "younger than the minimum age");
                return;
        }
        if (remove_file(R, path, "orphan", why))
                R->st->orphans++;
}

/* An unknown folder: everything in it old enough goes, then the folder if empty. */
static void orphan_tree(struct run *R, const char *dir, int depth)
{
        DIR *d;
        struct dirent *de;
        char path[PATH_MAX];
        struct stat dsb;
        bool left = false;

        if (depth > WALK_MAX_DEPTH) {
                note(R, "kept", dir, 0, "folder nested too deep");
                return;
        }
        /* its age before we touch it: removing entries updates its mtime */
        if (lstat(dir, &dsb) < 0)
                return;
        d = opendir(dir);
        if (!d)
                return;
        while ((de = readdir(d))) {
                struct stat sb;
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= sizeof path ||
                    lstat(path, &sb) < 0) {
                        left = true;
                        continue;
                }
                if (S_ISDIR(sb.st_mode))
                        orphan_tree(R, path, depth + 1);
                else
                        orphan_file(R, path, &sb, "no row knows it");
                if (R->o->dry_run || access(path, F_OK) == 0)
                        left = true;
        }
        closedir(d);
        if (!left && !R->o->dry_run && R->now - (double)dsb.st_mtime >= R->min_age && rmdir(dir) == 0) {
                R->st->orphans++;
                note(R, "orphan-dir", dir, 0, "empty folder no row knows");
        }
}

/* A session folder: files named <id>.fit with a row of that session are kept,
 * everything else old enough is an orphan. Rows without a file are reported. */
static int session_folder(struct run *R, const char *dir, const char *token)
{
        struct cs_db_rows *rows = NULL;
        int64_t *ids = NULL;
        bool *seen = NULL;
        size_t n = 0, i;
        bool known = false, live = false, left = false;
        struct stat dsb;
        DIR *d = NULL;
        struct dirent *de;
        char path[PATH_MAX];
        int r;

        {
                struct cs_db_param p[] = { CS_DB_STR(token) };
                r = cs_db_query(R->db,
                                "SELECT s.id, s.state, r.id, j.state FROM upload_sessions s "
                                "LEFT JOIN raw_files r ON r.session_id = s.id "
                                "LEFT JOIN stacking_jobs j ON j.id = r.job_id "
                                "WHERE s.token = ?",
                                p, CS_DB_N(p), &rows, R->err);
        }
        if (r < 0)
                return r;
        if (cs_db_rows_count(rows) > 0) {
                known = true;
                live = !strcmp(cs_db_rows_str(rows, 0, 1), "open");
        }
        ids = cs_xcalloc(cs_db_rows_count(rows) + 1, sizeof *ids);
        seen = cs_xcalloc(cs_db_rows_count(rows) + 1, sizeof *seen);
        for (i = 0; i < cs_db_rows_count(rows); i++) {
                if (cs_db_rows_isnull(rows, i, 2))
                        continue;
                ids[n++] = cs_db_rows_i64(rows, i, 2);
                live = true;
        }
        qsort(ids, n, sizeof *ids, cmp_i64);

        if (lstat(dir, &dsb) < 0)
                goto out;
        d = opendir(dir);
        if (!d)
                goto out;
        while ((de = readdir(d))) {
                struct stat sb;
                int64_t id;
                const char *dot;
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= sizeof path ||
                    lstat(path, &sb) < 0) {
                        left = true;
                        continue;
                }
                dot = strrchr(de->d_name, '.');
                if (S_ISREG(sb.st_mode) && dot && !strcmp(dot, ".fit") &&
                    cs_parse_i64(cs_str_from(de->d_name, (size_t)(dot - de->d_name)), &id) == CS_OK) {
                        int64_t *hit = bsearch(&id, ids, n, sizeof *ids, cmp_i64);
                        if (hit) {
                                seen[hit - ids] = true;
                                left = true;
                                continue;
                        }
                }
                if (S_ISDIR(sb.st_mode))
                        orphan_tree(R, path, 1);
                else
                        orphan_file(R, path, &sb, known ? "no row of its session knows it"
                                                        : "its upload session does not exist");
                if (access(path, F_OK) == 0)
                        left = true;
        }
        closedir(d);
        for (i = 0; i < n; i++) {
                if (seen[i])
                        continue;
                if (raw_path(R, token, ids[i], path, sizeof path) < 0)
                        continue;
                R->st->missing++;
                note(R, "missing", path, 0, "a raw row whose file is gone");
        }
        /* the folder itself: gone when empty and nothing will write into it */
        if (!left && !live && !R->o->dry_run) {
                if (R->now - (double)dsb.st_mtime >= R->min_age && rmdir(dir) == 0) {
                        if (!known)
                                R->st->orphans++;
                        note(R, known ? "session-dir" : "orphan-dir", dir, 0,
                             known ? "empty folder of a finished session" : "its upload session does not exist");
                }
        }
out:
        free(ids);
        free(seen);
        cs_db_rows_free(rows);
        return CS_OK;
}

static int orphans(struct run *R)
{
        const char *base = R->cfg->buffer_dir;
        DIR *d;
        struct dirent *de;
        char path[PATH_MAX];
        int r = CS_OK;

        d = opendir(base);
        if (!d) {
                if (errno == ENOENT)
                        return CS_OK;
                return cs_err_set(R->err, CS_EIO, "cannot read buffer_dir '%s': %s", base, strerror(errno));
        }
        while (r == CS_OK && (de = readdir(d))) {
                struct stat sb;
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, "lost+found"))
                        continue;
                if ((size_t)snprintf(path, sizeof path, "%s/%s", base, de->d_name) >= sizeof path ||
                    lstat(path, &sb) < 0)
                        continue;
                if (!strncmp(de->d_name, "sess_", 5) && is_token(de->d_name + 5)) {
                        if (S_ISDIR(sb.st_mode))
                                r = session_folder(R, path, de->d_name + 5);
                        else
                                orphan_file(R, path, &sb, "a session name that is not a folder");
                } else if (S_ISREG(sb.st_mode) && (!strncmp(de->d_name, ".incoming-", 10) ||
                                                   !strncmp(de->d_name, ".health-", 8))) {
                        orphan_file(R, path, &sb, "a temporary file of ours left behind");
                } else {
                        /* not a name we write: a misconfigured buffer_dir must not lose
                         * somebody's files, so these are reported, never removed */
                        R->st->foreign++;
                        note(R, "foreign", path, S_ISREG(sb.st_mode) ? (int64_t)sb.st_size : 0,
                             "not written by CrowdSky: left alone (is buffer_dir right?)");
                }
        }
        closedir(d);
        return r;
}

/* ---- 7. expired log-in sessions, old failed log-ins ---- */

/* Deletes (or in a dry run counts) the rows of `table` whose `col` is older
 * than the epoch time `before`. */
static int purge_before(struct run *R, const char *table, const char *col, double before, int *ret_n)
{
        struct cs_db_param p[] = { CS_DB_F64(before) };
        char q[160];
        uint64_t n = 0;
        int64_t k = 0;
        int r;

        if (R->o->dry_run) {
                snprintf(q, sizeof q, "SELECT COUNT(*) FROM %s WHERE %s < FROM_UNIXTIME(?)", table, col);
                r = cs_db_query_i64(R->db, q, p, CS_DB_N(p), &k, R->err);
                if (r == CS_OK)
                        *ret_n = (int)k;
                return r;
        }
        snprintf(q, sizeof q, "DELETE FROM %s WHERE %s < FROM_UNIXTIME(?)", table, col);
        r = cs_db_exec(R->db, q, p, CS_DB_N(p), &n, NULL, R->err);
        if (r == CS_OK)
                *ret_n = (int)n;
        return r;
}

static int logins(struct run *R)
{
        int r = purge_before(R, "login_sessions", "expires_at", R->now, &R->st->logins_purged);

        /* the throttle looks back 15 minutes; a day is kept for whoever
         * looks into an attack */
        if (r == CS_OK)
                r = purge_before(R, "login_attempts", "attempted_at", R->now - CS_CLEANUP_ATTEMPTS_KEEP,
                                 &R->st->attempts_purged);
        return r;
}

int cs_cleanup_run(struct cs_db *db, const struct cs_config *cfg, const struct cs_cleanup_opts *opts,
                   struct cs_cleanup_stats *ret, struct cs_err *err)
{
        struct run R;
        struct timespec t0, t1;
        int r;

        memset(ret, 0, sizeof *ret);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        R.db = db;
        R.cfg = cfg;
        R.o = opts;
        R.st = ret;
        R.now = (double)time(NULL) + (double)cfg->clock_offset_seconds;
        R.min_age = opts->min_file_age_seconds > 0 ? opts->min_file_age_seconds : CS_CLEANUP_MIN_FILE_AGE;
        R.err = err;

        r = expire_leases(&R);
        if (r == CS_OK)
                r = abandoned_sessions(&R);
        if (r == CS_OK)
                r = finished_job_raws(&R);
        if (r == CS_OK)
                r = orphans(&R);
        if (r == CS_OK)
                r = logins(&R);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ret->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        return r;
}

int cs_buffer_usage(struct cs_db *db, struct cs_buffer_usage *ret, struct cs_err *err)
{
        struct cs_db_rows *rows = NULL;
        int r;

        /* the same measure as the upload quota check (fcgi/h_upload.c) */
        r = cs_db_query(db,
                        "SELECT COALESCE(SUM(r.size_bytes), 0), COUNT(r.id), "
                        "(SELECT COUNT(*) FROM upload_sessions WHERE state = 'open') "
                        "FROM raw_files r LEFT JOIN stacking_jobs j ON j.id = r.job_id "
                        "WHERE j.id IS NULL OR j.state <> 'completed'",
                        NULL, 0, &rows, err);
        if (r < 0)
                return r;
        ret->used_bytes = cs_db_rows_i64(rows, 0, 0);
        ret->files = cs_db_rows_i64(rows, 0, 1);
        ret->open_sessions = cs_db_rows_i64(rows, 0, 2);
        cs_db_rows_free(rows);
        return CS_OK;
}
