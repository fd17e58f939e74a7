/* multipart.h - streaming multipart/form-data parser (RFC 7578 / RFC 2046).
 *
 * Push the body in chunks of any size with cs_multipart_feed(); the parser
 * calls back for each part's headers, its data (as slices pointing straight
 * into the chunk you fed, so a file part can go to write(2) with no copy),
 * and its end. Delimiters may span chunk edges: up to (boundary length + 3)
 * bytes of a possible delimiter are held back between feeds. Data search uses
 * memmem/memchr; there is no per-byte work in part bodies.
 *
 * Limits (struct cs_multipart_limits) bound header bytes per part and the
 * number of parts; passing them fails with CS_ETOOBIG. Malformed input fails
 * with CS_EINVAL. After an error, further feeds return the same error.
 *
 * Not thread-safe per parser; separate parsers are independent.
 *
 *     struct cs_multipart *mp;
 *     r = cs_multipart_new(content_type_header, &cb, ctx, NULL, &mp, err);
 *     while ((n = read(...)) > 0)
 *             if ((r = cs_multipart_feed(mp, buf, n, err)) < 0) break;
 *     if (r == CS_OK) r = cs_multipart_finish(mp, err);
 *     mp = cs_multipart_free(mp);
 */
#ifndef CROWDSKY_MULTIPART_H
#define CROWDSKY_MULTIPART_H

#include <stddef.h>

#include "err.h"

#define CS_MULTIPART_NAME_MAX 256
#define CS_MULTIPART_CTYPE_MAX 256
#define CS_MULTIPART_BOUNDARY_MAX 70 /* RFC 2046 */

/* What the headers of one part said (borrowed; valid during the callback). */
struct cs_multipart_part {
        unsigned index;                             /* 0-based part number */
        char name[CS_MULTIPART_NAME_MAX];           /* Content-Disposition name ("" if none) */
        char filename[CS_MULTIPART_NAME_MAX];       /* filename parameter ("" if none) */
        int has_filename;                           /* 1 if a filename parameter was present */
        char content_type[CS_MULTIPART_CTYPE_MAX];  /* "" if none */
};

/* Callbacks return CS_OK to continue or a negative cs_status to stop the
 * parse; that status is returned by cs_multipart_feed (set err to explain).
 * Any callback may be NULL. */
struct cs_multipart_cb {
        int (*part_begin)(void *ud, const struct cs_multipart_part *part, struct cs_err *err);
        int (*part_data)(void *ud, const char *p, size_t n, struct cs_err *err);
        int (*part_end)(void *ud, struct cs_err *err);
};

struct cs_multipart_limits {
        size_t max_header_bytes; /* per part, all header lines; default 8 KiB */
        unsigned max_parts;      /* default 16 */
};

struct cs_multipart;

/* Extracts the boundary from a Content-Type header value; checks the media
 * type is multipart/form-data and the boundary is 1..70 RFC 2046 characters.
 * out must hold CS_MULTIPART_BOUNDARY_MAX + 1 bytes. CS_OK or CS_EINVAL. */
int cs_multipart_boundary(const char *content_type, char *out, size_t outsz, struct cs_err *err);

/* Creates a parser for a body with the given Content-Type header value.
 * lim may be NULL (defaults). Free with cs_multipart_free. CS_OK or CS_EINVAL
 * (not multipart/form-data, bad boundary). */
int cs_multipart_new(const char *content_type, const struct cs_multipart_cb *cb, void *ud,
                     const struct cs_multipart_limits *lim, struct cs_multipart **ret_mp,
                     struct cs_err *err);
struct cs_multipart *cs_multipart_free(struct cs_multipart *mp); /* NULL-safe; returns NULL */

/* Pushes n bytes of the body. CS_OK, CS_EINVAL (malformed), CS_ETOOBIG (a
 * limit), or a callback's status. Bytes after the closing delimiter (the
 * epilogue) are ignored. */
int cs_multipart_feed(struct cs_multipart *mp, const char *p, size_t n, struct cs_err *err);
/* Call at the end of the body: CS_OK if the closing delimiter was seen, else
 * CS_EINVAL ("truncated"). */
int cs_multipart_finish(struct cs_multipart *mp, struct cs_err *err);
/* Parts seen so far (begun). */
unsigned cs_multipart_parts(const struct cs_multipart *mp);

#endif
