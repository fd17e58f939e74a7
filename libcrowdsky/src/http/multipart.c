/* multipart.c - streaming multipart/form-data parser.
 *
 * The body is treated as if it started with CRLF, so every delimiter,
 * including the first, is "\r\n--" boundary. The delimiter's only CR is its
 * first byte (boundary characters exclude CR and LF), which makes the
 * carry-over between feeds simple: a held-back partial delimiter always starts
 * at the last CR of a chunk, and when it fails to complete, none of its bytes
 * can start another delimiter, so all of them are data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crowdsky/alloc.h"
#include "crowdsky/http.h"
#include "crowdsky/multipart.h"

enum state {
        ST_PREAMBLE,   /* before the first delimiter: discard */
        ST_AFTER_DELIM,/* just after a delimiter: "--", or padding + CRLF */
        ST_AFTER_DASH, /* saw one '-' after a delimiter */
        ST_AFTER_CR,   /* saw CR after a delimiter (+ padding) */
        ST_HEADERS,    /* header lines up to an empty line */
        ST_DATA,       /* part body */
        ST_DONE,       /* closing delimiter seen: ignore the epilogue */
        ST_ERROR,
};

struct cs_multipart {
        enum state st;
        int err_code;
        char delim[CS_MULTIPART_BOUNDARY_MAX + 5]; /* "\r\n--" boundary */
        size_t dlen;
        size_t hold; /* bytes of delim matched at the end of the last feed */
        struct cs_multipart_cb cb;
        void *ud;
        struct cs_multipart_limits lim;
        unsigned parts;
        struct cs_buf hdr; /* header lines of the current part */
        size_t line_start; /* offset in hdr of the line being collected */
        struct cs_multipart_part part;
};

static bool is_bchar(unsigned char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               strchr("'()+_,-./:=? ", c) != NULL;
}

int cs_multipart_boundary(const char *content_type, char *out, size_t outsz, struct cs_err *err)
{
        struct cs_str ct = cs_str_c(content_type);
        size_t i, n;
        int r;

        if (!cs_str_eq_nocase(cs_header_media_type(ct), "multipart/form-data"))
                return cs_err_set(err, CS_EINVAL, "expected a multipart/form-data body");
        r = cs_header_param(ct, "boundary", out, outsz);
        if (r < 0 || outsz <= CS_MULTIPART_BOUNDARY_MAX)
                return cs_err_set(err, CS_EINVAL, "multipart body without a usable boundary");
        n = strlen(out);
        if (n == 0 || n > CS_MULTIPART_BOUNDARY_MAX || out[n - 1] == ' ')
                return cs_err_set(err, CS_EINVAL, "bad multipart boundary");
        for (i = 0; i < n; i++)
                if (!is_bchar((unsigned char)out[i]))
                        return cs_err_set(err, CS_EINVAL, "bad character in multipart boundary");
        return CS_OK;
}

int cs_multipart_new(const char *content_type, const struct cs_multipart_cb *cb, void *ud,
                     const struct cs_multipart_limits *lim, struct cs_multipart **ret_mp,
                     struct cs_err *err)
{
        char boundary[CS_MULTIPART_BOUNDARY_MAX + 1];
        struct cs_multipart *mp;
        int r;

        r = cs_multipart_boundary(content_type, boundary, sizeof boundary, err);
        if (r < 0)
                return r;
        mp = cs_xcalloc(1, sizeof *mp);
        mp->dlen = (size_t)snprintf(mp->delim, sizeof mp->delim, "\r\n--%s", boundary);
        /* the virtual CRLF before the body: the first delimiter may start at byte 0 */
        mp->hold = 2;
        mp->st = ST_PREAMBLE;
        if (cb)
                mp->cb = *cb;
        mp->ud = ud;
        mp->lim.max_header_bytes = lim && lim->max_header_bytes ? lim->max_header_bytes : 8192;
        mp->lim.max_parts = lim && lim->max_parts ? lim->max_parts : 16;
        cs_buf_init(&mp->hdr, mp->lim.max_header_bytes);
        *ret_mp = mp;
        return CS_OK;
}

struct cs_multipart *cs_multipart_free(struct cs_multipart *mp)
{
        if (mp) {
                cs_buf_release(&mp->hdr);
                free(mp);
        }
        return NULL;
}

unsigned cs_multipart_parts(const struct cs_multipart *mp)
{
        return mp->parts;
}

static int fail(struct cs_multipart *mp, int code)
{
        mp->st = ST_ERROR;
        mp->err_code = code;
        return code;
}

/* Emits part data (ignored in the preamble). */
static int emit(struct cs_multipart *mp, const char *p, size_t n, struct cs_err *err)
{
        if (n == 0 || mp->st != ST_DATA || !mp->cb.part_data)
                return CS_OK;
        return mp->cb.part_data(mp->ud, p, n, err);
}

/* A full delimiter was matched. */
static int on_delim(struct cs_multipart *mp, struct cs_err *err)
{
        int r = CS_OK;

        if (mp->st == ST_DATA && mp->cb.part_end)
                r = mp->cb.part_end(mp->ud, err);
        mp->st = ST_AFTER_DELIM;
        return r;
}

/* Parses the collected header lines of a part (each ends with CRLF). */
static int parse_headers(struct cs_multipart *mp, struct cs_err *err)
{
        struct cs_str rest = cs_str_from(mp->hdr.data, mp->hdr.len);
        bool seen_disp = false;

        memset(&mp->part, 0, sizeof mp->part);
        mp->part.index = mp->parts;
        while (rest.len) {
                struct cs_str line, name, value;
                const char *eol = memchr(rest.p, '\n', rest.len);
                size_t n = eol ? (size_t)(eol - rest.p) : rest.len;

                line = cs_str_from(rest.p, n);
                rest = cs_str_from(rest.p + n + (eol ? 1 : 0), rest.len - n - (eol ? 1 : 0));
                if (line.len && line.p[line.len - 1] == '\r')
                        line.len--;
                if (line.len && (line.p[0] == ' ' || line.p[0] == '\t'))
                        return cs_err_set(err, CS_EINVAL, "folded multipart header lines are not supported");
                value = line;
                if (!cs_str_split(&value, ':', &name))
                        return cs_err_set(err, CS_EINVAL, "malformed multipart header line");
                name = cs_str_trim(name);
                value = cs_str_trim(value);
                if (cs_str_eq_nocase(name, "Content-Disposition")) {
                        int r;
                        if (seen_disp)
                                return cs_err_set(err, CS_EINVAL, "repeated Content-Disposition in a part");
                        seen_disp = true;
                        if (!cs_str_eq_nocase(cs_header_media_type(value), "form-data"))
                                return cs_err_set(err, CS_EINVAL, "multipart part is not form-data");
                        r = cs_header_param(value, "name", mp->part.name, sizeof mp->part.name);
                        if (r == CS_ETOOBIG)
                                return cs_err_set(err, CS_ETOOBIG, "multipart field name too long");
                        if (r == CS_EINVAL)
                                return cs_err_set(err, CS_EINVAL, "malformed Content-Disposition");
                        r = cs_header_param(value, "filename", mp->part.filename,
                                            sizeof mp->part.filename);
                        if (r == CS_ETOOBIG)
                                return cs_err_set(err, CS_ETOOBIG, "file name too long");
                        if (r == CS_EINVAL)
                                return cs_err_set(err, CS_EINVAL, "malformed Content-Disposition");
                        mp->part.has_filename = r == CS_OK;
                } else if (cs_str_eq_nocase(name, "Content-Type")) {
                        if (!cs_str_copy(value, mp->part.content_type, sizeof mp->part.content_type))
                                return cs_err_set(err, CS_ETOOBIG, "part Content-Type too long");
                }
                /* other headers (Content-Transfer-Encoding, ...) are ignored */
        }
        if (!seen_disp)
                return cs_err_set(err, CS_EINVAL, "multipart part without Content-Disposition");
        return CS_OK;
}

/* Header state: consumes bytes up to the empty line. Returns bytes used. */
static int feed_headers(struct cs_multipart *mp, const char *p, size_t n, size_t *ret_used,
                        struct cs_err *err)
{
        size_t i = 0;
        int r;

        while (i < n) {
                const char *nl = memchr(p + i, '\n', n - i);
                size_t take = nl ? (size_t)(nl - (p + i)) + 1 : n - i;

                if (cs_buf_add(&mp->hdr, p + i, take) < 0)
                        return cs_err_set(err, CS_ETOOBIG, "multipart part headers too large (limit %zu bytes)",
                                          mp->lim.max_header_bytes);
                i += take;
                if (!nl)
                        break;
                /* a complete line: the empty line ends the headers */
                {
                        size_t linelen = mp->hdr.len - mp->line_start;
                        bool empty = linelen == 1 || (linelen == 2 && mp->hdr.data[mp->line_start] == '\r');
                        if (!empty) {
                                mp->line_start = mp->hdr.len;
                                continue;
                        }
                        mp->hdr.len = mp->line_start; /* drop the empty line itself */
                        mp->hdr.data[mp->hdr.len] = '\0';
                }
                if (mp->parts >= mp->lim.max_parts)
                        return cs_err_set(err, CS_ETOOBIG, "too many multipart parts (limit %u)",
                                          mp->lim.max_parts);
                r = parse_headers(mp, err);
                if (r < 0)
                        return r;
                mp->parts++;
                cs_buf_reset(&mp->hdr);
                mp->st = ST_DATA;
                mp->hold = 0;
                if (mp->cb.part_begin) {
                        r = mp->cb.part_begin(mp->ud, &mp->part, err);
                        if (r < 0)
                                return r;
                }
                break;
        }
        *ret_used = i;
        return CS_OK;
}

/* Data or preamble state: scans for the delimiter. Returns bytes used. */
static int feed_data(struct cs_multipart *mp, const char *p, size_t n, size_t *ret_used,
                     struct cs_err *err)
{
        size_t i = 0;
        int r;

        /* finish a partial delimiter held back from the previous feed */
        if (mp->hold) {
                size_t need = mp->dlen - mp->hold, m = need < n ? need : n;
                if (memcmp(p, mp->delim + mp->hold, m) == 0) {
                        if (m < need) {
                                mp->hold += m;
                                *ret_used = n;
                                return CS_OK;
                        }
                        mp->hold = 0;
                        *ret_used = m;
                        return on_delim(mp, err);
                }
                /* not a delimiter after all: the held bytes are data */
                r = emit(mp, mp->delim, mp->hold, err);
                mp->hold = 0;
                if (r < 0)
                        return r;
        }
        {
                const char *d = memmem(p, n, mp->delim, mp->dlen);
                if (d) {
                        r = emit(mp, p, (size_t)(d - p), err);
                        if (r < 0)
                                return r;
                        *ret_used = (size_t)(d - p) + mp->dlen;
                        return on_delim(mp, err);
                }
        }
        /* no full delimiter: hold back a possible partial one at the end */
        {
                size_t tail = n < mp->dlen - 1 ? n : mp->dlen - 1;
                const char *cr = memrchr(p + n - tail, '\r', tail);
                size_t keep = 0;
                if (cr && memcmp(cr, mp->delim, (size_t)(p + n - cr)) == 0)
                        keep = (size_t)(p + n - cr);
                r = emit(mp, p + i, n - keep, err);
                if (r < 0)
                        return r;
                mp->hold = keep;
        }
        *ret_used = n;
        return CS_OK;
}

int cs_multipart_feed(struct cs_multipart *mp, const char *p, size_t n, struct cs_err *err)
{
        size_t i = 0;
        int r = CS_OK;

        if (mp->st == ST_ERROR)
                return cs_err_set(err, mp->err_code, "multipart parser already failed");
        while (i < n) {
                size_t used = 0;
                char c;

                switch (mp->st) {
                case ST_PREAMBLE:
                case ST_DATA:
                        r = feed_data(mp, p + i, n - i, &used, err);
                        break;
                case ST_HEADERS:
                        r = feed_headers(mp, p + i, n - i, &used, err);
                        break;
                case ST_AFTER_DELIM:
                        c = p[i];
                        used = 1;
                        if (c == '-')
                                mp->st = ST_AFTER_DASH;
                        else if (c == '\r')
                                mp->st = ST_AFTER_CR;
                        else if (c != ' ' && c != '\t')
                                r = cs_err_set(err, CS_EINVAL, "malformed multipart delimiter line");
                        break;
                case ST_AFTER_DASH:
                        used = 1;
                        if (p[i] == '-')
                                mp->st = ST_DONE;
                        else
                                r = cs_err_set(err, CS_EINVAL, "malformed multipart delimiter line");
                        break;
                case ST_AFTER_CR:
                        used = 1;
                        if (p[i] == '\n') {
                                mp->st = ST_HEADERS;
                                cs_buf_reset(&mp->hdr);
                                mp->line_start = 0;
                        } else {
                                r = cs_err_set(err, CS_EINVAL, "malformed multipart delimiter line");
                        }
                        break;
                case ST_DONE:
                        return CS_OK; /* epilogue */
                case ST_ERROR:
                        return mp->err_code;
                }
                if (r < 0)
                        return fail(mp, r);
                i += used;
        }
        return CS_OK;
}

int cs_multipart_finish(struct cs_multipart *mp, struct cs_err *err)
{
        if (mp->st == ST_ERROR)
                return cs_err_set(err, mp->err_code, "multipart parser already failed");
        if (mp->st != ST_DONE)
                return fail(mp, cs_err_set(err, CS_EINVAL, "multipart body is truncated (no closing boundary)"));
        return CS_OK;
}
