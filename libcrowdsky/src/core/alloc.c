/* alloc.c - aborting allocators for bookkeeping, checked ones for input sizes. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crowdsky/alloc.h"

static void oom(size_t n)
{
        fprintf(stderr, "crowdsky: out of memory allocating %zu bytes\n", n);
        abort();
}

void *cs_xmalloc(size_t n)
{
        void *p = malloc(n ? n : 1);
        if (!p)
                oom(n);
        return p;
}

void *cs_xcalloc(size_t n, size_t size)
{
        void *p = calloc(n ? n : 1, size ? size : 1);
        if (!p)
                oom(n * size);
        return p;
}

void *cs_xrealloc(void *p, size_t n)
{
        void *q = realloc(p, n ? n : 1);
        if (!q)
                oom(n);
        return q;
}

char *cs_xstrdup(const char *s)
{
        return cs_xstrndup(s, strlen(s));
}

char *cs_xstrndup(const char *s, size_t n)
{
        size_t len = strnlen(s, n);
        char *p = cs_xmalloc(len + 1);
        memcpy(p, s, len);
        p[len] = '\0';
        return p;
}

char *cs_xasprintf(const char *fmt, ...)
{
        va_list ap, ap2;
        char small[256];
        int n;
        char *p;

        /* measure into a stack buffer: most strings fit, and it needs no NULL destination */
        va_start(ap, fmt);
        va_copy(ap2, ap);
        n = vsnprintf(small, sizeof small, fmt, ap);
        va_end(ap);
        if (n < 0)
                abort();
        p = cs_xmalloc((size_t)n + 1);
        if ((size_t)n < sizeof small)
                memcpy(p, small, (size_t)n + 1);
        else
                vsnprintf(p, (size_t)n + 1, fmt, ap2);
        va_end(ap2);
        return p;
}

int cs_mul_overflow(size_t a, size_t b, size_t *ret)
{
        return __builtin_mul_overflow(a, b, ret);
}

void *cs_alloc_array(size_t n, size_t size, int zero)
{
        size_t total;

        if (cs_mul_overflow(n, size, &total) || total > (SIZE_MAX >> 1))
                return NULL;
        return zero ? calloc(total ? total : 1, 1) : malloc(total ? total : 1);
}
