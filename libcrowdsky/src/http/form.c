/* form.c - urlencoded forms and query strings, percent coding. */
#include <stdlib.h>
#include <string.h>

#include "crowdsky/alloc.h"
#include "crowdsky/http.h"

void cs_form_init(struct cs_form *f, size_t max_fields, size_t max_bytes)
{
        memset(f, 0, sizeof *f);
        f->max_fields = max_fields;
        f->max_bytes = max_bytes;
}

void cs_form_release(struct cs_form *f)
{
        size_t i;

        for (i = 0; i < f->n; i++) {
                free(f->fields[i].name);
                free(f->fields[i].value);
        }
        free(f->fields);
        f->fields = NULL;
        f->n = f->alloc = 0;
        f->bytes = 0;
}

int cs_form_add(struct cs_form *f, const char *name, size_t name_len, const char *value,
                size_t value_len, struct cs_err *err)
{
        struct cs_form_field *fld;

        if (f->n >= f->max_fields)
                return cs_err_set(err, CS_ETOOBIG, "too many form fields (limit %zu)", f->max_fields);
        if (name_len + value_len > f->max_bytes - f->bytes || name_len + value_len < name_len)
                return cs_err_set(err, CS_ETOOBIG, "form fields too large (limit %zu bytes)",
                                  f->max_bytes);
        if (f->n == f->alloc) {
                f->alloc = f->alloc ? f->alloc * 2 : 8;
                f->fields = cs_xrealloc(f->fields, f->alloc * sizeof *f->fields);
        }
        fld = &f->fields[f->n++];
        fld->name = cs_xstrndup(name, name_len);
        fld->value = cs_xmalloc(value_len + 1);
        if (value_len)
                memcpy(fld->value, value, value_len);
        fld->value[value_len] = '\0';
        fld->value_len = value_len;
        f->bytes += name_len + value_len;
        return CS_OK;
}

static int hexval(int c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int cs_url_decode(struct cs_str s, bool plus_space, struct cs_buf *out)
{
        size_t i = 0;
        int r;

        while (i < s.len) {
                /* copy the run of plain bytes in one go */
                size_t j = i;
                while (j < s.len && s.p[j] != '%' && !(plus_space && s.p[j] == '+'))
                        j++;
                if (j > i) {
                        r = cs_buf_add(out, s.p + i, j - i);
                        if (r < 0)
                                return r;
                        i = j;
                        continue;
                }
                if (s.p[i] == '+') {
                        r = cs_buf_addc(out, ' ');
                        i++;
                } else {
                        int hi, lo;
                        if (s.len - i < 3)
                                return CS_EINVAL;
                        hi = hexval((unsigned char)s.p[i + 1]);
                        lo = hexval((unsigned char)s.p[i + 2]);
                        if (hi < 0 || lo < 0)
                                return CS_EINVAL;
                        r = cs_buf_addc(out, (char)(hi * 16 + lo));
                        i += 3;
                }
                if (r < 0)
                        return r;
        }
        return CS_OK;
}

int cs_url_encode(struct cs_str s, struct cs_buf *out)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t i;
        int r = CS_OK;

        for (i = 0; i < s.len && r == CS_OK; i++) {
                unsigned char c = (unsigned char)s.p[i];
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '~') {
                        r = cs_buf_addc(out, (char)c);
                } else {
                        char e[3] = { '%', hex[c >> 4], hex[c & 15] };
                        r = cs_buf_add(out, e, 3);
                }
        }
        return r;
}

int cs_form_parse(struct cs_form *f, const char *s, size_t len, struct cs_err *err)
{
        struct cs_str rest = cs_str_from(s, len);
        struct cs_buf name = CS_BUF_INIT(f->max_bytes), value = CS_BUF_INIT(f->max_bytes);
        int r = CS_OK;

        while (rest.len) {
                struct cs_str pair, key, val;
                if (!cs_str_split(&rest, '&', &pair)) {
                        pair = rest;
                        rest = cs_str_from(rest.p + rest.len, 0);
                }
                if (pair.len == 0)
                        continue;
                key = pair;
                val = cs_str_from(pair.p + pair.len, 0);
                {
                        struct cs_str tmp = pair;
                        if (cs_str_split(&tmp, '=', &key))
                                val = tmp;
                }
                cs_buf_reset(&name);
                cs_buf_reset(&value);
                r = cs_url_decode(key, true, &name);
                if (r == CS_OK)
                        r = cs_url_decode(val, true, &value);
                if (r == CS_EINVAL) {
                        cs_err_set(err, r, "bad percent-escape in form data");
                        break;
                }
                if (r == CS_ETOOBIG) {
                        cs_err_set(err, r, "form fields too large (limit %zu bytes)", f->max_bytes);
                        break;
                }
                if (r < 0)
                        break;
                r = cs_form_add(f, name.data, name.len, value.data, value.len, err);
                if (r < 0)
                        break;
        }
        cs_buf_release(&name);
        cs_buf_release(&value);
        return r;
}

const char *cs_form_get(const struct cs_form *f, const char *name)
{
        size_t i;

        for (i = 0; i < f->n; i++)
                if (strcmp(f->fields[i].name, name) == 0)
                        return f->fields[i].value;
        return NULL;
}

const char *cs_form_get_text(const struct cs_form *f, const char *name)
{
        size_t i;

        for (i = 0; i < f->n; i++)
                if (strcmp(f->fields[i].name, name) == 0)
                        return strlen(f->fields[i].value) == f->fields[i].value_len ? f->fields[i].value
                                                                                     : NULL;
        return NULL;
}
