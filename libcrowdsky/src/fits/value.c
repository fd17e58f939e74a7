/* value.c - FITS card values, ISO dates and sexagesimal angles. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "crowdsky/fits.h"
#include "crowdsky/str.h"
#include "fits/fits_int.h"

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

/* [+-]?digits */
static bool is_int_token(struct cs_str t)
{
        size_t i = 0;

        if (i < t.len && (t.p[i] == '+' || t.p[i] == '-'))
                i++;
        if (i == t.len)
                return false;
        for (; i < t.len; i++)
                if (!is_digit(t.p[i]))
                        return false;
        return true;
}

/* [+-]?(digits[.digits*]|.digits)([EeDd][+-]?digits)? -- the FITS real syntax. */
static bool is_float_token(struct cs_str t)
{
        size_t i = 0, nd = 0;

        if (i < t.len && (t.p[i] == '+' || t.p[i] == '-'))
                i++;
        while (i < t.len && is_digit(t.p[i])) {
                i++;
                nd++;
        }
        if (i < t.len && t.p[i] == '.') {
                i++;
                while (i < t.len && is_digit(t.p[i])) {
                        i++;
                        nd++;
                }
        }
        if (nd == 0)
                return false;
        if (i < t.len && (t.p[i] == 'E' || t.p[i] == 'e' || t.p[i] == 'D' || t.p[i] == 'd')) {
                i++;
                if (i < t.len && (t.p[i] == '+' || t.p[i] == '-'))
                        i++;
                if (i == t.len)
                        return false;
                while (i < t.len && is_digit(t.p[i]))
                        i++;
        }
        return i == t.len;
}

static void parse_number_or_other(struct cs_str t, struct cs__fits_card *c)
{
        char tmp[72];
        size_t k;

        cs_str_copy(t, c->s, sizeof c->s);
        c->type = CS__FV_OTHER;
        if (t.len == 1 && (t.p[0] == 'T' || t.p[0] == 'F')) {
                c->type = CS__FV_LOGICAL;
                c->logical = t.p[0] == 'T';
                return;
        }
        if (is_int_token(t) && cs_parse_i64(t, &c->i) == CS_OK) {
                c->type = CS__FV_INT;
                c->f = (double)c->i;
                return;
        }
        if (!is_float_token(t) && !is_int_token(t))
                return;
        /* FITS allows a D exponent (Fortran); strtod does not. */
        if (!cs_str_copy(t, tmp, sizeof tmp))
                return;
        for (k = 0; tmp[k]; k++)
                if (tmp[k] == 'D' || tmp[k] == 'd')
                        tmp[k] = 'E';
        if (cs_parse_f64_c(tmp, &c->f) == CS_OK)
                c->type = CS__FV_FLOAT;
}

void cs__fits_card_parse(const char card[CS_FITS_CARD], struct cs__fits_card *c)
{
        struct cs_str key = cs_str_from(card, 8);
        size_t i, o;

        memset(c, 0, sizeof *c);
        c->type = CS__FV_NONE;
        while (key.len && key.p[key.len - 1] == ' ')
                key.len--;
        cs_str_copy(key, c->key, sizeof c->key);
        /* Commentary keywords never carry a value, whatever columns 9-10 hold. */
        if (cs_str_eq(key, "COMMENT") || cs_str_eq(key, "HISTORY") || key.len == 0 ||
            cs_str_eq(key, "HIERARCH") || cs_str_eq(key, "CONTINUE"))
                return;
        if (card[8] != '=' || card[9] != ' ')
                return;
        c->has_value = true;
        i = 10;
        while (i < CS_FITS_CARD && card[i] == ' ')
                i++;
        if (i == CS_FITS_CARD || card[i] == '/')
                return; /* undefined value */
        if (card[i] == '\'') {
                /* Quoted string: '' is an escaped quote; the first lone quote ends it. */
                o = 0;
                for (i++; i < CS_FITS_CARD; i++) {
                        if (card[i] == '\'') {
                                if (i + 1 < CS_FITS_CARD && card[i + 1] == '\'') {
                                        i++;
                                } else {
                                        break;
                                }
                        }
                        if (o < sizeof c->s - 1)
                                c->s[o++] = card[i];
                }
                if (i >= CS_FITS_CARD) {
                        c->type = CS__FV_OTHER; /* unterminated string */
                        c->s[0] = '\0';
                        return;
                }
                /* After the closing quote: spaces, then a comment or the card's end. */
                for (i++; i < CS_FITS_CARD && card[i] == ' '; i++)
                        ;
                if (i < CS_FITS_CARD && card[i] != '/') {
                        c->type = CS__FV_OTHER;
                        c->s[0] = '\0';
                        return;
                }
                /* Trailing spaces are not significant in FITS strings; leading ones are. */
                while (o > 0 && c->s[o - 1] == ' ')
                        o--;
                c->s[o] = '\0';
                c->type = CS__FV_STRING;
                return;
        }
        {
                struct cs_str v = cs_str_from(card + i, CS_FITS_CARD - i);
                const char *slash = memchr(v.p, '/', v.len);

                if (slash)
                        v.len = (size_t)(slash - v.p);
                v = cs_str_trim(v);
                parse_number_or_other(v, c);
        }
}

/* ---- dates ---- */

static bool leap(int y)
{
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
        static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
        int64_t era, yoe, doy, doe;

        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = y - era * 400;
        doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

/* Reads exactly n digits at *p; advances *p. */
static bool digits(const char **p, int n, int *ret)
{
        int v = 0, k;

        for (k = 0; k < n; k++) {
                if (!is_digit((*p)[k]))
                        return false;
                v = v * 10 + ((*p)[k] - '0');
        }
        *p += n;
        *ret = v;
        return true;
}

int cs_fits_parse_datetime(const char *s, double *ret_time, char ret_norm[32])
{
        int y, mo, d, hh = 0, mm = 0, ss = 0, nfrac = 0;
        char frac[7] = { 0 };
        double fsec = 0.0, scale = 0.1;
        const char *p = s;
        char norm[32] = { 0 }; /* all 32 bytes defined: callers copy and compare the array */

        if (!s)
                return CS_EINVAL;
        if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
            !digits(&p, 2, &d))
                return CS_EINVAL;
        if (y < 1900 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
                return CS_EINVAL;
        if (*p == 'T') {
                p++;
                if (!digits(&p, 2, &hh) || *p++ != ':' || !digits(&p, 2, &mm) || *p++ != ':' ||
                    !digits(&p, 2, &ss))
                        return CS_EINVAL;
                if (hh > 23 || mm > 59 || ss > 59)
                        return CS_EINVAL;
                if (*p == '.') {
                        p++;
                        if (!is_digit(*p))
                                return CS_EINVAL;
                        /* Keep up to microseconds in the text; use every digit for the value. */
                        for (; is_digit(*p); p++) {
                                if (nfrac < 6)
                                        frac[nfrac++] = *p;
                                fsec += (*p - '0') * scale;
                                scale /= 10;
                        }
                }
                if (*p == 'Z')
                        p++;
        }
        if (*p != '\0')
                return CS_EINVAL;
        if (nfrac)
                snprintf(norm, sizeof norm, "%04d-%02d-%02dT%02d:%02d:%02d.%s", y, mo, d, hh, mm, ss,
                         frac);
        else
                snprintf(norm, sizeof norm, "%04d-%02d-%02dT%02d:%02d:%02d", y, mo, d, hh, mm, ss);
        /* 0.9999999 s must not roll the value into the next second (and maybe the next slot). */
        if (fsec > 0.999999)
                fsec = 0.999999;
        *ret_time = (double)(days_from_civil(y, mo, d) * 86400 + hh * 3600 + mm * 60 + ss) + fsec;
        if (ret_norm)
                memcpy(ret_norm, norm, sizeof norm);
        return CS_OK;
}

/* ---- angles ---- */

/* One sexagesimal field: digits[.digits] (a fraction only where allowed). */
static bool sexa_field(struct cs_str t, bool allow_frac, double *ret)
{
        size_t i, nd = 0;
        bool dot = false;

        if (t.len == 0 || t.len > 20)
                return false;
        for (i = 0; i < t.len; i++) {
                if (is_digit(t.p[i])) {
                        nd++;
                } else if (t.p[i] == '.' && !dot && allow_frac) {
                        dot = true;
                } else {
                        return false;
                }
        }
        return nd > 0 && cs_parse_f64(t, ret) == CS_OK;
}

int cs_fits_parse_angle(const char *s, bool is_ra, double *ret_deg)
{
        struct cs_str t = cs_str_trim(cs_str_c(s)), f[3];
        size_t nf = 0, i, start;
        double v[3] = { 0, 0, 0 }, deg;
        bool neg = false, sexa;
        char tmp[72];

        if (t.len == 0 || !cs_str_copy(t, tmp, sizeof tmp))
                return CS_EINVAL;
        sexa = memchr(t.p, ' ', t.len) || memchr(t.p, ':', t.len);
        if (!sexa) {
                struct cs__fits_card c;

                /* A plain number in a string is in degrees, as in a numeric card. */
                memset(&c, 0, sizeof c);
                parse_number_or_other(t, &c);
                if (c.type != CS__FV_INT && c.type != CS__FV_FLOAT)
                        return CS_EINVAL;
                *ret_deg = c.f;
                return CS_OK;
        }
        if (t.p[0] == '+' || t.p[0] == '-') {
                neg = t.p[0] == '-';
                t.p++;
                t.len--;
        }
        /* Fields separated by one ':' or by runs of spaces. */
        start = 0;
        for (i = 0; i <= t.len; i++) {
                if (i < t.len && t.p[i] != ' ' && t.p[i] != ':')
                        continue;
                if (nf == 3)
                        return CS_EINVAL;
                f[nf++] = cs_str_from(t.p + start, i - start);
                if (i < t.len && t.p[i] == ' ')
                        while (i + 1 < t.len && t.p[i + 1] == ' ')
                                i++;
                start = i + 1;
        }
        if (nf < 2)
                return CS_EINVAL;
        for (i = 0; i < nf; i++)
                if (!sexa_field(f[i], i == nf - 1, &v[i]))
                        return CS_EINVAL;
        if (v[1] >= 60 || v[2] >= 60)
                return CS_EINVAL;
        deg = v[0] + v[1] / 60.0 + v[2] / 3600.0;
        if (is_ra)
                deg *= 15.0;
        *ret_deg = neg ? -deg : deg;
        return CS_OK;
}
