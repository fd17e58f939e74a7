/* jobs.h - the stacking-job queue (SPEC section 7) and worker tokens, as SQL
 * over struct cs_db.
 *
 * Life of a job: pending -> processing (claimed: holder, lease id, lease
 * expiry, attempts + 1) -> completed | failed. A processing job whose lease
 * expired (its worker died) is claimed again by the next claimer, or failed
 * when it already used max_attempts. Every call that changes a claimed job
 * carries the lease id of the claim; a stale one (the job was reclaimed, or
 * returned, or finished under another lease) is CS_ECONFLICT and changes
 * nothing, so a slow worker that comes back late cannot overwrite the new
 * holder's result.
 *
 * Time: "now" is the real clock plus policy.clock_offset_seconds (the test
 * hook of cleanup), passed to SQL as FROM_UNIXTIME(?).
 *
 * Thread-safety: as db.h (a struct cs_db per thread); the functions keep no
 * state. Transactions are retried on deadlock/lock-wait (never expected here,
 * see jobs.c) up to 3 times. */
#ifndef CROWDSKY_JOBS_H
#define CROWDSKY_JOBS_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

struct cs_db;

struct cs_jobs_policy {
        int lease_seconds;          /* lease of a claim and of each heartbeat */
        int retry_base_seconds;     /* backoff of a retryable failure: base * 2^(attempts-1) */
        int retry_max_seconds;      /* cap of that backoff */
        int64_t clock_offset_seconds;
};

/* From cfg: lease_seconds, clock_offset_seconds; retry backoff 30 s .. 1 h,
 * shortened to lease_seconds / 2 .. lease_seconds * 4 when leases are short
 * (tests run with lease_seconds of a few seconds). */
void cs_jobs_policy_from_config(const struct cs_config *cfg, struct cs_jobs_policy *ret);

/* Current "now" of the policy, in Unix seconds with microseconds. */
double cs_jobs_now(const struct cs_jobs_policy *pol);

#define CS_JOB_LEASE_LEN 32    /* hex characters of a lease id */
#define CS_JOB_KEY_MAX 33
#define CS_JOB_NAME_MAX 256
#define CS_JOB_USER_MAX 64

struct cs_job_claim {
        int64_t job_id;
        char kind[16];                       /* "stack" or "upload_stack" */
        char chunk_key[CS_JOB_KEY_MAX];
        char object_name[CS_JOB_NAME_MAX];   /* "" if unknown */
        int frame_count;
        char lease[CS_JOB_LEASE_LEN + 1];
        int lease_seconds;
        int attempts;                        /* including this claim */
        int max_attempts;
        int64_t user_id;
        char username[CS_JOB_USER_MAX];
        bool scrub_location;
        char stack_path[512];                /* stacks/<user>/<chunk_key>/<job_id>/stacked.fits */
        char thumbnail_path[512];            /* .../thumbnail.png */
        char *params;                        /* JSON text or NULL; caller frees (cs_job_claim_release) */
};
void cs_job_claim_release(struct cs_job_claim *c);

/* Claims a job for the worker token token_id (name holder): the pending job
 * with the earliest not_before that has passed, or a processing job whose
 * lease expired (looked for on 1 claim in 8 and whenever no pending job is
 * ready; jobs that used max_attempts are failed on the way). One transaction
 * at READ COMMITTED. CS_ENOTFOUND when there is nothing to do. Thread-safe
 * with one struct cs_db per thread (user names are cached process-wide). */
int cs_jobs_claim(struct cs_db *db, const struct cs_jobs_policy *pol, int64_t token_id,
                  const char *holder, struct cs_job_claim *ret, struct cs_err *err);
/* Idle polling: after a claim found nothing, cs_jobs_claim probes the queue
 * (one cheap query) instead of claiming, and when the probe finds nothing
 * due it answers CS_ENOTFOUND without the database until the earliest known
 * due time (a pending job's not_before, a lease expiry), for at most
 * CS_JOBS_IDLE_CACHE_SECONDS. Jobs created or made pending by this process
 * must call cs_jobs_queue_changed() after their commit (the jobs module and
 * the upload handlers do); a job another process creates is seen within
 * CS_JOBS_IDLE_CACHE_SECONDS. Claims themselves are never cached. */
#define CS_JOBS_IDLE_CACHE_SECONDS 0.2
void cs_jobs_queue_changed(void);

/* Extends the lease by pol->lease_seconds and records the progress (stage may
 * be NULL = keep; done/total < 0 = keep). CS_ECONFLICT if lease is not the
 * job's current lease or the job is not processing (for this token);
 * CS_ENOTFOUND if there is no such job. ret_expires_in (may be NULL): seconds. */
int cs_jobs_heartbeat(struct cs_db *db, const struct cs_jobs_policy *pol, int64_t job_id,
                      int64_t token_id, const char *lease, const char *stage, int done, int total,
                      struct cs_err *err);

/* What a worker reports on completion (SPEC: the report's fields). Strings may
 * be NULL/"" (then taken from the raws where possible). */
struct cs_job_result {
        const char *webdav_path;       /* required: where the FITS was stored and verified */
        const char *thumbnail_path;    /* may be NULL */
        int64_t file_size_bytes;
        const char *object_name;
        int n_frames_input;            /* < 0: count of the job's raws */
        int n_frames_aligned;
        double total_exptime;          /* < 0: sum over the raws */
        const char *date_obs_start;    /* "YYYY-MM-DD HH:MM:SS[.ffffff]" or ISO 'T' form; NULL: raws */
        const char *date_obs_end;
        double ra_deg, dec_deg;        /* NaN: mean of the raws */
        double fwhm;                   /* NaN: unknown */
        const char *report_json;       /* stored as is (already validated JSON); may be NULL */
};

/* Files to remove after a successful completion (after the commit). */
struct cs_job_completion {
        int64_t stacked_id;
        bool already;                  /* the job was completed before with this lease (idempotent replay) */
        int64_t *raw_ids;              /* raw files whose rows were deleted: unlink them; caller frees */
        char (*raw_tokens)[65];        /* their upload sessions' tokens (parallel array; the
                                          buffer path is derived from token + id) */
        int n_raw;
        char *old_webdav_path;         /* a replaced stack's files to delete on WebDAV, or NULL */
        char *old_thumbnail_path;
};
void cs_job_completion_release(struct cs_job_completion *c);

/* Completes the job: inserts (or, for the same user and chunk key, replaces)
 * its stacked_frames row, deletes the rows of its raw files (the caller
 * unlinks the files listed in ret), marks it completed. The caller has
 * verified the stack on WebDAV first. Idempotent: a repeat with the same
 * lease after success is CS_OK with ret->already. CS_ECONFLICT for a stale
 * lease or a job that is not processing; CS_ENOTFOUND for no such job. */
int cs_jobs_complete(struct cs_db *db, const struct cs_jobs_policy *pol, int64_t job_id,
                     int64_t token_id, const char *lease, const struct cs_job_result *res,
                     struct cs_job_completion *ret, struct cs_err *err);

enum cs_job_state { CS_JOB_PENDING, CS_JOB_PROCESSING, CS_JOB_COMPLETED, CS_JOB_FAILED };
const char *cs_job_state_name(enum cs_job_state s);

/* Reports a failure. retryable and attempts < max_attempts: back to pending
 * with not_before = now + backoff; otherwise failed with error as last_error.
 * ret_state (may be NULL) gets the new state. Stale lease: CS_ECONFLICT. */
int cs_jobs_fail(struct cs_db *db, const struct cs_jobs_policy *pol, int64_t job_id,
                 int64_t token_id, const char *lease, const char *error, bool retryable,
                 enum cs_job_state *ret_state, struct cs_err *err);

/* Returns every processing job whose lease expired to pending (or failed when
 * it used max_attempts), for the cleanup timer. Counts may be NULL. */
int cs_jobs_expire(struct cs_db *db, const struct cs_jobs_policy *pol, int *ret_returned,
                   int *ret_failed, struct cs_err *err);

/* CS_OK if job_id is processing and held by token_id; CS_ENOTFOUND if no such
 * job, CS_EFORBIDDEN otherwise. ret_user_id / ret_kind (16 bytes) may be NULL. */
int cs_jobs_check_holder(struct cs_db *db, int64_t job_id, int64_t token_id, int64_t *ret_user_id,
                         char *ret_kind, struct cs_err *err);

/* ---- worker tokens ---- */

#define CS_WORKER_TOKEN_PREFIX "cswt_"
#define CS_WORKER_TOKEN_LEN (5 + 64)
#define CS_WORKER_NAME_MAX 101

/* Creates a token named name (1..100 of [A-Za-z0-9_.@-]); ret_token receives
 * the only copy of the token (stored as its SHA-256). A revoked token's name
 * can be reused. CS_ECONFLICT if a live token has that name. */
int cs_worker_token_create(struct cs_db *db, const char *name,
                           char ret_token[CS_WORKER_TOKEN_LEN + 1], struct cs_err *err);
/* Revokes by name: CS_ENOTFOUND if no live token has it. */
int cs_worker_token_revoke(struct cs_db *db, const char *name, struct cs_err *err);
/* Checks a bearer token: the stored digest is looked up and compared in
 * constant time; revoked tokens fail. Records last_seen_at (at most once a
 * minute, and only on a lookup). CS_OK with ret_id and ret_name (may be
 * NULL), else CS_EAUTH.
 *
 * A successful check is remembered process-wide for
 * CS_WORKER_TOKEN_CACHE_SECONDS, keyed by the token's SHA-256 (the token is
 * never kept), so a worker's requests do not each cost a query. Hence a
 * revocation by another process (`crowdsky-fcgi token revoke`) takes effect
 * in a running server within that many seconds; one by this process at
 * once. Unknown and revoked tokens are never cached. */
#define CS_WORKER_TOKEN_CACHE_SECONDS 2
int cs_worker_token_verify(struct cs_db *db, const char *token, int64_t *ret_id,
                           char ret_name[CS_WORKER_NAME_MAX], struct cs_err *err);
/* Forgets every remembered verification (cs_worker_token_revoke calls it). */
void cs_worker_token_cache_clear(void);

#endif
