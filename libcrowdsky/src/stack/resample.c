/* resample.c - bilinear resampling of debayered bands into the reference
 * geometry, with a coverage mask so frame edges never average in zeros. */
#include <math.h>
#include <stdbool.h>
#include <pthread.h>
#include <string.h>

#include "stack/stack_int.h"

typedef float vf4 __attribute__((vector_size(16)));

void cs__resample_rows(const struct cs_xform *inv, size_t out_w, size_t y0, size_t rows,
                       size_t frame_h, long margin, long *lo, long *hi)
{
        double xs[2] = { 0, (double)out_w - 1 }, ys[2] = { (double)y0, (double)(y0 + rows) - 1 };
        double mn = 1e300, mx = -1e300;
        int i, j;

        for (i = 0; i < 2; i++)
                for (j = 0; j < 2; j++) {
                        double sy = inv->m[3] * xs[i] + inv->m[4] * ys[j] + inv->m[5];

                        mn = fmin(mn, sy);
                        mx = fmax(mx, sy);
                }
        mn = floor(mn) - (double)margin;
        mx = ceil(mx) + 1.0 + (double)margin;
        if (mn < 0)
                mn = 0;
        if (mx > (double)frame_h)
                mx = (double)frame_h;
        if (mx < mn)
                mx = mn;
        *lo = (long)mn;
        *hi = (long)mx;
}

/* Where a x + b lies in [lo, hi]: intersect [*x0, *x1] with it. */
static void clip_interval(double a, double b, double lo, double hi, double *x0, double *x1)
{
        if (fabs(a) < 1e-12) {
                if (b < lo || b > hi)
                        *x1 = *x0 - 1;
                return;
        }
        {
                double p = (lo - b) / a, q = (hi - b) / a;

                if (p > q) {
                        double t = p;

                        p = q;
                        q = t;
                }
                *x0 = fmax(*x0, p);
                *x1 = fmin(*x1, q);
        }
}

/* Row yy of a 3-plane output: the columns whose samples the kernel can take are
 * [xa, xb] (clipped by clip_interval; empty when xb < xa or when the caller
 * says so). Marks them in the row's mask, zeroes the planes outside them, and
 * returns them as [*ret_i0, *ret_i1); false when the row is wholly uncovered
 * (then the whole row is zero and its mask clear). */
static bool cover_row3(double xa, double xb, bool empty, size_t out_w, size_t yy, float *const out[3],
                       uint8_t *mk, size_t *ret_i0, size_t *ret_i1)
{
        size_t i0, i1, x;
        int c;

        if (empty || xb < xa) {
                memset(mk, 0, out_w);
                for (c = 0; c < 3; c++)
                        for (x = 0; x < out_w; x++)
                                out[c][yy * out_w + x] = 0;
                return false;
        }
        i0 = (size_t)ceil(xa - 1e-9);
        i1 = (size_t)floor(xb + 1e-9) + 1;
        if (i1 > out_w)
                i1 = out_w;
        if (i1 < i0)
                i1 = i0;
        memset(mk, 0, i0);
        memset(mk + i0, 1, i1 - i0);
        memset(mk + i1, 0, out_w - i1);
        for (c = 0; c < 3; c++) {
                for (x = 0; x < i0; x++)
                        out[c][yy * out_w + x] = 0;
                for (x = i1; x < out_w; x++)
                        out[c][yy * out_w + x] = 0;
        }
        *ret_i0 = i0;
        *ret_i1 = i1;
        return true;
}

void cs__resample_bilinear(const float *src, size_t src_w, size_t frame_h, long src_y0, size_t src_h,
                           const struct cs_xform *inv, size_t out_w, size_t y0, size_t rows,
                           float add, float mul, float *out, uint8_t *mask)
{
        size_t yy, x;
        const long band_lo = src_y0, band_hi = src_y0 + (long)src_h - 1;
        /* sample rows must lie in both the frame and the band we hold */
        const double ylo = fmax(0.0, (double)band_lo), yhi = fmin((double)frame_h - 1, (double)band_hi);

        for (yy = 0; yy < rows; yy++) {
                double y = (double)(y0 + yy);
                double bx = inv->m[1] * y + inv->m[2], by = inv->m[4] * y + inv->m[5];
                double ax = inv->m[0], ay = inv->m[3];
                double xa = 0, xb = (double)out_w - 1;
                float *o = out + yy * out_w;
                uint8_t *mk = mask + yy * out_w;
                size_t i0, i1;

                clip_interval(ax, bx, 0.0, (double)src_w - 1, &xa, &xb);
                clip_interval(ay, by, ylo, yhi, &xa, &xb);
                if (xb < xa || src_w < 2 || yhi - ylo < 1) {
                        for (x = 0; x < out_w; x++) {
                                o[x] = 0;
                                mk[x] = 0;
                        }
                        continue;
                }
                i0 = (size_t)ceil(xa - 1e-9);
                i1 = (size_t)floor(xb + 1e-9) + 1;
                if (i1 > out_w)
                        i1 = out_w;
                for (x = 0; x < i0; x++) {
                        o[x] = 0;
                        mk[x] = 0;
                }
                for (x = i1; x < out_w; x++) {
                        o[x] = 0;
                        mk[x] = 0;
                }
                {
                        const float fax = (float)ax, fay = (float)ay;
                        const float fbx = (float)bx, fby = (float)(by - (double)band_lo);
                        const int maxx = (int)src_w - 2, maxy = (int)src_h - 2;

                        for (x = i0; x < i1; x++) {
                                float sx = fax * (float)x + fbx, sy = fay * (float)x + fby;
                                int ix = (int)sx, iy = (int)sy;
                                float fx, fy;
                                const float *p;

                                ix = ix < 0 ? 0 : ix > maxx ? maxx : ix;
                                iy = iy < 0 ? 0 : iy > maxy ? maxy : iy;
                                fx = sx - (float)ix;
                                fy = sy - (float)iy;
                                p = src + (size_t)iy * src_w + (size_t)ix;
                                o[x] = (((p[0] * (1 - fx) + p[1] * fx) * (1 - fy) +
                                         (p[src_w] * (1 - fx) + p[src_w + 1] * fx) * fy) + add) * mul;
                                mk[x] = 1;
                        }
                }
        }
}

/* Bicubic resampling with a Mitchell-Netravali cubic (see cr_init for the
 * choice of B and C): far less blur than bilinear, whose t (1 - t) px^2 of
 * extra variance (1/6 on average) widens a 3 px star by 5 %. */

/* Cubic weights tabulated at 1/256 px: a lookup instead of two cubic
 * polynomials per pixel; the position error (< 0.002 px) is far below
 * registration noise. */
#define CR_PHASES 256
static float cr_table[CR_PHASES + 1][4];
static pthread_once_t cr_once = PTHREAD_ONCE_INIT;

/* Mitchell-Netravali cubic family; (B, C) = (0, 1/2) is Catmull-Rom. */
static double bc_kernel(double x, double B, double C)
{
        x = fabs(x);
        if (x < 1)
                return ((12 - 9 * B - 6 * C) * x * x * x + (-18 + 12 * B + 6 * C) * x * x + (6 - 2 * B)) / 6;
        if (x < 2)
                return ((-B - 6 * C) * x * x * x + (6 * B + 30 * C) * x * x + (-12 * B - 48 * C) * x + (8 * B + 24 * C)) / 6;
        return 0;
}

/* The Mitchell-Netravali parameters of both the table and the separable passes. */
#define SEP_B 0.42
#define SEP_C ((1.0 - SEP_B) / 2)

static void cr_init(void)
{
        int k;
        /* B + 2C = 1 (the family's best against ringing), B = 0.42: a touch of
         * smoothing against the noise the debayer leaves. Scored by
         * tests/bench/score (green noise ADU / FWHM px), with the
         * Malvar-He-Cutler debayer of the time on the 30-frame simulated set:
         * Catmull-Rom (B 0) 12.75 / 3.35, bilinear 11.07 / 3.48, B 0.5
         * 10.67 / 3.49, B 0.475 10.77 / 3.49 (Siril 10.86 / 3.50). With the
         * directional debayer, B 0.475 -> 0.42: sim100 5.66 / 3.455 -> 5.77 /
         * 3.438 (Siril 6.00 / 3.470), the real 32-frame chunk 10.70 / 2.738 ->
         * 10.88 / 2.722 (Siril 10.99 / 2.795): the thinnest margin over Siril
         * (sim100's FWHM) from 0.4 to 0.9 %. */
        const double B = SEP_B, C = SEP_C;

        for (k = 0; k <= CR_PHASES; k++) {
                double t = (double)k / CR_PHASES;

                cr_table[k][0] = (float)bc_kernel(t + 1, B, C);
                cr_table[k][1] = (float)bc_kernel(t, B, C);
                cr_table[k][2] = (float)bc_kernel(1 - t, B, C);
                cr_table[k][3] = (float)bc_kernel(2 - t, B, C);
        }
}

#if defined(__x86_64__) || defined(__i386__)
/* Two output pixels per step on 8-float vectors (AVX2, chosen at run time):
 * the 4-column support of pixel x in the low half, of x + 1 in the high half.
 * Returns the first x it did not do. */
typedef float vf8x __attribute__((vector_size(32)));

__attribute__((target("avx2"))) static size_t row_bicubic_avx2(const float *const src[3], size_t src_w,
                                                               float fax, float fay, float fbx, float fby,
                                                               int maxx, int maxy, size_t i0, size_t i1,
                                                               const float add[3], const float mul[3],
                                                               float *const o[3])
{
        size_t x;
        int j;

        for (x = i0; x + 2 <= i1; x += 2) {
                size_t off[2];
                const float *wxp[2], *wyp[2];
                vf8x wx;
                int k;

                for (k = 0; k < 2; k++) {
                        float sx = fax * (float)(x + (size_t)k) + fbx, sy = fay * (float)(x + (size_t)k) + fby;
                        int ix = (int)sx, iy = (int)sy, kx, ky;

                        ix = ix < 1 ? 1 : ix > maxx ? maxx : ix;
                        iy = iy < 1 ? 1 : iy > maxy ? maxy : iy;
                        kx = (int)((sx - (float)ix) * CR_PHASES + 0.5f);
                        ky = (int)((sy - (float)iy) * CR_PHASES + 0.5f);
                        kx = kx < 0 ? 0 : kx > CR_PHASES ? CR_PHASES : kx;
                        ky = ky < 0 ? 0 : ky > CR_PHASES ? CR_PHASES : ky;
                        wxp[k] = cr_table[kx];
                        wyp[k] = cr_table[ky];
                        off[k] = (size_t)(iy - 1) * src_w + (size_t)(ix - 1);
                }
                {
                        vf4 lo, hi;

                        memcpy(&lo, wxp[0], sizeof lo);
                        memcpy(&hi, wxp[1], sizeof hi);
                        wx = __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7);
                }
                {
                        /* three accumulators by name: an array of vectors would live in memory */
                        vf8x a0 = { 0, 0, 0, 0, 0, 0, 0, 0 }, a1 = a0, a2 = a0, r;
                        const float *p0 = src[0], *p1 = src[1], *p2 = src[2];

                        for (j = 0; j < 4; j++) {
                                const vf8x wy = { wyp[0][j], wyp[0][j], wyp[0][j], wyp[0][j],
                                                  wyp[1][j], wyp[1][j], wyp[1][j], wyp[1][j] };
                                const size_t oa = off[0] + (size_t)j * src_w, ob = off[1] + (size_t)j * src_w;
                                vf4 l0, h0, l1, h1, l2, h2;

                                memcpy(&l0, p0 + oa, sizeof l0);
                                memcpy(&h0, p0 + ob, sizeof h0);
                                memcpy(&l1, p1 + oa, sizeof l1);
                                memcpy(&h1, p1 + ob, sizeof h1);
                                memcpy(&l2, p2 + oa, sizeof l2);
                                memcpy(&h2, p2 + ob, sizeof h2);
                                a0 += wy * __builtin_shufflevector(l0, h0, 0, 1, 2, 3, 4, 5, 6, 7);
                                a1 += wy * __builtin_shufflevector(l1, h1, 0, 1, 2, 3, 4, 5, 6, 7);
                                a2 += wy * __builtin_shufflevector(l2, h2, 0, 1, 2, 3, 4, 5, 6, 7);
                        }
                        r = a0 * wx;
                        o[0][x] = (r[0] + r[1] + r[2] + r[3] + add[0]) * mul[0];
                        o[0][x + 1] = (r[4] + r[5] + r[6] + r[7] + add[0]) * mul[0];
                        r = a1 * wx;
                        o[1][x] = (r[0] + r[1] + r[2] + r[3] + add[1]) * mul[1];
                        o[1][x + 1] = (r[4] + r[5] + r[6] + r[7] + add[1]) * mul[1];
                        r = a2 * wx;
                        o[2][x] = (r[0] + r[1] + r[2] + r[3] + add[2]) * mul[2];
                        o[2][x + 1] = (r[4] + r[5] + r[6] + r[7] + add[2]) * mul[2];
                }
        }
        return x;
}

#else
static size_t row_bicubic_avx2(const float *const src[3], size_t src_w, float fax, float fay, float fbx,
                               float fby, int maxx, int maxy, size_t i0, size_t i1, const float add[3],
                               const float mul[3], float *const o[3])
{
        (void)src, (void)src_w, (void)fax, (void)fay, (void)fbx, (void)fby, (void)maxx, (void)maxy, (void)i1;
        (void)add, (void)mul, (void)o;
        return i0;
}
#endif

void cs__resample_bicubic3(const float *const src[3], size_t src_w, size_t frame_h, long src_y0, size_t src_h,
                           const struct cs_xform *inv, size_t out_w, size_t y0, size_t rows,
                           const float add[3], const float mul[3], float *const out[3], uint8_t *mask)
{
        size_t yy, x;
        const long band_lo = src_y0, band_hi = src_y0 + (long)src_h - 1;
        /* the 4x4 support must lie in the frame and in the band we hold */
        const double ylo = fmax(1.0, (double)band_lo + 1), yhi = fmin((double)frame_h - 2, (double)band_hi - 2);

        const int use_avx2 = cs__cpu_avx2();

        pthread_once(&cr_once, cr_init);
        for (yy = 0; yy < rows; yy++) {
                double y = (double)(y0 + yy);
                double bx = inv->m[1] * y + inv->m[2], by = inv->m[4] * y + inv->m[5];
                double ax = inv->m[0], ay = inv->m[3];
                double xa = 0, xb = (double)out_w - 1;
                uint8_t *mk = mask + yy * out_w;
                size_t i0, i1;

                clip_interval(ax, bx, 1.0, (double)src_w - 2.0, &xa, &xb);
                clip_interval(ay, by, ylo, yhi, &xa, &xb);
                if (!cover_row3(xa, xb, src_w < 4 || yhi - ylo < 1, out_w, yy, out, mk, &i0, &i1))
                        continue;
                {
                        const float fax = (float)ax, fay = (float)ay;
                        const float fbx = (float)bx, fby = (float)(by - (double)band_lo);
                        const int maxx = (int)src_w - 3, maxy = (int)src_h - 3;
                        float *o0 = out[0] + yy * out_w, *o1 = out[1] + yy * out_w, *o2 = out[2] + yy * out_w;
                        float *const orow[3] = { o0, o1, o2 };
                        size_t xs = i0;

                        if (use_avx2)
                                xs = row_bicubic_avx2(src, src_w, fax, fay, fbx, fby, maxx, maxy, i0, i1, add, mul, orow);
                        for (x = xs; x < i1; x++) {
                                float sx = fax * (float)x + fbx, sy = fay * (float)x + fby;
                                int ix = (int)sx, iy = (int)sy, j;
                                const float *wx, *wy;
                                float acc[3] = { 0, 0, 0 };
                                size_t off;

                                ix = ix < 1 ? 1 : ix > maxx ? maxx : ix;
                                iy = iy < 1 ? 1 : iy > maxy ? maxy : iy;
                                {
                                        int kx = (int)((sx - (float)ix) * CR_PHASES + 0.5f);
                                        int ky = (int)((sy - (float)iy) * CR_PHASES + 0.5f);

                                        kx = kx < 0 ? 0 : kx > CR_PHASES ? CR_PHASES : kx;
                                        ky = ky < 0 ? 0 : ky > CR_PHASES ? CR_PHASES : ky;
                                        wx = cr_table[kx];
                                        wy = cr_table[ky];
                                }
                                off = (size_t)(iy - 1) * src_w + (size_t)(ix - 1);
                                {
                                        /* the four columns of the support as one vector: rows
                                         * weighted and summed, then one dot with wx */
                                        vf4 vx, v0, v1, v2, r;

                                        memcpy(&vx, wx, sizeof vx);
                                        v0 = v1 = v2 = (vf4){ 0, 0, 0, 0 };
                                        for (j = 0; j < 4; j++) {
                                                vf4 a, b, cc, wyj = { wy[j], wy[j], wy[j], wy[j] };

                                                memcpy(&a, src[0] + off, sizeof a);
                                                memcpy(&b, src[1] + off, sizeof b);
                                                memcpy(&cc, src[2] + off, sizeof cc);
                                                v0 += wyj * a;
                                                v1 += wyj * b;
                                                v2 += wyj * cc;
                                                off += src_w;
                                        }
                                        r = v0 * vx;
                                        acc[0] = r[0] + r[1] + r[2] + r[3];
                                        r = v1 * vx;
                                        acc[1] = r[0] + r[1] + r[2] + r[3];
                                        r = v2 * vx;
                                        acc[2] = r[0] + r[1] + r[2] + r[3];
                                }
                                o0[x] = (acc[0] + add[0]) * mul[0];
                                o1[x] = (acc[1] + add[1]) * mul[1];
                                o2[x] = (acc[2] + add[2]) * mul[2];
                        }
                }
        }
}

/* ---- two-pass (sheared separable) bicubic ---------------------------------
 *
 * For an output pixel (x', y') the source point is (sx, sy) = (a x' + b y' + c,
 * d x' + e y' + f). Along output column x' the source points lie on a line on
 * which sx = p x' + q sy + r (p = a - b d / e, q = b / e, r = c - b f / e).
 * Pass 1 interpolates every source row v of the band horizontally at
 * X(x', v) = p x' + q v + r; pass 2 interpolates those rows vertically at
 * sy. That is the 4 x 4 cubic kernel sheared by q (a few hundredths for a few
 * degrees of field rotation): 8 taps instead of 16, and both passes read
 * contiguous memory, so they run on plain float vectors with the weights
 * computed in-lane (no gathers). */

/* The BC cubic's four weights at phase t, on vectors. */
static inline void bc_weights4(vf4 t, const double B, const double C, vf4 w[4])
{
        const float a3 = (float)((12 - 9 * B - 6 * C) / 6), a2 = (float)((-18 + 12 * B + 6 * C) / 6),
                    a0 = (float)((6 - 2 * B) / 6);
        const float b3 = (float)((-B - 6 * C) / 6), b2 = (float)((6 * B + 30 * C) / 6),
                    b1 = (float)((-12 * B - 48 * C) / 6), b0 = (float)((8 * B + 24 * C) / 6);
        vf4 u, x;

        /* taps at distances 1 + t, t, 1 - t, 2 - t */
        x = t + 1.0f;
        w[0] = ((b3 * x + b2) * x + b1) * x + b0;
        x = t;
        w[1] = (a3 * x + a2) * x * x + a0;
        u = 1.0f - t;
        w[2] = (a3 * u + a2) * u * u + a0;
        x = 2.0f - t;
        w[3] = ((b3 * x + b2) * x + b1) * x + b0;
}

#if defined(__x86_64__) || defined(__i386__)
/* The two passes' vector loops on 8 floats, for CPUs with AVX2. */
typedef float vf8s __attribute__((vector_size(32)));

__attribute__((target("avx2"))) static inline void bc_weights8(vf8s t, vf8s w[4])
{
        const float a3 = (float)((12 - 9 * SEP_B - 6 * SEP_C) / 6), a2 = (float)((-18 + 12 * SEP_B + 6 * SEP_C) / 6),
                    a0 = (float)((6 - 2 * SEP_B) / 6);
        const float b3 = (float)((-SEP_B - 6 * SEP_C) / 6), b2 = (float)((6 * SEP_B + 30 * SEP_C) / 6),
                    b1 = (float)((-12 * SEP_B - 48 * SEP_C) / 6), b0 = (float)((8 * SEP_B + 24 * SEP_C) / 6);
        vf8s x;

        x = t + 1.0f;
        w[0] = ((b3 * x + b2) * x + b1) * x + b0;
        x = t;
        w[1] = (a3 * x + a2) * x * x + a0;
        x = 1.0f - t;
        w[2] = (a3 * x + a2) * x * x + a0;
        x = 2.0f - t;
        w[3] = ((b3 * x + b2) * x + b1) * x + b0;
}

/* Pass 1 over columns x .. x + n - 1 of source row offset `row` (taps from
 * column ix - 1 on); returns how many columns it did (a multiple of 8). */
__attribute__((target("avx2"))) static size_t pass1_avx2(const float *const src[3], size_t row, long ix, size_t x,
                                                         size_t n, float p, float off, float k, float *const tmp[3],
                                                         size_t trow)
{
        size_t i;
        int ch;

        for (i = 0; i + 8 <= n; i += 8) {
                const float x0 = (float)(x + i);
                const vf8s xv = { x0, x0 + 1, x0 + 2, x0 + 3, x0 + 4, x0 + 5, x0 + 6, x0 + 7 };
                vf8s w[4];

                bc_weights8((p * xv + off) - (xv + k), w);
                for (ch = 0; ch < 3; ch++) {
                        const float *sp = src[ch] + row + (size_t)(ix + (long)i) - 1;
                        vf8s t0, t1, t2, t3, acc;

                        memcpy(&t0, sp, sizeof t0);
                        memcpy(&t1, sp + 1, sizeof t1);
                        memcpy(&t2, sp + 2, sizeof t2);
                        memcpy(&t3, sp + 3, sizeof t3);
                        acc = w[0] * t0 + w[1] * t1 + w[2] * t2 + w[3] * t3;
                        memcpy(tmp[ch] + trow + x + i, &acc, sizeof acc);
                }
        }
        return i;
}

/* Pass 2 over output columns i .. xe - 1 of one output row; returns the first
 * column it did not do. */
__attribute__((target("avx2"))) static size_t pass2_avx2(const float *const tmp[3], size_t out_w, long iv, size_t i,
                                                         size_t xe, float d, float vyb, const float add[3],
                                                         const float mul[3], float *const out[3], size_t orow)
{
        const size_t start = i;
        int ch;

        for (;;) {
                if (i + 8 > xe) {
                        /* the run's tail: one more vector ending at xe, over
                         * pixels of the same run (same rows, same values) */
                        if (i >= xe || xe - start < 8)
                                break;
                        i = xe - 8;
                }
                const float x0 = (float)i;
                const vf8s xv = { x0, x0 + 1, x0 + 2, x0 + 3, x0 + 4, x0 + 5, x0 + 6, x0 + 7 };
                vf8s w[4];

                bc_weights8((d * xv + vyb) - (float)iv, w);
                for (ch = 0; ch < 3; ch++) {
                        const float *sp = tmp[ch] + (size_t)(iv - 1) * out_w + i;
                        vf8s t0, t1, t2, t3, acc;

                        memcpy(&t0, sp, sizeof t0);
                        memcpy(&t1, sp + out_w, sizeof t1);
                        memcpy(&t2, sp + 2 * out_w, sizeof t2);
                        memcpy(&t3, sp + 3 * out_w, sizeof t3);
                        acc = ((w[0] * t0 + w[1] * t1 + w[2] * t2 + w[3] * t3) + add[ch]) * mul[ch];
                        memcpy(out[ch] + orow + i, &acc, sizeof acc);
                }
                i += 8;
        }
        return i;
}
#define HAVE_SEP_AVX2 1
#else
#define HAVE_SEP_AVX2 0
#endif

/* The shear of the two-pass scheme (see above), or 0 when the map is too far
 * from upright for it. */
static int sep_shear(const struct cs_xform *inv, size_t src_w, size_t src_h, double *ret_p, double *ret_q,
                     double *ret_r)
{
        const double a = inv->m[0], b = inv->m[1], c0 = inv->m[2], d = inv->m[3], e = inv->m[4], f = inv->m[5];

        if (fabs(e) < 0.7 || src_w < 8 || src_h < 4)
                return 0;
        *ret_p = a - b * d / e;
        *ret_q = b / e;
        *ret_r = c0 - b * f / e;
        return fabs(*ret_q) <= 0.25 && fabs(*ret_p - 1) <= 0.1;
}

int cs__resample_sep_spans(const struct cs_xform *inv, size_t src_w, long src_y0, size_t src_h, size_t out_w,
                           size_t y0, size_t rows, size_t *out_lo, size_t *out_hi, size_t *src_lo, size_t *src_hi)
{
        const double d = inv->m[3], e = inv->m[4], f = inv->m[5];
        double p, q, r, e0, e1;
        size_t v;

        if (!sep_shear(inv, src_w, src_h, &p, &q, &r) || rows == 0)
                return 0;
        /* pass 2 at output (x', y) reads the band rows floor(V) - 1 .. floor(V) + 2,
         * V = d x' + e y + f - src_y0: row v serves x' when some y of the block
         * has V in [v - 2, v + 2); one row of margin on each side */
        e0 = fmin(e * (double)y0, e * (double)(y0 + rows - 1)) + f - (double)src_y0;
        e1 = fmax(e * (double)y0, e * (double)(y0 + rows - 1)) + f - (double)src_y0;
        for (v = 0; v < src_h; v++) {
                double lo = (double)v - 3.0 - e1, hi = (double)v + 3.0 - e0; /* bounds on d x' */
                double xa, xb;

                if (fabs(d) < 1e-9) {
                        xa = lo <= 0 && hi >= 0 ? 0 : 1;
                        xb = lo <= 0 && hi >= 0 ? (double)out_w - 1 : 0;
                } else if (d > 0) {
                        xa = lo / d;
                        xb = hi / d;
                } else {
                        xa = hi / d;
                        xb = lo / d;
                }
                xa = fmax(floor(xa) - 1.0, 0.0);
                xb = fmin(ceil(xb) + 1.0, (double)out_w - 1);
                if (xa > xb) {
                        out_lo[v] = out_hi[v] = src_lo[v] = src_hi[v] = 0;
                        continue;
                }
                out_lo[v] = (size_t)xa;
                out_hi[v] = (size_t)xb + 1;
                {
                        /* pass 1 reads floor(X) - 1 .. floor(X) + 2, X = p x' + q row + r, p > 0 */
                        double row = (double)(src_y0 + (long)v);
                        double sa = floor(p * xa + q * row + r) - 2.0, sb = floor(p * xb + q * row + r) + 4.0;

                        src_lo[v] = sa < 0 ? 0 : sa >= (double)src_w ? src_w : (size_t)sa;
                        src_hi[v] = sb < 0 ? 0 : sb >= (double)src_w ? src_w : (size_t)sb;
                        if (src_hi[v] < src_lo[v])
                                src_hi[v] = src_lo[v];
                }
        }
        return 1;
}

int cs__resample_bicubic3_sep(const float *const src[3], size_t src_w, size_t frame_h, long src_y0, size_t src_h,
                              const struct cs_xform *inv, size_t out_w, size_t y0, size_t rows,
                              const float add[3], const float mul[3], float *const out[3], uint8_t *mask,
                              float *const tmp[3], const size_t *span_lo, const size_t *span_hi)
{
        const double a = inv->m[0], b = inv->m[1], c0 = inv->m[2], d = inv->m[3], e = inv->m[4], f = inv->m[5];
        const long band_lo = src_y0, band_hi = src_y0 + (long)src_h - 1;
        const double ylo = fmax(1.0, (double)band_lo + 1), yhi = fmin((double)frame_h - 2, (double)band_hi - 2);
        double p, q, r;
        size_t v, yy, x, ch;
        const int use_avx2 = cs__cpu_avx2();

        if (!sep_shear(inv, src_w, src_h, &p, &q, &r))
                return 0;
        /* pass 1: every band row, the output columns pass 2 reads of it */
        for (v = 0; v < src_h; v++) {
                const double off = q * (double)(band_lo + (long)v) + r;
                const int maxx = (int)src_w - 3;
                const size_t xend = span_hi ? span_hi[v] : out_w;

                x = span_lo ? span_lo[v] : 0;
                while (x < xend) {
                        double X0 = p * (double)x + off;
                        long k = (long)floor(X0) - (long)x; /* column offset of tap 1 */
                        size_t xe = xend, n;

                        /* the run of columns with the same offset: floor(X) - x' constant */
                        if (fabs(p - 1) > 1e-12) {
                                double fr = X0 - floor(X0);
                                double len = p > 1 ? (1.0 - fr) / (p - 1) : fr / (1 - p);

                                if (len < (double)(xend - x))
                                        xe = x + (size_t)len;
                                if (xe <= x)
                                        xe = x + 1;
                        }
                        /* keep all taps inside the row: clamp at the edges, one by one */
                        n = xe - x;
                        while (n > 0) {
                                long ix = (long)x + k;
                                size_t nin = 0;

                                /* columns of this run whose taps are all inside the row */
                                if (ix >= 1 && ix <= maxx)
                                        nin = (size_t)(maxx - ix + 1) < n ? (size_t)(maxx - ix + 1) : n;
                                if (nin >= 4) {
                                        size_t keep = n;

                                        n = nin;
                                        /* vector run */
                                        size_t i = 0;

#if HAVE_SEP_AVX2
                                        if (use_avx2)
                                                i = pass1_avx2(src, v * src_w, ix, x, n, (float)p, (float)off, (float)k, tmp,
                                                               v * out_w);
#endif
                                        for (; i + 4 <= n; i += 4) {
                                                vf4 xv = { (float)(x + i), (float)(x + i + 1), (float)(x + i + 2),
                                                           (float)(x + i + 3) };
                                                vf4 X = (float)p * xv + (float)off;
                                                vf4 base = xv + (float)k;
                                                vf4 w[4];

                                                bc_weights4(X - base, SEP_B, SEP_C, w);
                                                for (ch = 0; ch < 3; ch++) {
                                                        const float *s = src[ch] + v * src_w + (size_t)(ix + (long)i) - 1;
                                                        vf4 t0, t1, t2, t3, acc;

                                                        memcpy(&t0, s, sizeof t0);
                                                        memcpy(&t1, s + 1, sizeof t1);
                                                        memcpy(&t2, s + 2, sizeof t2);
                                                        memcpy(&t3, s + 3, sizeof t3);
                                                        acc = w[0] * t0 + w[1] * t1 + w[2] * t2 + w[3] * t3;
                                                        memcpy(tmp[ch] + v * out_w + x + i, &acc, sizeof acc);
                                                }
                                        }
                                        x += i;
                                        n = keep - i;
                                        continue;
                                }
                                {
                                        /* one column, taps clamped into the row */
                                        double X = p * (double)x + off;
                                        long jx = (long)floor(X);
                                        float t, w[4];
                                        int tap;

                                        if (jx < 1)
                                                jx = 1;
                                        if (jx > maxx)
                                                jx = maxx;
                                        t = (float)(X - (double)jx);
                                        t = t < 0 ? 0 : t > 1 ? 1 : t;
                                        {
                                                vf4 tv = { t, t, t, t }, wv[4];

                                                bc_weights4(tv, SEP_B, SEP_C, wv);
                                                for (tap = 0; tap < 4; tap++)
                                                        w[tap] = wv[tap][0];
                                        }
                                        for (ch = 0; ch < 3; ch++) {
                                                const float *s = src[ch] + v * src_w + (size_t)jx - 1;

                                                tmp[ch][v * out_w + x] = w[0] * s[0] + w[1] * s[1] + w[2] * s[2] + w[3] * s[3];
                                        }
                                        x++;
                                        n--;
                                }
                        }
                }
        }
        /* pass 2: each output row, columns in runs of the same source row */
        const double inv_ad = fabs(d) > 1e-12 ? 1.0 / fabs(d) : 0.0;

        for (yy = 0; yy < rows; yy++) {
                double y = (double)(y0 + yy);
                double xa = 0, xb = (double)out_w - 1;
                uint8_t *mk = mask + yy * out_w;
                size_t i0, i1;
                const double vy = e * y + f; /* sy = d x' + vy */

                /* coverage on the exact map, one pixel inside the 4x4 rule for the shear */
                clip_interval(a, b * y + c0, 2.0, (double)src_w - 3.0, &xa, &xb);
                clip_interval(d, vy, ylo, yhi, &xa, &xb);
                if (!cover_row3(xa, xb, false, out_w, yy, out, mk, &i0, &i1))
                        continue;
                x = i0;
                while (x < i1) {
                        double V0 = d * (double)x + vy - (double)band_lo;
                        long iv = (long)floor(V0);
                        size_t xe = i1, i;

                        if (fabs(d) > 1e-12) {
                                double fr = V0 - floor(V0);
                                double len = (d > 0 ? 1.0 - fr : fr) * inv_ad; /* a run of ~1/|d| px: no division per run */

                                if (len < (double)(i1 - x))
                                        xe = x + (size_t)len;
                                if (xe <= x)
                                        xe = x + 1;
                        }
                        if (iv < 1)
                                iv = 1;
                        if (iv > (long)src_h - 3)
                                iv = (long)src_h - 3;
                        i = x;
#if HAVE_SEP_AVX2
                        if (use_avx2)
                                i = pass2_avx2((const float *const *)tmp, out_w, iv, i, xe, (float)d,
                                               (float)(vy - (double)band_lo), add, mul, out, yy * out_w);
#endif
                        for (; i + 4 <= xe; i += 4) {
                                vf4 xv = { (float)i, (float)(i + 1), (float)(i + 2), (float)(i + 3) };
                                vf4 V = (float)d * xv + (float)(vy - (double)band_lo);
                                vf4 w[4];

                                bc_weights4(V - (float)iv, SEP_B, SEP_C, w);
                                for (ch = 0; ch < 3; ch++) {
                                        const float *s = tmp[ch] + (size_t)(iv - 1) * out_w + i;
                                        vf4 t0, t1, t2, t3, acc;

                                        memcpy(&t0, s, sizeof t0);
                                        memcpy(&t1, s + out_w, sizeof t1);
                                        memcpy(&t2, s + 2 * out_w, sizeof t2);
                                        memcpy(&t3, s + 3 * out_w, sizeof t3);
                                        acc = ((w[0] * t0 + w[1] * t1 + w[2] * t2 + w[3] * t3) + add[ch]) * mul[ch];
                                        memcpy(out[ch] + yy * out_w + i, &acc, sizeof acc);
                                }
                        }
                        for (; i < xe; i++) {
                                float t = (float)(d * (double)i + vy - (double)band_lo - (double)iv);
                                vf4 tv = { t, t, t, t }, wv[4];

                                bc_weights4(tv, SEP_B, SEP_C, wv);
                                for (ch = 0; ch < 3; ch++) {
                                        const float *s = tmp[ch] + (size_t)(iv - 1) * out_w + i;

                                        out[ch][yy * out_w + i] = ((wv[0][0] * s[0] + wv[1][0] * s[out_w] +
                                                                    wv[2][0] * s[2 * out_w] + wv[3][0] * s[3 * out_w]) +
                                                                   add[ch]) * mul[ch];
                                }
                        }
                        x = xe;
                }
        }
        return 1;
}
