/* alloc.h - allocation helpers.
 *
 * cs_xmalloc & co. abort on OOM: for small bookkeeping only. Sizes that come
 * from input (pixels, uploads, frame counts) go through cs_alloc_array, which
 * checks the multiplication for overflow and returns NULL instead. */
#ifndef CROWDSKY_ALLOC_H
#define CROWDSKY_ALLOC_H

#include <stddef.h>

void *cs_xmalloc(size_t n);
void *cs_xcalloc(size_t n, size_t size);
void *cs_xrealloc(void *p, size_t n);
char *cs_xstrdup(const char *s);
char *cs_xstrndup(const char *s, size_t n);
char *cs_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* n * size bytes, zeroed if zero != 0; NULL on overflow or OOM. */
void *cs_alloc_array(size_t n, size_t size, int zero);
/* true if a*b overflows size_t; else *ret = a*b. */
int cs_mul_overflow(size_t a, size_t b, size_t *ret);

/* Frees *pp and sets it to NULL. */
#define CS_FREE(p) do { free(p); (p) = NULL; } while (0)

#endif
