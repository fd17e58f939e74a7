/* test_jobs.c - the job queue and worker tokens against a real MariaDB
 * (suite 'db'; skipped, 77, unless CS_TEST_DB_SOCKET is set). Works in its own
 * scratch database with the project's migrations, dropped at the end. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cs_test.h"
#include "crowdsky/db.h"
#include "crowdsky/jobs.h"
#include "crowdsky/str.h"

static struct cs_config cfg;
static char scratch[64];
static struct cs_db *g_db;
static int64_t g_user;

static struct cs_db *open_db(void)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_db *db = cs_db_open(&cfg, &err);

        if (!db)
                CS_FAIL("cs_db_open: %s", err.msg);
        return db;
}

static void exec_ok(struct cs_db *db, const char *sql, const struct cs_db_param *p, size_t n)
{
        struct cs_err err = CS_ERR_INIT;

        if (cs_db_exec(db, sql, p, n, NULL, NULL, &err) < 0)
                CS_FAIL("%s: %s", sql, err.msg);
}

static int64_t q_i64(const char *sql, int64_t arg)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_db_param p[] = { CS_DB_I64(arg) };
        int64_t v = 0;

        if (cs_db_query_i64(g_db, sql, p, CS_DB_N(p), &v, &err) < 0)
                CS_FAIL("%s: %s", sql, err.msg);
        return v;
}

static void teardown(void)
{
        struct cs_err err = CS_ERR_INIT;
        char q[128];

        if (!g_db)
                return;
        snprintf(q, sizeof q, "DROP DATABASE IF EXISTS `%s`", scratch);
        if (cs_db_exec(g_db, q, NULL, 0, NULL, NULL, &err) < 0)
                fprintf(stderr, "drop scratch database: %s\n", err.msg);
        g_db = cs_db_free(g_db);
}

static void setup(void)
{
        struct cs_err err = CS_ERR_INIT;
        const char *conf = getenv("CS_TEST_CONF"), *sock = getenv("CS_TEST_DB_SOCKET");
        const char *src = getenv("CS_SOURCE_ROOT"), *v;
        char sqldir[1024];
        uint64_t id = 0;

        if (g_db)
                return;
        if (!sock || !*sock) {
                fprintf(stderr, "CS_TEST_DB_SOCKET is not set: skipped\n");
                exit(77);
        }
        if (cs_config_load(conf && *conf ? conf : NULL, &cfg, &err) < 0)
                CS_FAIL("config: %s", err.msg);
        snprintf(cfg.db_socket, sizeof cfg.db_socket, "%s", sock);
        if ((v = getenv("CS_TEST_DB_USER")) && *v)
                snprintf(cfg.db_user, sizeof cfg.db_user, "%s", v);
        if ((v = getenv("CS_TEST_DB_PASSWORD")))
                snprintf(cfg.db_password, sizeof cfg.db_password, "%s", v);
        snprintf(scratch, sizeof scratch, "crowdsky_test_jobs_%ld", (long)getpid());
        snprintf(cfg.db_name, sizeof cfg.db_name, "%s", scratch);
        cfg.lease_seconds = 60;
        cfg.clock_offset_seconds = 0;
        g_db = cs_db_open_create(&cfg, &err);
        if (!g_db)
                CS_FAIL("cs_db_open_create: %s", err.msg);
        atexit(teardown);
        snprintf(sqldir, sizeof sqldir, "%s/sql", src ? src : ".");
        if (cs_db_migrate(g_db, sqldir, NULL, NULL, NULL, &err) < 0)
                CS_FAIL("migrate: %s", err.msg);
        {
                struct cs_db_param p[] = { CS_DB_STR("alice") };
                if (cs_db_exec(g_db,
                               "INSERT INTO users (username, email, password_hash) VALUES (?, 'a@example.org', 'x')",
                               p, CS_DB_N(p), NULL, &id, &err) < 0)
                        CS_FAIL("user: %s", err.msg);
        }
        g_user = (int64_t)id;
        exec_ok(g_db, "INSERT INTO upload_sessions (token, user_id, state) VALUES (REPEAT('a', 64), 1, 'finalized')",
                NULL, 0);
}

static void policy(struct cs_jobs_policy *pol, int64_t offset)
{
        cs_jobs_policy_from_config(&cfg, pol);
        pol->clock_offset_seconds = offset;
}

/* A pending job with n raws (exptime 10 s each, 1 s apart). */
static int64_t add_job(const char *key, int nraws, int max_attempts)
{
        struct cs_err err = CS_ERR_INIT;
        uint64_t id = 0;
        int i;

        {
                struct cs_db_param p[] = { CS_DB_I64(g_user), CS_DB_STR(key), CS_DB_I64(nraws),
                                           CS_DB_I64(max_attempts) };
                if (cs_db_exec(g_db,
                               "INSERT INTO stacking_jobs (user_id, session_id, chunk_key, object_name, frame_count, "
                               "max_attempts, scrub_location, not_before) "
                               "VALUES (?, 1, ?, 'M 94', ?, ?, 0, UTC_TIMESTAMP(6) - INTERVAL 1 SECOND)",
                               p, CS_DB_N(p), NULL, &id, &err) < 0)
                        CS_FAIL("job: %s", err.msg);
        }
        for (i = 0; i < nraws; i++) {
                char name[64];
                struct cs_db_param p[] = { CS_DB_I64(id), CS_DB_STR(name), CS_DB_I64(i), CS_DB_STR(key) };
                snprintf(name, sizeof name, "%s-%d.fit", key, i);
                exec_ok(g_db,
                        "INSERT INTO raw_files (session_id, user_id, job_id, original_filename, size_bytes, sha256, "
                        "date_obs, obs_time, ra_deg, dec_deg, exptime, object_name, width, height, chunk_key, "
                        "site_lat, site_long) VALUES (1, 1, ?, ?, 4152960, REPEAT('0', 64), "
                        "'2025-03-27 01:20:33' + INTERVAL ? SECOND, 0, 193.0, 41.1, 10, 'M 94', 1080, 1920, ?, "
                        "48.2, 16.4)",
                        p, CS_DB_N(p));
        }
        /* as finalize does after its commit: idle pollers of this process look again */
        cs_jobs_queue_changed();
        return (int64_t)id;
}

static void clear_jobs(void)
{
        exec_ok(g_db, "DELETE FROM stacked_frames", NULL, 0);
        exec_ok(g_db, "DELETE FROM raw_files", NULL, 0);
        exec_ok(g_db, "DELETE FROM stacking_jobs", NULL, 0);
}

static const char *job_state(int64_t id, char *buf, size_t n)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_db_rows *rows = NULL;
        struct cs_db_param p[] = { CS_DB_I64(id) };

        if (cs_db_query(g_db, "SELECT state FROM stacking_jobs WHERE id = ?", p, CS_DB_N(p), &rows, &err) < 0)
                CS_FAIL("%s", err.msg);
        snprintf(buf, n, "%s", cs_db_rows_count(rows) ? cs_db_rows_str(rows, 0, 0) : "(none)");
        cs_db_rows_free(rows);
        return buf;
}

static struct cs_job_result result_for(const char *path)
{
        struct cs_job_result res;

        memset(&res, 0, sizeof res);
        res.webdav_path = path;
        res.thumbnail_path = "stacks/alice/k/1/thumbnail.png";
        res.file_size_bytes = 12345;
        res.n_frames_input = -1;
        res.n_frames_aligned = 3;
        res.total_exptime = -1;
        res.ra_deg = NAN;
        res.dec_deg = NAN;
        res.fwhm = 2.5;
        res.report_json = "{\"frames\":[]}";
        return res;
}

CS_TEST(worker_tokens)
{
        struct cs_err err = CS_ERR_INIT;
        char tok[CS_WORKER_TOKEN_LEN + 1], tok2[CS_WORKER_TOKEN_LEN + 1], name[CS_WORKER_NAME_MAX];
        int64_t id = 0;

        setup();
        CS_ASSERT_OK(cs_worker_token_create(g_db, "w1", tok, &err));
        CS_ASSERT_EQ(strlen(tok), CS_WORKER_TOKEN_LEN);
        CS_ASSERT(strncmp(tok, "cswt_", 5) == 0);
        /* only the digest is stored */
        CS_ASSERT_EQ(q_i64("SELECT COUNT(*) FROM worker_tokens WHERE name = 'w1' AND id > ?", 0), 1);
        CS_ASSERT_OK(cs_worker_token_verify(g_db, tok, &id, name, &err));
        CS_ASSERT(id > 0);
        CS_ASSERT_STREQ(name, "w1");
        CS_ASSERT_EQ(cs_worker_token_create(g_db, "w1", tok2, &err), CS_ECONFLICT);
        CS_ASSERT_EQ(cs_worker_token_create(g_db, "bad name", tok2, &err), CS_EINVAL);

        /* a wrong token of the right shape, a malformed one, an empty one */
        tok2[0] = '\0';
        memcpy(tok2, tok, sizeof tok);
        tok2[10] = tok2[10] == 'a' ? 'b' : 'a';
        CS_ASSERT_EQ(cs_worker_token_verify(g_db, tok2, &id, name, &err), CS_EAUTH);
        CS_ASSERT_EQ(cs_worker_token_verify(g_db, "cswt_short", &id, name, &err), CS_EAUTH);
        CS_ASSERT_EQ(cs_worker_token_verify(g_db, "", &id, name, &err), CS_EAUTH);

        /* revoked: refused; the name can then be given a new token */
        CS_ASSERT_OK(cs_worker_token_revoke(g_db, "w1", &err));
        CS_ASSERT_EQ(cs_worker_token_verify(g_db, tok, &id, name, &err), CS_EAUTH);
        CS_ASSERT(strstr(err.msg, "revoked") != NULL);
        CS_ASSERT_EQ(cs_worker_token_revoke(g_db, "w1", &err), CS_ENOTFOUND);
        CS_ASSERT_OK(cs_worker_token_create(g_db, "w1", tok2, &err));
        CS_ASSERT_OK(cs_worker_token_verify(g_db, tok2, &id, name, &err));
        CS_ASSERT_EQ(cs_worker_token_verify(g_db, tok, &id, name, &err), CS_EAUTH);

        /* revoked by another process (the CLI): a verification this process
         * remembers holds for CS_WORKER_TOKEN_CACHE_SECONDS at the most */
        {
                struct timespec t0, t1;
                int r;
                double waited;

                CS_ASSERT_OK(cs_worker_token_verify(g_db, tok2, &id, name, &err));
                exec_ok(g_db, "UPDATE worker_tokens SET revoked_at = UTC_TIMESTAMP(6) WHERE name = 'w1'", NULL, 0);
                clock_gettime(CLOCK_MONOTONIC, &t0);
                do {
                        r = cs_worker_token_verify(g_db, tok2, &id, name, &err);
                        clock_gettime(CLOCK_MONOTONIC, &t1);
                        waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
                        if (r == CS_OK)
                                usleep(50000);
                } while (r == CS_OK && waited < 5);
                CS_ASSERT_EQ(r, CS_EAUTH);
                CS_ASSERT(waited <= CS_WORKER_TOKEN_CACHE_SECONDS + 0.5); /* margin: a loaded machine */
                exec_ok(g_db, "DELETE FROM worker_tokens WHERE name = 'w1'", NULL, 0);
        }
}

/* Idle polling: "nothing to do" answered from memory only briefly; a job made
 * by this process (cs_jobs_queue_changed) is seen at once, one made by
 * another process within CS_JOBS_IDLE_CACHE_SECONDS. */
CS_TEST(idle_window)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_jobs_policy pol;
        struct cs_job_claim c;
        struct timespec t0, t1;
        double waited;
        int i, r;

        setup();
        clear_jobs();
        policy(&pol, 0);
        for (i = 0; i < 3; i++)
                CS_ASSERT_EQ(cs_jobs_claim(g_db, &pol, 0, "idle", &c, &err), CS_ENOTFOUND);
        /* made here: seen by the next poll */
        add_job("20250327.05_193.0_+41.1", 0, 3);
        CS_ASSERT_OK(cs_jobs_claim(g_db, &pol, 0, "idle", &c, &err));
        cs_job_claim_release(&c);
        for (i = 0; i < 3; i++)
                CS_ASSERT_EQ(cs_jobs_claim(g_db, &pol, 0, "idle", &c, &err), CS_ENOTFOUND);
        /* made elsewhere (no cs_jobs_queue_changed): seen within the window */
        exec_ok(g_db,
                "INSERT INTO stacking_jobs (user_id, chunk_key, frame_count, not_before) "
                "VALUES (1, '20250327.06_193.0_+41.1', 1, UTC_TIMESTAMP(6) - INTERVAL 1 SECOND)",
                NULL, 0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do {
                r = cs_jobs_claim(g_db, &pol, 0, "idle", &c, &err);
                clock_gettime(CLOCK_MONOTONIC, &t1);
                waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
                if (r == CS_ENOTFOUND)
                        usleep(10000);
        } while (r == CS_ENOTFOUND && waited < 5);
        CS_ASSERT_OK(r);
        CS_ASSERT(waited <= CS_JOBS_IDLE_CACHE_SECONDS + 0.5); /* margin: a loaded machine */
        cs_job_claim_release(&c);
}

CS_TEST(claim_heartbeat_complete)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_jobs_policy pol;
        struct cs_job_claim c1, c2, c3;
        struct cs_job_completion done;
        struct cs_job_result res;
        int64_t j1, j2;
        char st[32];

        setup();
        clear_jobs();
        policy(&pol, 0);
        j1 = add_job("20250327.05_193.0_+41.1", 3, 3);
        j2 = add_job("20250327.06_193.0_+41.1", 2, 3);

        CS_ASSERT_OK(cs_jobs_claim(g_db, &pol, 0, "w-a", &c1, &err));
        CS_ASSERT_EQ(c1.job_id, j1); /* oldest first */
        CS_ASSERT_STREQ(c1.kind, "stack");
        CS_ASSERT_STREQ(c1.chunk_key, "20250327.05_193.0_+41.1");
        CS_ASSERT_STREQ(c1.object_name, "M 94");
        CS_ASSERT_EQ(c1.frame_count, 3);
        CS_ASSERT_EQ(c1.attempts, 1);
        CS_ASSERT_EQ(strlen(c1.lease), CS_JOB_LEASE_LEN);
        CS_ASSERT_STREQ(c1.username, "alice");
        {
                char want[256];
                snprintf(want, sizeof want, "stacks/alice/20250327.05_193.0_+41.1/%lld/stacked.fits", (long long)j1);
                CS_ASSERT_STREQ(c1.stack_path, want);
        }
        CS_ASSERT_OK(cs_jobs_claim(g_db, &pol, 0, "w-b", &c2, &err));
        CS_ASSERT_EQ(c2.job_id, j2);
        CS_ASSERT(strcmp(c1.lease, c2.lease) != 0);
        CS_ASSERT_EQ(cs_jobs_claim(g_db, &pol, 0, "w-c", &c3, &err), CS_ENOTFOUND);

        /* heartbeats: with the lease, twice in a row (no change is not stale), progress recorded */
        CS_ASSERT_OK(cs_jobs_heartbeat(g_db, &pol, j1, 0, c1.lease, "aligning", 2, 3, &err));
        CS_ASSERT_OK(cs_jobs_heartbeat(g_db, &pol, j1, 0, c1.lease, "aligning", 2, 3, &err));
        CS_ASSERT_EQ(q_i64("SELECT progress_done FROM stacking_jobs WHERE id = ?", j1), 2);
        CS_ASSERT_EQ(cs_jobs_heartbeat(g_db, &pol, j1, 0, c2.lease, NULL, -1, -1, &err), CS_ECONFLICT);
        CS_ASSERT_EQ(cs_jobs_heartbeat(g_db, &pol, 999999, 0, c1.lease, NULL, -1, -1, &err), CS_ENOTFOUND);
        CS_ASSERT_EQ(cs_jobs_heartbeat(g_db, &pol, j1, 0, "short", NULL, -1, -1, &err), CS_ECONFLICT);

        /* complete: wrong lease changes nothing */
        res = result_for("stacks/alice/20250327.05_193.0_+41.1/1/stacked.fits");
        CS_ASSERT_EQ(cs_jobs_complete(g_db, &pol, j1, 0, c2.lease, &res, &done, &err), CS_ECONFLICT);
        CS_ASSERT_STREQ(job_state(j1, st, sizeof st), "processing");
        CS_ASSERT_EQ(q_i64("SELECT COUNT(*) FROM raw_files WHERE job_id = ?", j1), 3);

        CS_ASSERT_OK(cs_jobs_complete(g_db, &pol, j1, 0, c1.lease, &res, &done, &err));
        CS_ASSERT(!done.already);
        CS_ASSERT(done.stacked_id > 0);
        CS_ASSERT_EQ(done.n_raw, 3);
        CS_ASSERT(done.old_webdav_path == NULL);
        CS_ASSERT_STREQ(job_state(j1, st, sizeof st), "completed");
        CS_ASSERT_EQ(q_i64("SELECT COUNT(*) FROM raw_files WHERE job_id = ?", j1), 0);
        /* fields from the raws where the worker gave none; site kept (scrub_location = 0) */
        CS_ASSERT_EQ(q_i64("SELECT n_frames_input FROM stacked_frames WHERE id = ?", done.stacked_id), 3);
        CS_ASSERT_EQ(q_i64("SELECT ROUND(total_exptime) FROM stacked_frames WHERE id = ?", done.stacked_id), 30);
        CS_ASSERT_EQ(q_i64("SELECT UNIX_TIMESTAMP(date_obs_end) - UNIX_TIMESTAMP(date_obs_start) "
                           "FROM stacked_frames WHERE id = ?", done.stacked_id), 2);
        CS_ASSERT_EQ(q_i64("SELECT ROUND(ra_deg * 10) FROM stacked_frames WHERE id = ?", done.stacked_id), 1930);
        CS_ASSERT_EQ(q_i64("SELECT site_lat IS NOT NULL FROM stacked_frames WHERE id = ?", done.stacked_id), 1);
        CS_ASSERT_EQ(q_i64("SELECT n_frames_aligned FROM stacked_frames WHERE id = ?", done.stacked_id), 3);
        cs_job_completion_release(&done);

        /* idempotent replay; other calls with that lease now conflict */
        CS_ASSERT_OK(cs_jobs_complete(g_db, &pol, j1, 0, c1.lease, &res, &done, &err));
        CS_ASSERT(done.already);
        CS_ASSERT_EQ(done.n_raw, 0);
        cs_job_completion_release(&done);
        CS_ASSERT_EQ(q_i64("SELECT COUNT(*) FROM stacked_frames WHERE job_id = ?", j1), 1);
        CS_ASSERT_EQ(cs_jobs_fail(g_db, &pol, j1, 0, c1.lease, "x", true, NULL, &err), CS_ECONFLICT);
        CS_ASSERT_EQ(cs_jobs_heartbeat(g_db, &pol, j1, 0, c1.lease, NULL, -1, -1, &err), CS_ECONFLICT);

        /* a second stack of the same chunk key replaces the row and names the old files */
        {
                int64_t j3 = add_job("20250327.05_193.0_+41.1", 1, 3);
                struct cs_job_claim c4;
                struct cs_job_result r2 = result_for("stacks/alice/20250327.05_193.0_+41.1/9/stacked.fits");
                r2.thumbnail_path = "stacks/alice/20250327.05_193.0_+41.1/9/thumbnail.png";
                r2.date_obs_start = "2025-03-27T01:20:32.955368";
                r2.date_obs_end = "2025-03-27T01:22:48Z";
                CS_ASSERT_OK(cs_jobs_claim(g_db, &pol, 0, "w-a", &c4, &err));
                CS_ASSERT_EQ(c4.job_id, j3);
                CS_ASSERT_OK(cs_jobs_complete(g_db, &pol, j3, 0, c4.lease, &r2, &done, &err));
                CS_ASSERT_STREQ(done.old_webdav_path, "stacks/alice/20250327.05_193.0_+41.1/1/stacked.fits");
                CS_ASSERT_STREQ(done.old_thumbnail_path, "stacks/alice/k/1/thumbnail.png");
                CS_ASSERT_EQ(q_i64("SELECT COUNT(*) FROM stacked_frames WHERE user_id = ?", g_user), 1);
                CS_ASSERT_EQ(q_i64("SELECT UNIX_TIMESTAMP(date_obs_end) - UNIX_TIMESTAMP('2025-03-27 01:22:48') "
                                   "FROM stacked_frames WHERE job_id = ?", j3), 0);
                cs_job_completion_release(&done);
                cs_job_claim_release(&c4);
        }
        /* a bad date is refused before anything changes */
        res.date_obs_start = "yesterday";
        CS_ASSERT_EQ(cs_jobs_complete(g_db, &pol, j2, 0, c2.lease, &res, &done, &err), CS_EINVAL);
        CS_ASSERT_STREQ(job_state(j2, st, sizeof st), "processing");
        cs_job_claim_release(&c1);
        cs_job_claim_release(&c2);
}

CS_TEST(lease_expiry_and_stale_worker)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_jobs_policy now, later, much_later;
        struct cs_job_claim a, b, c;
        struct cs_job_completion done;
        struct cs_job_result res;
        int64_t j;
        char st[32];

        setup();
        clear_jobs();
        policy(&now, 0);
        policy(&later, cfg.lease_seconds + 5);
        policy(&much_later, 3 * (cfg.lease_seconds + 5));
        j = add_job("20250327.05_193.0_+41.1", 2, 2);

        CS_ASSERT_OK(cs_jobs_claim(g_db, &now, 0, "dies", &a, &err));
        /* the lease has not expired: nobody else gets it */
        CS_ASSERT_EQ(cs_jobs_claim(g_db, &now, 0, "other", &b, &err), CS_ENOTFOUND);
        /* it expired: the next claimer takes it, as attempt 2 */
        CS_ASSERT_OK(cs_jobs_claim(g_db, &later, 0, "other", &b, &err));
        CS_ASSERT_EQ(b.job_id, j);
        CS_ASSERT_EQ(b.attempts, 2);
        /* the first worker comes back: everything it says is refused */
        CS_ASSERT_EQ(cs_jobs_heartbeat(g_db, &later, j, 0, a.lease, NULL, -1, -1, &err), CS_ECONFLICT);
        res = result_for("stacks/alice/x/1/stacked.fits");
        CS_ASSERT_EQ(cs_jobs_complete(g_db, &later, j, 0, a.lease, &res, &done, &err), CS_ECONFLICT);
        CS_ASSERT_EQ(cs_jobs_fail(g_db, &later, j, 0, a.lease, "late", true, NULL, &err), CS_ECONFLICT);
        CS_ASSERT_STREQ(job_state(j, st, sizeof st), "processing");
        /* the second dies too: out of attempts, the next claim fails it instead */
        CS_ASSERT_EQ(cs_jobs_claim(g_db, &much_later, 0, "third", &c, &err), CS_ENOTFOUND);
        CS_ASSERT_STREQ(job_state(j, st, sizeof st), "failed");
        CS_ASSERT_EQ(q_i64("SELECT last_error LIKE '%stopped responding%' FROM stacking_jobs WHERE id = ?", j), 1);
        /* raws are kept for a failed job (the user may delete it) */
        CS_ASSERT_EQ(q_i64("SELECT COUNT(*) FROM raw_files WHERE job_id = ?", j), 2);
        cs_job_claim_release(&a);
        cs_job_claim_release(&b);
}

CS_TEST(fail_retry_backoff_and_max_attempts)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_jobs_policy now, later;
        struct cs_job_claim a, b;
        enum cs_job_state s = CS_JOB_PROCESSING;
        int64_t j, k;
        char st[32];

        setup();
        clear_jobs();
        policy(&now, 0);
        policy(&later, 4000); /* past the longest backoff */
        j = add_job("20250327.05_193.0_+41.1", 1, 2);

        CS_ASSERT_OK(cs_jobs_claim(g_db, &now, 0, "w", &a, &err));
        CS_ASSERT_OK(cs_jobs_fail(g_db, &now, j, 0, a.lease, "WebDAV down", true, &s, &err));
        CS_ASSERT_EQ(s, CS_JOB_PENDING);
        CS_ASSERT_STREQ(job_state(j, st, sizeof st), "pending");
        CS_ASSERT_EQ(q_i64("SELECT not_before > UTC_TIMESTAMP(6) FROM stacking_jobs WHERE id = ?", j), 1);
        /* backing off: not claimable now */
        CS_ASSERT_EQ(cs_jobs_claim(g_db, &now, 0, "w", &b, &err), CS_ENOTFOUND);
        CS_ASSERT_OK(cs_jobs_claim(g_db, &later, 0, "w", &b, &err));
        CS_ASSERT_EQ(b.job_id, j);
        CS_ASSERT_EQ(b.attempts, 2);
        /* the old lease is dead */
        CS_ASSERT_EQ(cs_jobs_fail(g_db, &later, j, 0, a.lease, "x", true, NULL, &err), CS_ECONFLICT);
        /* retryable, but the last attempt: failed, with the error */
        CS_ASSERT_OK(cs_jobs_fail(g_db, &later, j, 0, b.lease, "WebDAV still down", true, &s, &err));
        CS_ASSERT_EQ(s, CS_JOB_FAILED);
        CS_ASSERT_EQ(q_i64("SELECT last_error LIKE 'WebDAV still down%gave up after 2 attempts%' "
                           "FROM stacking_jobs WHERE id = ?", j), 1);
        cs_job_claim_release(&a);
        cs_job_claim_release(&b);

        /* not retryable: failed at once */
        k = add_job("20250327.07_193.0_+41.1", 1, 3);
        CS_ASSERT_OK(cs_jobs_claim(g_db, &now, 0, "w", &a, &err));
        CS_ASSERT_EQ(a.job_id, k);
        CS_ASSERT_OK(cs_jobs_fail(g_db, &now, k, 0, a.lease, "no frame could be aligned", false, &s, &err));
        CS_ASSERT_EQ(s, CS_JOB_FAILED);
        CS_ASSERT_EQ(q_i64("SELECT attempts FROM stacking_jobs WHERE id = ?", k), 1);
        cs_job_claim_release(&a);
}

CS_TEST(expire_sweep)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_jobs_policy now, later;
        struct cs_job_claim a, b;
        int ret = -1, failed = -1;
        int64_t j1, j2;
        char st[32];

        setup();
        clear_jobs();
        policy(&now, 0);
        policy(&later, cfg.lease_seconds + 5);
        j1 = add_job("20250327.05_193.0_+41.1", 1, 3);
        j2 = add_job("20250327.06_193.0_+41.1", 1, 1);
        CS_ASSERT_OK(cs_jobs_claim(g_db, &now, 0, "w", &a, &err));
        CS_ASSERT_OK(cs_jobs_claim(g_db, &now, 0, "w", &b, &err));
        CS_ASSERT_OK(cs_jobs_expire(g_db, &now, &ret, &failed, &err));
        CS_ASSERT_EQ(ret, 0);
        CS_ASSERT_EQ(failed, 0);
        CS_ASSERT_OK(cs_jobs_expire(g_db, &later, &ret, &failed, &err));
        CS_ASSERT_EQ(ret, 1);
        CS_ASSERT_EQ(failed, 1);
        CS_ASSERT_STREQ(job_state(j1, st, sizeof st), "pending");
        CS_ASSERT_STREQ(job_state(j2, st, sizeof st), "failed");
        CS_ASSERT_EQ(cs_jobs_heartbeat(g_db, &later, j1, 0, a.lease, NULL, -1, -1, &err), CS_ECONFLICT);
        cs_job_claim_release(&a);
        cs_job_claim_release(&b);
}

CS_TEST(holder_check)
{
        struct cs_err err = CS_ERR_INIT;
        struct cs_jobs_policy pol;
        struct cs_job_claim a;
        char tok[CS_WORKER_TOKEN_LEN + 1];
        int64_t tid = 0, uid = 0, j;
        char kind[16];

        setup();
        clear_jobs();
        policy(&pol, 0);
        CS_ASSERT_OK(cs_worker_token_create(g_db, "holder-test", tok, &err));
        CS_ASSERT_OK(cs_worker_token_verify(g_db, tok, &tid, NULL, &err));
        j = add_job("20250327.05_193.0_+41.1", 1, 3);
        CS_ASSERT_EQ(cs_jobs_check_holder(g_db, j, tid, &uid, kind, &err), CS_EFORBIDDEN);
        CS_ASSERT_OK(cs_jobs_claim(g_db, &pol, tid, "holder-test", &a, &err));
        CS_ASSERT_OK(cs_jobs_check_holder(g_db, j, tid, &uid, kind, &err));
        CS_ASSERT_EQ(uid, g_user);
        CS_ASSERT_STREQ(kind, "stack");
        CS_ASSERT_EQ(cs_jobs_check_holder(g_db, j, tid + 1, &uid, kind, &err), CS_EFORBIDDEN);
        CS_ASSERT_EQ(cs_jobs_check_holder(g_db, 987654, tid, &uid, kind, &err), CS_ENOTFOUND);
        /* another token cannot heartbeat it even with the lease */
        CS_ASSERT_EQ(cs_jobs_heartbeat(g_db, &pol, j, tid + 1, a.lease, NULL, -1, -1, &err), CS_ECONFLICT);
        CS_ASSERT_OK(cs_jobs_heartbeat(g_db, &pol, j, tid, a.lease, NULL, -1, -1, &err));
        cs_job_claim_release(&a);
}

/* ---- 16 claimers against 2,000 pending jobs ---- */

#define N_JOBS 2000
#define N_CLAIMERS 16

struct claimer {
        pthread_t t;
        int64_t *ids;
        int n;
        int errors;
        char first_error[256];
};

static void *claim_loop(void *ud)
{
        struct claimer *cl = ud;
        struct cs_err err = CS_ERR_INIT;
        struct cs_jobs_policy pol;
        struct cs_db *db = open_db();
        struct cs_job_claim c;
        char holder[32];
        int r;

        policy(&pol, 0);
        snprintf(holder, sizeof holder, "claimer-%p", (void *)cl);
        for (;;) {
                r = cs_jobs_claim(db, &pol, 0, holder, &c, &err);
                if (r == CS_ENOTFOUND)
                        break;
                if (r < 0) {
                        if (!cl->errors++)
                                snprintf(cl->first_error, sizeof cl->first_error, "%s", err.msg);
                        if (cl->errors > 100)
                                break;
                        continue;
                }
                cl->ids[cl->n++] = c.job_id;
                cs_job_claim_release(&c);
        }
        cs_db_free(db);
        return NULL;
}

/* CPU seconds (user + system) used so far by process pid (0 = this one), or -1. */
static double cpu_seconds(long pid)
{
        char path[64], buf[1024], *p;
        unsigned long ut = 0, st = 0;
        FILE *f;
        int i;

        snprintf(path, sizeof path, pid ? "/proc/%ld/stat" : "/proc/self/stat", pid);
        f = fopen(path, "r");
        if (!f)
                return -1;
        p = fgets(buf, sizeof buf, f);
        fclose(f);
        if (!p || !(p = strrchr(buf, ')')))
                return -1;
        /* fields after the command: state is field 3; utime 14, stime 15 */
        for (i = 3; i < 14 && p; i++)
                p = strchr(p + 1, ' ');
        if (!p || sscanf(p, " %lu %lu", &ut, &st) != 2)
                return -1;
        return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The pid of the test stack's mariadbd, or 0. */
static long server_pid(void)
{
        const char *dir = getenv("CS_TEST_STACK");
        char path[1024];
        long pid = 0;
        FILE *f;

        if (!dir || !*dir)
                return 0;
        snprintf(path, sizeof path, "%s/run/mysql.pid", dir);
        f = fopen(path, "r");
        if (!f)
                return 0;
        if (fscanf(f, "%ld", &pid) != 1)
                pid = 0;
        fclose(f);
        return pid;
}

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return x < y ? -1 : x > y;
}

CS_TEST(concurrent_claims_exactly_once)
{
        struct claimer cl[N_CLAIMERS];
        struct timespec t0, t1;
        int64_t *all;
        int i, k, total = 0, errors = 0;
        double secs, c0, c1, s0, s1;
        long spid;
        /* CS_CLAIMERS=N (1..16) measures fewer claimers, e.g. to see contention */
        const char *env = getenv("CS_CLAIMERS");
        int64_t want = 0;
        int nc = env && cs_parse_i64_c(env, &want) == CS_OK && want >= 1 && want <= N_CLAIMERS ? (int)want
                                                                                              : N_CLAIMERS;

        setup();
        clear_jobs();
        exec_ok(g_db,
                "INSERT INTO stacking_jobs (user_id, chunk_key, frame_count, not_before) "
                "SELECT 1, CONCAT('20250101.', LPAD(seq MOD 96, 2, '0'), '_', seq, '_+0.0'), 1, "
                "UTC_TIMESTAMP(6) - INTERVAL 1 SECOND FROM seq_1_to_2000",
                NULL, 0);
        CS_ASSERT_EQ(q_i64("SELECT COUNT(*) FROM stacking_jobs WHERE state = 'pending' AND id > ?", 0), N_JOBS);

        spid = server_pid();
        c0 = cpu_seconds(0);
        s0 = spid ? cpu_seconds(spid) : -1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (i = 0; i < nc; i++) {
                memset(&cl[i], 0, sizeof cl[i]);
                cl[i].ids = calloc(N_JOBS, sizeof(int64_t));
                CS_ASSERT(pthread_create(&cl[i].t, NULL, claim_loop, &cl[i]) == 0);
        }
        for (i = 0; i < nc; i++)
                pthread_join(cl[i].t, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        c1 = cpu_seconds(0);
        s1 = spid ? cpu_seconds(spid) : -1;

        all = calloc(N_JOBS + 1, sizeof(int64_t));
        for (i = 0; i < nc; i++) {
                if (cl[i].errors)
                        fprintf(stderr, "claimer %d: %d errors, first: %s\n", i, cl[i].errors, cl[i].first_error);
                errors += cl[i].errors;
                for (k = 0; k < cl[i].n && total <= N_JOBS; k++)
                        all[total++] = cl[i].ids[k];
                free(cl[i].ids);
        }
        CS_ASSERT_EQ(errors, 0);
        CS_ASSERT_EQ(total, N_JOBS);
        qsort(all, (size_t)total, sizeof *all, cmp_i64);
        for (i = 1; i < total; i++)
                CS_ASSERT(all[i] != all[i - 1]); /* nobody got a job twice */
        free(all);
        /* and the database agrees: every job claimed exactly once */
        CS_ASSERT_EQ(q_i64("SELECT COUNT(*) FROM stacking_jobs WHERE state = 'processing' AND attempts = ?", 1),
                     N_JOBS);
        CS_ASSERT_EQ(q_i64("SELECT COUNT(DISTINCT lease_id) FROM stacking_jobs WHERE id > ?", 0), N_JOBS);
        printf("FIGURE claims: %d jobs, %d claimers, %.3f s, %.0f claims/s, 0 double claims, 0 errors\n", N_JOBS,
               nc, secs, N_JOBS / secs);
        /* The wall clock depends on what else the machine runs; the CPU spent
         * per claim (claimers + MariaDB) gives the capacity of idle cores. */
        if (c0 >= 0 && c1 >= 0 && s0 >= 0 && s1 >= 0) {
                double per = (c1 - c0 + s1 - s0) / N_JOBS;
                long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
                printf("FIGURE claim cpu: client %.3f s + server %.3f s = %.0f us per claim -> about %.0f claims/s "
                       "on %ld idle cores\n",
                       c1 - c0, s1 - s0, per * 1e6, per > 0 ? (double)ncpu / per : 0.0, ncpu);
        }
}

CS_TEST_MAIN()
