/* buf.h - growable byte buffer with a hard size cap (git strbuf invariants +
 * curl dynbuf cap).
 *
 * Invariants: data is never NULL and always NUL-terminated (so it can be used
 * as a C string when it holds text); len excludes the terminator; appending
 * past max fails with CS_ETOOBIG and leaves the buffer unchanged. */
#ifndef CROWDSKY_BUF_H
#define CROWDSKY_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct cs_buf {
        char *data;
        size_t len;
        size_t alloc; /* 0 while data points at the static empty string */
        size_t max;   /* content bytes allowed (terminator not counted) */
};

extern char cs_buf_empty[];
#define CS_BUF_INIT(max_bytes) { cs_buf_empty, 0, 0, (max_bytes) }

void cs_buf_init(struct cs_buf *b, size_t max);
/* Frees the memory and resets to empty (max kept). Safe on an empty buffer. */
void cs_buf_release(struct cs_buf *b);
void cs_buf_reset(struct cs_buf *b); /* len = 0, memory kept */
int cs_buf_grow(struct cs_buf *b, size_t extra);
int cs_buf_add(struct cs_buf *b, const void *p, size_t n);
int cs_buf_adds(struct cs_buf *b, const char *s);
int cs_buf_addc(struct cs_buf *b, char c);
int cs_buf_printf(struct cs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cs_buf_vprintf(struct cs_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Returns the heap string (caller frees) and resets the buffer to empty. Never NULL. */
char *cs_buf_detach(struct cs_buf *b, size_t *ret_len);

#endif
