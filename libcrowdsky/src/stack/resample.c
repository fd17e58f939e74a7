/* resample.c - bilinear resampling of debayered bands into the reference
 * geometry, with a coverage mask so frame edges never average in zeros. */
#include <math.h>

#include "stack/stack_int.h"

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
