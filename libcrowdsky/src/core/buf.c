/* buf.c - capped growable buffer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crowdsky/buf.h"
#include "crowdsky/err.h"

char cs_buf_empty[1];

void cs_buf_init(struct cs_buf *b, size_t max)
{
        b->data = cs_buf_empty;
        b->len = 0;
        b->alloc = 0;
        b->max = max;
}

void cs_buf_release(struct cs_buf *b)
{
        if (b->alloc)
                free(b->data);
        cs_buf_init(b, b->max);
}

void cs_buf_reset(struct cs_buf *b)
{
        b->len = 0;
        b->data[0] = '\0';
}

int cs_buf_grow(struct cs_buf *b, size_t extra)
{
        size_t need, n;
        char *p;

        if (extra > b->max || b->len > b->max - extra)
                return CS_ETOOBIG;
        need = b->len + extra + 1;
        if (need <= b->alloc)
                return CS_OK;
        n = b->alloc ? b->alloc : 64;
        while (n < need)
                n = n > SIZE_MAX / 2 ? need : n * 2;
        if (n > b->max + 1)
                n = b->max + 1 > need ? b->max + 1 : need;
        p = realloc(b->alloc ? b->data : NULL, n);
        if (!p)
                return CS_ENOMEM;
        if (!b->alloc)
                p[0] = '\0';
        b->data = p;
        b->alloc = n;
        return CS_OK;
}

int cs_buf_add(struct cs_buf *b, const void *p, size_t n)
{
        int r = cs_buf_grow(b, n);
        if (r < 0)
                return r;
        if (n)
                memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return CS_OK;
}

int cs_buf_adds(struct cs_buf *b, const char *s)
{
        return cs_buf_add(b, s, strlen(s));
}

int cs_buf_addc(struct cs_buf *b, char c)
{
        return cs_buf_add(b, &c, 1);
}

int cs_buf_vprintf(struct cs_buf *b, const char *fmt, va_list ap)
{
        va_list ap2;
        int n, r;

        va_copy(ap2, ap);
        n = vsnprintf(NULL, 0, fmt, ap2);
        va_end(ap2);
        if (n < 0)
                return CS_EINVAL;
        r = cs_buf_grow(b, (size_t)n);
        if (r < 0)
                return r;
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        b->len += (size_t)n;
        return CS_OK;
}

int cs_buf_printf(struct cs_buf *b, const char *fmt, ...)
{
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = cs_buf_vprintf(b, fmt, ap);
        va_end(ap);
        return r;
}

char *cs_buf_detach(struct cs_buf *b, size_t *ret_len)
{
        char *p;

        if (ret_len)
                *ret_len = b->len;
        if (b->alloc) {
                p = b->data;
        } else {
                p = malloc(1);
                if (!p)
                        abort();
                p[0] = '\0';
        }
        cs_buf_init(b, b->max);
        return p;
}
