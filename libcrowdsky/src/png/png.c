/* png.c - auto-stretched thumbnails and plain 8-bit PNG output with libpng.
 * libpng reports errors by longjmp: the setjmp stays in write_stream() below
 * and is translated to CS_EIO there, so nothing outside this file sees it. */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "crowdsky/alloc.h"
#include "crowdsky/select.h"
#include "crowdsky/png.h"

#define SHADOWS_CLIP_SIGMAS 2.8  /* PixInsight STF default, in normalised MAD */
#define MAD_TO_SIGMA 1.4826
#define STATS_MAX_SAMPLES 65536 /* a median to ~0.5 % of sigma: plenty for a stretch */
#define LUT_SIZE 65536
#define PNG_MAX_SIDE 100000

/* ---- libpng writing ------------------------------------------------------ */

struct png_errctx {
        char msg[160];
};

static void on_png_error(png_structp png, png_const_charp msg)
{
        struct png_errctx *ctx = png_get_error_ptr(png);

        snprintf(ctx->msg, sizeof ctx->msg, "%s", msg ? msg : "libpng error");
        png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
        (void)png;
        (void)msg;
}

/* Encodes the image to fp; returns 0, or -1 with ctx->msg set. */
static int write_stream(FILE *fp, const uint8_t *data, int w, int h, int channels,
                        struct png_errctx *ctx)
{
        png_structp png;
        png_infop info;
        int y;

        png = png_create_write_struct(PNG_LIBPNG_VER_STRING, ctx, on_png_error, on_png_warning);
        if (!png) {
                snprintf(ctx->msg, sizeof ctx->msg, "libpng: cannot create write struct");
                return -1;
        }
        info = png_create_info_struct(png);
        if (!info) {
                png_destroy_write_struct(&png, NULL);
                snprintf(ctx->msg, sizeof ctx->msg, "libpng: cannot create info struct");
                return -1;
        }
        /* png and info are not modified after this point, so they keep their
         * values across the longjmp. */
        if (setjmp(png_jmpbuf(png))) {
                png_destroy_write_struct(&png, &info);
                return -1;
        }
        png_init_io(png, fp);
        png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                     channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
        /* Thumbnails of noisy skies barely compress: favour speed. After the
         * row filters, deflate's search for repeats finds little in noise;
         * run-length matches only (Z_RLE) keep the runs of black edges and
         * saturated cores: on the real 32-frame stack's thumbnail 69 instead
         * of 83 ms, and 2 % smaller (1,406 against 1,437 kB). */
        png_set_compression_level(png, 3);
        png_set_compression_strategy(png, Z_RLE);
        png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB | PNG_FILTER_UP);
        png_write_info(png, info);
        for (y = 0; y < h; y++)
                png_write_row(png, data + (size_t)y * (size_t)w * (size_t)channels);
        png_write_end(png, NULL);
        png_destroy_write_struct(&png, &info);
        return 0;
}

static int write_file(const char *path, const uint8_t *data, int w, int h, int channels,
                      struct cs_err *err)
{
        struct png_errctx ctx = { { 0 } };
        char *tmp = NULL;
        FILE *fp = NULL;
        int fd, r = CS_OK;

        tmp = cs_xasprintf("%s.tmpXXXXXX", path);
        fd = mkstemp(tmp);
        if (fd < 0) {
                r = cs_err_set(err, CS_EIO, "'%s': %s", path, strerror(errno));
                goto out;
        }
        fp = fdopen(fd, "wb");
        if (!fp) {
                close(fd);
                unlink(tmp);
                r = cs_err_set(err, CS_EIO, "'%s': %s", path, strerror(errno));
                goto out;
        }
        if (write_stream(fp, data, w, h, channels, &ctx) < 0) {
                r = cs_err_set(err, CS_EIO, "'%s': %s", path, ctx.msg);
                fclose(fp);
                unlink(tmp);
                goto out;
        }
        if (fflush(fp) != 0 || ferror(fp)) {
                r = cs_err_set(err, CS_EIO, "'%s': %s", path, strerror(errno));
                fclose(fp);
                unlink(tmp);
                goto out;
        }
        if (fclose(fp) != 0) {
                r = cs_err_set(err, CS_EIO, "'%s': %s", path, strerror(errno));
                unlink(tmp);
                goto out;
        }
        /* mkstemp makes the file 0600; thumbnails are served, make it 0644. */
        if (chmod(tmp, 0644) < 0 || rename(tmp, path) < 0) {
                r = cs_err_set(err, CS_EIO, "'%s': %s", path, strerror(errno));
                unlink(tmp);
        }
out:
        free(tmp);
        return r;
}

static int check_size(const char *path, const void *data, int w, int h, struct cs_err *err)
{
        if (!path || !data)
                return cs_err_set(err, CS_EINVAL, "no path or no image data");
        if (w < 1 || h < 1 || w > PNG_MAX_SIDE || h > PNG_MAX_SIDE)
                return cs_err_set(err, CS_EINVAL, "image size %dx%d out of range", w, h);
        return CS_OK;
}

int cs_png_write_rgb8(const char *path, const uint8_t *rgb, int width, int height,
                      struct cs_err *err)
{
        int r = check_size(path, rgb, width, height, err);

        return r < 0 ? r : write_file(path, rgb, width, height, 3, err);
}

int cs_png_write_gray8(const char *path, const uint8_t *gray, int width, int height,
                       struct cs_err *err)
{
        int r = check_size(path, gray, width, height, err);

        return r < 0 ? r : write_file(path, gray, width, height, 1, err);
}

/* ---- area-averaging downscale ------------------------------------------- */

/* For output sample o of n_out over n_in inputs: the inputs overlapping
 * [o * s, (o + 1) * s) with their overlap lengths as weights. */
struct taps {
        int *start;   /* first input index per output */
        int *count;   /* number of inputs per output */
        float *w;     /* weights, max_taps per output */
        int max_taps;
};

static int taps_init(struct taps *t, int n_in, int n_out)
{
        double s = (double)n_in / n_out;
        int o;

        t->max_taps = (int)ceil(s) + 1;
        t->start = cs_alloc_array((size_t)n_out, sizeof *t->start, 0);
        t->count = cs_alloc_array((size_t)n_out, sizeof *t->count, 0);
        t->w = cs_alloc_array((size_t)n_out * (size_t)t->max_taps, sizeof *t->w, 0);
        if (!t->start || !t->count || !t->w)
                return -1;
        for (o = 0; o < n_out; o++) {
                double a = o * s, b = (o + 1) * s;
                int i0 = (int)floor(a), i1 = (int)ceil(b), i, n = 0;

                if (i1 > n_in)
                        i1 = n_in;
                t->start[o] = i0;
                for (i = i0; i < i1 && n < t->max_taps; i++, n++) {
                        double lo = fmax(a, (double)i), hi = fmin(b, (double)i + 1.0);

                        t->w[(size_t)o * t->max_taps + n] = (float)fmax(0.0, hi - lo);
                }
                t->count[o] = n;
        }
        return 0;
}

static void taps_release(struct taps *t)
{
        free(t->start);
        free(t->count);
        free(t->w);
}

/* dst (ow x oh) = area average of src (w x h), NaN pixels left out; an
 * output pixel with no finite input is NaN. tmp holds 2 * ow * h floats and
 * 2 * ow more. Float sums of a few taps with weights <= 1 lose nothing a
 * display shows; the vertical pass runs along rows (contiguous). */
static void downscale(const float *src, int w, int h, float *dst, int ow, int oh,
                      const struct taps *tx, const struct taps *ty, float *tmp)
{
        float *hs = tmp, *hw = tmp + (size_t)ow * h, *as = hw + (size_t)ow * h, *aw = as + ow;
        int x, y, o, k;

        for (y = 0; y < h; y++) {
                const float *row = src + (size_t)y * w;

                for (o = 0; o < ow; o++) {
                        const float *wt = tx->w + (size_t)o * tx->max_taps;
                        float s = 0.0f, sw = 0.0f;

                        for (k = 0; k < tx->count[o]; k++) {
                                float v = row[tx->start[o] + k];

                                if (isfinite(v)) {
                                        s += wt[k] * v;
                                        sw += wt[k];
                                }
                        }
                        hs[(size_t)y * ow + o] = s;
                        hw[(size_t)y * ow + o] = sw;
                }
        }
        for (o = 0; o < oh; o++) {
                const float *wt = ty->w + (size_t)o * ty->max_taps;
                float *d = dst + (size_t)o * ow;

                for (x = 0; x < ow; x++)
                        as[x] = aw[x] = 0.0f;
                for (k = 0; k < ty->count[o]; k++) {
                        const float *rs = hs + (size_t)(ty->start[o] + k) * ow, *rw = hw + (size_t)(ty->start[o] + k) * ow;
                        float wk = wt[k];

                        for (x = 0; x < ow; x++) {
                                as[x] += wk * rs[x];
                                aw[x] += wk * rw[x];
                        }
                }
                for (x = 0; x < ow; x++)
                        d[x] = aw[x] > 0.0f ? as[x] / aw[x] : NAN;
        }
}

/* ---- statistics and stretch --------------------------------------------- */

struct chan_stretch {
        double lo, range;  /* normalised x = (v - lo) / range */
        double m;          /* midtones balance */
        bool flat;
};

/* Median, MAD and maximum of the finite values of img (n pixels), strided to
 * at most STATS_MAX_SAMPLES; scratch holds that many floats. */
static void chan_stats(const float *img, size_t n, float *scratch, struct chan_stretch *cs)
{
        size_t step = n / STATS_MAX_SAMPLES + 1, m = 0, i;
        double med, mad, sigma, vmax = -INFINITY, xb;

        for (i = 0; i < n; i++)
                if (isfinite(img[i]) && img[i] > vmax)
                        vmax = img[i];
        for (i = 0; i < n; i += step)
                if (isfinite(img[i]))
                        scratch[m++] = img[i];
        cs->flat = true;
        cs->lo = 0.0;
        cs->range = 1.0;
        cs->m = 0.5;
        if (m == 0)
                return;
        med = cs_select_f32(scratch, m, m / 2);
        for (i = 0; i < m; i++)
                scratch[i] = fabsf(scratch[i] - (float)med);
        mad = cs_select_f32(scratch, m, m / 2);
        sigma = MAD_TO_SIGMA * mad;
        if (!(vmax > med))
                return;
        if (!(sigma > 0.0))
                sigma = 1e-4 * (vmax - med); /* noiseless data: a hair of shadow room */
        cs->lo = med - SHADOWS_CLIP_SIGMAS * sigma;
        cs->range = vmax - cs->lo;
        xb = (med - cs->lo) / cs->range;
        cs->m = cs_png_mtf(CS_PNG_THUMB_BACKGROUND, xb);
        cs->flat = false;
}

double cs_png_mtf(double m, double x)
{
        if (x <= 0.0)
                return 0.0;
        if (x >= 1.0)
                return 1.0;
        if (x == m)
                return 0.5;
        return ((m - 1.0) * x) / ((2.0 * m - 1.0) * x - m);
}

/* The stretch of one channel as a table over the normalised input [0, 1]:
 * fine enough that steps stay below one output level where the curve is
 * steepest (just above the background). */
static void stretch_lut(const struct chan_stretch *cs, uint8_t *lut)
{
        int i;

        for (i = 0; i < LUT_SIZE; i++) {
                double y = cs->flat ? CS_PNG_THUMB_BACKGROUND
                                    : cs_png_mtf(cs->m, (double)i / (LUT_SIZE - 1));

                lut[i] = (uint8_t)(255.0 * y + 0.5);
        }
}

static inline uint8_t stretch_one(const struct chan_stretch *cs, const uint8_t *lut, float v)
{
        double x;

        if (!isfinite(v))
                return 0;
        x = (v - cs->lo) / cs->range;
        if (!(x > 0.0))
                return lut[0];
        if (x >= 1.0)
                return lut[LUT_SIZE - 1];
        return lut[(int)(x * (LUT_SIZE - 1) + 0.5)];
}

int cs_png_write_thumbnail(const char *path, const float *r, const float *g, const float *b,
                           int width, int height, int max_side, struct cs_err *err)
{
        const float *in[3] = { r, g, b };
        float *small[3] = { NULL, NULL, NULL }, *tmp = NULL, *scratch = NULL;
        uint8_t *rgb = NULL, (*lut)[LUT_SIZE] = NULL;
        struct taps tx = { 0 }, ty = { 0 };
        struct chan_stretch st[3];
        int ow, oh, c, ret = CS_OK;
        size_t n, i;
        double f;

        if (!path || !r || !g || !b)
                return cs_err_set(err, CS_EINVAL, "no path or no image data");
        if (width < 1 || height < 1 || width > PNG_MAX_SIDE * 4 || height > PNG_MAX_SIDE * 4)
                return cs_err_set(err, CS_EINVAL, "image size %dx%d out of range", width, height);
        if (max_side <= 0)
                max_side = CS_PNG_THUMB_MAX_SIDE;
        if (max_side > PNG_MAX_SIDE)
                max_side = PNG_MAX_SIDE;
        f = (double)(width > height ? width : height) / max_side;
        if (f <= 1.0) {
                ow = width;
                oh = height;
        } else {
                ow = (int)lround(width / f);
                oh = (int)lround(height / f);
                ow = ow < 1 ? 1 : ow > max_side ? max_side : ow;
                oh = oh < 1 ? 1 : oh > max_side ? max_side : oh;
        }
        n = (size_t)ow * (size_t)oh;

        for (c = 0; c < 3; c++) {
                small[c] = cs_alloc_array(n, sizeof(float), 0);
                if (!small[c])
                        goto nomem;
        }
        tmp = cs_alloc_array((size_t)ow * ((size_t)height + 1), 2 * sizeof(float), 0);
        scratch = cs_alloc_array(n < STATS_MAX_SAMPLES ? n : STATS_MAX_SAMPLES + 1,
                                 sizeof(float), 0);
        rgb = cs_alloc_array(n, 3, 0);
        lut = cs_alloc_array(3, sizeof *lut, 0);
        if (!tmp || !scratch || !rgb || !lut || taps_init(&tx, width, ow) < 0 ||
            taps_init(&ty, height, oh) < 0)
                goto nomem;

        for (c = 0; c < 3; c++) {
                downscale(in[c], width, height, small[c], ow, oh, &tx, &ty, tmp);
                chan_stats(small[c], n, scratch, &st[c]);
        }
        for (c = 0; c < 3; c++)
                stretch_lut(&st[c], lut[c]);
        for (i = 0; i < n; i++)
                for (c = 0; c < 3; c++)
                        rgb[i * 3 + c] = stretch_one(&st[c], lut[c], small[c][i]);
        ret = write_file(path, rgb, ow, oh, 3, err);
        goto out;
nomem:
        ret = cs_err_set(err, CS_ENOMEM, "out of memory for a %dx%d thumbnail", ow, oh);
out:
        taps_release(&tx);
        taps_release(&ty);
        for (c = 0; c < 3; c++)
                free(small[c]);
        free(tmp);
        free(scratch);
        free(rgb);
        free(lut);
        return ret;
}
