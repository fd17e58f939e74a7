/* test_chunkkey.c - chunk keys (SPEC section 5) and proximity grouping, including
 * the real 32-frame M 94 chunk whose header pointing moves across a rounding edge. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crowdsky/chunkkey.h"
#include "crowdsky/fits.h"
#include "cs_test.h"

/* Seconds since 1970 of an ISO date-time (through the FITS date parser, which
 * test_fits checks against known epochs). */
static double t_of(const char *iso)
{
        double t;

        if (cs_fits_parse_datetime(iso, &t, NULL) < 0)
                CS_FAIL("bad test date '%s'", iso);
        return t;
}

static const char *key_of(const char *iso, double ra, double dec)
{
        static char out[CS_CHUNKKEY_MAX];
        struct cs_err err = CS_ERR_INIT;

        if (cs_chunkkey_format(t_of(iso), ra, dec, out, &err) < 0)
                CS_FAIL("format failed: %s", err.msg);
        return out;
}

CS_TEST(example_from_the_design)
{
        CS_ASSERT_STREQ(key_of("2025-01-15T19:37:12", 83.6, 22.0), "20250115.78_83.6_+22.0");
        CS_ASSERT_STREQ(key_of("2025-01-15T19:30:00Z", 83.63, 22.01), "20250115.78_83.6_+22.0");
}

CS_TEST(slot_boundaries)
{
        CS_ASSERT_STREQ(key_of("2025-03-27T00:00:00", 10, 10), "20250327.00_10.0_+10.0");
        CS_ASSERT_STREQ(key_of("2025-03-27T23:59:59.999", 10, 10), "20250327.95_10.0_+10.0");
        CS_ASSERT_STREQ(key_of("2025-03-27T23:59:59.999999", 10, 10), "20250327.95_10.0_+10.0");
        /* 900-second edges */
        CS_ASSERT_STREQ(key_of("2025-03-27T00:14:59.999", 10, 10), "20250327.00_10.0_+10.0");
        CS_ASSERT_STREQ(key_of("2025-03-27T00:15:00", 10, 10), "20250327.01_10.0_+10.0");
        CS_ASSERT_STREQ(key_of("2025-03-27T00:15:00.000001", 10, 10), "20250327.01_10.0_+10.0");
        CS_ASSERT_STREQ(key_of("2025-03-27T19:29:59.999999", 10, 10), "20250327.77_10.0_+10.0");
        CS_ASSERT_STREQ(key_of("2025-03-27T19:30:00", 10, 10), "20250327.78_10.0_+10.0");
        CS_ASSERT_STREQ(key_of("2025-03-27T23:45:00", 10, 10), "20250327.95_10.0_+10.0");
        CS_ASSERT_STREQ(key_of("2025-03-27T23:44:59.5", 10, 10), "20250327.94_10.0_+10.0");
        /* date roll-over, leap day, year end, before 1970 */
        CS_ASSERT_STREQ(key_of("2025-03-28T00:00:00", 10, 10), "20250328.00_10.0_+10.0");
        CS_ASSERT_STREQ(key_of("2024-02-29T12:00:00", 10, 10), "20240229.48_10.0_+10.0");
        CS_ASSERT_STREQ(key_of("2024-12-31T23:59:59.9", 10, 10), "20241231.95_10.0_+10.0");
        CS_ASSERT_STREQ(key_of("2025-01-01T00:00:00", 10, 10), "20250101.00_10.0_+10.0");
        CS_ASSERT_STREQ(key_of("1969-12-31T23:59:59", 10, 10), "19691231.95_10.0_+10.0");
        CS_ASSERT_STREQ(key_of("1970-01-01T00:00:00", 10, 10), "19700101.00_10.0_+10.0");
        /* every slot of a day */
        for (int s = 0; s < 96; s++) {
                char iso[32], want[CS_CHUNKKEY_MAX];
                int sec = s * 900 + 899;

                snprintf(iso, sizeof iso, "2025-06-01T%02d:%02d:%02d.9", sec / 3600, sec / 60 % 60, sec % 60);
                snprintf(want, sizeof want, "20250601.%02d_1.0_+1.0", s);
                CS_ASSERT_STREQ(key_of(iso, 1, 1), want);
                CS_ASSERT_EQ(cs_chunk_slot(t_of(iso)), cs_chunk_slot(t_of("2025-06-01T00:00:00")) + s);
        }
}

CS_TEST(ra_rounding_and_wrap)
{
        CS_ASSERT_STREQ(key_of("2025-01-15T19:30:00", 359.96, 0), "20250115.78_0.0_+0.0");
        CS_ASSERT_STREQ(key_of("2025-01-15T19:30:00", 359.94, 0), "20250115.78_359.9_+0.0");
        CS_ASSERT_STREQ(key_of("2025-01-15T19:30:00", 360.0, 0), "20250115.78_0.0_+0.0");
        CS_ASSERT_STREQ(key_of("2025-01-15T19:30:00", 0.0, 0), "20250115.78_0.0_+0.0");
        CS_ASSERT_STREQ(key_of("2025-01-15T19:30:00", -0.0, -0.0), "20250115.78_0.0_+0.0");
        CS_ASSERT_STREQ(key_of("2025-01-15T19:30:00", -360.0, 0), "20250115.78_0.0_+0.0");
        CS_ASSERT_STREQ(key_of("2025-01-15T19:30:00", 0.04, 0), "20250115.78_0.0_+0.0");
        CS_ASSERT_STREQ(key_of("2025-01-15T19:30:00", -0.04, 0), "20250115.78_0.0_+0.0");
        CS_ASSERT_STREQ(key_of("2025-01-15T19:30:00", -10.0, 0), "20250115.78_350.0_+0.0");
        CS_ASSERT_STREQ(key_of("2025-01-15T19:30:00", 720.5, 0), "20250115.78_0.5_+0.0");
        CS_ASSERT_STREQ(key_of("2025-01-15T19:30:00", 193.04166, 40.970556), "20250115.78_193.0_+41.0");
        CS_ASSERT_STREQ(key_of("2025-01-15T19:30:00", 193.070835, 40.979722), "20250115.78_193.1_+41.0");
}

CS_TEST(dec_sign_and_poles)
{
        struct cs_err err = CS_ERR_INIT;
        char out[CS_CHUNKKEY_MAX] = "untouched";

        CS_ASSERT_STREQ(key_of("2025-01-15T19:30:00", 10, -0.04), "20250115.78_10.0_+0.0");
        CS_ASSERT_STREQ(key_of("2025-01-15T19:30:00", 10, -0.0), "20250115.78_10.0_+0.0");
        CS_ASSERT_STREQ(key_of("2025-01-15T19:30:00", 10, 0.04), "20250115.78_10.0_+0.0");
        CS_ASSERT_STREQ(key_of("2025-01-15T19:30:00", 10, -0.06), "20250115.78_10.0_-0.1");
        CS_ASSERT_STREQ(key_of("2025-01-15T19:30:00", 10, 90), "20250115.78_10.0_+90.0");
        CS_ASSERT_STREQ(key_of("2025-01-15T19:30:00", 10, -90), "20250115.78_10.0_-90.0");
        CS_ASSERT_STREQ(key_of("2025-01-15T19:30:00", 10, -5.39), "20250115.78_10.0_-5.4");
        CS_ASSERT_EQ(cs_chunkkey_format(t_of("2025-01-15T19:30:00"), 10, 90.01, out, &err), CS_EINVAL);
        CS_ASSERT(strstr(err.msg, "DEC"));
        CS_ASSERT_STREQ(out, "untouched");
        CS_ASSERT_EQ(cs_chunkkey_format(t_of("2025-01-15T19:30:00"), 10, -90.01, out, NULL), CS_EINVAL);
        CS_ASSERT_EQ(cs_chunkkey_format(t_of("2025-01-15T19:30:00"), 10, NAN, out, NULL), CS_EINVAL);
        CS_ASSERT_EQ(cs_chunkkey_format(t_of("2025-01-15T19:30:00"), INFINITY, 0, out, NULL), CS_EINVAL);
        CS_ASSERT_EQ(cs_chunkkey_format(NAN, 10, 0, out, NULL), CS_EINVAL);
        CS_ASSERT_EQ(cs_chunkkey_format(1e300, 10, 0, out, NULL), CS_EINVAL);
        CS_ASSERT_STREQ(out, "untouched");
}

CS_TEST(parse_valid)
{
        struct cs_chunkkey k;
        struct cs_err err = CS_ERR_INIT;

        CS_ASSERT_OK(cs_chunkkey_parse("20250115.78_83.6_+22.0", &k, &err));
        CS_ASSERT_EQ(k.year, 2025);
        CS_ASSERT_EQ(k.month, 1);
        CS_ASSERT_EQ(k.day, 15);
        CS_ASSERT_EQ(k.slot, 78);
        CS_ASSERT_NEAR(k.ra, 83.6, 1e-12);
        CS_ASSERT_NEAR(k.dec, 22.0, 1e-12);
        CS_ASSERT_EQ(k.slot_start, (int64_t)t_of("2025-01-15T19:30:00"));
        CS_ASSERT_OK(cs_chunkkey_parse("20250327.00_0.0_+0.0", &k, &err));
        CS_ASSERT_OK(cs_chunkkey_parse("20250327.95_359.9_-90.0", &k, &err));
        CS_ASSERT_NEAR(k.dec, -90.0, 1e-12);
        CS_ASSERT_OK(cs_chunkkey_parse("20240229.95_359.9_+90.0", NULL, &err));
        CS_ASSERT_OK(cs_chunkkey_parse("20250327.05_193.1_+41.0", NULL, &err));
        CS_ASSERT_OK(cs_chunkkey_parse("20250327.05_193.1_-5.4", NULL, &err));
}

CS_TEST(parse_strict)
{
        static const char *const bad[] = {
                "", "x", "20250115", "20250115.78", "20250115.78_83.6", "20250115.78_83.6_",
                "20250115.96_83.6_+22.0",   /* slot 96 */
                "20250115.7_83.6_+22.0",    /* one-digit slot */
                "20250115.078_83.6_+22.0",
                "20250230.00_83.6_+22.0",   /* 30 February */
                "20250229.00_83.6_+22.0",   /* not a leap year */
                "20251301.00_83.6_+22.0", "20250001.00_83.6_+22.0", "20250100.00_83.6_+22.0",
                "2025115.78_83.6_+22.0",
                "20250115.78_360.0_+22.0",  /* RA not normalised */
                "20250115.78_083.6_+22.0",  /* leading zero */
                "20250115.78_1000.0_+22.0",
                "20250115.78_83_+22.0", "20250115.78_83._+22.0", "20250115.78_.6_+22.0",
                "20250115.78_83.60_+22.0",  /* two decimals */
                "20250115.78_-83.6_+22.0",
                "20250115.78_83.6_22.0",    /* no sign */
                "20250115.78_83.6_+90.1", "20250115.78_83.6_-90.1",
                "20250115.78_83.6_-0.0",    /* written +0.0 */
                "20250115.78_83.6_+022.0", "20250115.78_83.6_+05.0", "20250115.78_83.6_+22",
                "20250115.78_83.6_+22.0 ", " 20250115.78_83.6_+22.0", "20250115.78_83.6_+22.0/",
                "20250115.78_83.6_+22.0\n", "20250115.78-83.6_+22.0", "20250115_78_83.6_+22.0",
                "20250115.78_83.6_+22.0_20250115.78_83.6_+22.0",
                "../../etc/passwd", "20250115.78_8e1_+22.0", "20250115.78_ 83.6_+22.0",
        };
        struct cs_chunkkey k = { .year = -1 };
        struct cs_err err = CS_ERR_INIT;
        size_t i;

        for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                err.msg[0] = '\0';
                if (cs_chunkkey_parse(bad[i], &k, &err) != CS_EINVAL)
                        CS_FAIL("accepted bad key '%s'", bad[i]);
                CS_ASSERT(err.msg[0] != '\0');
        }
        CS_ASSERT_EQ(k.year, -1); /* never written on failure */
        CS_ASSERT_EQ(cs_chunkkey_parse(NULL, &k, &err), CS_EINVAL);
}

/* format -> parse -> format is the identity on keys, across the whole sky. */
CS_TEST(format_parse_round_trip)
{
        double t0 = t_of("2025-01-01T00:00:00");
        unsigned seed = 12345;
        int i;

        for (i = 0; i < 20000; i++) {
                char key[CS_CHUNKKEY_MAX], again[CS_CHUNKKEY_MAX];
                struct cs_chunkkey k;
                struct cs_err err = CS_ERR_INIT;
                double t, ra, dec;

                seed = seed * 1103515245u + 12345u;
                t = t0 + (seed % 400000000u) * 0.37;
                seed = seed * 1103515245u + 12345u;
                ra = (seed % 3600000u) / 10000.0 - 0.05;
                seed = seed * 1103515245u + 12345u;
                dec = (seed % 1800001u) / 10000.0 - 90.0;
                CS_ASSERT_OK(cs_chunkkey_format(t, ra, dec, key, &err));
                if (cs_chunkkey_parse(key, &k, &err) < 0)
                        CS_FAIL("own key '%s' refused: %s", key, err.msg);
                CS_ASSERT(k.slot_start <= t && t < k.slot_start + 900);
                CS_ASSERT_OK(cs_chunkkey_format((double)k.slot_start, k.ra, k.dec, again, &err));
                CS_ASSERT_STREQ(again, key);
        }
}

CS_TEST(sky_distance)
{
        CS_ASSERT_NEAR(cs_sky_distance_deg(359.9, 0, 0.1, 0), 0.2, 1e-9);
        CS_ASSERT_NEAR(cs_sky_distance_deg(0.1, 0, 359.9, 0), 0.2, 1e-9);
        CS_ASSERT_NEAR(cs_sky_distance_deg(10, 20, 10, 20), 0.0, 1e-12);
        CS_ASSERT_NEAR(cs_sky_distance_deg(0, 0, 180, 0), 180.0, 1e-9);
        CS_ASSERT_NEAR(cs_sky_distance_deg(0, 90, 180, 90), 0.0, 1e-9);
        CS_ASSERT_NEAR(cs_sky_distance_deg(0, 89.9, 180, 89.9), 0.2, 1e-9);
        CS_ASSERT_NEAR(cs_sky_distance_deg(0, -90, 0, 90), 180.0, 1e-9);
        CS_ASSERT_NEAR(cs_sky_distance_deg(100, 60, 101, 60), 0.49999, 1e-4); /* cos 60 = 0.5 */
        CS_ASSERT_NEAR(cs_sky_distance_deg(10, 10, 10, 10.000001), 1e-6, 1e-12);
}

static void group(const struct cs_chunk_point *p, size_t n, int *g, size_t *ng)
{
        struct cs_err err = CS_ERR_INIT;

        if (cs_chunk_group(p, n, CS_CHUNK_RADIUS_DEG, g, ng, &err) < 0)
                CS_FAIL("group failed: %s", err.msg);
}

CS_TEST(group_ra_wrap)
{
        double t = t_of("2025-01-15T19:31:00");
        struct cs_chunk_point p[] = { { t, 359.9, 0 }, { t + 60, 0.1, 0 }, { t + 120, 359.95, 0.05 } };
        int g[3];
        size_t ng;
        char key[CS_CHUNKKEY_MAX];
        double ra, dec;

        group(p, 3, g, &ng);
        CS_ASSERT_EQ(ng, 1);
        CS_ASSERT_EQ(g[0], 0);
        CS_ASSERT_EQ(g[1], 0);
        CS_ASSERT_EQ(g[2], 0);
        /* The mean of 359.9, 0.1 and 359.95 is 359.983, not ~240 as a plain average gives. */
        CS_ASSERT_OK(cs_chunk_group_key(p, 3, g, 0, key, &ra, &dec, NULL));
        CS_ASSERT_NEAR(ra, 359.98333, 1e-3);
        CS_ASSERT_NEAR(dec, 0.016667, 1e-4);
        CS_ASSERT_STREQ(key, "20250115.78_0.0_+0.0");
}

CS_TEST(group_radius_edge_and_slots)
{
        double t = t_of("2025-01-15T19:31:00");
        struct cs_chunk_point near[] = { { t, 100.0, 0 }, { t, 100.24, 0 } };
        struct cs_chunk_point far[] = { { t, 100.0, 0 }, { t, 100.26, 0 } };
        /* same pointing, 1 s apart across a slot edge: two jobs */
        struct cs_chunk_point slots[] = { { t_of("2025-01-15T19:44:59.5"), 100, 0 },
                                          { t_of("2025-01-15T19:45:00.5"), 100, 0 } };
        int g[4];
        size_t ng;
        char k0[CS_CHUNKKEY_MAX], k1[CS_CHUNKKEY_MAX];

        group(near, 2, g, &ng);
        CS_ASSERT_EQ(ng, 1);
        group(far, 2, g, &ng);
        CS_ASSERT_EQ(ng, 2);
        CS_ASSERT_EQ(g[0], 0);
        CS_ASSERT_EQ(g[1], 1);
        group(slots, 2, g, &ng);
        CS_ASSERT_EQ(ng, 2);
        CS_ASSERT_OK(cs_chunk_group_key(slots, 2, g, 0, k0, NULL, NULL, NULL));
        CS_ASSERT_OK(cs_chunk_group_key(slots, 2, g, 1, k1, NULL, NULL, NULL));
        CS_ASSERT_STREQ(k0, "20250115.78_100.0_+0.0");
        CS_ASSERT_STREQ(k1, "20250115.79_100.0_+0.0");
        /* near the pole RA differences shrink: 0.2 deg of dec apart, 180 deg of RA apart */
        {
                struct cs_chunk_point pole[] = { { t, 0, 89.9 }, { t, 180, 89.9 } };

                group(pole, 2, g, &ng);
                CS_ASSERT_EQ(ng, 1);
        }
}

/* Single linkage: a chain of 0.2-deg steps is one group although its ends are 1 deg apart. */
CS_TEST(group_chain_and_order)
{
        double t = t_of("2025-01-15T19:31:00");
        struct cs_chunk_point p[] = {
                { t, 50.0, 10 },  { t, 200.0, -30 }, { t, 50.2, 10 }, { t, 50.4, 10 },
                { t, 200.1, -30 }, { t, 50.6, 10 },  { t, 50.8, 10 }, { t, 51.0, 10 },
        };
        int g[8];
        size_t ng;
        char key[CS_CHUNKKEY_MAX];

        group(p, 8, g, &ng);
        CS_ASSERT_EQ(ng, 2);
        CS_ASSERT_EQ(g[0], 0); /* groups numbered by their first frame */
        CS_ASSERT_EQ(g[1], 1);
        CS_ASSERT_EQ(g[2], 0);
        CS_ASSERT_EQ(g[3], 0);
        CS_ASSERT_EQ(g[4], 1);
        CS_ASSERT_EQ(g[5], 0);
        CS_ASSERT_EQ(g[7], 0);
        CS_ASSERT_OK(cs_chunk_group_key(p, 8, g, 0, key, NULL, NULL, NULL));
        CS_ASSERT_STREQ(key, "20250115.78_50.5_+10.0");
        CS_ASSERT_OK(cs_chunk_group_key(p, 8, g, 1, key, NULL, NULL, NULL));
        CS_ASSERT_STREQ(key, "20250115.78_200.0_-30.0");
        CS_ASSERT_EQ(cs_chunk_group_key(p, 8, g, 2, key, NULL, NULL, NULL), CS_EINVAL);
}

CS_TEST(group_invalid_input)
{
        struct cs_chunk_point p[] = { { 0, 10, 95 } };
        struct cs_chunk_point q[] = { { NAN, 10, 0 } };
        struct cs_chunk_point cancel[] = { { 0, 0, 0 }, { 0, 180, 0 } };
        int g[2] = { 0, 0 };
        size_t ng = 99;
        struct cs_err err = CS_ERR_INIT;
        char key[CS_CHUNKKEY_MAX];

        CS_ASSERT_EQ(cs_chunk_group(p, 1, 0.25, g, &ng, &err), CS_EINVAL);
        CS_ASSERT_EQ(cs_chunk_group(q, 1, 0.25, g, &ng, &err), CS_EINVAL);
        CS_ASSERT_EQ(cs_chunk_group(q, 1, -1, g, &ng, &err), CS_EINVAL);
        CS_ASSERT_EQ(ng, 99);
        CS_ASSERT_OK(cs_chunk_group(NULL, 0, 0.25, g, &ng, &err));
        CS_ASSERT_EQ(ng, 0);
        CS_ASSERT_EQ(cs_chunk_group_key(cancel, 2, g, 0, key, NULL, NULL, &err), CS_EINVAL);
}

/* ---- real frames ---- */

struct frame {
        char name[1400];
        struct cs_fits_info info;
};

static int cmp_name(const void *a, const void *b)
{
        return strcmp(((const struct frame *)a)->name, ((const struct frame *)b)->name);
}

/* Reads every *.hdr of tests/data/fits/seestar-headers/<folder> through the
 * streaming reader, with the real frames' full size (header + unpadded data). */
static size_t read_headers(const char *folder, struct frame *out, size_t max)
{
        const char *root = getenv("CS_SOURCE_ROOT");
        char dir[1024];
        struct dirent *de;
        DIR *d;
        size_t n = 0, i;

        CS_ASSERT(root != NULL);
        snprintf(dir, sizeof dir, "%s/tests/data/fits/seestar-headers/%s", root, folder);
        d = opendir(dir);
        if (!d)
                CS_FAIL("cannot open %s", dir);
        while ((de = readdir(d)) != NULL) {
                size_t len = strlen(de->d_name);

                if (len < 5 || strcmp(de->d_name + len - 4, ".hdr") != 0)
                        continue;
                CS_ASSERT(n < max);
                snprintf(out[n].name, sizeof out[n].name, "%s/%s", dir, de->d_name);
                n++;
        }
        closedir(d);
        qsort(out, n, sizeof *out, cmp_name);
        for (i = 0; i < n; i++) {
                unsigned char buf[5760];
                struct cs_err err = CS_ERR_INIT;
                struct cs_fits_reader *r = cs_fits_reader_new();
                FILE *f = fopen(out[i].name, "rb");

                CS_ASSERT(f != NULL);
                CS_ASSERT_EQ(fread(buf, 1, sizeof buf, f), sizeof buf);
                fclose(f);
                CS_ASSERT_OK(cs_fits_reader_feed(r, buf, sizeof buf, &err));
                CS_ASSERT(cs_fits_reader_header_done(r));
                if (cs_fits_reader_finish(r, 5760 + 1080 * 1920 * 2, &out[i].info, &err) < 0)
                        CS_FAIL("%s: %s", out[i].name, err.msg);
                cs_fits_reader_free(r);
        }
        return n;
}

CS_TEST(real_m94_chunk_is_one_job)
{
        struct frame *fr = calloc(64, sizeof *fr);
        struct cs_chunk_point pts[64];
        int g[64];
        size_t n, i, ng;
        char key[CS_CHUNKKEY_MAX], k0[CS_CHUNKKEY_MAX];
        bool keys_differ = false;

        CS_ASSERT(fr != NULL);
        n = read_headers("m94-s50-2025-03-27", fr, 64);
        CS_ASSERT_EQ(n, 12);
        n += read_headers("m94-s50-2025-03-27b", fr + n, 64 - n);
        CS_ASSERT_EQ(n, 32);
        for (i = 0; i < n; i++) {
                pts[i] = (struct cs_chunk_point){ fr[i].info.obs_time, fr[i].info.ra, fr[i].info.dec };
                CS_ASSERT_OK(cs_chunkkey_format(pts[i].obs_time, pts[i].ra, pts[i].dec, key, NULL));
                if (i == 0)
                        memcpy(k0, key, sizeof k0);
                else if (strcmp(key, k0) != 0)
                        keys_differ = true;
        }
        /* The header pointing moves 193.04 -> 193.07 after frame 5: per-frame keys
         * split the chunk (193.0 / 193.1); the grouping must not. */
        CS_ASSERT_STREQ(k0, "20250327.05_193.0_+41.0");
        CS_ASSERT(keys_differ);
        group(pts, n, g, &ng);
        CS_ASSERT_EQ(ng, 1);
        for (i = 0; i < n; i++)
                CS_ASSERT_EQ(g[i], 0);
        CS_ASSERT_OK(cs_chunk_group_key(pts, n, g, 0, key, NULL, NULL, NULL));
        CS_ASSERT_STREQ(key, "20250327.05_193.1_+41.0");
        printf("32 frames, per-frame keys differ, one group: %s\n", key);
        free(fr);
}

CS_TEST(real_all_folders_three_jobs)
{
        static const char *const folders[] = { "m94-s50-2025-03-27", "m94-s50-2025-03-27b",
                                               "m94-s50-2025-04-09", "ngc7023-s50-2025-06-30" };
        struct frame *fr = calloc(64, sizeof *fr);
        struct cs_chunk_point pts[64];
        int g[64];
        size_t n = 0, i, f, ng;
        char key[CS_CHUNKKEY_MAX];

        CS_ASSERT(fr != NULL);
        for (f = 0; f < 4; f++)
                n += read_headers(folders[f], fr + n, 64 - n);
        CS_ASSERT_EQ(n, 45);
        for (i = 0; i < n; i++)
                pts[i] = (struct cs_chunk_point){ fr[i].info.obs_time, fr[i].info.ra, fr[i].info.dec };
        group(pts, n, g, &ng);
        CS_ASSERT_EQ(ng, 3);
        CS_ASSERT_EQ(g[0], 0);
        CS_ASSERT_EQ(g[31], 0);
        CS_ASSERT_EQ(g[32], 1);
        CS_ASSERT_EQ(g[42], 1);
        CS_ASSERT_EQ(g[43], 2);
        CS_ASSERT_EQ(g[44], 2);
        CS_ASSERT_OK(cs_chunk_group_key(pts, n, g, 1, key, NULL, NULL, NULL));
        CS_ASSERT_STREQ(key, "20250409.83_193.0_+41.0");
        CS_ASSERT_OK(cs_chunk_group_key(pts, n, g, 2, key, NULL, NULL, NULL));
        CS_ASSERT_STREQ(key, "20250630.02_315.6_+68.3");
        free(fr);
}

/* Many frames: the grouping stays fast and exact (one night, 10-s frames, 3 targets). */
CS_TEST(group_many_frames)
{
        size_t n = 3000, i, ng;
        struct cs_chunk_point *p = calloc(n, sizeof *p);
        int *g = calloc(n, sizeof *g);
        double t = t_of("2025-01-15T18:00:00");

        CS_ASSERT(p && g);
        for (i = 0; i < n; i++) {
                size_t target = i % 3;

                p[i].obs_time = t + (double)(i / 3) * 10.0;
                p[i].ra = 30.0 + 40.0 * (double)target + 0.01 * (double)(i % 7);
                p[i].dec = 20.0 + 0.01 * (double)(i % 5);
        }
        group(p, n, g, &ng);
        /* 1000 frames x 10 s = 10000 s per target: slots 72..83, 12 slots x 3 targets */
        CS_ASSERT_EQ(ng, 36);
        free(p);
        free(g);
}

CS_TEST_MAIN()
