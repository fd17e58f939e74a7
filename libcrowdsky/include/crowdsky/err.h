/* err.h - the one status enum of libcrowdsky and the caller-owned error detail.
 *
 * Every fallible function returns CS_OK (0) or a negative enum cs_status, and
 * writes a human-readable reason into a caller-owned struct cs_err (which may be
 * NULL). Never a global buffer: the library is used from many threads. */
#ifndef CROWDSKY_ERR_H
#define CROWDSKY_ERR_H

#include <stddef.h>

enum cs_status {
        CS_OK = 0,
        CS_ENOMEM = -1,     /* out of memory */
        CS_EINVAL = -2,     /* invalid input or argument */
        CS_ETOOBIG = -3,    /* a size limit was passed */
        CS_EIO = -4,        /* file system or socket I/O */
        CS_EFITS = -5,      /* not a valid FITS file / header */
        CS_EDB = -6,        /* database */
        CS_EAUTH = -7,      /* authentication / authorisation */
        CS_ENOTFOUND = -8,  /* no such object */
        CS_ECONFLICT = -9,  /* duplicate, stale lease, state conflict */
        CS_EREMOTE = -10,   /* a remote server (WebDAV, API) failed */
        CS_ECANCELLED = -11,/* cancelled on request */
        CS_EQUOTA = -12,    /* storage quota reached */
        CS_EFORBIDDEN = -13,/* authenticated but not allowed */
        CS_ERATELIMIT = -14,/* too many attempts */
};

#define CS_ERR_MSG_MAX 256

struct cs_err {
        int code;                 /* enum cs_status of the failure, CS_OK if none */
        char msg[CS_ERR_MSG_MAX]; /* one line, no trailing newline */
};

#define CS_ERR_INIT { 0, { 0 } }

/* Records code and a printf-style message into err (if err is not NULL) and
 * returns code, so callers can write `return cs_err_set(err, CS_EINVAL, ...)`.
 * The first error set wins only if the caller resets err; a later set
 * overwrites. Thread-safe (touches only *err). */
int cs_err_set(struct cs_err *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Prefixes err->msg with "prefix: " (context added by a caller). Returns err->code. */
int cs_err_prefix(struct cs_err *err, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

void cs_err_clear(struct cs_err *err);

/* Stable lower-case identifier of a status ("enomem", "efits", ...). Never NULL. */
const char *cs_status_name(int code);

#endif
