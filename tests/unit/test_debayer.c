/* test_debayer.c - Bayer patterns and offsets, demosaicing (exact on flat
 * colours and linear ramps; the directional one sharp on stars and quiet on
 * sky), hot-pixel scan / mask / mend. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "crowdsky/stack.h"
#include "cs_test.h"
#include "stack/stack_int.h"

CS_TEST(bayer_patterns)
{
        uint8_t cfa[4];
        struct cs_err e = CS_ERR_INIT;

        CS_ASSERT_OK(cs_bayer_parse("GRBG", 0, 0, cfa, &e));
        CS_ASSERT(cfa[0] == 1 && cfa[1] == 0 && cfa[2] == 2 && cfa[3] == 1);
        CS_ASSERT_OK(cs_bayer_parse(" rggb ", 0, 0, cfa, &e));
        CS_ASSERT(cfa[0] == 0 && cfa[1] == 1 && cfa[2] == 1 && cfa[3] == 2);
        /* an x offset of 1 turns RGGB into GRBG, a y offset into GBRG */
        CS_ASSERT_OK(cs_bayer_parse("RGGB", 1, 0, cfa, &e));
        CS_ASSERT(cfa[0] == 1 && cfa[1] == 0 && cfa[2] == 2 && cfa[3] == 1);
        CS_ASSERT_OK(cs_bayer_parse("RGGB", 0, 1, cfa, &e));
        CS_ASSERT(cfa[0] == 1 && cfa[1] == 2 && cfa[2] == 0 && cfa[3] == 1);
        CS_ASSERT_OK(cs_bayer_parse("BGGR", 1, 1, cfa, &e));
        CS_ASSERT(cfa[0] == 0 && cfa[3] == 2);
        CS_ASSERT_EQ(cs_bayer_parse("RGB", 0, 0, cfa, &e), CS_EINVAL);
        CS_ASSERT_EQ(cs_bayer_parse("RRGB", 0, 0, cfa, &e), CS_EINVAL);
        CS_ASSERT_EQ(cs_bayer_parse("RGBG", 0, 0, cfa, &e), CS_EINVAL);
        CS_ASSERT_EQ(cs_bayer_parse("GRBGX", 0, 0, cfa, &e), CS_EINVAL);
        CS_ASSERT_EQ(cs_bayer_parse(NULL, 0, 0, cfa, &e), CS_EINVAL);
        CS_ASSERT_EQ(cs_bayer_parse("GRBG", -1, 0, cfa, &e), CS_EINVAL);
}

/* value of colour c at (x, y) for the test scene: linear ramps */
static float scene(int c, double x, double y)
{
        return (float)(100.0 * (c + 1) + 3.0 * x + 2.0 * y * (c + 1));
}

static void check_pattern(const char *pat, size_t w, size_t h, bool gradient)
{
        uint8_t cfa[4];
        float *raw = malloc(w * h * sizeof *raw), *rgb = malloc(3 * w * h * sizeof *rgb);
        size_t x, y;
        int c;

        CS_ASSERT_OK(cs_bayer_parse(pat, 0, 0, cfa, NULL));
        for (y = 0; y < h; y++)
                for (x = 0; x < w; x++)
                        raw[y * w + x] = scene(cfa[(y & 1) * 2 + (x & 1)], (double)x, (double)y);
        cs_debayer(raw, w, h, cfa, gradient, rgb, rgb + w * h, rgb + 2 * w * h);
        /* both are exact on linear ramps away from the edges (the second
         * differences and the colour differences' slopes cancel there); at
         * the mirrored edges they stay within a few ramp steps */
        for (c = 0; c < 3; c++)
                for (y = 0; y < h; y++)
                        for (x = 0; x < w; x++) {
                                float v = rgb[(size_t)c * w * h + y * w + x], t = scene(c, (double)x, (double)y);

                                size_t m = gradient ? 3 : 1; /* support: 3 px (green 2 away, red and blue 1 from it) */

                                if (x >= m && y >= m && x + m < w && y + m < h)
                                        CS_ASSERT_NEAR(v, t, 1e-3);
                                else
                                        CS_ASSERT_NEAR(v, t, 4.0 * (3.0 + 2.0 * (c + 1)) + 1e-3);
                        }
        free(raw);
        free(rgb);
}

CS_TEST(bilinear_exact_on_ramps)
{
        int k;

        for (k = 0; k < 2; k++) {
                check_pattern("GRBG", 16, 12, k);
                check_pattern("RGGB", 10, 8, k);
                check_pattern("BGGR", 6, 6, k);
                check_pattern("GBRG", 9, 7, k); /* odd sizes */
                check_pattern("RGGB", 2, 2, k); /* smallest */
                check_pattern("GRBG", 3, 5, k);
        }
}

CS_TEST(flat_colour_exact)
{
        uint8_t cfa[4];
        size_t w = 8, h = 6, i;
        float raw[48], rgb[3 * 48];
        static const float col[3] = { 850, 1000, 790 };

        CS_ASSERT_OK(cs_bayer_parse("GRBG", 0, 0, cfa, NULL));
        for (i = 0; i < w * h; i++)
                raw[i] = col[cfa[((i / w) & 1) * 2 + ((i % w) & 1)]];
        cs_debayer(raw, w, h, cfa, true, rgb, rgb + w * h, rgb + 2 * w * h);
        for (i = 0; i < w * h; i++) {
                CS_ASSERT_NEAR(rgb[i], 850, 1e-4);
                CS_ASSERT_NEAR(rgb[w * h + i], 1000, 1e-4);
                CS_ASSERT_NEAR(rgb[2 * w * h + i], 790, 1e-4);
        }
}

CS_TEST(hot_pixels_found_and_mended)
{
        size_t w = 64, h = 48, f, i, nhot;
        uint8_t cfa[4];
        uint16_t *raw = malloc(w * h * sizeof *raw), *counts = calloc(w * h, sizeof *counts);
        uint8_t *mask = malloc(w * h);
        struct cs_frame_stats st;
        unsigned seed = 3;
        /* two hot pixels and one dead pixel at fixed sensor places, and a star
         * that moves between frames */
        size_t hot[3] = { 20 * 64 + 30, 33 * 64 + 11, 10 * 64 + 50 };

        CS_ASSERT_OK(cs_bayer_parse("GRBG", 0, 0, cfa, NULL));
        for (f = 0; f < 7; f++) {
                double sx = 15 + 4.0 * (double)f, sy = 30;

                for (i = 0; i < w * h; i++) {
                        double x = (double)(i % w), y = (double)(i / w);
                        double v = 1000 + 10.0 * ((double)rand_r(&seed) / RAND_MAX - 0.5) * 3.4;

                        v += 20000 * exp(-((x - sx) * (x - sx) + (y - sy) * (y - sy)) / (2 * 1.3 * 1.3));
                        raw[i] = (uint16_t)v;
                }
                raw[hot[0]] = 9000;
                raw[hot[1]] = 3000;
                raw[hot[2]] = 0;
                cs_frame_stats_compute(raw, w, h, cfa, &st);
                CS_ASSERT_NEAR(st.bg[1], 1000, 5);
                CS_ASSERT(st.noise[1] > 4 && st.noise[1] < 16);
                cs_hotpix_scan(raw, w, h, cfa, &st, 6.0, counts);
        }
        nhot = cs_hotpix_mask(counts, w * h, 4, mask);
        CS_ASSERT_EQ(nhot, 3);
        CS_ASSERT(mask[hot[0]] && mask[hot[1]] && mask[hot[2]]);
        cs_hotpix_mend(raw, w, h, mask);
        for (i = 0; i < 3; i++)
                CS_ASSERT(raw[hot[i]] > 985 && raw[hot[i]] < 1015);
        free(raw);
        free(counts);
        free(mask);
}

CS_TEST_MAIN()

/* Gaussian noise from a small LCG (Box-Muller). */
static double gauss(unsigned *st)
{
        double u1, u2;

        *st = *st * 1103515245u + 12345u;
        u1 = ((*st >> 8) + 0.5) / 16777216.0;
        *st = *st * 1103515245u + 12345u;
        u2 = ((*st >> 8) + 0.5) / 16777216.0;
        return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* green's RMS error against truth g over the interior pixels whose own colour
 * is not green */
static double green_rms(const float *g, const float *truth, size_t w, const uint8_t cfa[4], size_t x0,
                        size_t y0, size_t x1, size_t y1)
{
        double s = 0;
        size_t x, y, n = 0;

        for (y = y0; y < y1; y++)
                for (x = x0; x < x1; x++)
                        if (cfa[(y & 1) * 2 + (x & 1)] != 1) {
                                double d = g[y * w + x] - truth[y * w + x];

                                s += d * d;
                                n++;
                        }
        return sqrt(s / (double)n);
}

/* The directional debayer against bilinear: on a small (FWHM 2 px) coloured
 * star it rebuilds green far closer to the truth; on flat noisy sky its
 * shrinkage keeps the green it makes no noisier than without shrinkage. */
CS_TEST(directional_sharp_on_stars_quiet_on_sky)
{
        enum { W = 64, H = 64 };
        static const double amp[3] = { 0.6, 1.0, 0.45 }, sky[3] = { 850, 1000, 790 };
        float *raw = malloc(W * H * sizeof *raw), *truth = malloc(W * H * sizeof *truth);
        float *a = malloc(3 * W * H * sizeof *a), *b = malloc(3 * W * H * sizeof *b);
        uint8_t cfa[4];
        unsigned st = 5;
        double e_dir, e_bil, n_shrunk, n_plain;
        size_t x, y;

        CS_ASSERT_OK(cs_bayer_parse("GRBG", 0, 0, cfa, NULL));
        for (y = 0; y < H; y++)
                for (x = 0; x < W; x++) {
                        double dx = x - 31.3, dy = y - 32.6, p = 6000.0 * exp(-(dx * dx + dy * dy) / (2 * 0.85 * 0.85));
                        int c = cfa[(y & 1) * 2 + (x & 1)];

                        raw[y * W + x] = (float)(sky[c] + amp[c] * p);
                        truth[y * W + x] = (float)(sky[1] + p);
                }
        cs__debayer_spans(raw, W, H, cfa, true, 0.0f, a, a + W * H, a + 2 * W * H, NULL, NULL);
        cs__debayer_spans(raw, W, H, cfa, false, 0.0f, b, b + W * H, b + 2 * W * H, NULL, NULL);
        e_dir = green_rms(a + W * H, truth, W, cfa, 26, 27, 37, 38);
        e_bil = green_rms(b + W * H, truth, W, cfa, 26, 27, 37, 38);
        fprintf(stderr, "star: green rms error directional %.1f, bilinear %.1f ADU\n", e_dir, e_bil);
        /* measured 119 / 294 */
        CS_ASSERT(e_dir < 0.5 * e_bil);

        /* flat sky, sigma 30: the green made at red and blue pixels */
        for (y = 0; y < H; y++)
                for (x = 0; x < W; x++) {
                        raw[y * W + x] = (float)(sky[cfa[(y & 1) * 2 + (x & 1)]] + 30.0 * gauss(&st));
                        truth[y * W + x] = (float)sky[1];
                }
        cs__debayer_spans(raw, W, H, cfa, true, 30.0f, a, a + W * H, a + 2 * W * H, NULL, NULL);
        n_shrunk = green_rms(a + W * H, truth, W, cfa, 4, 4, W - 4, H - 4);
        cs__debayer_spans(raw, W, H, cfa, true, 0.0f, a, a + W * H, a + 2 * W * H, NULL, NULL);
        n_plain = green_rms(a + W * H, truth, W, cfa, 4, 4, W - 4, H - 4);
        cs__debayer_spans(raw, W, H, cfa, false, 0.0f, b, b + W * H, b + 2 * W * H, NULL, NULL);
        fprintf(stderr, "sky: green noise shrunk %.1f, not shrunk %.1f, bilinear %.1f ADU\n", n_shrunk, n_plain,
                green_rms(b + W * H, truth, W, cfa, 4, 4, W - 4, H - 4));
        /* measured 19.2 / 22.5 (bilinear, which blurs stars, 14.9) */
        CS_ASSERT(n_shrunk < 0.92 * n_plain);
        free(raw);
        free(truth);
        free(a);
        free(b);
}
