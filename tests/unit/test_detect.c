/* test_detect.c - star detection on synthetic Bayer frames: positions to a few
 * hundredths of a pixel, FWHM, hot pixels and saturated stars rejected,
 * per-colour background statistics. */
#include <stdint.h>
#include <stdlib.h>

#include "crowdsky/align.h"
#include "cs_test.h"

static double gauss(unsigned *st)
{
        double u = 0;
        int k;

        for (k = 0; k < 12; k++)
                u += (double)rand_r(st) / RAND_MAX;
        return u - 6.0;
}

struct truth {
        double x, y, flux;
};

/* A GRBG frame: background per colour, Gaussian stars (pixel-integrated by
 * 4x4 supersampling) with colour weights, Gaussian noise. */
static uint16_t *make_frame(size_t w, size_t h, const struct truth *t, size_t nt, double fwhm,
                            double noise, unsigned seed)
{
        static const double colw[4] = { 1.0, 0.8, 0.6, 1.0 }; /* G R B G */
        static const double bg[4] = { 1000, 850, 800, 1000 };
        uint16_t *raw = malloc(w * h * sizeof *raw);
        double s = fwhm / 2.3548;
        size_t x, y, k;
        unsigned st = seed;

        for (y = 0; y < h; y++)
                for (x = 0; x < w; x++) {
                        int c = (int)((y & 1) * 2 + (x & 1));
                        double v = bg[c] + noise * gauss(&st);

                        for (k = 0; k < nt; k++) {
                                double dx = (double)x - t[k].x, dy = (double)y - t[k].y, a = 0;
                                int i, j;

                                if (dx * dx + dy * dy > 100 * s * s)
                                        continue;
                                for (i = 0; i < 4; i++)
                                        for (j = 0; j < 4; j++) {
                                                double ex = dx + (i - 1.5) / 4, ey = dy + (j - 1.5) / 4;

                                                a += exp(-(ex * ex + ey * ey) / (2 * s * s));
                                        }
                                v += colw[c] * t[k].flux * a / 16 / (2 * M_PI * s * s);
                        }
                        raw[y * w + x] = (uint16_t)(v < 0 ? 0 : v > 65535 ? 65535 : v + 0.5);
                }
        return raw;
}

CS_TEST(positions_and_fwhm)
{
        size_t w = 400, h = 300, nt = 0, ns = 0, k, q, found = 0;
        struct truth t[60];
        struct cs_detect_params p;
        struct cs_star *s = NULL;
        uint16_t *raw;
        double se = 0, fw = 0;
        unsigned st = 5;

        for (k = 0; k < 60; k++) {
                t[nt].x = 20 + (w - 40) * (double)rand_r(&st) / RAND_MAX;
                t[nt].y = 20 + (h - 40) * (double)rand_r(&st) / RAND_MAX;
                t[nt].flux = 20000 + 60000 * (double)rand_r(&st) / RAND_MAX;
                for (q = 0; q < nt; q++)
                        if (hypot(t[q].x - t[nt].x, t[q].y - t[nt].y) < 12)
                                break;
                if (q == nt)
                        nt++;
        }
        raw = make_frame(w, h, t, nt, 3.0, 10.0, 11);
        cs_detect_params_default(&p);
        CS_ASSERT_OK(cs_detect_stars(raw, w, h, &p, &s, &ns, NULL, NULL));
        for (k = 0; k < nt; k++)
                for (q = 0; q < ns; q++)
                        if (hypot(s[q].x - t[k].x, s[q].y - t[k].y) < 1.0) {
                                se += (s[q].x - t[k].x) * (s[q].x - t[k].x) + (s[q].y - t[k].y) * (s[q].y - t[k].y);
                                fw += s[q].fwhm;
                                found++;
                                break;
                        }
        se = sqrt(se / (double)found);
        fw /= (double)found;
        fprintf(stderr, "found %zu of %zu (detected %zu), centroid rms %.4f px, fwhm %.3f\n", found, nt, ns, se, fw);
        CS_ASSERT(found >= nt * 9 / 10);
        CS_ASSERT(ns <= nt + 2);
        CS_ASSERT(se < 0.05);
        CS_ASSERT_NEAR(fw, 3.0, 0.3);
        free(s);
        free(raw);
}

CS_TEST(hot_and_saturated_rejected)
{
        size_t w = 200, h = 160, ns = 0, k;
        struct truth t[3] = { { 50.3, 60.7, 60000 }, { 140.6, 100.2, 3000000 }, { 100.1, 40.4, 40000 } };
        struct cs_detect_params p;
        struct cs_star *s = NULL;
        uint16_t *raw = make_frame(w, h, t, 3, 3.0, 10.0, 7);
        struct cs_err e = CS_ERR_INIT;

        /* lone hot pixels: bright single pixels, and a 2x1 pair */
        raw[30 * w + 30] = 30000;
        raw[120 * w + 170] = 8000;
        raw[90 * w + 60] = 12000;
        raw[90 * w + 61] = 12000;
        cs_detect_params_default(&p);
        CS_ASSERT_OK(cs_detect_stars(raw, w, h, &p, &s, &ns, NULL, &e));
        /* the two unsaturated stars only (the bright one clips at 65535) */
        for (k = 0; k < ns; k++)
                CS_ASSERT(s[k].peak < p.saturation);
        CS_ASSERT_EQ(ns, 2);
        CS_ASSERT(fabs(s[0].x - 50.3) < 0.1 || fabs(s[1].x - 50.3) < 0.1);
        CS_ASSERT(fabs(s[0].x - 100.1) < 0.1 || fabs(s[1].x - 100.1) < 0.1);
        free(s);
        CS_ASSERT_EQ(cs_detect_stars(raw, 8, 8, &p, &s, &ns, NULL, &e), CS_EINVAL);
        free(raw);
}

CS_TEST(frame_stats)
{
        size_t w = 120, h = 80;
        uint16_t *raw = make_frame(w, h, NULL, 0, 3.0, 20.0, 9);
        uint8_t cfa[4] = { 1, 0, 2, 1 };
        struct cs_frame_stats st;

        cs_frame_stats_compute(raw, w, h, cfa, &st);
        CS_ASSERT_NEAR(st.bg[0], 850, 3);
        CS_ASSERT_NEAR(st.bg[1], 1000, 3);
        CS_ASSERT_NEAR(st.bg[2], 800, 3);
        CS_ASSERT_NEAR(st.noise[1], 20, 3);
        free(raw);
}

CS_TEST_MAIN()
