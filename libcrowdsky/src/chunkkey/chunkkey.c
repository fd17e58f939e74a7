/* chunkkey.c - format and strictly parse `YYYYMMDD.CC_RRR.R_sDD.D` keys (SPEC section 5). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "crowdsky/chunkkey.h"
#include "crowdsky/str.h"

/* 0000-01-01T00:00:00 and 10000-01-01T00:00:00 UTC in seconds since 1970. */
#define T_MIN (-62167219200.0)
#define T_END (253402300800.0)

static int64_t floor_div(int64_t a, int64_t b)
{
        int64_t q = a / b;
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Days since 1970-01-01 <-> proleptic Gregorian date (Howard Hinnant's algorithms). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
        int64_t era, yoe, doy, doe;

        y -= m <= 2;
        era = floor_div(y, 400);
        yoe = y - era * 400;
        doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *ret_y, int *ret_m, int *ret_d)
{
        int64_t era, doe, yoe, y, doy, mp;

        z += 719468;
        era = floor_div(z, 146097);
        doe = z - era * 146097;
        yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        y = yoe + era * 400;
        doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        mp = (5 * doy + 2) / 153;
        *ret_d = (int)(doy - (153 * mp + 2) / 5 + 1);
        *ret_m = (int)(mp < 10 ? mp + 3 : mp - 9);
        *ret_y = (int)(y + (*ret_m <= 2));
}

static bool leap(int y)
{
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
        static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        return m == 2 && leap(y) ? 29 : d[m - 1];
}

int64_t cs_chunk_slot(double obs_time_utc)
{
        return (int64_t)floor(obs_time_utc / CS_CHUNK_SLOT_SECONDS);
}

/* RA "%.1f" in [0, 360) after rounding: 359.96 -> "360.0" -> "0.0". */
static void format_ra(double ra, char out[16])
{
        double r = fmod(ra, 360.0);

        if (r < 0)
                r += 360.0;
        if (r == 0.0)
                r = 0.0; /* -0.0 would print "-0.0" */
        snprintf(out, 16, "%.1f", r);
        if (!strcmp(out, "360.0"))
                memcpy(out, "0.0", 4);
}

/* Dec "%+.1f" with "-0.0" written "+0.0". */
static void format_dec(double dec, char out[16])
{
        snprintf(out, 16, "%+.1f", dec);
        if (!strcmp(out, "-0.0"))
                memcpy(out, "+0.0", 5);
}

int cs_chunkkey_format(double obs_time_utc, double ra, double dec, char out[CS_CHUNKKEY_MAX],
                       struct cs_err *err)
{
        char rs[16], ds[16];
        int64_t slot, day;
        int y, m, d, cc;

        if (!isfinite(obs_time_utc) || obs_time_utc < T_MIN || obs_time_utc >= T_END)
                return cs_err_set(err, CS_EINVAL, "observation time out of range");
        if (!isfinite(ra))
                return cs_err_set(err, CS_EINVAL, "RA is not a number");
        if (!(dec >= -90.0 && dec <= 90.0))
                return cs_err_set(err, CS_EINVAL, "DEC out of range");
        /* One formula for date and slot, the same as cs_chunk_slot, so frames that
         * share a slot number always share date and CC (86400 = 96 * 900). */
        slot = cs_chunk_slot(obs_time_utc);
        day = floor_div(slot, 96);
        cc = (int)(slot - day * 96);
        civil_from_days(day, &y, &m, &d);
        format_ra(ra, rs);
        format_dec(dec, ds);
        snprintf(out, CS_CHUNKKEY_MAX, "%04d%02d%02d.%02d_%s_%s", y, m, d, cc, rs, ds);
        return CS_OK;
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

/* n digits exactly at *p, advancing *p. */
static bool fixed_digits(const char **p, int n, int *ret)
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

/* 1..maxint digits '.' one digit, no leading zero unless the integer part is "0".
 * Returns the value in tenths. */
static bool decimal1(const char **p, int maxint, int *ret_tenths)
{
        const char *s = *p;
        int nint = 0, v = 0;

        while (is_digit(s[nint]) && nint <= maxint) {
                v = v * 10 + (s[nint] - '0');
                nint++;
        }
        if (nint == 0 || nint > maxint || (nint > 1 && s[0] == '0'))
                return false;
        if (s[nint] != '.' || !is_digit(s[nint + 1]))
                return false;
        *ret_tenths = v * 10 + (s[nint + 1] - '0');
        *p = s + nint + 2;
        return true;
}

int cs_chunkkey_parse(const char *key, struct cs_chunkkey *ret, struct cs_err *err)
{
        const char *p = key;
        int y, m, d, cc, ra10, dec10;
        bool neg;
        struct cs_chunkkey k;

        if (!key)
                return cs_err_set(err, CS_EINVAL, "missing chunk key");
        if (strnlen(key, CS_CHUNKKEY_MAX) >= CS_CHUNKKEY_MAX)
                return cs_err_set(err, CS_EINVAL, "chunk key too long");
        if (!fixed_digits(&p, 4, &y) || !fixed_digits(&p, 2, &m) || !fixed_digits(&p, 2, &d))
                return cs_err_set(err, CS_EINVAL, "chunk key: expected YYYYMMDD date");
        if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
                return cs_err_set(err, CS_EINVAL, "chunk key: no such date");
        if (*p++ != '.' || !fixed_digits(&p, 2, &cc))
                return cs_err_set(err, CS_EINVAL, "chunk key: expected '.CC' slot after the date");
        if (cc > 95)
                return cs_err_set(err, CS_EINVAL, "chunk key: slot %d out of range 00..95", cc);
        if (*p++ != '_' || !decimal1(&p, 3, &ra10))
                return cs_err_set(err, CS_EINVAL, "chunk key: expected '_RRR.R' right ascension");
        if (ra10 >= 3600)
                return cs_err_set(err, CS_EINVAL, "chunk key: RA out of range 0..359.9");
        if (*p++ != '_' || (*p != '+' && *p != '-'))
                return cs_err_set(err, CS_EINVAL, "chunk key: expected '_sDD.D' declination");
        neg = *p++ == '-';
        if (!decimal1(&p, 2, &dec10))
                return cs_err_set(err, CS_EINVAL, "chunk key: expected '_sDD.D' declination");
        if (dec10 > 900)
                return cs_err_set(err, CS_EINVAL, "chunk key: DEC out of range -90..+90");
        if (neg && dec10 == 0)
                return cs_err_set(err, CS_EINVAL, "chunk key: DEC -0.0 is written +0.0");
        if (*p != '\0')
                return cs_err_set(err, CS_EINVAL, "chunk key: unexpected text after the declination");
        k.year = y;
        k.month = m;
        k.day = d;
        k.slot = cc;
        k.ra = ra10 / 10.0;
        k.dec = (neg ? -dec10 : dec10) / 10.0;
        k.slot_start = days_from_civil(y, m, d) * 86400 + (int64_t)cc * CS_CHUNK_SLOT_SECONDS;
        if (ret)
                *ret = k;
        return CS_OK;
}
