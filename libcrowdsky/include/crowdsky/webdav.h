/* webdav.h - WebDAV client (libcurl) for the stack store: nginx's dav module
 * locally, Nextcloud (`https://HOST/remote.php/dav/files/USER/...`) in
 * production.
 *
 * Paths are relative to the client's base URL ("stacks/alice/KEY/12/stacked.fits");
 * each segment is percent-encoded here, so callers pass plain names. Transient
 * failures (connection refused/reset, timeouts, HTTP 5xx, 429) are retried with
 * exponential backoff and full jitter; other 4xx fail at once with CS_EREMOTE
 * (CS_ENOTFOUND for 404 where the operation has a "missing" meaning, CS_EAUTH
 * for 401/403). Messages name the method, the path and curl's error buffer.
 *
 * Thread-safety: a struct cs_webdav holds one curl handle (kept-alive
 * connection) and must be used by one thread at a time; make one per thread
 * or per request. cs_webdav_global_init() must have run before threads start
 * (cs_webdav_new calls it too, which is enough for single-threaded programs). */
#ifndef CROWDSKY_WEBDAV_H
#define CROWDSKY_WEBDAV_H

#include <stdint.h>
#include "err.h"

struct cs_webdav;

struct cs_webdav_opts {
        const char *url;        /* base URL of the store (a trailing '/' is added if missing) */
        const char *user;       /* basic-auth user, NULL or "" = no auth */
        const char *password;
        int max_attempts;       /* per operation, >= 1; 0 = default 5 */
        int backoff_base_ms;    /* first delay before jitter; 0 = default 500 */
        int backoff_max_ms;     /* cap of one delay; 0 = default 30000 */
        int connect_timeout_s;  /* 0 = default 10 */
        int stall_timeout_s;    /* abort a transfer slower than 1 KiB/s for this long; 0 = default 60 */
        int request_timeout_s;  /* whole request cap for small requests (MKCOL, HEAD, PROPFIND,
                                   DELETE); 0 = default 60. PUT/GET are bounded by the stall timeout. */
        /* Called before each backoff sleep (optional), so a program can log the
         * retry: what = "PUT stacks/a/b" etc., reason = the transient failure. */
        void (*on_retry)(void *ud, const char *what, const char *reason, int attempt, int delay_ms);
        void *retry_ud;
};

/* Initialises libcurl once per process (idempotent, guarded by pthread_once).
 * Returns CS_OK or CS_EREMOTE. */
int cs_webdav_global_init(struct cs_err *err);

/* Makes a client. opts is copied (strings too). *ret_dav is freed with
 * cs_webdav_free. CS_EINVAL for a missing/non-http URL. */
int cs_webdav_new(const struct cs_webdav_opts *opts, struct cs_webdav **ret_dav, struct cs_err *err);
/* Frees the client; accepts NULL; returns NULL. */
struct cs_webdav *cs_webdav_free(struct cs_webdav *dav);

/* Creates the collection path and every missing parent ("a/b/c" -> MKCOL a/,
 * a/b/, a/b/c/). 201 (created) and 405 (exists) both count as success. When
 * the base collection of the URL itself is missing (409 on the first level,
 * e.g. a new folder in a Nextcloud share), it is made once first. A 409
 * (parent missing) after that is CS_EREMOTE. */
int cs_webdav_mkcol_p(struct cs_webdav *dav, const char *path, struct cs_err *err);

/* PUTs the local file at remote path, streamed from disk (never loaded whole),
 * with an exact Content-Length. The parent collection must exist (see
 * cs_webdav_mkcol_p). The file is re-read from its start on each retry. */
int cs_webdav_put_file(struct cs_webdav *dav, const char *path, const char *local_path,
                       const char *content_type, struct cs_err *err);

/* Size of the remote file in bytes: HEAD, falling back to PROPFIND (Depth 0,
 * getcontentlength) when HEAD gives no length. CS_ENOTFOUND if it does not exist. */
int cs_webdav_stat(struct cs_webdav *dav, const char *path, int64_t *ret_size, struct cs_err *err);

/* Checks that the store answers and accepts the credentials: PROPFIND
 * (Depth 0) of the base collection. CS_OK, CS_EAUTH (401/403) or CS_EREMOTE.
 * For health checks: make the client with max_attempts = 1 and short timeouts. */
int cs_webdav_ping(struct cs_webdav *dav, struct cs_err *err);

/* Same via PROPFIND only (exposed for tests and for servers whose HEAD lies). */
int cs_webdav_propfind_size(struct cs_webdav *dav, const char *path, int64_t *ret_size,
                            struct cs_err *err);

/* Streaming GET. on_begin is called once, before the first body byte, when the
 * server answered 2xx, with the length (-1 if unknown) and content type (borrowed,
 * may be NULL); on_data is called for each piece. Either returning < 0 aborts
 * with that code (CS_ECANCELLED if it was not negative enough to be a status).
 * Retries happen only while nothing has been passed to the sink yet.
 * 404 -> CS_ENOTFOUND without calling the sink. */
struct cs_webdav_sink {
        int (*on_begin)(void *ud, int64_t length, const char *content_type);
        int (*on_data)(void *ud, const void *data, size_t n);
        void *ud;
};
int cs_webdav_get(struct cs_webdav *dav, const char *path, const struct cs_webdav_sink *sink,
                  struct cs_err *err);

/* GETs into a local file (created/truncated; removed on failure). */
int cs_webdav_get_file(struct cs_webdav *dav, const char *path, const char *local_path,
                       struct cs_err *err);

/* DELETEs a file or a collection (recursively, as WebDAV defines). A missing
 * target is CS_OK unless strict is non-zero (then CS_ENOTFOUND). */
int cs_webdav_delete(struct cs_webdav *dav, const char *path, int strict, struct cs_err *err);

/* The full URL of a path (for logs); caller frees. */
char *cs_webdav_url(const struct cs_webdav *dav, const char *path);

#endif
