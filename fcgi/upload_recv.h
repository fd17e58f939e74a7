/* upload_recv.h - receiving one uploaded FITS file from a multipart body,
 * shared by the upload flow (h_upload.c) and POST /api/upload_stack
 * (h_upload_stack.c).
 *
 * The body is streamed from the FastCGI input through the multipart parser:
 * small fields go into req->form; the file part goes straight into a
 * temporary file while the streaming FITS reader checks the header and
 * SHA-256 is computed. A refusal is recorded as an HTTP status + message
 * (http, msg) that the handler sends. What differs between the handlers is
 * given as hooks (struct upload_recv_ops). */
#ifndef CS_FCGI_UPLOAD_RECV_H
#define CS_FCGI_UPLOAD_RECV_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "handlers.h"
#include "crowdsky/fits.h"
#include "crowdsky/multipart.h"

/* the part being received */
enum upload_recv_part {
        UPLOAD_RECV_NONE = 0,
        UPLOAD_RECV_FILE,  /* the file, into tmp_path (upload_recv_open_file) */
        UPLOAD_RECV_OTHER, /* an ops->other_field part (ops->other_data) */
        UPLOAD_RECV_FIELD, /* a small field, into req->form */
};

struct upload_recv;

struct upload_recv_ops {
        /* The refusal when a second 'file' part comes ("one file per request"). */
        const char *one_file;
        /* The name of a second kind of file part whose bytes go to other_data
         * (the stack's "thumbnail"); NULL: only 'file' parts are accepted. */
        const char *other_field;
        /* The 'file' part began (its name checked, counted in nfiles): checks
         * it, sets filename and calls upload_recv_open_file, or refuses
         * (upload_recv_refuse). Negative stops the body. Required. */
        int (*file_begin)(struct upload_recv *rx, const struct cs_multipart_part *part);
        /* Bytes of an other_field part. NULL: ignored. */
        int (*other_data)(struct upload_recv *rx, size_t n);
        /* The file's header is complete and valid (rx->info): extra checks.
         * NULL: none. */
        int (*file_check)(struct upload_recv *rx);
};

struct upload_recv {
        struct cs_req *req;                /* borrowed */
        const struct upload_recv_ops *ops; /* borrowed, static */
        void *ud;                          /* the handler's state, for the hooks */
        int64_t max_file;                  /* cfg.max_upload_bytes */

        enum upload_recv_part part;
        int nfiles;              /* 'file' parts seen */
        bool file_done;          /* file part complete and valid */
        char filename[256];      /* set by file_begin */
        char tmp_path[PATH_MAX]; /* owned: unlinked by upload_recv_release unless cleared */
        int fd;                  /* owned */
        uint64_t size;
        struct cs_sha256 *sha;       /* owned */
        struct cs_fits_reader *fits; /* owned */
        struct cs_fits_info info;
        char sha_hex[CS_AUTH_HEX];

        /* the refusal, if any: HTTP code + message (sent by the handler) */
        int http;
        char msg[300];
};

/* Sets up rx for req (nothing to free until the body is streamed). */
void upload_recv_init(struct upload_recv *rx, struct cs_req *req, const struct upload_recv_ops *ops,
                      void *ud);

/* Records the refusal and returns CS_ECANCELLED (which stops the parser). */
int upload_recv_refuse(struct upload_recv *rx, int http, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Creates dir (0700, may exist) and a fresh temporary file in it for the file
 * part; part becomes UPLOAD_RECV_FILE. dir must leave room for the name
 * (callers check its length). CS_OK or CS_EIO/the random error in req->err. */
int upload_recv_open_file(struct upload_recv *rx, const char *dir);

/* Streams the multipart body through the parser. CS_OK, CS_ECANCELLED with
 * rx->http set (a refusal), or another error in req->err. */
int upload_recv_stream(struct upload_recv *rx);

/* Closes and removes the temporary file (unless tmp_path was cleared: it was
 * kept) and frees the checkers. Safe to call more than once. */
void upload_recv_release(struct upload_recv *rx);

/* ---- the raw buffer, shared by both handlers ---- */

/* True if name ends in .fit or .fits (any case): the only names accepted. */
bool upload_recv_fits_name(const char *name);

/* Bytes held by raw files still in the buffer (not yet stacked and deleted),
 * for the quota check. cached: the SUM scans raw_files, so it may be served
 * from a per-process value up to 2 s old (kept current by
 * upload_recv_buffer_add); false: always asked of the database (the cache is
 * left alone). CS_OK or the db error in req->err. Thread-safe. */
int upload_recv_buffer_used(struct cs_req *req, struct cs_db *db, bool cached, int64_t *ret);

/* Adds n stored bytes to the cached value. Thread-safe. */
void upload_recv_buffer_add(struct cs_app *app, int64_t n);

#endif
