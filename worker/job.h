/* job.h - one claimed job, start to finish: file list -> raws into scratch
 * (size + SHA-256 checked) -> stack (or validate an uploaded stack) with
 * heartbeats -> MKCOL + PUT FITS and PNG on WebDAV (verified) -> complete;
 * on failure fail_job (retryable or not); scratch removed in every case. */
#ifndef CROWDSKY_WORKER_JOB_H
#define CROWDSKY_WORKER_JOB_H

#include <signal.h>
#include <stdbool.h>
#include <cjson/cJSON.h>

#include "api.h"
#include "crowdsky/config.h"
#include "crowdsky/webdav.h"

struct wk_ctx {
        const struct cs_config *cfg;
        struct wk_api *api;             /* the main thread's client */
        struct cs_webdav *dav;
        const volatile sig_atomic_t *stop; /* 1: shut down (finish the job if close), 2: now */
        int threads;                    /* stacking threads */
};

enum wk_outcome {
        WK_COMPLETED,   /* stack stored and the job completed */
        WK_FAILED,      /* reported with fail_job (retryable or not) */
        WK_GIVEN_BACK,  /* shutdown: handed back with a retryable failure */
        WK_LOST,        /* the lease went stale (reclaimed): nothing reported */
        WK_ERROR,       /* could not even report (API unreachable); the lease will expire */
};

/* Runs the job described by claim (the next_job reply). Logs one line per
 * event. Returns the outcome; *ret_auth_failed is set when the API refused
 * the token (401), so the caller can stop polling. */
enum wk_outcome wk_job_run(struct wk_ctx *ctx, const cJSON *claim, bool *ret_auth_failed);

#endif
