/* test_combine.c - clipped mean: planted outliers are clipped, small N falls
 * back to the median, coverage masks, the vectorised path agrees with the
 * per-pixel reference, and memory does not depend on the pixel count. */
#include <stdint.h>
#include <stdlib.h>

#include "crowdsky/combine.h"
#include "cs_test.h"

static double gauss(unsigned *st)
{
        double u = 0;
        int k;

        for (k = 0; k < 12; k++)
                u += (double)rand_r(st) / RAND_MAX;
        return u - 6.0;
}

CS_TEST(single_outlier_small_n)
{
        /* N = 6: a mean/std clip cannot flag one outlier (max sqrt(5) sigma) */
        struct cs_combine_params p;
        float v[6] = { 100, 101, 99, 100.5f, 99.5f, 1000 };
        size_t kept = 0;
        float r;

        cs_combine_params_default(&p);
        r = cs_combine_pixel(v, 6, &p, &kept);
        CS_ASSERT_EQ(kept, 5);
        CS_ASSERT_NEAR(r, 100.0, 1e-4);
}

CS_TEST(median_fallback_tiny_n)
{
        struct cs_combine_params p;
        float v[3] = { 10, 5000, 12 };
        float w[4] = { 10, 5000, 12, 14 };
        size_t kept = 0;

        cs_combine_params_default(&p);
        CS_ASSERT_NEAR(cs_combine_pixel(v, 3, &p, &kept), 12.0, 1e-6);
        CS_ASSERT_NEAR(cs_combine_pixel(w, 4, &p, &kept), 13.0, 1e-6);
        CS_ASSERT_NEAR(cs_combine_pixel(v, 1, &p, &kept), 10.0, 1e-6);
        CS_ASSERT_NEAR(cs_combine_pixel(v, 0, &p, &kept), 0.0, 1e-6);
}

CS_TEST(median_helper)
{
        float a[5] = { 5, 1, 4, 2, 3 }, b[4] = { 4, 1, 3, 2 };

        CS_ASSERT_NEAR(cs_median_f32(a, 5), 3.0, 0);
        CS_ASSERT_NEAR(cs_median_f32(b, 4), 2.5, 0);
}

/* Planted outliers in a noisy stack of planes: every planted value is clipped,
 * the result is unbiased, the vectorised path equals the reference, and
 * masks leave out uncovered samples. */
static void run_planes(size_t n, size_t npix, unsigned seed)
{
        struct cs_combine_params p;
        float **pl = malloc(n * sizeof *pl);
        uint8_t **mk = malloc(n * sizeof *mk);
        float *out = malloc(npix * sizeof *out), *v = malloc(n * sizeof *v);
        uint16_t *kept = malloc(npix * sizeof *kept);
        size_t f, i, nplanted = 0;
        double bias = 0;
        unsigned st = seed;

        cs_combine_params_default(&p);
        for (f = 0; f < n; f++) {
                pl[f] = malloc(npix * sizeof **pl);
                mk[f] = malloc(npix);
                for (i = 0; i < npix; i++) {
                        pl[f][i] = (float)(1000.0 + 10.0 * gauss(&st));
                        mk[f][i] = 1;
                }
        }
        /* one frame with a "satellite" at +200 sigma, others with hot pixels,
         * some pixels not covered by two frames (edges) */
        for (i = 0; i < npix; i += 7) {
                pl[i % n][i] += 2000.0f;
                nplanted++;
        }
        for (i = 3; i < npix; i += 11) {
                mk[0][i] = 0;
                mk[n - 1][i] = 0;
                pl[0][i] = -1e6f; /* must never be seen */
        }
        cs_combine_sigma_clip((const float *const *)pl, (const uint8_t *const *)mk, n, npix, &p, NULL, out, kept, NULL);
        for (i = 0; i < npix; i++) {
                size_t c = 0, kref;
                float ref;

                for (f = 0; f < n; f++)
                        if (mk[f][i])
                                v[c++] = pl[f][i];
                ref = cs_combine_pixel(v, c, &p, &kref);
                /* up to 16 frames the block path sorts like the reference does */
                if (n <= 16)
                        CS_ASSERT_NEAR(out[i], ref, 1e-3 * fabs(ref) + 1e-3);
                CS_ASSERT(out[i] > 950 && out[i] < 1050); /* no outlier survived */
                bias += out[i] - 1000.0;
        }
        bias /= (double)npix;
        /* unbiased to well under the per-pixel noise of the mean */
        CS_ASSERT(fabs(bias) < 10.0 / sqrt((double)n));
        CS_ASSERT(nplanted > 0);
        for (f = 0; f < n; f++) {
                free(pl[f]);
                free(mk[f]);
        }
        free(pl);
        free(mk);
        free(out);
        free(v);
        free(kept);
}

CS_TEST(planted_outliers_various_n)
{
        run_planes(5, 1000, 1);
        run_planes(6, 1000, 2);
        run_planes(10, 777, 3);
        run_planes(17, 500, 4);
        run_planes(32, 300, 5);
        run_planes(100, 130, 6);
}

CS_TEST(noise_efficiency)
{
        /* clean Gaussian data: the clipped mean keeps nearly all values, so its
         * noise stays close to sigma / sqrt(N) */
        struct cs_combine_params p;
        size_t n = 20, npix = 4000, f, i;
        float **pl = malloc(n * sizeof *pl), *out = malloc(npix * sizeof *out);
        uint16_t *kept = malloc(npix * sizeof *kept);
        double s2 = 0, nk = 0;
        unsigned st = 99;

        cs_combine_params_default(&p);
        for (f = 0; f < n; f++) {
                pl[f] = malloc(npix * sizeof **pl);
                for (i = 0; i < npix; i++)
                        pl[f][i] = (float)(500.0 + 10.0 * gauss(&st));
        }
        cs_combine_sigma_clip((const float *const *)pl, NULL, n, npix, &p, NULL, out, kept, NULL);
        for (i = 0; i < npix; i++) {
                s2 += (out[i] - 500.0) * (out[i] - 500.0);
                nk += kept[i];
        }
        s2 = sqrt(s2 / (double)npix);
        CS_ASSERT(s2 < 1.07 * 10.0 / sqrt((double)n));
        CS_ASSERT(nk / (double)npix > 0.97 * (double)n);
        for (f = 0; f < n; f++)
                free(pl[f]);
        free(pl);
        free(out);
        free(kept);
}

CS_TEST(memory_independent_of_pixels)
{
        /* the combiner allocates per call a block of n x 64 floats, never
         * n x npix: a million pixels of 200 frames works in row slices */
        struct cs_combine_params p;
        size_t n = 200, npix = 64 * 3 + 5, f, i;
        float **pl = malloc(n * sizeof *pl), *out = malloc(npix * sizeof *out);

        cs_combine_params_default(&p);
        for (f = 0; f < n; f++) {
                pl[f] = malloc(npix * sizeof **pl);
                for (i = 0; i < npix; i++)
                        pl[f][i] = (float)(f % 7);
        }
        cs_combine_sigma_clip((const float *const *)pl, NULL, n, npix, &p, NULL, out, NULL, NULL);
        for (i = 0; i < npix; i++)
                CS_ASSERT(out[i] >= 0 && out[i] <= 6);
        for (f = 0; f < n; f++)
                free(pl[f]);
        free(pl);
        free(out);
}

CS_TEST(frame_weights)
{
        /* half the frames at 100 (weight 1), half at 104 (weight 3): nothing is
         * clipped, the mean is weighted: (100 + 3 * 104) / 4 = 103; for the
         * sorted (n <= 32) and the many-frame path alike */
        struct cs_combine_params p;
        size_t sizes[2] = { 8, 40 }, k, f, i, npix = 70;

        cs_combine_params_default(&p);
        for (k = 0; k < 2; k++) {
                size_t n = sizes[k];
                float **pl = malloc(n * sizeof *pl), *w = malloc(n * sizeof *w), *out = malloc(npix * sizeof *out);

                for (f = 0; f < n; f++) {
                        pl[f] = malloc(npix * sizeof **pl);
                        w[f] = f % 2 ? 3.0f : 1.0f;
                        for (i = 0; i < npix; i++)
                                pl[f][i] = f % 2 ? 104.0f : 100.0f;
                }
                cs_combine_sigma_clip((const float *const *)pl, NULL, n, npix, &p, w, out, NULL, NULL);
                for (i = 0; i < npix; i++)
                        CS_ASSERT_NEAR(out[i], 103.0, 1e-3);
                cs_combine_sigma_clip((const float *const *)pl, NULL, n, npix, &p, NULL, out, NULL, NULL);
                for (i = 0; i < npix; i++)
                        CS_ASSERT_NEAR(out[i], 102.0, 1e-3);
                for (f = 0; f < n; f++)
                        free(pl[f]);
                free(pl);
                free(w);
                free(out);
        }
}

CS_TEST_MAIN()
