/* test_fits.c - the streaming FITS header reader: values, dates, angles, every
 * refusal with its reason, odd chunkings, and the real Seestar headers. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fitsio.h>

#include "crowdsky/fits.h"
#include "cs_test.h"

/* ---- building files in memory ---- */

struct file {
        unsigned char *p;
        size_t len;
};

/* Cards (NULL-terminated list) padded to 80 bytes; then END unless no_end; the
 * header padded to 2880 with spaces; then data_bytes zero bytes. */
static struct file build(const char *const *cards, bool no_end, size_t data_bytes)
{
        size_t ncards = 0, hdr, i;
        struct file f;

        while (cards[ncards])
                ncards++;
        hdr = (ncards + (no_end ? 0 : 1) + 35) / 36 * 2880;
        if (hdr == 0)
                hdr = 2880;
        f.len = hdr + data_bytes;
        f.p = malloc(f.len ? f.len : 1);
        CS_ASSERT(f.p != NULL);
        memset(f.p, ' ', hdr);
        memset(f.p + hdr, 0, data_bytes);
        for (i = 0; i < ncards; i++) {
                size_t n = strlen(cards[i]);

                CS_ASSERT(n <= 80);
                memcpy(f.p + i * 80, cards[i], n);
        }
        if (!no_end)
                memcpy(f.p + ncards * 80, "END", 3);
        return f;
}

/* A good Seestar-like header: 4 x 3 pixels of 16 bits = 24 data bytes. */
#define GOOD_HEAD                                                                          \
        "SIMPLE  =                    T / file does conform to FITS standard",               \
        "BITPIX  =                   16 / number of bits per data pixel",                    \
        "NAXIS   =                    2 / number of data axes",                              \
        "NAXIS1  =                    4 / length of data axis 1",                            \
        "NAXIS2  =                    3 / length of data axis 2"
#define GOOD_DATE "DATE-OBS= '2025-03-27T01:20:32.955368' / Image created time"
#define GOOD_RA "RA      =            193.04166 / Object Right Ascension in degrees"
#define GOOD_DEC "DEC     =            40.970556 / Object Declination in degrees"

/* Feeds f in chunks of `chunk` bytes (0 = all at once), then finishes with the fed size. */
static int run(struct file f, size_t chunk, struct cs_fits_info *info, struct cs_err *err)
{
        struct cs_fits_reader *r = cs_fits_reader_new();
        size_t off = 0;
        int rc = CS_OK;

        cs_err_clear(err);
        if (chunk == 0)
                chunk = f.len ? f.len : 1;
        while (off < f.len) {
                size_t n = f.len - off < chunk ? f.len - off : chunk;

                rc = cs_fits_reader_feed(r, f.p + off, n, err);
                if (rc < 0)
                        goto out;
                off += n;
        }
        rc = cs_fits_reader_finish(r, CS_FITS_SIZE_FED, info, err);
out:
        cs_fits_reader_free(r);
        return rc;
}

/* The same result (code and message, or the same info) for every chunking. */
static int run_all_chunkings(struct file f, struct cs_fits_info *info, struct cs_err *err)
{
        static const size_t chunks[] = { 0, 1, 7, 79, 80, 2879, 2880, 2881, 5000 };
        struct cs_fits_info first, other;
        struct cs_err e0 = CS_ERR_INIT, e1 = CS_ERR_INIT;
        int rc0, rc1;
        size_t i;

        memset(&first, 0, sizeof first);
        rc0 = run(f, chunks[0], &first, &e0);
        for (i = 1; i < sizeof chunks / sizeof chunks[0]; i++) {
                memset(&other, 0, sizeof other);
                rc1 = run(f, chunks[i], &other, &e1);
                if (rc1 != rc0 || strcmp(e0.msg, e1.msg) != 0)
                        CS_FAIL("chunk %zu: %d '%s' vs whole: %d '%s'", chunks[i], rc1, e1.msg, rc0,
                                e0.msg);
                if (rc0 == CS_OK && memcmp(&first, &other, sizeof first) != 0)
                        CS_FAIL("chunk %zu: info differs from whole-file read", chunks[i]);
        }
        if (info)
                *info = first;
        *err = e0;
        return rc0;
}

/* Expects a refusal with `code` whose message contains `reason`. */
static void expect_refusal(const char *const *cards, bool no_end, size_t data, int code,
                           const char *reason)
{
        struct file f = build(cards, no_end, data);
        struct cs_err err = CS_ERR_INIT;
        int rc = run_all_chunkings(f, NULL, &err);

        if (rc != code || !strstr(err.msg, reason))
                CS_FAIL("expected %d '%s', got %d '%s'", code, reason, rc, err.msg);
        free(f.p);
}

static struct cs_fits_info expect_ok(const char *const *cards, size_t data)
{
        struct file f = build(cards, false, data);
        struct cs_err err = CS_ERR_INIT;
        struct cs_fits_info info;

        if (run_all_chunkings(f, &info, &err) < 0)
                CS_FAIL("refused: %s", err.msg);
        free(f.p);
        return info;
}

/* ---- good headers ---- */

CS_TEST(good_header_all_fields)
{
        const char *cards[] = {
                GOOD_HEAD,
                "EXTEND  =                    T / FITS dataset may contain extensions",
                "COMMENT   FITS (Flexible Image Transport System) format = 'x' is defined",
                "HISTORY = not a value",
                "",
                "HIERARCH ESO DET CHIP = 'x' / hierarch cards are skipped",
                "BZERO   =                32768 / offset data range to that of unsigned short",
                "BSCALE  =                    1 / default scaling factor",
                "CREATOR = 'ZWO Seestar S50'    / Capture software",
                "EXPTIME =               1.0D+1 / Fortran exponent",
                "CCD-TEMP=               25.125 / sensor temperature in C",
                "GAIN    =                   80 / Gain Value",
                "FOCALLEN=                  250 / Focal length of telescope in mm",
                "XPIXSZ  =     2.90000009536743 / pixel size in microns (with binning)",
                GOOD_RA,
                GOOD_DEC,
                "SITELONG=             -79.7625 / longitude of the imaging site in degrees",
                "SITELAT =              32.8965 / latitude of the imaging site in degrees",
                GOOD_DATE,
                "INSTRUME= 'Seestar S50'        / Camera model",
                "BAYERPAT= 'GRBG    '           / Bayer pattern",
                "TELESCOP= 'S50_1d3fe189'       / Telescope name",
                "OBJECT  = 'O''Brien''s  M 94  ' / quotes escaped, trailing blanks trimmed",
                "XBAYROFF=                    1",
                "DATE-OBS= '1999-01-01T00:00:00' / a second DATE-OBS: the first counts",
                NULL,
        };
        struct cs_fits_info in = expect_ok(cards, 24);

        CS_ASSERT_EQ(in.bitpix, 16);
        CS_ASSERT_EQ(in.naxis, 2);
        CS_ASSERT_EQ(in.width, 4);
        CS_ASSERT_EQ(in.height, 3);
        CS_ASSERT_EQ(in.naxes[2], 1);
        CS_ASSERT_EQ(in.header_bytes, 2880);
        CS_ASSERT_EQ(in.data_bytes, 24);
        CS_ASSERT_EQ(in.file_bytes, 2880 + 24);
        CS_ASSERT_STREQ(in.date_obs, "2025-03-27T01:20:32.955368");
        CS_ASSERT_NEAR(in.obs_time, 1743038432.955368, 2e-6);
        CS_ASSERT(in.has_radec);
        CS_ASSERT_NEAR(in.ra, 193.04166, 1e-12);
        CS_ASSERT_NEAR(in.dec, 40.970556, 1e-12);
        CS_ASSERT(in.has_exptime);
        CS_ASSERT_NEAR(in.exptime, 10.0, 0);
        CS_ASSERT_STREQ(in.object, "O'Brien's  M 94");
        CS_ASSERT_STREQ(in.bayer, "GRBG");
        CS_ASSERT_EQ(in.xbayoff, 1);
        CS_ASSERT_EQ(in.ybayoff, 0);
        CS_ASSERT_STREQ(in.instrume, "Seestar S50");
        CS_ASSERT_STREQ(in.telescop, "S50_1d3fe189");
        CS_ASSERT(in.has_site);
        CS_ASSERT_NEAR(in.sitelat, 32.8965, 1e-12);
        CS_ASSERT_NEAR(in.sitelong, -79.7625, 1e-12);
        CS_ASSERT_NEAR(in.bzero, 32768, 0);
        CS_ASSERT_NEAR(in.bscale, 1, 0);
        CS_ASSERT(in.has_gain);
        CS_ASSERT_NEAR(in.gain, 80, 0);
        CS_ASSERT(in.has_ccd_temp);
        CS_ASSERT_NEAR(in.ccd_temp, 25.125, 0);
        CS_ASSERT_NEAR(in.focallen, 250, 0);
        CS_ASSERT_NEAR(in.xpixsz, 2.90000009536743, 1e-12);
}

CS_TEST(minimal_header_defaults)
{
        const char *cards[] = { GOOD_HEAD, GOOD_DATE, GOOD_RA, GOOD_DEC, NULL };
        struct cs_fits_info in = expect_ok(cards, 24);

        CS_ASSERT(!in.has_exptime);
        CS_ASSERT_STREQ(in.object, "");
        CS_ASSERT_STREQ(in.bayer, "");
        CS_ASSERT(!in.has_site);
        CS_ASSERT(!in.has_gain);
        CS_ASSERT_NEAR(in.bzero, 0, 0);
        CS_ASSERT_NEAR(in.bscale, 1, 0);
}

CS_TEST(data_sizes_padded_and_unpadded)
{
        const char *cards[] = { GOOD_HEAD, GOOD_DATE, GOOD_RA, GOOD_DEC, NULL };
        struct cs_fits_info in;

        in = expect_ok(cards, 24);       /* unpadded, as Seestar writes */
        CS_ASSERT_EQ(in.file_bytes, 2904);
        in = expect_ok(cards, 2880);     /* padded to a block, as the standard says */
        CS_ASSERT_EQ(in.file_bytes, 5760);
        CS_ASSERT_EQ(in.data_bytes, 24);
        expect_refusal(cards, false, 23, CS_EFITS, "truncated data");
        expect_refusal(cards, false, 0, CS_EFITS, "truncated data");
        expect_refusal(cards, false, 25, CS_EFITS, "does not match");
        expect_refusal(cards, false, 2881, CS_EFITS, "longer than its header and data");
        expect_refusal(cards, false, 9000, CS_EFITS, "longer than its header and data");
}

CS_TEST(other_bitpix_and_3_axes)
{
        const char *c32[] = { "SIMPLE  =                    T", "BITPIX  =                  -32",
                              "NAXIS   =                    3", "NAXIS1  =                    5",
                              "NAXIS2  =                    2", "NAXIS3  =                    3",
                              GOOD_DATE, GOOD_RA, GOOD_DEC, NULL };
        const char *c8[] = { "SIMPLE  =                    T", "BITPIX  =                    8",
                             "NAXIS   =                    2", "NAXIS1  =                 1000",
                             "NAXIS2  =                    7", GOOD_DATE, GOOD_RA, GOOD_DEC, NULL };
        struct cs_fits_info in;

        in = expect_ok(c32, 5 * 2 * 3 * 4);
        CS_ASSERT_EQ(in.bitpix, -32);
        CS_ASSERT_EQ(in.naxis, 3);
        CS_ASSERT_EQ(in.naxes[2], 3);
        CS_ASSERT_EQ(in.data_bytes, 120);
        in = expect_ok(c8, 7000);
        CS_ASSERT_EQ(in.data_bytes, 7000);
        in = expect_ok(c8, 8640); /* 7000 padded to 3 blocks */
        CS_ASSERT_EQ(in.file_bytes, 2880 + 8640);
}

CS_TEST(header_of_several_blocks)
{
        const char *cards[80];
        char filler[60][81];
        size_t i, n = 0;
        struct cs_fits_info in;

        const char *head[] = { GOOD_HEAD };
        for (i = 0; i < 5; i++)
                cards[n++] = head[i];
        for (i = 0; i < 60; i++) {
                snprintf(filler[i], sizeof filler[i], "KEY%-5zu=                 %4zu / filler", i, i);
                cards[n++] = filler[i];
        }
        cards[n++] = GOOD_DATE; /* in the second block */
        cards[n++] = GOOD_RA;
        cards[n++] = GOOD_DEC;
        cards[n] = NULL;
        in = expect_ok(cards, 24);
        CS_ASSERT_EQ(in.header_bytes, 5760);
        CS_ASSERT_STREQ(in.date_obs, "2025-03-27T01:20:32.955368");
}

/* ---- dates ---- */

CS_TEST(dates)
{
        char norm[32];
        double t;

        CS_ASSERT_OK(cs_fits_parse_datetime("1970-01-01T00:00:00", &t, norm));
        CS_ASSERT_NEAR(t, 0, 0);
        CS_ASSERT_STREQ(norm, "1970-01-01T00:00:00");
        CS_ASSERT_OK(cs_fits_parse_datetime("2000-01-01T12:00:00Z", &t, norm));
        CS_ASSERT_NEAR(t, 946728000, 0);
        CS_ASSERT_STREQ(norm, "2000-01-01T12:00:00");
        CS_ASSERT_OK(cs_fits_parse_datetime("2025-03-27T01:20:32.955368", &t, norm));
        CS_ASSERT_NEAR(t, 1743038432.955368, 2e-6);
        CS_ASSERT_OK(cs_fits_parse_datetime("2025-03-27T01:20:32.5Z", &t, norm));
        CS_ASSERT_STREQ(norm, "2025-03-27T01:20:32.5");
        CS_ASSERT_NEAR(t, 1743038432.5, 1e-6);
        CS_ASSERT_OK(cs_fits_parse_datetime("2025-03-27T01:20:32.123456789", &t, norm));
        CS_ASSERT_STREQ(norm, "2025-03-27T01:20:32.123456");
        CS_ASSERT_OK(cs_fits_parse_datetime("2024-02-29T23:59:59.9999999", &t, norm));
        CS_ASSERT(t < 1709251200.0); /* never rounds into 2024-03-01 */
        CS_ASSERT_OK(cs_fits_parse_datetime("2025-03-27", &t, norm));
        CS_ASSERT_STREQ(norm, "2025-03-27T00:00:00");
        CS_ASSERT_OK(cs_fits_parse_datetime("1900-03-01T00:00:00", &t, NULL));
        CS_ASSERT_NEAR(t, -2203891200.0, 0);

        static const char *const bad[] = {
                "", "2025", "2025-3-27T01:20:32", "2025-03-27T1:20:32", "2025-03-27T01:20",
                "2025-03-27 01:20:32", "2025-13-01T00:00:00", "2025-00-10T00:00:00",
                "2025-02-29T00:00:00", "2025-04-31T00:00:00", "2025-03-27T24:00:00",
                "2025-03-27T23:60:00", "2025-03-27T23:59:60", "2025-03-27T01:20:32.",
                "2025-03-27T01:20:32.5ZZ", "2025-03-27T01:20:32+02:00", "27/03/25",
                "1899-12-31T00:00:00", "2025-03-27T01:20:32 ", " 2025-03-27T01:20:32",
                "2025-03-27T01:20:32.-5", "+2025-03-27T01:20:32",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                if (cs_fits_parse_datetime(bad[i], &t, norm) != CS_EINVAL)
                        CS_FAIL("accepted date '%s'", bad[i]);
}

CS_TEST(date_obs_forms_in_headers)
{
        const char *z[] = { GOOD_HEAD, "DATE-OBS= '2025-03-27T01:20:32Z'", GOOD_RA, GOOD_DEC, NULL };
        const char *split[] = { GOOD_HEAD, "DATE-OBS= '2025-03-27'        / date only",
                                "TIME-OBS= '01:20:32.25'", GOOD_RA, GOOD_DEC, NULL };
        struct cs_fits_info in;

        in = expect_ok(z, 24);
        CS_ASSERT_STREQ(in.date_obs, "2025-03-27T01:20:32");
        CS_ASSERT_NEAR(in.obs_time, 1743038432.0, 0);
        in = expect_ok(split, 24);
        CS_ASSERT_STREQ(in.date_obs, "2025-03-27T01:20:32.25");
        CS_ASSERT_NEAR(in.obs_time, 1743038432.25, 1e-6);
}

CS_TEST(date_refusals)
{
        const char *missing[] = { GOOD_HEAD, GOOD_RA, GOOD_DEC, NULL };
        const char *bad_month[] = { GOOD_HEAD, "DATE-OBS= '2025-13-01T00:00:00'", GOOD_RA, GOOD_DEC, NULL };
        const char *number[] = { GOOD_HEAD, "DATE-OBS=                 2025", GOOD_RA, GOOD_DEC, NULL };
        const char *empty[] = { GOOD_HEAD, "DATE-OBS=                     / undefined", GOOD_RA, GOOD_DEC, NULL };
        const char *noclose[] = { GOOD_HEAD, "DATE-OBS= '2025-03-27T01:20:32", GOOD_RA, GOOD_DEC, NULL };
        const char *date_only[] = { GOOD_HEAD, "DATE-OBS= '2025-03-27'", GOOD_RA, GOOD_DEC, NULL };
        const char *bad_time[] = { GOOD_HEAD, "DATE-OBS= '2025-03-27'", "TIME-OBS= '25:00:00'",
                                   GOOD_RA, GOOD_DEC, NULL };
        const char *iso_time[] = { GOOD_HEAD, "DATE-OBS= '2025-03-27'",
                                   "TIME-OBS= '2025-03-27T01:00:00'", GOOD_RA, GOOD_DEC, NULL };
        const char *old[] = { GOOD_HEAD, "DATE-OBS= '27/03/25'", GOOD_RA, GOOD_DEC, NULL };

        expect_refusal(missing, false, 24, CS_EFITS, "missing DATE-OBS");
        expect_refusal(empty, false, 24, CS_EFITS, "missing DATE-OBS");
        expect_refusal(bad_month, false, 24, CS_EFITS, "invalid DATE-OBS '2025-13-01T00:00:00'");
        expect_refusal(number, false, 24, CS_EFITS, "invalid DATE-OBS");
        expect_refusal(noclose, false, 24, CS_EFITS, "invalid DATE-OBS");
        expect_refusal(date_only, false, 24, CS_EFITS, "has no time and there is no TIME-OBS");
        expect_refusal(bad_time, false, 24, CS_EFITS, "invalid TIME-OBS '25:00:00'");
        expect_refusal(iso_time, false, 24, CS_EFITS, "invalid TIME-OBS");
        expect_refusal(old, false, 24, CS_EFITS, "invalid DATE-OBS '27/03/25'");
}

/* ---- angles ---- */

CS_TEST(angles)
{
        double d;

        CS_ASSERT_OK(cs_fits_parse_angle("05 35 17.3", true, &d));
        CS_ASSERT_NEAR(d, 15 * (5 + 35 / 60.0 + 17.3 / 3600), 1e-9);
        CS_ASSERT_NEAR(d, 83.822083, 1e-6);
        CS_ASSERT_OK(cs_fits_parse_angle("05:35:17.3", true, &d));
        CS_ASSERT_NEAR(d, 83.822083, 1e-6);
        CS_ASSERT_OK(cs_fits_parse_angle("  05  35  17.3 ", true, &d));
        CS_ASSERT_NEAR(d, 83.822083, 1e-6);
        CS_ASSERT_OK(cs_fits_parse_angle("-05 23 28", false, &d));
        CS_ASSERT_NEAR(d, -(5 + 23 / 60.0 + 28 / 3600.0), 1e-9);
        CS_ASSERT_OK(cs_fits_parse_angle("+22:00:52.1", false, &d));
        CS_ASSERT_NEAR(d, 22 + 52.1 / 3600, 1e-9);
        CS_ASSERT_OK(cs_fits_parse_angle("-00 30 00", false, &d)); /* the sign of -0 deg */
        CS_ASSERT_NEAR(d, -0.5, 1e-12);
        CS_ASSERT_OK(cs_fits_parse_angle("12 30.5", true, &d));
        CS_ASSERT_NEAR(d, 15 * 12.508333333, 1e-6);
        CS_ASSERT_OK(cs_fits_parse_angle("193.04166", true, &d)); /* plain number: degrees */
        CS_ASSERT_NEAR(d, 193.04166, 1e-12);
        CS_ASSERT_OK(cs_fits_parse_angle("-4.5E1", false, &d));
        CS_ASSERT_NEAR(d, -45, 0);

        static const char *const bad[] = { "", "  ", "abc", "05 60 00", "05 35 60", "05 35 17.3 1", "05 :35",
                                           "05 3a 17", "5.5 30 00", "05 35 17.3.1",
                                           "05 - 35", "1e", "--5", "05 35 +17" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                if (cs_fits_parse_angle(bad[i], true, &d) != CS_EINVAL)
                        CS_FAIL("accepted angle '%s'", bad[i]);
}

CS_TEST(pointing_in_headers)
{
        const char *sexa[] = { GOOD_HEAD, GOOD_DATE, "RA      = '05 35 17.3'", "DEC     = '-05 23 28'", NULL };
        const char *colon[] = { GOOD_HEAD, GOOD_DATE, "RA      = '05:35:17.3'", "DEC     = '+22:00:52'", NULL };
        const char *objct[] = { GOOD_HEAD, GOOD_DATE, "OBJCTRA = '05 35 17.3'", "OBJCTDEC= '-05 23 28'", NULL };
        const char *ints[] = { GOOD_HEAD, GOOD_DATE, "RA      =                  360", "DEC     =                  -90", NULL };
        const char *negzero[] = { GOOD_HEAD, GOOD_DATE, "RA      =                 -0.0", "DEC     = '-00 00 00'", NULL };
        const char *exp[] = { GOOD_HEAD, GOOD_DATE, "RA      =              1.5E+02", "DEC     =             .5D1", NULL };
        struct cs_fits_info in;

        in = expect_ok(sexa, 24);
        CS_ASSERT_NEAR(in.ra, 83.822083, 1e-6);
        CS_ASSERT_NEAR(in.dec, -5.391111, 1e-6);
        in = expect_ok(colon, 24);
        CS_ASSERT_NEAR(in.ra, 83.822083, 1e-6);
        CS_ASSERT_NEAR(in.dec, 22.014444, 1e-6);
        in = expect_ok(objct, 24);
        CS_ASSERT_NEAR(in.ra, 83.822083, 1e-6);
        in = expect_ok(ints, 24);
        CS_ASSERT_NEAR(in.ra, 0, 0); /* 360 is 0 */
        CS_ASSERT_NEAR(in.dec, -90, 0);
        in = expect_ok(negzero, 24);
        CS_ASSERT(in.ra == 0.0 && !signbit(in.ra));
        CS_ASSERT(in.dec == 0.0 && !signbit(in.dec));
        in = expect_ok(exp, 24);
        CS_ASSERT_NEAR(in.ra, 150, 0);
        CS_ASSERT_NEAR(in.dec, 5, 0);
}

CS_TEST(pointing_refusals)
{
        const char *no_ra[] = { GOOD_HEAD, GOOD_DATE, GOOD_DEC, NULL };
        const char *no_dec[] = { GOOD_HEAD, GOOD_DATE, GOOD_RA, NULL };
        const char *ra_big[] = { GOOD_HEAD, GOOD_DATE, "RA      =                400.0", GOOD_DEC, NULL };
        const char *ra_neg[] = { GOOD_HEAD, GOOD_DATE, "RA      =                 -0.1", GOOD_DEC, NULL };
        const char *ra_24h[] = { GOOD_HEAD, GOOD_DATE, "RA      = '24 00 01'", GOOD_DEC, NULL };
        const char *dec_big[] = { GOOD_HEAD, GOOD_DATE, GOOD_RA, "DEC     =                 90.5", NULL };
        const char *dec_low[] = { GOOD_HEAD, GOOD_DATE, GOOD_RA, "DEC     = '-91 00 00'", NULL };
        const char *ra_text[] = { GOOD_HEAD, GOOD_DATE, "RA      = 'north'", GOOD_DEC, NULL };
        const char *ra_log[] = { GOOD_HEAD, GOOD_DATE, "RA      =                    T", GOOD_DEC, NULL };
        const char *ra_junk[] = { GOOD_HEAD, GOOD_DATE, "RA      =              12.3abc", GOOD_DEC, NULL };
        const char *ra_nan[] = { GOOD_HEAD, GOOD_DATE, "RA      =                  nan", GOOD_DEC, NULL };
        const char *ra_inf[] = { GOOD_HEAD, GOOD_DATE, "RA      =               1E9999", GOOD_DEC, NULL };
        const char *ra_undef[] = { GOOD_HEAD, GOOD_DATE, "RA      =", GOOD_DEC, NULL };

        expect_refusal(no_ra, false, 24, CS_EFITS, "missing RA");
        expect_refusal(ra_undef, false, 24, CS_EFITS, "missing RA");
        expect_refusal(no_dec, false, 24, CS_EFITS, "missing DEC");
        expect_refusal(ra_big, false, 24, CS_EFITS, "RA out of range");
        expect_refusal(ra_neg, false, 24, CS_EFITS, "RA out of range");
        expect_refusal(ra_24h, false, 24, CS_EFITS, "RA out of range");
        expect_refusal(dec_big, false, 24, CS_EFITS, "DEC out of range");
        expect_refusal(dec_low, false, 24, CS_EFITS, "DEC out of range");
        expect_refusal(ra_text, false, 24, CS_EFITS, "invalid RA 'north'");
        expect_refusal(ra_log, false, 24, CS_EFITS, "invalid RA");
        expect_refusal(ra_junk, false, 24, CS_EFITS, "invalid RA");
        expect_refusal(ra_nan, false, 24, CS_EFITS, "invalid RA");
        expect_refusal(ra_inf, false, 24, CS_EFITS, "invalid RA");
}

/* ---- structure ---- */

CS_TEST(not_fits)
{
        static const unsigned char png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
        const char *simple_f[] = { "SIMPLE  =                    F", "BITPIX  =                   16", NULL };
        const char *lower[] = { "simple  =                    T", NULL };
        const char *moved[] = { "SIMPLE  =                     T", NULL };
        const char *trail[] = { "SIMPLE  =                    TX", NULL };
        struct cs_err err = CS_ERR_INIT;
        struct file f;

        expect_refusal(simple_f, false, 0, CS_EFITS, "not a FITS file");
        expect_refusal(lower, false, 0, CS_EFITS, "not a FITS file");
        expect_refusal(moved, false, 0, CS_EFITS, "not a FITS file");
        expect_refusal(trail, false, 0, CS_EFITS, "not a FITS file");
        f.p = (unsigned char *)png;
        f.len = sizeof png;
        CS_ASSERT_EQ(run_all_chunkings(f, NULL, &err), CS_EFITS);
        CS_ASSERT_STREQ(err.msg, "not a FITS file");
        f.len = 0;
        CS_ASSERT_EQ(run_all_chunkings(f, NULL, &err), CS_EFITS);
        CS_ASSERT(strstr(err.msg, "not a FITS file"));
        f.p = (unsigned char *)"SIMPLE  =";
        f.len = 9;
        CS_ASSERT_EQ(run_all_chunkings(f, NULL, &err), CS_EFITS);
        CS_ASSERT(strstr(err.msg, "not a FITS file"));
        /* refused at the first differing byte, before a block is complete */
        {
                struct cs_fits_reader *r = cs_fits_reader_new();

                CS_ASSERT_OK(cs_fits_reader_feed(r, "SIMPLE", 6, &err));
                CS_ASSERT_EQ(cs_fits_reader_feed(r, "X", 1, &err), CS_EFITS);
                CS_ASSERT_STREQ(err.msg, "not a FITS file");
                /* sticky */
                cs_err_clear(&err);
                CS_ASSERT_EQ(cs_fits_reader_feed(r, " ", 1, &err), CS_EFITS);
                CS_ASSERT_STREQ(err.msg, "not a FITS file");
                CS_ASSERT_EQ(cs_fits_reader_finish(r, CS_FITS_SIZE_FED, NULL, &err), CS_EFITS);
                CS_ASSERT(!cs_fits_reader_header_done(r));
                r = cs_fits_reader_free(r);
                CS_ASSERT(r == NULL);
        }
}

CS_TEST(end_card)
{
        const char *cards[] = { GOOD_HEAD, GOOD_DATE, GOOD_RA, GOOD_DEC, NULL };
        const char *end_junk[] = { GOOD_HEAD, GOOD_DATE, GOOD_RA, GOOD_DEC, "END     x", NULL };
        const char *early_end[] = { "SIMPLE  =                    T", "BITPIX  =                   16",
                                    "END", NULL };
        struct file f;
        struct cs_err err = CS_ERR_INIT;

        expect_refusal(cards, true, 0, CS_EFITS, "header has no END card");
        expect_refusal(end_junk, true, 0, CS_EFITS, "END card is not blank");
        expect_refusal(early_end, true, 0, CS_EFITS, "header ends before BITPIX, NAXIS and NAXISn");
        /* a header cut in the middle of a block */
        f = build(cards, false, 24);
        f.len = 2000;
        CS_ASSERT_EQ(run_all_chunkings(f, NULL, &err), CS_EFITS);
        CS_ASSERT(strstr(err.msg, "header has no END card"));
        free(f.p);
}

CS_TEST(header_cap)
{
        size_t len = (size_t)CS_FITS_MAX_HEADER_BLOCKS * 2880 + 5000;
        unsigned char *p = malloc(len);
        struct cs_fits_reader *r = cs_fits_reader_new();
        struct cs_err err = CS_ERR_INIT;
        int rc;

        CS_ASSERT(p != NULL);
        memset(p, ' ', len);
        memcpy(p, "SIMPLE  =                    T", 30);
        memcpy(p + 80, "BITPIX  =                   16", 30);
        memcpy(p + 160, "NAXIS   =                    2", 30);
        memcpy(p + 240, "NAXIS1  =                    4", 30);
        memcpy(p + 320, "NAXIS2  =                    3", 30);
        rc = cs_fits_reader_feed(r, p, len, &err);
        CS_ASSERT_EQ(rc, CS_ETOOBIG);
        CS_ASSERT(strstr(err.msg, "no END card within 100 blocks"));
        /* refused as block 100 completes, not later */
        CS_ASSERT(cs_fits_reader_bytes_fed(r) <= (uint64_t)CS_FITS_MAX_HEADER_BLOCKS * 2880);
        cs_fits_reader_free(r);
        free(p);
}

CS_TEST(structural_refusals)
{
        const char *bitpix12[] = { "SIMPLE  =                    T", "BITPIX  =                   12", NULL };
        const char *bitpix_f[] = { "SIMPLE  =                    T", "BITPIX  =                 16.0", NULL };
        const char *no_bitpix[] = { "SIMPLE  =                    T", "NAXIS   =                    2", NULL };
        const char *naxis1[] = { "SIMPLE  =                    T", "BITPIX  =                   16",
                                 "NAXIS   =                    1", NULL };
        const char *naxis0[] = { "SIMPLE  =                    T", "BITPIX  =                   16",
                                 "NAXIS   =                    0", NULL };
        const char *naxis_x[] = { "SIMPLE  =                    T", "BITPIX  =                   16",
                                  "NAXIS   = 'two'", NULL };
        const char *zero_w[] = { "SIMPLE  =                    T", "BITPIX  =                   16",
                                 "NAXIS   =                    2", "NAXIS1  =                    0", NULL };
        const char *neg_h[] = { "SIMPLE  =                    T", "BITPIX  =                   16",
                                "NAXIS   =                    2", "NAXIS1  =                    4",
                                "NAXIS2  =                   -3", NULL };
        const char *huge[] = { "SIMPLE  =                    T", "BITPIX  =                   16",
                               "NAXIS   =                    2", "NAXIS1  =          99999999999", NULL };
        const char *order[] = { "SIMPLE  =                    T", "BITPIX  =                   16",
                                "NAXIS   =                    2", "NAXIS2  =                    4", NULL };
        const char *missing2[] = { "SIMPLE  =                    T", "BITPIX  =                   16",
                                   "NAXIS   =                    2", "NAXIS1  =                    4",
                                   GOOD_DATE, NULL };
        const char *dup[] = { GOOD_HEAD, "BITPIX  =                    8", GOOD_DATE, GOOD_RA, GOOD_DEC, NULL };
        const char *dup_naxis[] = { GOOD_HEAD, "NAXIS2  =                    9", NULL };
        const char *overflow[] = { "SIMPLE  =                    T", "BITPIX  =                  -64",
                                   "NAXIS   =                    3", "NAXIS1  =           2147483647",
                                   "NAXIS2  =           2147483647", "NAXIS3  =           2147483647",
                                   GOOD_DATE, GOOD_RA, GOOD_DEC, NULL };

        expect_refusal(bitpix12, true, 0, CS_EFITS, "unsupported BITPIX 12");
        expect_refusal(bitpix_f, true, 0, CS_EFITS, "invalid BITPIX '16.0'");
        expect_refusal(no_bitpix, true, 0, CS_EFITS, "BITPIX must be the second header card");
        expect_refusal(naxis1, true, 0, CS_EFITS, "unsupported NAXIS = 1");
        expect_refusal(naxis0, true, 0, CS_EFITS, "unsupported NAXIS = 0");
        expect_refusal(naxis_x, true, 0, CS_EFITS, "invalid NAXIS");
        expect_refusal(zero_w, true, 0, CS_EFITS, "NAXIS1 = 0 out of range");
        expect_refusal(neg_h, true, 0, CS_EFITS, "NAXIS2 = -3 out of range");
        expect_refusal(huge, true, 0, CS_EFITS, "NAXIS1 = 99999999999 out of range");
        expect_refusal(order, true, 0, CS_EFITS, "NAXIS1 must follow NAXIS");
        expect_refusal(missing2, true, 0, CS_EFITS, "NAXIS2 must follow NAXIS (found 'DATE-OBS')");
        expect_refusal(dup, false, 24, CS_EFITS, "unexpected keyword BITPIX");
        expect_refusal(dup_naxis, false, 24, CS_EFITS, "unexpected keyword NAXIS2");
        expect_refusal(overflow, false, 0, CS_EFITS, "image size overflows");
}

CS_TEST(non_ascii_header)
{
        const char *cards[] = { GOOD_HEAD, GOOD_DATE, GOOD_RA, GOOD_DEC, NULL };
        struct file f = build(cards, false, 24);
        struct cs_err err = CS_ERR_INIT;

        f.p[5 * 80 + 70] = 0xe9; /* a Latin-1 byte in the DATE-OBS comment */
        CS_ASSERT_EQ(run_all_chunkings(f, NULL, &err), CS_EFITS);
        CS_ASSERT(strstr(err.msg, "header byte 470 is not printable ASCII (0xe9)"));
        f.p[5 * 80 + 70] = '\t';
        CS_ASSERT_EQ(run_all_chunkings(f, NULL, &err), CS_EFITS);
        CS_ASSERT(strstr(err.msg, "not printable ASCII (0x09)"));
        /* binary data after END is fine */
        f.p[5 * 80 + 70] = ' ';
        memset(f.p + 2880, 0xff, 24);
        CS_ASSERT_OK(run_all_chunkings(f, NULL, &err));
        free(f.p);
}

CS_TEST(value_refusals_and_tolerance)
{
        const char *bayer[] = { GOOD_HEAD, GOOD_DATE, GOOD_RA, GOOD_DEC, "BAYERPAT= 'XYZW'", NULL };
        const char *bayer_n[] = { GOOD_HEAD, GOOD_DATE, GOOD_RA, GOOD_DEC, "BAYERPAT=                 1234", NULL };
        const char *bzero[] = { GOOD_HEAD, GOOD_DATE, GOOD_RA, GOOD_DEC, "BZERO   = 'big'", NULL };
        const char *bscale0[] = { GOOD_HEAD, GOOD_DATE, GOOD_RA, GOOD_DEC, "BSCALE  =                  0.0", NULL };
        /* descriptive keywords with unreadable values are treated as absent */
        const char *soft[] = { GOOD_HEAD, GOOD_DATE, GOOD_RA, GOOD_DEC,
                               "EXPTIME = 'ten'", "OBJECT  = 'unterminated", "GAIN    = (1.0, 2.0)",
                               "XBAYROFF=                    7", "SITELAT =                 45.0",
                               "CCD-TEMP=                -1.5E", "MYKEY   = 'x' junk after string",
                               "MYKEY2  =", "NOVALUE   this card has no value indicator",
                               "LOGIC   =                    F", NULL };
        const char *expo[] = { GOOD_HEAD, GOOD_DATE, GOOD_RA, GOOD_DEC, "EXPOSURE=                  20.", NULL };
        const char *negexp[] = { GOOD_HEAD, GOOD_DATE, GOOD_RA, GOOD_DEC, "EXPTIME =                 -1.0", NULL };
        struct cs_fits_info in;

        expect_refusal(bayer, false, 24, CS_EFITS, "unsupported BAYERPAT 'XYZW'");
        expect_refusal(bayer_n, false, 24, CS_EFITS, "unsupported BAYERPAT");
        expect_refusal(bzero, false, 24, CS_EFITS, "invalid BZERO 'big'");
        expect_refusal(bscale0, false, 24, CS_EFITS, "invalid BSCALE");
        in = expect_ok(soft, 24);
        CS_ASSERT(!in.has_exptime);
        CS_ASSERT_STREQ(in.object, "");
        CS_ASSERT(!in.has_gain);
        CS_ASSERT(!in.has_ccd_temp);
        CS_ASSERT_EQ(in.xbayoff, 0);
        CS_ASSERT(!in.has_site); /* SITELAT without SITELONG */
        in = expect_ok(expo, 24);
        CS_ASSERT(in.has_exptime);
        CS_ASSERT_NEAR(in.exptime, 20, 0);
        in = expect_ok(negexp, 24);
        CS_ASSERT(!in.has_exptime);
}

CS_TEST(string_values)
{
        const char *cards[] = { GOOD_HEAD, GOOD_DATE, GOOD_RA, GOOD_DEC,
                                "OBJECT  = ''''", "INSTRUME= '  lead'", "TELESCOP= ''", NULL };
        const char *longstr[] = { GOOD_HEAD, GOOD_DATE, GOOD_RA, GOOD_DEC,
                                  "OBJECT  = '01234567890123456789012345678901234567890123456789012345678901234567'",
                                  NULL };
        struct cs_fits_info in = expect_ok(cards, 24);

        CS_ASSERT_STREQ(in.object, "'");
        CS_ASSERT_STREQ(in.instrume, "  lead"); /* leading spaces are significant */
        CS_ASSERT_STREQ(in.telescop, "");
        in = expect_ok(longstr, 24);
        CS_ASSERT_EQ(strlen(in.object), 68); /* 80 - 10 - 2 quotes */
}

CS_TEST(finish_with_external_size)
{
        const char *cards[] = { GOOD_HEAD, GOOD_DATE, GOOD_RA, GOOD_DEC, NULL };
        struct file f = build(cards, false, 24);
        struct cs_fits_reader *r = cs_fits_reader_new();
        struct cs_err err = CS_ERR_INIT;
        struct cs_fits_info in;

        /* the upload path may feed only the header and count the rest itself */
        CS_ASSERT_OK(cs_fits_reader_feed(r, f.p, 2880, &err));
        CS_ASSERT(cs_fits_reader_header_done(r));
        CS_ASSERT_EQ(cs_fits_reader_finish(r, 100, &in, &err), CS_EINVAL);
        CS_ASSERT_OK(cs_fits_reader_finish(r, 2904, &in, &err));
        CS_ASSERT_EQ(in.file_bytes, 2904);
        CS_ASSERT_EQ(cs_fits_reader_finish(r, 2903, &in, &err), CS_EFITS);
        CS_ASSERT(strstr(err.msg, "truncated data (2903 bytes, expected 2904)"));
        cs_fits_reader_free(r);
        r = cs_fits_reader_new();
        CS_ASSERT_OK(cs_fits_reader_feed(r, NULL, 0, &err));
        CS_ASSERT_OK(cs_fits_reader_feed(r, f.p, 100, &err));
        CS_ASSERT(!cs_fits_reader_header_done(r));
        CS_ASSERT_EQ(cs_fits_reader_bytes_fed(r), 100);
        cs_fits_reader_free(r);
        cs_fits_reader_free(NULL);
        free(f.p);
}

CS_TEST(read_info_files)
{
        const char *cards[] = { GOOD_HEAD, GOOD_DATE, GOOD_RA, GOOD_DEC, NULL };
        struct file f = build(cards, false, 24);
        char path[] = "/tmp/cs_test_fits_XXXXXX";
        struct cs_err err = CS_ERR_INIT;
        struct cs_fits_info in;
        int fd = mkstemp(path);

        CS_ASSERT(fd >= 0);
        CS_ASSERT_EQ(write(fd, f.p, f.len), (ssize_t)f.len);
        close(fd);
        CS_ASSERT_OK(cs_fits_read_info(path, &in, &err));
        CS_ASSERT_EQ(in.file_bytes, 2904);
        /* longer than 64 KB past the header: the size comes from fstat, same reason */
        CS_ASSERT_EQ(truncate(path, 200000), 0);
        CS_ASSERT_EQ(cs_fits_read_info(path, &in, &err), CS_EFITS);
        CS_ASSERT(strstr(err.msg, "longer than its header and data (expected at most 5760 bytes"));
        CS_ASSERT_EQ(truncate(path, 5000), 0);
        CS_ASSERT_EQ(cs_fits_read_info(path, &in, &err), CS_EFITS);
        CS_ASSERT(strstr(err.msg, "does not match"));
        CS_ASSERT_EQ(truncate(path, 2900), 0);
        CS_ASSERT_EQ(cs_fits_read_info(path, &in, &err), CS_EFITS);
        CS_ASSERT(strstr(err.msg, "truncated data"));
        unlink(path);
        CS_ASSERT_EQ(cs_fits_read_info(path, &in, &err), CS_EIO);
        CS_ASSERT(strstr(err.msg, "No such file"));
        CS_ASSERT_EQ(cs_fits_read_info("/", &in, &err), CS_EIO);
        free(f.p);
}

/* ---- real Seestar headers ---- */

CS_TEST(real_headers)
{
        const char *root = getenv("CS_SOURCE_ROOT");
        char dir[1024], path[2048];
        struct dirent *de;
        DIR *d;
        int n = 0;

        CS_ASSERT(root != NULL);
        snprintf(dir, sizeof dir, "%s/tests/data/fits/seestar-headers/m94-s50-2025-03-27", root);
        d = opendir(dir);
        CS_ASSERT(d != NULL);
        while ((de = readdir(d)) != NULL) {
                unsigned char hdr[5760];
                struct file f;
                struct cs_fits_info in, chunked;
                struct cs_err err = CS_ERR_INIT;
                FILE *fp;

                if (!strstr(de->d_name, ".hdr"))
                        continue;
                snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
                fp = fopen(path, "rb");
                CS_ASSERT(fp != NULL);
                CS_ASSERT_EQ(fread(hdr, 1, sizeof hdr, fp), sizeof hdr);
                fclose(fp);
                /* header + the real unpadded data size, all chunkings alike */
                f.len = 5760 + 1080 * 1920 * 2;
                f.p = calloc(1, f.len);
                CS_ASSERT(f.p != NULL);
                memcpy(f.p, hdr, sizeof hdr);
                memset(&in, 0, sizeof in);
                CS_ASSERT_OK(run(f, 0, &in, &err));
                memset(&chunked, 0, sizeof chunked);
                CS_ASSERT_OK(run(f, 7, &chunked, &err));
                CS_ASSERT(memcmp(&in, &chunked, sizeof in) == 0);
                CS_ASSERT_EQ(in.width, 1080);
                CS_ASSERT_EQ(in.height, 1920);
                CS_ASSERT_EQ(in.bitpix, 16);
                CS_ASSERT_NEAR(in.bzero, 32768, 0);
                CS_ASSERT_STREQ(in.bayer, "GRBG");
                CS_ASSERT_STREQ(in.object, "M 94");
                CS_ASSERT_STREQ(in.instrume, "Seestar S50");
                CS_ASSERT_NEAR(in.exptime, 10, 0);
                CS_ASSERT(in.has_site);
                CS_ASSERT_EQ(in.header_bytes, 5760);
                CS_ASSERT_EQ(in.file_bytes, 4152960);
                CS_ASSERT(strncmp(in.date_obs, "2025-03-27T01:2", 15) == 0);
                CS_ASSERT(in.ra > 193.0 && in.ra < 193.1);
                /* and the truncated upload of the same frame */
                f.len -= 1;
                CS_ASSERT_EQ(run(f, 4096, &in, &err), CS_EFITS);
                CS_ASSERT(strstr(err.msg, "truncated data"));
                free(f.p);
                n++;
        }
        closedir(d);
        CS_ASSERT_EQ(n, 12);
}

/* Differential check: cfitsio reads the same values from the same real headers. */
CS_TEST(real_headers_agree_with_cfitsio)
{
        static const char *const folders[] = { "m94-s50-2025-03-27", "m94-s50-2025-03-27b",
                                               "m94-s50-2025-04-09", "ngc7023-s50-2025-06-30" };
        const char *root = getenv("CS_SOURCE_ROOT");
        size_t flen = 5760 + 1080 * 1920 * 2, fi;
        unsigned char *buf = calloc(1, flen);
        int n = 0;

        CS_ASSERT(root != NULL && buf != NULL);
        for (fi = 0; fi < 4; fi++) {
                char dir[1024], path[2048];
                struct dirent *de;
                DIR *d;

                snprintf(dir, sizeof dir, "%s/tests/data/fits/seestar-headers/%s", root, folders[fi]);
                d = opendir(dir);
                CS_ASSERT(d != NULL);
                while ((de = readdir(d)) != NULL) {
                        struct file f = { buf, flen };
                        struct cs_fits_info in;
                        struct cs_err err = CS_ERR_INIT;
                        fitsfile *ff = NULL;
                        void *mem = buf;
                        size_t memsz = flen;
                        int st = 0;
                        long naxes[2];
                        double ra, dec, exptime;
                        char date[FLEN_VALUE], bayer[FLEN_VALUE], object[FLEN_VALUE];
                        FILE *fp;

                        if (!strstr(de->d_name, ".hdr"))
                                continue;
                        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
                        fp = fopen(path, "rb");
                        CS_ASSERT(fp != NULL);
                        CS_ASSERT_EQ(fread(buf, 1, 5760, fp), 5760);
                        fclose(fp);
                        CS_ASSERT_OK(run(f, 0, &in, &err));
                        fits_open_memfile(&ff, "mem.fits", READONLY, &mem, &memsz, 0, NULL, &st);
                        fits_get_img_size(ff, 2, naxes, &st);
                        fits_read_key_dbl(ff, "RA", &ra, NULL, &st);
                        fits_read_key_dbl(ff, "DEC", &dec, NULL, &st);
                        fits_read_key_dbl(ff, "EXPTIME", &exptime, NULL, &st);
                        fits_read_key_str(ff, "DATE-OBS", date, NULL, &st);
                        fits_read_key_str(ff, "BAYERPAT", bayer, NULL, &st);
                        fits_read_key_str(ff, "OBJECT", object, NULL, &st);
                        fits_close_file(ff, &st);
                        CS_ASSERT_EQ(st, 0);
                        CS_ASSERT_EQ(in.width, naxes[0]);
                        CS_ASSERT_EQ(in.height, naxes[1]);
                        CS_ASSERT(in.ra == ra && in.dec == dec && in.exptime == exptime);
                        CS_ASSERT_STREQ(in.date_obs, date);
                        CS_ASSERT_STREQ(in.bayer, bayer);
                        CS_ASSERT_STREQ(in.object, object);
                        n++;
                }
                closedir(d);
        }
        CS_ASSERT_EQ(n, 45);
        free(buf);
}

/* The full frames when the shared data folder is there (it is on the build
 * machines; the headers above keep the test meaningful in a bare clone). */
CS_TEST(real_full_files)
{
        const char *data = getenv("CS_SHARED_DATA");
        char path[2048];
        struct cs_fits_info in;
        struct cs_err err = CS_ERR_INIT;

        if (!data || access(data, R_OK) != 0) {
                printf("no real frames at '%s': full-file read not exercised\n", data ? data : "");
                return;
        }
        snprintf(path, sizeof path, "%s/m94-s50-2025-03-27/Light_M 94_10.0s_IRCUT_20250326-212046.fit", data);
        CS_ASSERT_OK(cs_fits_read_info(path, &in, &err));
        CS_ASSERT_STREQ(in.date_obs, "2025-03-27T01:20:32.955368");
        CS_ASSERT_NEAR(in.ra, 193.04166, 1e-9);
        CS_ASSERT_NEAR(in.dec, 40.970556, 1e-9);
        CS_ASSERT_EQ(in.file_bytes, 4152960);
        snprintf(path, sizeof path, "%s/ngc7023-s50-2025-06-30", data);
        {
                DIR *d = opendir(path);
                struct dirent *de;
                int n = 0;

                CS_ASSERT(d != NULL);
                while ((de = readdir(d)) != NULL) {
                        char p2[4096];

                        if (!strstr(de->d_name, ".fit"))
                                continue;
                        snprintf(p2, sizeof p2, "%s/%s", path, de->d_name);
                        if (cs_fits_read_info(p2, &in, &err) < 0)
                                CS_FAIL("%s: %s", p2, err.msg);
                        CS_ASSERT(in.dec > 68 && in.dec < 69);
                        n++;
                }
                closedir(d);
                CS_ASSERT_EQ(n, 2);
        }
}

CS_TEST_MAIN()
