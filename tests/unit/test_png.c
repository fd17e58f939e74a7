/* test_png.c - thumbnails: size bound, background near 25 % grey, neutral sky
 * whatever the channels' levels, NaN shown black; plain 8-bit writers. */
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs_test.h"
#include "crowdsky/png.h"

struct img8 {
        int w, h, channels;
        uint8_t *px;
};

static struct img8 read_png(const char *path, int want_channels)
{
        png_image im;
        struct img8 out = { 0, 0, 0, NULL };

        memset(&im, 0, sizeof im);
        im.version = PNG_IMAGE_VERSION;
        CS_ASSERT(png_image_begin_read_from_file(&im, path) != 0);
        im.format = want_channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
        out.w = (int)im.width;
        out.h = (int)im.height;
        out.channels = want_channels;
        out.px = malloc(PNG_IMAGE_SIZE(im));
        CS_ASSERT(out.px != NULL);
        CS_ASSERT(png_image_finish_read(&im, NULL, out.px, 0, NULL) != 0);
        return out;
}

/* Deterministic noise for the synthetic sky. */
static uint64_t lcg = 88172645463325252ULL;

static double gauss(void)
{
        double s = 0.0;
        int i;

        for (i = 0; i < 12; i++) {
                lcg ^= lcg << 13;
                lcg ^= lcg >> 7;
                lcg ^= lcg << 17;
                s += (double)(lcg >> 11) * 0x1.0p-53;
        }
        return s - 6.0;
}

static int cmp_u8(const void *a, const void *b)
{
        return (int)*(const uint8_t *)a - (int)*(const uint8_t *)b;
}

static int chan_median(const struct img8 *im, int c, int x0, int y0, int x1, int y1)
{
        uint8_t *v = malloc((size_t)(x1 - x0) * (y1 - y0));
        size_t n = 0;
        int x, y, med;

        CS_ASSERT(v != NULL);
        for (y = y0; y < y1; y++)
                for (x = x0; x < x1; x++)
                        v[n++] = im->px[((size_t)y * im->w + x) * 3 + c];
        qsort(v, n, 1, cmp_u8);
        med = v[n / 2];
        free(v);
        return med;
}

#define SW 1500
#define SH 900

/* A sky with very different channel levels (strong light pollution), noise,
 * a gradient, some stars, and a strip without data (NaN). */
static void make_sky(float *r, float *g, float *b)
{
        static const double level[3] = { 1800.0, 950.0, 400.0 }, noise[3] = { 30.0, 20.0, 12.0 };
        float *ch[3] = { r, g, b };
        int x, y, c, s;

        for (c = 0; c < 3; c++)
                for (y = 0; y < SH; y++)
                        for (x = 0; x < SW; x++)
                                ch[c][y * SW + x] = (float)(level[c] * (1.0 + 0.05 * x / SW) +
                                                            noise[c] * gauss());
        for (s = 0; s < 40; s++) {
                int sx = 50 + (s * 337) % (SW - 100), sy = 50 + (s * 211) % (SH - 200);

                for (y = sy - 8; y <= sy + 8; y++)
                        for (x = sx - 8; x <= sx + 8; x++) {
                                double d2 = (x - sx) * (x - sx) + (y - sy) * (y - sy);

                                for (c = 0; c < 3; c++)
                                        ch[c][y * SW + x] += (float)(20000.0 * exp(-d2 / 4.0));
                        }
        }
        /* no data along the bottom 60 rows (outside every frame's footprint) */
        for (c = 0; c < 3; c++)
                for (y = SH - 60; y < SH; y++)
                        for (x = 0; x < SW; x++)
                                ch[c][y * SW + x] = NAN;
}

CS_TEST(thumbnail_size_background_and_neutral_sky)
{
        float *r = malloc(sizeof(float) * SW * SH), *g = malloc(sizeof(float) * SW * SH),
              *b = malloc(sizeof(float) * SW * SH);
        char path[] = "/tmp/cs_test_png_XXXXXX";
        struct cs_err err = CS_ERR_INIT;
        struct img8 im;
        int fd, mr, mg, mb, x, y, bright = 0;

        CS_ASSERT(r && g && b);
        make_sky(r, g, b);
        fd = mkstemp(path);
        CS_ASSERT(fd >= 0);
        close(fd);
        CS_ASSERT_OK(cs_png_write_thumbnail(path, r, g, b, SW, SH, 512, &err));
        im = read_png(path, 3);
        /* long side at most max_side, aspect kept */
        CS_ASSERT_EQ(im.w, 512);
        CS_ASSERT(im.h >= 306 && im.h <= 308);
        /* sky background near 25 % grey (64) and neutral in every channel */
        mr = chan_median(&im, 0, 0, 0, im.w, im.h * 3 / 4);
        mg = chan_median(&im, 1, 0, 0, im.w, im.h * 3 / 4);
        mb = chan_median(&im, 2, 0, 0, im.w, im.h * 3 / 4);
        CS_ASSERT(abs(mg - 64) <= 6);
        CS_ASSERT(abs(mr - mg) <= 3 && abs(mb - mg) <= 3);
        /* stars bright, no-data strip black */
        for (y = 0; y < im.h; y++)
                for (x = 0; x < im.w; x++)
                        bright += im.px[((size_t)y * im.w + x) * 3 + 1] > 200;
        CS_ASSERT(bright >= 40);
        for (x = 0; x < im.w; x++)
                CS_ASSERT(im.px[((size_t)(im.h - 1) * im.w + x) * 3 + 1] == 0);
        free(im.px);
        unlink(path);
        free(r);
        free(g);
        free(b);
}

CS_TEST(small_images_are_not_enlarged)
{
        float r[40 * 30], g[40 * 30], b[40 * 30];
        char path[] = "/tmp/cs_test_png_XXXXXX";
        struct cs_err err = CS_ERR_INIT;
        struct img8 im;
        int fd, i;

        for (i = 0; i < 40 * 30; i++) {
                r[i] = (float)(0.01 + 0.001 * gauss());
                g[i] = (float)(0.02 + 0.001 * gauss());
                b[i] = (float)(0.03 + 0.001 * gauss());
        }
        r[15 * 40 + 20] = g[15 * 40 + 20] = b[15 * 40 + 20] = 1.0f;
        fd = mkstemp(path);
        CS_ASSERT(fd >= 0);
        close(fd);
        CS_ASSERT_OK(cs_png_write_thumbnail(path, r, g, b, 40, 30, 0, &err));
        im = read_png(path, 3);
        CS_ASSERT_EQ(im.w, 40);
        CS_ASSERT_EQ(im.h, 30);
        CS_ASSERT(im.px[(15 * 40 + 20) * 3] == 255);
        free(im.px);
        unlink(path);
}

CS_TEST(constant_image_does_not_crash)
{
        float v[16 * 16];
        char path[] = "/tmp/cs_test_png_XXXXXX";
        struct cs_err err = CS_ERR_INIT;
        struct img8 im;
        int fd, i;

        for (i = 0; i < 16 * 16; i++)
                v[i] = 5.0f;
        fd = mkstemp(path);
        CS_ASSERT(fd >= 0);
        close(fd);
        CS_ASSERT_OK(cs_png_write_thumbnail(path, v, v, v, 16, 16, 8, &err));
        im = read_png(path, 3);
        CS_ASSERT_EQ(im.w, 8);
        CS_ASSERT_EQ(im.h, 8);
        free(im.px);
        for (i = 0; i < 16 * 16; i++)
                v[i] = NAN;
        CS_ASSERT_OK(cs_png_write_thumbnail(path, v, v, v, 16, 16, 8, &err));
        im = read_png(path, 3);
        CS_ASSERT(im.px[0] == 0);
        free(im.px);
        unlink(path);
}

CS_TEST(plain_8bit_round_trip)
{
        uint8_t rgb[7 * 5 * 3], gray[7 * 5];
        char path[] = "/tmp/cs_test_png_XXXXXX";
        struct cs_err err = CS_ERR_INIT;
        struct img8 im;
        int fd, i;

        for (i = 0; i < 7 * 5 * 3; i++)
                rgb[i] = (uint8_t)(i * 7);
        for (i = 0; i < 7 * 5; i++)
                gray[i] = (uint8_t)(i * 3);
        fd = mkstemp(path);
        CS_ASSERT(fd >= 0);
        close(fd);
        CS_ASSERT_OK(cs_png_write_rgb8(path, rgb, 7, 5, &err));
        im = read_png(path, 3);
        CS_ASSERT(im.w == 7 && im.h == 5 && memcmp(im.px, rgb, sizeof rgb) == 0);
        free(im.px);
        CS_ASSERT_OK(cs_png_write_gray8(path, gray, 7, 5, &err));
        im = read_png(path, 1);
        CS_ASSERT(im.w == 7 && im.h == 5 && memcmp(im.px, gray, sizeof gray) == 0);
        free(im.px);
        unlink(path);
}

CS_TEST(errors_are_reported)
{
        float v[4] = { 1, 2, 3, 4 };
        struct cs_err err = CS_ERR_INIT;

        CS_ASSERT_EQ(cs_png_write_thumbnail("/tmp/x.png", v, v, v, 0, 2, 0, &err), CS_EINVAL);
        CS_ASSERT_EQ(cs_png_write_thumbnail("/tmp/x.png", NULL, v, v, 2, 2, 0, &err), CS_EINVAL);
        CS_ASSERT_EQ(cs_png_write_thumbnail("/nonexistent-dir/x.png", v, v, v, 2, 2, 0, &err),
                     CS_EIO);
        CS_ASSERT(strstr(err.msg, "nonexistent-dir") != NULL);
}

CS_TEST(midtones_transfer_function)
{
        CS_ASSERT_NEAR(cs_png_mtf(0.2, 0.2), 0.5, 1e-12);
        CS_ASSERT_NEAR(cs_png_mtf(0.5, 0.3), 0.3, 1e-12);
        CS_ASSERT_NEAR(cs_png_mtf(0.1, 0.0), 0.0, 0.0);
        CS_ASSERT_NEAR(cs_png_mtf(0.1, 1.0), 1.0, 0.0);
        /* the balance that sends x to y is mtf(y, x) */
        CS_ASSERT_NEAR(cs_png_mtf(cs_png_mtf(0.25, 0.01), 0.01), 0.25, 1e-12);
}

CS_TEST_MAIN()
