/* header.c - Cookie header, header parameters, Basic/Bearer credentials,
 * base64, HTML escaping, reason phrases. */
#include <string.h>
#include <strings.h>

#include "crowdsky/http.h"

static bool is_space(char c)
{
        return c == ' ' || c == '\t';
}

bool cs_cookie_find(const char *header, const char *name, struct cs_str *ret_value)
{
        struct cs_str rest = cs_str_c(header);
        size_t nlen = strlen(name);

        while (rest.len) {
                struct cs_str item, key, val;
                if (!cs_str_split(&rest, ';', &item)) {
                        item = rest;
                        rest = cs_str_from(rest.p + rest.len, 0);
                }
                item = cs_str_trim(item);
                val = item;
                if (!cs_str_split(&val, '=', &key))
                        continue;
                key = cs_str_trim(key);
                if (key.len != nlen || memcmp(key.p, name, nlen) != 0)
                        continue;
                val = cs_str_trim(val);
                if (val.len >= 2 && val.p[0] == '"' && val.p[val.len - 1] == '"')
                        val = cs_str_from(val.p + 1, val.len - 2);
                *ret_value = val;
                return true;
        }
        return false;
}

struct cs_str cs_header_media_type(struct cs_str header)
{
        struct cs_str head, rest = header;

        if (cs_str_split(&rest, ';', &head))
                return cs_str_trim(head);
        return cs_str_trim(header);
}

/* Reads a token or quoted string at *s into out; advances *s past it. */
static int read_value(struct cs_str *s, char *out, size_t outsz, bool *ret_fits)
{
        size_t i = 0, o = 0;
        bool fits = true;

        if (s->len && s->p[0] == '"') {
                i = 1;
                for (;;) {
                        char c;
                        if (i >= s->len)
                                return CS_EINVAL; /* unterminated quote */
                        c = s->p[i++];
                        if (c == '"')
                                break;
                        if (c == '\\') {
                                if (i >= s->len)
                                        return CS_EINVAL;
                                c = s->p[i++];
                        }
                        if (o + 1 < outsz)
                                out[o++] = c;
                        else
                                fits = false;
                }
        } else {
                while (i < s->len && s->p[i] != ';') {
                        if (o + 1 < outsz)
                                out[o++] = s->p[i];
                        else
                                fits = false;
                        i++;
                }
                /* trailing spaces of a token are not part of it */
                while (o > 0 && is_space(out[o - 1]))
                        o--;
        }
        if (outsz)
                out[o] = '\0';
        s->p += i;
        s->len -= i;
        *ret_fits = fits;
        return CS_OK;
}

int cs_header_param(struct cs_str header, const char *name, char *out, size_t outsz)
{
        struct cs_str s = header, head;
        size_t nlen = strlen(name);

        /* skip the media type / disposition type */
        if (!cs_str_split(&s, ';', &head))
                return CS_ENOTFOUND;
        for (;;) {
                struct cs_str key;
                bool fits;
                int r;
                size_t k = 0;

                while (s.len && (is_space(s.p[0]) || s.p[0] == ';')) {
                        s.p++;
                        s.len--;
                }
                if (!s.len)
                        return CS_ENOTFOUND;
                while (k < s.len && s.p[k] != '=' && s.p[k] != ';')
                        k++;
                if (k == s.len || s.p[k] == ';') {
                        /* a parameter without value: skip it */
                        s.p += k;
                        s.len -= k;
                        continue;
                }
                key = cs_str_trim(cs_str_from(s.p, k));
                s.p += k + 1;
                s.len -= k + 1;
                while (s.len && is_space(s.p[0])) {
                        s.p++;
                        s.len--;
                }
                if (key.len == nlen && strncasecmp(key.p, name, nlen) == 0) {
                        r = read_value(&s, out, outsz, &fits);
                        if (r < 0)
                                return r;
                        return fits ? CS_OK : CS_ETOOBIG;
                }
                {
                        char scratch[1];
                        r = read_value(&s, scratch, sizeof scratch, &fits);
                        if (r < 0)
                                return r;
                }
        }
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int cs_base64_encode(const void *in, size_t n, struct cs_buf *out)
{
        const unsigned char *p = in;
        size_t i;
        int r = CS_OK;

        for (i = 0; i + 2 < n && r == CS_OK; i += 3) {
                char q[4] = { b64chars[p[i] >> 2], b64chars[((p[i] & 3) << 4) | (p[i + 1] >> 4)],
                              b64chars[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)],
                              b64chars[p[i + 2] & 63] };
                r = cs_buf_add(out, q, 4);
        }
        if (r == CS_OK && n - i == 1) {
                char q[4] = { b64chars[p[i] >> 2], b64chars[(p[i] & 3) << 4], '=', '=' };
                r = cs_buf_add(out, q, 4);
        } else if (r == CS_OK && n - i == 2) {
                char q[4] = { b64chars[p[i] >> 2], b64chars[((p[i] & 3) << 4) | (p[i + 1] >> 4)],
                              b64chars[(p[i + 1] & 15) << 2], '=' };
                r = cs_buf_add(out, q, 4);
        }
        return r;
}

static int b64val(unsigned char c)
{
        const char *q;

        if (c == 0)
                return -1;
        q = strchr(b64chars, c);
        return q ? (int)(q - b64chars) : -1;
}

int cs_base64_decode(struct cs_str in, unsigned char *out, size_t outsz, size_t *ret_len)
{
        size_t i, o = 0, n = in.len;
        unsigned acc = 0;
        int bits = 0;

        while (n && in.p[n - 1] == '=')
                n--;
        if (in.len - n > 2 || n % 4 == 1)
                return CS_EINVAL;
        for (i = 0; i < n; i++) {
                int v = b64val((unsigned char)in.p[i]);
                if (v < 0)
                        return CS_EINVAL;
                acc = (acc << 6) | (unsigned)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        if (o >= outsz)
                                return CS_ETOOBIG;
                        out[o++] = (unsigned char)(acc >> bits);
                        acc &= (1u << bits) - 1;
                }
        }
        *ret_len = o;
        return CS_OK;
}

int cs_http_basic_parse(const char *header, char *user, size_t usersz, char *secret,
                        size_t secretsz)
{
        struct cs_str h = cs_str_trim(cs_str_c(header));
        unsigned char dec[1024];
        size_t n, ulen;
        const unsigned char *colon;
        int r;

        if (h.len < 6 || strncasecmp(h.p, "Basic ", 6) != 0)
                return CS_EINVAL;
        h = cs_str_trim(cs_str_from(h.p + 6, h.len - 6));
        r = cs_base64_decode(h, dec, sizeof dec, &n);
        if (r < 0)
                return r;
        colon = memchr(dec, ':', n);
        if (!colon || memchr(dec, '\0', n))
                return CS_EINVAL;
        ulen = (size_t)(colon - dec);
        if (ulen + 1 > usersz || n - ulen - 1 + 1 > secretsz)
                return CS_ETOOBIG;
        memcpy(user, dec, ulen);
        user[ulen] = '\0';
        memcpy(secret, colon + 1, n - ulen - 1);
        secret[n - ulen - 1] = '\0';
        return CS_OK;
}

bool cs_http_bearer_parse(const char *header, struct cs_str *ret_token)
{
        struct cs_str h = cs_str_trim(cs_str_c(header));

        if (h.len < 8 || strncasecmp(h.p, "Bearer ", 7) != 0)
                return false;
        h = cs_str_trim(cs_str_from(h.p + 7, h.len - 7));
        if (!h.len)
                return false;
        *ret_token = h;
        return true;
}

int cs_html_escape(struct cs_buf *out, const char *s, size_t n)
{
        size_t i = 0;
        int r = CS_OK;

        while (i < n && r == CS_OK) {
                size_t j = i;
                const char *rep = NULL;
                while (j < n) {
                        char c = s[j];
                        if (c == '&' || c == '<' || c == '>' || c == '"' || c == '\'')
                                break;
                        j++;
                }
                if (j > i)
                        r = cs_buf_add(out, s + i, j - i);
                if (j == n || r < 0)
                        break;
                switch (s[j]) {
                case '&': rep = "&amp;"; break;
                case '<': rep = "&lt;"; break;
                case '>': rep = "&gt;"; break;
                case '"': rep = "&quot;"; break;
                default: rep = "&#39;"; break;
                }
                r = cs_buf_adds(out, rep);
                i = j + 1;
        }
        return r;
}

bool cs_text_ok(const char *s)
{
        const unsigned char *p = (const unsigned char *)s;

        while (*p) {
                unsigned c = *p, n, cp, i;
                if (c < 0x20 || c == 0x7f)
                        return false;
                if (c < 0x80) {
                        p++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf)
                        n = 1, cp = c & 0x1f;
                else if (c >= 0xe0 && c <= 0xef)
                        n = 2, cp = c & 0x0f;
                else if (c >= 0xf0 && c <= 0xf4)
                        n = 3, cp = c & 0x07;
                else
                        return false;
                for (i = 1; i <= n; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (p[i] & 0x3f);
                }
                if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
                    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
                        return false;
                p += n + 1;
        }
        return true;
}

const char *cs_http_reason(int code)
{
        switch (code) {
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 206: return "Partial Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 303: return "See Other";
        case 304: return "Not Modified";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 409: return "Conflict";
        case 410: return "Gone";
        case 411: return "Length Required";
        case 413: return "Content Too Large";
        case 415: return "Unsupported Media Type";
        case 416: return "Range Not Satisfiable";
        case 422: return "Unprocessable Content";
        case 429: return "Too Many Requests";
        case 500: return "Internal Server Error";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 507: return "Insufficient Storage";
        default: return "Unknown";
        }
}
