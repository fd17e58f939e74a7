/* jobs.c - the job queue: claim, heartbeat, complete, fail, expire.
 *
 * Concurrency design (why claimers never get the same job and never deadlock):
 *
 * - Each claim is one short transaction at READ COMMITTED. At that level
 *   InnoDB's locking reads take record locks only, no gap/next-key locks, so
 *   claimers do not block each other's gaps nor the INSERTs of finalize, and
 *   rows that a locking scan reads but that do not match are unlocked at once.
 *
 * - The row is picked with `SELECT ... ORDER BY not_before, id LIMIT 1
 *   FOR UPDATE SKIP LOCKED` over the index ix_jobs_claim (state, not_before,
 *   id). The ORDER BY is the index order inside the range state = 'pending'
 *   AND not_before <= now, so InnoDB walks the index and stops at the first
 *   row it can lock: no filesort (a filesort would make it lock every
 *   matching row before LIMIT applies, and the other claimers would then skip
 *   them all and see an empty queue). "Oldest" is by not_before: a fresh
 *   job's not_before is its creation time, a retried job's is the end of its
 *   backoff, so retries queue up behind work that became ready earlier.
 *
 * - SKIP LOCKED means a claimer never waits for another claimer's row: it
 *   takes the next free one. A row it locks is changed (state = processing)
 *   before commit, so when the lock is released the row has left the
 *   pending range for every later reader. One row is locked per claim and
 *   nothing is waited for, so there is no cycle to deadlock on; the retry
 *   loop for CS_ECONFLICT + cs_db_retryable() is only a safety net.
 *   (Measured: the same claim at the server's default REPEATABLE READ
 *   deadlocks hundreds of times in the 16-claimer test, because the UPDATE
 *   that moves the row's index entries needs insert-intention locks on gaps
 *   that other claimers' next-key locks cover. At READ COMMITTED: none.)
 *
 * - FORCE INDEX: the plan is always this index range, and naming it spares
 *   the optimizer its per-execution range estimates over the other indexes
 *   (measured: 240 -> 80 us of server CPU per claim SELECT, with the hint
 *   below).
 *
 * - Jobs whose lease expired are found the same way through ix_jobs_lease
 *   (state, lease_expires_at), before the pending ones (they have waited
 *   longest). When none expired this is one index probe that finds nothing.
 *
 * - The claim transaction runs inside the server, as the stored procedure
 *   cs_claim_job (sql/002_claim_procedure.sql): the client sends one
 *   `CALL` and reads the claimed row (or none) back. Isolation, START
 *   TRANSACTION, the SELECTs, the UPDATE and the COMMIT used to be five or
 *   six round trips, and on a small server the round trips (context
 *   switches, protocol) cost more than the statements. The procedure sets
 *   READ COMMITTED for its own transaction, so sessions keep the server's
 *   default for everything else. A deadlock or lock wait timeout inside it
 *   rolls back and reaches the client as the same error (the retry loop
 *   below). If the connection drops after the server committed, the claim
 *   stands unseen and its lease expires: the same as a lost COMMIT reply.
 *
 * - heartbeat/complete/fail lock the one job row by primary key (FOR UPDATE,
 *   or a single-row UPDATE), compare the lease, and change it in the same
 *   transaction: a reclaim (which rewrites lease_id under the same row lock)
 *   and a late heartbeat are serialised, and the loser sees a stale lease. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crowdsky/alloc.h"
#include "crowdsky/auth.h"
#include "crowdsky/db.h"
#include "crowdsky/jobs.h"
#include "crowdsky/rand.h"
#include "crowdsky/str.h"

#define TXN_TRIES 3

void cs_jobs_policy_from_config(const struct cs_config *cfg, struct cs_jobs_policy *ret)
{
        memset(ret, 0, sizeof *ret);
        ret->lease_seconds = cfg->lease_seconds > 0 ? cfg->lease_seconds : 300;
        ret->retry_base_seconds = 30;
        ret->retry_max_seconds = 3600;
        if (ret->lease_seconds < 60) {
                /* short leases are for tests and demos: keep the backoff short too */
                ret->retry_base_seconds = ret->lease_seconds / 2 > 0 ? ret->lease_seconds / 2 : 1;
                ret->retry_max_seconds = ret->lease_seconds * 4;
        }
        ret->clock_offset_seconds = cfg->clock_offset_seconds;
}

double cs_jobs_now(const struct cs_jobs_policy *pol)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        /* microseconds, as DATETIME(6) stores them */
        return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000) / 1e6 + (double)pol->clock_offset_seconds;
}

const char *cs_job_state_name(enum cs_job_state s)
{
        switch (s) {
        case CS_JOB_PENDING:
                return "pending";
        case CS_JOB_PROCESSING:
                return "processing";
        case CS_JOB_COMPLETED:
                return "completed";
        case CS_JOB_FAILED:
                return "failed";
        }
        return "unknown";
}

void cs_job_claim_release(struct cs_job_claim *c)
{
        if (!c)
                return;
        CS_FREE(c->params);
}

void cs_job_completion_release(struct cs_job_completion *c)
{
        if (!c)
                return;
        CS_FREE(c->raw_ids);
        CS_FREE(c->raw_tokens);
        CS_FREE(c->old_webdav_path);
        CS_FREE(c->old_thumbnail_path);
        c->n_raw = 0;
}

/* READ COMMITTED for this one transaction: the isolation and the START
 * TRANSACTION go over the same connection (db.h), so a reconnect between them
 * cannot leave the claim running at REPEATABLE READ. */
static int begin_rc(struct cs_db *db, struct cs_err *err)
{
        return cs_db_begin_read_committed(db, err);
}

static bool lease_ok(const char *stored, const char *given)
{
        if (!stored || !given)
                return false;
        return cs_ct_equal(stored, strlen(stored), given, strlen(given));
}

static void copy_cell(const struct cs_db_rows *rows, size_t r, size_t c, char *dst, size_t n)
{
        const char *s = cs_db_rows_str(rows, r, c);
        snprintf(dst, n, "%s", s ? s : "");
}

/* ---- claim --------------------------------------------------------------- */

static bool sample_expired(void)
{
        unsigned char b = 0;

        cs_random_bytes(&b, 1, NULL);
        return (b & 7) == 0;
}

/* Where the last claim of this process was in the claim order (not_before,
 * id). Claiming flips a row's index entry out of the pending range, and
 * InnoDB purges the old entries only a little later, so a scan from the head
 * of the range steps over every recent claim's leftover (hundreds under load:
 * most of a claim's cost). Starting after the last claimed position skips
 * them. It is only a hint: when nothing lies after it, and on every 32nd
 * claim, the scan starts from the head again, so a job that became ready
 * earlier (a claimer rolled back, a clock moved) is never passed over for
 * long. Process-wide, guarded by a mutex. */
struct claim_hint {
        char nb[40];    /* not_before as the server prints it (exact) */
        int64_t id;
};

static struct {
        pthread_mutex_t mu;
        struct claim_hint h;
        unsigned uses;
} g_hint = { PTHREAD_MUTEX_INITIALIZER, { "", 0 }, 0 };

static bool hint_get(struct claim_hint *out)
{
        bool ok;

        pthread_mutex_lock(&g_hint.mu);
        ok = g_hint.h.nb[0] && (++g_hint.uses % 32) != 0;
        if (ok)
                *out = g_hint.h;
        pthread_mutex_unlock(&g_hint.mu);
        return ok;
}

/* Records a claimed position: one found after the hint moves it forward
 * only (claimers race); one found from the head of the queue replaces it, as
 * it is where the free jobs begin now (else a hint left past every pending
 * job, e.g. by jobs created later with an older not_before, would cost
 * every claim a scan that finds nothing). */
static void hint_put(const char *nb, int64_t id, bool from_head)
{
        int c;

        if (!nb || strlen(nb) >= sizeof g_hint.h.nb)
                return;
        pthread_mutex_lock(&g_hint.mu);
        /* DATETIME(6) text compares like the time it shows */
        c = strcmp(nb, g_hint.h.nb);
        if (from_head || !g_hint.h.nb[0] || c > 0 || (c == 0 && id > g_hint.h.id)) {
                snprintf(g_hint.h.nb, sizeof g_hint.h.nb, "%s", nb);
                g_hint.h.id = id;
        }
        pthread_mutex_unlock(&g_hint.mu);
}

/* One claim = one round trip: the transaction runs in the stored procedure
 * cs_claim_job (sql/002_claim_procedure.sql), which does what the comment at
 * the top of this file describes. Its result is the claimed row or none. */
static int claim_once(struct cs_db *db, const struct cs_jobs_policy *pol, int64_t token_id,
                      const char *holder, struct cs_job_claim *ret, struct cs_err *err)
{
        struct cs_db_rows *rows = NULL;
        double now = cs_jobs_now(pol);
        char lease[CS_JOB_LEASE_LEN + 1], now_text[40];
        struct claim_hint hint;
        bool has_hint;
        int r;

        r = cs_random_hex(lease, CS_JOB_LEASE_LEN / 2, err);
        if (r < 0)
                return r;
        /* exact microseconds, as DECIMAL(20,6) takes them */
        snprintf(now_text, sizeof now_text, "%.6f", now);
        has_hint = hint_get(&hint);
        {
                /* Jobs whose worker stopped answering are rare, and a probe
                 * for them costs the server an index probe: it runs first on
                 * 1 claim in 8 (those jobs waited longest) and otherwise only
                 * when the pending queue has nothing due, so an expired job
                 * waits at most a few claims. */
                struct cs_db_param p[] = { CS_DB_STR(now_text),
                                           CS_DB_STR(holder ? holder : ""),
                                           token_id > 0 ? CS_DB_I64(token_id) : CS_DB_NULL,
                                           CS_DB_STR(lease),
                                           CS_DB_I64(pol->lease_seconds),
                                           CS_DB_BOOL(sample_expired()),
                                           has_hint ? CS_DB_STR(hint.nb) : CS_DB_NULL,
                                           has_hint ? CS_DB_I64(hint.id) : CS_DB_NULL };
                r = cs_db_query(db, "CALL cs_claim_job(?, ?, ?, ?, ?, ?, ?, ?)", p, CS_DB_N(p), &rows, err);
        }
        if (r < 0)
                return r;
        if (cs_db_rows_count(rows) == 0) {
                r = CS_ENOTFOUND;
                goto out;
        }
        memset(ret, 0, sizeof *ret);
        ret->job_id = cs_db_rows_i64(rows, 0, 0);
        copy_cell(rows, 0, 1, ret->kind, sizeof ret->kind);
        copy_cell(rows, 0, 2, ret->chunk_key, sizeof ret->chunk_key);
        copy_cell(rows, 0, 3, ret->object_name, sizeof ret->object_name);
        ret->frame_count = (int)cs_db_rows_i64(rows, 0, 4);
        ret->attempts = (int)cs_db_rows_i64(rows, 0, 5); /* this claim's, counted */
        ret->max_attempts = (int)cs_db_rows_i64(rows, 0, 6);
        ret->user_id = cs_db_rows_i64(rows, 0, 7);
        ret->scrub_location = cs_db_rows_i64(rows, 0, 8) != 0;
        memcpy(ret->lease, lease, sizeof lease);
        ret->lease_seconds = pol->lease_seconds;
        if (!cs_db_rows_isnull(rows, 0, 9)) {
                const char *s = cs_db_rows_str(rows, 0, 9);
                ret->params = cs_xstrndup(s, cs_db_rows_len(rows, 0, 9));
        }
        if (cs_db_rows_i64(rows, 0, 11))
                hint_put(cs_db_rows_str(rows, 0, 10), ret->job_id, cs_db_rows_i64(rows, 0, 11) == 2);
out:
        cs_db_rows_free(rows);
        return r;
}

/* User names never change (there is no rename) and ids are never reused, so
 * the claim keeps a small process-wide cache id -> name instead of one more
 * query per claim. Direct-mapped, guarded by a mutex. */
#define NAME_CACHE 512
static struct {
        pthread_mutex_t mu;
        int64_t id[NAME_CACHE];
        char name[NAME_CACHE][CS_JOB_USER_MAX];
} g_names = { PTHREAD_MUTEX_INITIALIZER, { 0 }, { { 0 } } };

static bool name_cached(int64_t id, char *out)
{
        size_t k = (size_t)id % NAME_CACHE;
        bool hit;

        pthread_mutex_lock(&g_names.mu);
        hit = g_names.id[k] == id && id > 0;
        if (hit)
                memcpy(out, g_names.name[k], CS_JOB_USER_MAX);
        pthread_mutex_unlock(&g_names.mu);
        return hit;
}

static void name_remember(int64_t id, const char *name)
{
        size_t k = (size_t)id % NAME_CACHE;

        pthread_mutex_lock(&g_names.mu);
        g_names.id[k] = id;
        snprintf(g_names.name[k], CS_JOB_USER_MAX, "%s", name);
        pthread_mutex_unlock(&g_names.mu);
}

/* The stack's place on WebDAV: stacks/<user>/<chunk_key>/<job_id>/. */
static int fill_paths(struct cs_db *db, struct cs_job_claim *c, struct cs_err *err)
{
        struct cs_db_rows *rows = NULL;
        struct cs_db_param p[] = { CS_DB_I64(c->user_id) };
        int r;

        if (!name_cached(c->user_id, c->username)) {
                r = cs_db_query(db, "SELECT username FROM users WHERE id = ?", p, CS_DB_N(p), &rows, err);
                if (r < 0)
                        return r;
                if (cs_db_rows_count(rows) == 0) {
                        cs_db_rows_free(rows);
                        return cs_err_set(err, CS_ENOTFOUND, "job %lld: its user %lld is gone",
                                          (long long)c->job_id, (long long)c->user_id);
                }
                copy_cell(rows, 0, 0, c->username, sizeof c->username);
                cs_db_rows_free(rows);
                name_remember(c->user_id, c->username);
        }
        snprintf(c->stack_path, sizeof c->stack_path, "stacks/%s/%s/%lld/stacked.fits", c->username,
                 c->chunk_key, (long long)c->job_id);
        snprintf(c->thumbnail_path, sizeof c->thumbnail_path, "stacks/%s/%s/%lld/thumbnail.png", c->username,
                 c->chunk_key, (long long)c->job_id);
        return CS_OK;
}

/* Set when this process's last claim found nothing to do (see cs_jobs_claim). */
static atomic_bool g_queue_looked_empty;

/* The idle window (jobs.h, CS_JOBS_IDLE_CACHE_SECONDS): after a probe found
 * nothing due, "nothing to do" is answered without the database while the
 * policy clock is in [from, until), until = min(probe time + the cache time,
 * the earliest not_before of a pending job, the earliest lease expiry). A
 * clock before `from` (tests move the policy clock) ignores the window.
 * Process-wide, guarded by a mutex; cs_jobs_queue_changed() closes it. */
static struct {
        pthread_mutex_t mu;
        bool valid;
        double from, until;
        uint64_t gen; /* cs_jobs_queue_changed() calls so far */
} g_idle = { PTHREAD_MUTEX_INITIALIZER, false, 0, 0, 0 };

/* Whether now is inside the window; else *ret_gen is the generation a probe
 * starts from. */
static bool idle_window(double now, uint64_t *ret_gen)
{
        bool idle;

        pthread_mutex_lock(&g_idle.mu);
        idle = g_idle.valid && now >= g_idle.from && now < g_idle.until;
        *ret_gen = g_idle.gen;
        pthread_mutex_unlock(&g_idle.mu);
        return idle;
}

/* Opens the window unless the queue changed since the probe began (its
 * answer may predate the change). */
static void idle_open(uint64_t gen, double from, double until)
{
        pthread_mutex_lock(&g_idle.mu);
        if (gen == g_idle.gen) {
                g_idle.valid = true;
                g_idle.from = from;
                g_idle.until = until;
        }
        pthread_mutex_unlock(&g_idle.mu);
}

void cs_jobs_queue_changed(void)
{
        pthread_mutex_lock(&g_idle.mu);
        g_idle.valid = false;
        g_idle.gen++;
        pthread_mutex_unlock(&g_idle.mu);
}

/* 1 if a job is ready to claim (pending and due, or its lease expired), 0 if
 * not (then *ret_next_due is when the next one will be, +inf if never), < 0
 * on error. Two MIN()s over the claim's two indexes: each is one index dive. */
static int queue_has_work(struct cs_db *db, double now, double *ret_next_due, struct cs_err *err)
{
        struct cs_db_rows *rows = NULL;
        double due = HUGE_VAL;
        int r;

        r = cs_db_query(db,
                        "SELECT (SELECT UNIX_TIMESTAMP(MIN(not_before)) FROM stacking_jobs "
                        "FORCE INDEX (ix_jobs_claim) WHERE state = 'pending'), "
                        "(SELECT UNIX_TIMESTAMP(MIN(lease_expires_at)) FROM stacking_jobs "
                        "FORCE INDEX (ix_jobs_lease) WHERE state = 'processing')",
                        NULL, 0, &rows, err);
        if (r < 0)
                return r;
        if (!cs_db_rows_isnull(rows, 0, 0)) {
                double nb = cs_db_rows_f64(rows, 0, 0);
                if (nb <= now)
                        r = 1;
                due = fmin(due, nb);
        }
        if (!cs_db_rows_isnull(rows, 0, 1)) {
                double le = cs_db_rows_f64(rows, 0, 1);
                if (le < now)
                        r = 1;
                due = fmin(due, le);
        }
        cs_db_rows_free(rows);
        *ret_next_due = due;
        return r;
}

int cs_jobs_claim(struct cs_db *db, const struct cs_jobs_policy *pol, int64_t token_id, const char *holder,
                  struct cs_job_claim *ret, struct cs_err *err)
{
        struct cs_job_claim c;
        double now = cs_jobs_now(pol), next_due = HUGE_VAL;
        uint64_t gen = 0;
        int r = CS_OK, t;

        memset(&c, 0, sizeof c);
        /* Idle workers poll an empty queue far more often than they claim.
         * After a claim that found nothing, a plain (non-locking, no
         * transaction) probe answers "still empty" in one round trip instead
         * of the claim's, and tells until when it stays empty at the most:
         * until then (and for CS_JOBS_IDLE_CACHE_SECONDS at the most) the
         * answer needs no round trip at all. A busy queue never pays for
         * this, and a stale "empty" only costs the full claim. */
        if (atomic_load_explicit(&g_queue_looked_empty, memory_order_relaxed)) {
                if (idle_window(now, &gen))
                        return CS_ENOTFOUND;
                r = queue_has_work(db, now, &next_due, err);
                if (r < 0)
                        return r;
                if (r == 0) {
                        idle_open(gen, now, fmin(now + CS_JOBS_IDLE_CACHE_SECONDS, next_due));
                        return CS_ENOTFOUND;
                }
        }
        for (t = 0; t < TXN_TRIES; t++) {
                r = claim_once(db, pol, token_id, holder, &c, err);
                if (!(r == CS_ECONFLICT && cs_db_retryable(db)))
                        break;
        }
        atomic_store_explicit(&g_queue_looked_empty, r == CS_ENOTFOUND, memory_order_relaxed);
        if (r < 0)
                return r;
        r = fill_paths(db, &c, err);
        if (r < 0) {
                /* the claim stands; its lease will expire and it will be retried */
                cs_job_claim_release(&c);
                return r;
        }
        *ret = c;
        return CS_OK;
}

/* ---- heartbeat ------------------------------------------------------------ */

/* Why a lease-guarded single-row change matched nothing. */
static int explain_miss(struct cs_db *db, int64_t job_id, int64_t token_id, const char *lease,
                        struct cs_err *err)
{
        struct cs_db_rows *rows = NULL;
        struct cs_db_param p[] = { CS_DB_I64(job_id) };
        int r;

        r = cs_db_query(db, "SELECT state, lease_id, holder_token_id FROM stacking_jobs WHERE id = ?", p,
                        CS_DB_N(p), &rows, err);
        if (r < 0)
                return r;
        if (cs_db_rows_count(rows) == 0)
                r = cs_err_set(err, CS_ENOTFOUND, "no job %lld", (long long)job_id);
        else if (!lease_ok(cs_db_rows_str(rows, 0, 1), lease))
                r = cs_err_set(err, CS_ECONFLICT, "job %lld: lease is stale (the job was reclaimed or returned)",
                               (long long)job_id);
        else if (token_id > 0 && cs_db_rows_i64(rows, 0, 2) != token_id)
                r = cs_err_set(err, CS_ECONFLICT, "job %lld is held by another worker token", (long long)job_id);
        else
                r = cs_err_set(err, CS_ECONFLICT, "job %lld is %s, not processing", (long long)job_id,
                               cs_db_rows_str(rows, 0, 0));
        cs_db_rows_free(rows);
        return r;
}

int cs_jobs_heartbeat(struct cs_db *db, const struct cs_jobs_policy *pol, int64_t job_id, int64_t token_id,
                      const char *lease, const char *stage, int done, int total, struct cs_err *err)
{
        double now = cs_jobs_now(pol);
        uint64_t n = 0;
        int r;

        if (!lease || strlen(lease) != CS_JOB_LEASE_LEN)
                return cs_err_set(err, CS_ECONFLICT, "job %lld: not a lease of this server", (long long)job_id);
        {
                /* one statement: the row lock of the UPDATE serialises it with a reclaim */
                struct cs_db_param p[] = { CS_DB_F64(now + pol->lease_seconds),
                                           stage ? CS_DB_STR(stage) : CS_DB_NULL,
                                           done >= 0 ? CS_DB_I64(done) : CS_DB_NULL,
                                           total >= 0 ? CS_DB_I64(total) : CS_DB_NULL,
                                           CS_DB_I64(job_id), CS_DB_STR(lease),
                                           CS_DB_I64(token_id) };
                r = cs_db_exec(db,
                               "UPDATE stacking_jobs SET lease_expires_at = FROM_UNIXTIME(?), "
                               "progress_stage = COALESCE(?, progress_stage), "
                               "progress_done = COALESCE(?, progress_done), "
                               "progress_total = COALESCE(?, progress_total) "
                               "WHERE id = ? AND state = 'processing' AND lease_id = ? "
                               "AND (holder_token_id = ? OR holder_token_id IS NULL)",
                               p, CS_DB_N(p), &n, NULL, err);
        }
        if (r < 0)
                return r;
        if (n == 0) {
                /* affected rows counts changed rows only; a heartbeat that changes
                 * nothing (same second, same progress) must not look stale */
                struct cs_db_param p[] = { CS_DB_I64(job_id), CS_DB_STR(lease), CS_DB_I64(token_id) };
                int64_t one = 0;
                r = cs_db_query_i64(db,
                                    "SELECT 1 FROM stacking_jobs WHERE id = ? AND state = 'processing' "
                                    "AND lease_id = ? AND (holder_token_id = ? OR holder_token_id IS NULL)",
                                    p, CS_DB_N(p), &one, NULL);
                if (r == CS_OK)
                        return CS_OK;
                return explain_miss(db, job_id, token_id, lease, err);
        }
        return CS_OK;
}

/* ---- complete ------------------------------------------------------------ */

/* "2025-03-27T01:20:32.955368Z" -> "2025-03-27 01:20:32.955368"; CS_EINVAL if
 * it does not look like an ISO date-time. */
static int norm_datetime(const char *in, char out[40], struct cs_err *err)
{
        size_t n, i;

        n = strlen(in);
        if (n > 0 && (in[n - 1] == 'Z' || in[n - 1] == 'z'))
                n--;
        if (n < 19 || n > 26)
                return cs_err_set(err, CS_EINVAL, "'%.40s' is not a date-time (YYYY-MM-DDTHH:MM:SS)", in);
        for (i = 0; i < n; i++) {
                char c = in[i], want;
                if (i == 4 || i == 7)
                        want = '-';
                else if (i == 10)
                        want = (c == 'T' || c == ' ') ? c : 'T';
                else if (i == 13 || i == 16)
                        want = ':';
                else if (i == 19)
                        want = '.';
                else
                        want = (c >= '0' && c <= '9') ? c : '0';
                if (c != want)
                        return cs_err_set(err, CS_EINVAL, "'%.40s' is not a date-time (YYYY-MM-DDTHH:MM:SS)",
                                          in);
                out[i] = i == 10 ? ' ' : c;
        }
        out[n] = '\0';
        return CS_OK;
}

static int complete_once(struct cs_db *db, const struct cs_jobs_policy *pol, int64_t job_id, int64_t token_id,
                         const char *lease, const struct cs_job_result *res, struct cs_job_completion *ret,
                         struct cs_err *err)
{
        struct cs_db_rows *job = NULL, *agg = NULL, *raws = NULL, *old = NULL;
        double now = cs_jobs_now(pol);
        char d0[40] = "", d1[40] = "";
        int64_t user_id;
        const char *chunk_key;
        bool scrub;
        int r;
        size_t i, n;

        memset(ret, 0, sizeof *ret);
        if (res->date_obs_start && *res->date_obs_start) {
                r = norm_datetime(res->date_obs_start, d0, err);
                if (r < 0)
                        return cs_err_prefix(err, "date_obs_start");
        }
        if (res->date_obs_end && *res->date_obs_end) {
                r = norm_datetime(res->date_obs_end, d1, err);
                if (r < 0)
                        return cs_err_prefix(err, "date_obs_end");
        }
        r = begin_rc(db, err);
        if (r < 0)
                return r;
        {
                struct cs_db_param p[] = { CS_DB_I64(job_id) };
                r = cs_db_query(db,
                                "SELECT state, lease_id, holder_token_id, user_id, chunk_key, scrub_location, "
                                "object_name FROM stacking_jobs WHERE id = ? FOR UPDATE",
                                p, CS_DB_N(p), &job, err);
        }
        if (r < 0)
                goto out;
        if (cs_db_rows_count(job) == 0) {
                r = cs_err_set(err, CS_ENOTFOUND, "no job %lld", (long long)job_id);
                goto out;
        }
        if (!lease_ok(cs_db_rows_str(job, 0, 1), lease)) {
                r = cs_err_set(err, CS_ECONFLICT, "job %lld: lease is stale (the job was reclaimed or returned)",
                               (long long)job_id);
                goto out;
        }
        if (!strcmp(cs_db_rows_str(job, 0, 0), "completed")) {
                /* the same worker saying it again (its first reply was lost) */
                struct cs_db_param p[] = { CS_DB_I64(job_id) };
                int64_t sid = 0;
                if (cs_db_query_i64(db, "SELECT id FROM stacked_frames WHERE job_id = ?", p, CS_DB_N(p), &sid,
                                    NULL) == CS_OK)
                        ret->stacked_id = sid;
                ret->already = true;
                r = cs_db_commit(db, err);
                goto out;
        }
        if (strcmp(cs_db_rows_str(job, 0, 0), "processing") != 0 ||
            (token_id > 0 && !cs_db_rows_isnull(job, 0, 2) && cs_db_rows_i64(job, 0, 2) != token_id)) {
                r = cs_err_set(err, CS_ECONFLICT, "job %lld is %s, not processing under this token",
                               (long long)job_id, cs_db_rows_str(job, 0, 0));
                goto out;
        }
        user_id = cs_db_rows_i64(job, 0, 3);
        chunk_key = cs_db_rows_str(job, 0, 4);
        scrub = cs_db_rows_i64(job, 0, 5) != 0;

        /* what the raws say, for the fields the worker did not report */
        {
                struct cs_db_param p[] = { CS_DB_I64(job_id) };
                r = cs_db_query(db,
                                "SELECT COUNT(*), COALESCE(SUM(exptime), 0), MIN(date_obs), MAX(date_obs), "
                                "AVG(ra_deg), AVG(dec_deg), AVG(site_lat), AVG(site_long), MAX(object_name) "
                                "FROM raw_files WHERE job_id = ?",
                                p, CS_DB_N(p), &agg, err);
        }
        if (r < 0)
                goto out;
        {
                struct cs_db_param p[] = { CS_DB_I64(job_id) };
                /* the session row is only read (no lock): its token never changes */
                r = cs_db_query(db,
                                "SELECT r.id, (SELECT s.token FROM upload_sessions s WHERE s.id = r.session_id) "
                                "FROM raw_files r WHERE r.job_id = ?",
                                p, CS_DB_N(p), &raws, err);
        }
        if (r < 0)
                goto out;
        {
                struct cs_db_param p[] = { CS_DB_I64(user_id), CS_DB_STR(chunk_key) };
                r = cs_db_query(db,
                                "SELECT id, webdav_path, thumbnail_path FROM stacked_frames "
                                "WHERE user_id = ? AND chunk_key = ? FOR UPDATE",
                                p, CS_DB_N(p), &old, err);
        }
        if (r < 0)
                goto out;

        {
                const char *obj = res->object_name && *res->object_name ? res->object_name
                                  : !cs_db_rows_isnull(job, 0, 6)     ? cs_db_rows_str(job, 0, 6)
                                                                      : cs_db_rows_str(agg, 0, 8);
                int64_t n_in = res->n_frames_input >= 0 ? res->n_frames_input : cs_db_rows_i64(agg, 0, 0);
                double texp = res->total_exptime >= 0 ? res->total_exptime : cs_db_rows_f64(agg, 0, 1);
                const char *s0 = d0[0] ? d0 : cs_db_rows_str(agg, 0, 2);
                const char *s1 = d1[0] ? d1 : cs_db_rows_str(agg, 0, 3);
                bool have_ra = !isnan(res->ra_deg), have_dec = !isnan(res->dec_deg);
                struct cs_db_param p[] = {
                        CS_DB_I64(job_id),
                        obj ? CS_DB_STR(obj) : CS_DB_NULL,
                        CS_DB_I64(n_in),
                        CS_DB_I64(res->n_frames_aligned > 0 ? res->n_frames_aligned : 0),
                        CS_DB_F64(texp),
                        s0 ? CS_DB_STR(s0) : CS_DB_NULL,
                        s1 ? CS_DB_STR(s1) : CS_DB_NULL,
                        have_ra ? CS_DB_F64(res->ra_deg)
                                : (cs_db_rows_isnull(agg, 0, 4) ? CS_DB_NULL : CS_DB_F64(cs_db_rows_f64(agg, 0, 4))),
                        have_dec ? CS_DB_F64(res->dec_deg)
                                 : (cs_db_rows_isnull(agg, 0, 5) ? CS_DB_NULL : CS_DB_F64(cs_db_rows_f64(agg, 0, 5))),
                        isnan(res->fwhm) ? CS_DB_NULL : CS_DB_F64(res->fwhm),
                        CS_DB_I64(res->file_size_bytes > 0 ? res->file_size_bytes : 0),
                        CS_DB_STR(res->webdav_path),
                        res->thumbnail_path && *res->thumbnail_path ? CS_DB_STR(res->thumbnail_path) : CS_DB_NULL,
                        res->report_json ? CS_DB_STR(res->report_json) : CS_DB_NULL,
                        /* the observer's site, only when the upload asked to keep it */
                        scrub || cs_db_rows_isnull(agg, 0, 6) ? CS_DB_NULL : CS_DB_F64(cs_db_rows_f64(agg, 0, 6)),
                        scrub || cs_db_rows_isnull(agg, 0, 7) ? CS_DB_NULL : CS_DB_F64(cs_db_rows_f64(agg, 0, 7)),
                        CS_DB_F64(now),
                        CS_DB_I64(user_id),
                        CS_DB_STR(chunk_key),
                };
                if (cs_db_rows_count(old) > 0) {
                        uint64_t id = (uint64_t)cs_db_rows_i64(old, 0, 0);
                        const char *op = cs_db_rows_str(old, 0, 1), *ot = cs_db_rows_str(old, 0, 2);
                        /* a re-upload with overwrite: same row, new content */
                        struct cs_db_param q[CS_DB_N(p) + 1];
                        memcpy(q, p, sizeof p);
                        q[CS_DB_N(p) - 2] = CS_DB_I64(id);
                        r = cs_db_exec(db,
                                       "UPDATE stacked_frames SET job_id = ?, object_name = ?, n_frames_input = ?, "
                                       "n_frames_aligned = ?, total_exptime = ?, date_obs_start = ?, "
                                       "date_obs_end = ?, ra_deg = ?, dec_deg = ?, fwhm = ?, file_size_bytes = ?, "
                                       "webdav_path = ?, thumbnail_path = ?, report = ?, site_lat = ?, "
                                       "site_long = ?, created_at = FROM_UNIXTIME(?) WHERE id = ?",
                                       q, CS_DB_N(p) - 1, NULL, NULL, err);
                        ret->stacked_id = (int64_t)id;
                        if (r == CS_OK && op && strcmp(op, res->webdav_path) != 0)
                                ret->old_webdav_path = cs_xstrdup(op);
                        if (r == CS_OK && ot &&
                            (!res->thumbnail_path || strcmp(ot, res->thumbnail_path) != 0))
                                ret->old_thumbnail_path = cs_xstrdup(ot);
                } else {
                        uint64_t id = 0;
                        r = cs_db_exec(db,
                                       "INSERT INTO stacked_frames (job_id, object_name, n_frames_input, "
                                       "n_frames_aligned, total_exptime, date_obs_start, date_obs_end, ra_deg, "
                                       "dec_deg, fwhm, file_size_bytes, webdav_path, thumbnail_path, report, "
                                       "site_lat, site_long, created_at, user_id, chunk_key) "
                                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, FROM_UNIXTIME(?), ?, ?)",
                                       p, CS_DB_N(p), NULL, &id, err);
                        ret->stacked_id = (int64_t)id;
                }
        }
        if (r < 0)
                goto out;

        n = cs_db_rows_count(raws);
        if (n) {
                ret->raw_ids = cs_xcalloc(n, sizeof *ret->raw_ids);
                ret->raw_tokens = cs_xcalloc(n, sizeof *ret->raw_tokens);
                for (i = 0; i < n; i++) {
                        ret->raw_ids[i] = cs_db_rows_i64(raws, i, 0);
                        copy_cell(raws, i, 1, ret->raw_tokens[i], sizeof ret->raw_tokens[i]);
                }
                ret->n_raw = (int)n;
                {
                        struct cs_db_param p[] = { CS_DB_I64(job_id) };
                        r = cs_db_exec(db, "DELETE FROM raw_files WHERE job_id = ?", p, CS_DB_N(p), NULL, NULL,
                                       err);
                }
                if (r < 0)
                        goto out;
        }
        {
                struct cs_db_param p[] = { CS_DB_F64(now), CS_DB_I64(job_id) };
                r = cs_db_exec(db,
                               "UPDATE stacking_jobs SET state = 'completed', finished_at = FROM_UNIXTIME(?), "
                               "lease_expires_at = NULL, last_error = NULL, progress_stage = 'done' "
                               "WHERE id = ?",
                               p, CS_DB_N(p), NULL, NULL, err);
        }
        if (r < 0)
                goto out;
        r = cs_db_commit(db, err);
out:
        if (r < 0) {
                cs_db_rollback(db, NULL);
                cs_job_completion_release(ret);
        }
        cs_db_rows_free(job);
        cs_db_rows_free(agg);
        cs_db_rows_free(raws);
        cs_db_rows_free(old);
        return r;
}

int cs_jobs_complete(struct cs_db *db, const struct cs_jobs_policy *pol, int64_t job_id, int64_t token_id,
                     const char *lease, const struct cs_job_result *res, struct cs_job_completion *ret,
                     struct cs_err *err)
{
        int r = CS_OK, t;

        if (!res || !res->webdav_path || !*res->webdav_path)
                return cs_err_set(err, CS_EINVAL, "job %lld: no webdav_path for the stack", (long long)job_id);
        for (t = 0; t < TXN_TRIES; t++) {
                r = complete_once(db, pol, job_id, token_id, lease, res, ret, err);
                if (!(r == CS_ECONFLICT && cs_db_retryable(db)))
                        break;
        }
        return r;
}

/* ---- fail ----------------------------------------------------------------- */

/* Cuts s to at most max bytes without splitting a UTF-8 sequence (the
 * column is utf8mb4 and refuses broken text). */
static void utf8_cut(char *s, size_t max)
{
        size_t n = strlen(s), k;

        if (n <= max)
                return;
        n = max;
        /* step back over continuation bytes to the start of the last character */
        k = n;
        while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
                k--;
        s[k] = '\0';
}

static int fail_once(struct cs_db *db, const struct cs_jobs_policy *pol, int64_t job_id, int64_t token_id,
                     const char *lease, const char *error, bool retryable, enum cs_job_state *ret_state,
                     struct cs_err *err)
{
        struct cs_db_rows *job = NULL;
        double now = cs_jobs_now(pol);
        char msg[1000];
        int r;
        int64_t attempts, max_attempts;

        snprintf(msg, sizeof msg, "%s", error && *error ? error : "the worker reported a failure");
        utf8_cut(msg, 900); /* room for the suffix below, and never half a character */
        r = begin_rc(db, err);
        if (r < 0)
                return r;
        {
                struct cs_db_param p[] = { CS_DB_I64(job_id) };
                r = cs_db_query(db,
                                "SELECT state, lease_id, holder_token_id, attempts, max_attempts "
                                "FROM stacking_jobs WHERE id = ? FOR UPDATE",
                                p, CS_DB_N(p), &job, err);
        }
        if (r < 0)
                goto out;
        if (cs_db_rows_count(job) == 0) {
                r = cs_err_set(err, CS_ENOTFOUND, "no job %lld", (long long)job_id);
                goto out;
        }
        if (!lease_ok(cs_db_rows_str(job, 0, 1), lease) ||
            strcmp(cs_db_rows_str(job, 0, 0), "processing") != 0 ||
            (token_id > 0 && !cs_db_rows_isnull(job, 0, 2) && cs_db_rows_i64(job, 0, 2) != token_id)) {
                r = cs_err_set(err, CS_ECONFLICT, "job %lld: lease is stale or the job is not processing",
                               (long long)job_id);
                goto out;
        }
        attempts = cs_db_rows_i64(job, 0, 3);
        max_attempts = cs_db_rows_i64(job, 0, 4);
        if (retryable && attempts < max_attempts) {
                int64_t delay = pol->retry_base_seconds;
                int64_t k;
                for (k = 1; k < attempts && delay < pol->retry_max_seconds; k++)
                        delay *= 2;
                if (delay > pol->retry_max_seconds)
                        delay = pol->retry_max_seconds;
                {
                        struct cs_db_param p[] = { CS_DB_F64(now + (double)delay), CS_DB_STR(msg),
                                                   CS_DB_I64(job_id) };
                        r = cs_db_exec(db,
                                       "UPDATE stacking_jobs SET state = 'pending', lease_id = NULL, "
                                       "lease_expires_at = NULL, holder = NULL, holder_token_id = NULL, "
                                       "not_before = FROM_UNIXTIME(?), last_error = ?, progress_stage = NULL, "
                                       "progress_done = NULL, progress_total = NULL WHERE id = ?",
                                       p, CS_DB_N(p), NULL, NULL, err);
                }
                if (r == CS_OK && ret_state)
                        *ret_state = CS_JOB_PENDING;
        } else {
                char full[1000];
                if (retryable)
                        snprintf(full, sizeof full, "%s (gave up after %lld attempts)", msg,
                                 (long long)attempts);
                else
                        snprintf(full, sizeof full, "%s", msg);
                {
                        struct cs_db_param p[] = { CS_DB_F64(now), CS_DB_STR(full), CS_DB_I64(job_id) };
                        r = cs_db_exec(db,
                                       "UPDATE stacking_jobs SET state = 'failed', lease_id = NULL, "
                                       "lease_expires_at = NULL, finished_at = FROM_UNIXTIME(?), "
                                       "last_error = ?, progress_stage = 'failed' WHERE id = ?",
                                       p, CS_DB_N(p), NULL, NULL, err);
                }
                if (r == CS_OK && ret_state)
                        *ret_state = CS_JOB_FAILED;
        }
        if (r < 0)
                goto out;
        r = cs_db_commit(db, err);
out:
        if (r < 0)
                cs_db_rollback(db, NULL);
        cs_db_rows_free(job);
        return r;
}

int cs_jobs_fail(struct cs_db *db, const struct cs_jobs_policy *pol, int64_t job_id, int64_t token_id,
                 const char *lease, const char *error, bool retryable, enum cs_job_state *ret_state,
                 struct cs_err *err)
{
        int r = CS_OK, t;

        for (t = 0; t < TXN_TRIES; t++) {
                r = fail_once(db, pol, job_id, token_id, lease, error, retryable, ret_state, err);
                if (!(r == CS_ECONFLICT && cs_db_retryable(db)))
                        break;
        }
        if (r == CS_OK)
                cs_jobs_queue_changed(); /* it may be pending again */
        return r;
}

/* ---- expire ---------------------------------------------------------------- */

int cs_jobs_expire(struct cs_db *db, const struct cs_jobs_policy *pol, int *ret_returned, int *ret_failed,
                   struct cs_err *err)
{
        double now = cs_jobs_now(pol);
        uint64_t nf = 0, nr = 0;
        int r;

        /* Two single statements, each its own transaction. A row a claimer has
         * locked is waited for, then re-read: by then its lease is fresh and it
         * no longer matches. Claimers never wait for us (SKIP LOCKED). */
        {
                struct cs_db_param p[] = { CS_DB_F64(now), CS_DB_F64(now) };
                r = cs_db_exec(db,
                               "UPDATE stacking_jobs SET state = 'failed', finished_at = FROM_UNIXTIME(?), "
                               "lease_id = NULL, lease_expires_at = NULL, progress_stage = 'failed', "
                               "last_error = CONCAT('worker ''', COALESCE(holder, '?'), "
                               "''' stopped responding (lease expired) on attempt ', attempts, ' of ', "
                               "max_attempts) "
                               "WHERE state = 'processing' AND lease_expires_at < FROM_UNIXTIME(?) "
                               "AND attempts >= max_attempts",
                               p, CS_DB_N(p), &nf, NULL, err);
        }
        if (r < 0)
                return r;
        {
                struct cs_db_param p[] = { CS_DB_F64(now), CS_DB_F64(now) };
                r = cs_db_exec(db,
                               "UPDATE stacking_jobs SET state = 'pending', not_before = FROM_UNIXTIME(?), "
                               "last_error = CONCAT('worker ''', COALESCE(holder, '?'), "
                               "''' stopped responding (lease expired); retrying'), "
                               "lease_id = NULL, lease_expires_at = NULL, holder = NULL, holder_token_id = NULL, "
                               "progress_stage = NULL, progress_done = NULL, progress_total = NULL "
                               "WHERE state = 'processing' AND lease_expires_at < FROM_UNIXTIME(?)",
                               p, CS_DB_N(p), &nr, NULL, err);
        }
        if (r < 0)
                return r;
        if (nr > 0)
                cs_jobs_queue_changed();
        if (ret_returned)
                *ret_returned = (int)nr;
        if (ret_failed)
                *ret_failed = (int)nf;
        return CS_OK;
}

int cs_jobs_check_holder(struct cs_db *db, int64_t job_id, int64_t token_id, int64_t *ret_user_id,
                         char *ret_kind, struct cs_err *err)
{
        struct cs_db_rows *rows = NULL;
        struct cs_db_param p[] = { CS_DB_I64(job_id) };
        int r;

        r = cs_db_query(db, "SELECT state, holder_token_id, user_id, kind FROM stacking_jobs WHERE id = ?", p,
                        CS_DB_N(p), &rows, err);
        if (r < 0)
                return r;
        if (cs_db_rows_count(rows) == 0)
                r = cs_err_set(err, CS_ENOTFOUND, "no job %lld", (long long)job_id);
        else if (strcmp(cs_db_rows_str(rows, 0, 0), "processing") != 0 || cs_db_rows_isnull(rows, 0, 1) ||
                 cs_db_rows_i64(rows, 0, 1) != token_id)
                r = cs_err_set(err, CS_EFORBIDDEN, "job %lld is not held by this worker", (long long)job_id);
        else {
                if (ret_user_id)
                        *ret_user_id = cs_db_rows_i64(rows, 0, 2);
                if (ret_kind)
                        snprintf(ret_kind, 16, "%s", cs_db_rows_str(rows, 0, 3));
        }
        cs_db_rows_free(rows);
        return r;
}
