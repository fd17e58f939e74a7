/* str.c - slices, checked number parsing, hex, constant-time compare. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crowdsky/err.h"
#include "crowdsky/str.h"

struct cs_str cs_str_c(const char *s)
{
        return s ? cs_str_from(s, strlen(s)) : cs_str_from("", 0);
}

bool cs_str_eq(struct cs_str a, const char *lit)
{
        size_t n = strlen(lit);
        return a.len == n && memcmp(a.p, lit, n) == 0;
}

bool cs_str_eq_nocase(struct cs_str a, const char *lit)
{
        size_t n = strlen(lit);
        return a.len == n && strncasecmp(a.p, lit, n) == 0;
}

bool cs_str_starts(struct cs_str a, const char *prefix)
{
        size_t n = strlen(prefix);
        return a.len >= n && memcmp(a.p, prefix, n) == 0;
}

struct cs_str cs_str_trim(struct cs_str s)
{
        while (s.len && (s.p[0] == ' ' || s.p[0] == '\t')) {
                s.p++;
                s.len--;
        }
        while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
                s.len--;
        return s;
}

bool cs_str_split(struct cs_str *s, char sep, struct cs_str *ret_head)
{
        const char *q = s->len ? memchr(s->p, sep, s->len) : NULL;

        if (!q)
                return false;
        *ret_head = cs_str_from(s->p, (size_t)(q - s->p));
        s->len -= (size_t)(q - s->p) + 1;
        s->p = q + 1;
        return true;
}

bool cs_str_copy(struct cs_str s, char *dst, size_t dstsz)
{
        size_t n;

        if (dstsz == 0)
                return false;
        n = s.len < dstsz - 1 ? s.len : dstsz - 1;
        if (n)
                memcpy(dst, s.p, n);
        dst[n] = '\0';
        return n == s.len;
}

/* Copies a slice into a small NUL-terminated scratch buffer for strto*. */
static int to_cstr(struct cs_str s, char *tmp, size_t tmpsz)
{
        if (s.len == 0 || s.len >= tmpsz || memchr(s.p, '\0', s.len))
                return CS_EINVAL;
        memcpy(tmp, s.p, s.len);
        tmp[s.len] = '\0';
        return CS_OK;
}

int cs_parse_i64(struct cs_str s, int64_t *ret)
{
        char tmp[64], *end;
        long long v;

        if (to_cstr(s, tmp, sizeof tmp) < 0 || isspace((unsigned char)tmp[0]))
                return CS_EINVAL;
        errno = 0;
        v = strtoll(tmp, &end, 10);
        if (errno || *end != '\0' || end == tmp)
                return CS_EINVAL;
        *ret = (int64_t)v;
        return CS_OK;
}

int cs_parse_u64(struct cs_str s, uint64_t *ret)
{
        char tmp[64], *end;
        unsigned long long v;

        if (to_cstr(s, tmp, sizeof tmp) < 0 || !isdigit((unsigned char)tmp[0]))
                return CS_EINVAL;
        errno = 0;
        v = strtoull(tmp, &end, 10);
        if (errno || *end != '\0')
                return CS_EINVAL;
        *ret = (uint64_t)v;
        return CS_OK;
}

int cs_parse_f64(struct cs_str s, double *ret)
{
        char tmp[128], *end;
        double v;

        if (to_cstr(s, tmp, sizeof tmp) < 0 || isspace((unsigned char)tmp[0]))
                return CS_EINVAL;
        errno = 0;
        v = strtod(tmp, &end);
        if (errno == ERANGE || *end != '\0' || end == tmp || !isfinite(v))
                return CS_EINVAL;
        *ret = v;
        return CS_OK;
}

int cs_parse_i64_c(const char *s, int64_t *ret)
{
        return cs_parse_i64(cs_str_c(s), ret);
}

int cs_parse_f64_c(const char *s, double *ret)
{
        return cs_parse_f64(cs_str_c(s), ret);
}

void cs_hex(const unsigned char *in, size_t n, char *out)
{
        static const char digits[] = "0123456789abcdef";
        size_t i;

        for (i = 0; i < n; i++) {
                out[2 * i] = digits[in[i] >> 4];
                out[2 * i + 1] = digits[in[i] & 15];
        }
        out[2 * n] = '\0';
}

bool cs_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
        const volatile unsigned char *x = a, *y = b;
        unsigned char acc = 0;
        size_t i;

        if (alen != blen)
                return false;
        for (i = 0; i < alen; i++)
                acc |= (unsigned char)(x[i] ^ y[i]);
        return acc == 0;
}
