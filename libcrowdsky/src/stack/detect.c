/* detect.c - star detection on the 2x2-binned luminance of a raw mosaic, with
 * sub-pixel refinement at full resolution (iterated Gaussian-windowed
 * centroids, as SExtractor's XWIN), flux, FWHM and a centroid error estimate. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crowdsky/alloc.h"
#include "crowdsky/align.h"
#include "stack/stack_int.h"

#define RW_MAX 10 /* half width of the refinement window, px */

void cs_detect_params_default(struct cs_detect_params *p)
{
        p->sigma = 5.0;
        p->max_stars = 500;
        p->saturation = 60000.0;
        p->tile = 64;
}

struct cand {
        size_t i, j;
        float v;
};

static int cand_cmp(const void *a, const void *b)
{
        const struct cand *x = a, *y = b;

        return (x->v < y->v) - (x->v > y->v);
}

static int star_cmp(const void *a, const void *b)
{
        const struct cs_star *x = a, *y = b;

        return (x->flux < y->flux) - (x->flux > y->flux);
}

/* Median and robust sigma of a tile of the binned image, with one clipping
 * pass above (stars bias a plain median upwards). */
static void tile_stats(const float *img, size_t bw, size_t x0, size_t y0, size_t tw, size_t th,
                       float *buf, float *ret_med, float *ret_sig)
{
        size_t n = 0, m = 0, x, y, k;
        float med, mad, cut;

        /* every second pixel of every second row: a quarter of the work, and
         * 256 values still pin a median to a few per cent of sigma */
        for (y = y0; y < y0 + th; y += 2)
                for (x = x0 + ((y >> 1) & 1); x < x0 + tw; x += 2)
                        buf[n++] = img[y * bw + x];
        med = cs_select_f32(buf, n, n / 2);
        for (k = 0; k < n; k++)
                buf[n + k] = fabsf(buf[k] - med);
        mad = cs_select_f32(buf + n, n, n / 2);
        cut = med + 3.0f * 1.4826f * mad;
        for (k = 0; k < n; k++)
                if (buf[k] <= cut && buf[k] >= med - 3.0f * 1.4826f * mad)
                        buf[m++] = buf[k];
        /* a second estimate only where the clip took out a real share (stars,
         * a galaxy): in clean sky tiles it would change nothing */
        if (m >= n / 2 && m < n - n / 32) {
                med = cs_select_f32(buf, m, m / 2);
                for (k = 0; k < m; k++)
                        buf[n + k] = fabsf(buf[k] - med);
                mad = cs_select_f32(buf + n, m, m / 2);
                /* a clipped Gaussian at 3 sigma keeps the MAD nearly unbiased */
        }
        *ret_med = med;
        *ret_sig = 1.4826f * (mad > 0.5f ? mad : 0.5f);
}

/* out[k] = exp(-(c0 + k)^2 / (2 s2)) for k = 0 .. n - 1, by the recurrence of
 * successive ratios (three exponentials instead of n; |c0| and n stay small,
 * so nothing under- or overflows). */
static void gauss_taps(double c0, long n, double s2, double *out)
{
        const double a = 1.0 / (2.0 * s2);
        double g = exp(-c0 * c0 * a), r = exp(-a * (2.0 * c0 + 1.0)), q = exp(-2.0 * a);
        long k;

        for (k = 0; k < n; k++) {
                out[k] = g;
                g *= r;
                r *= q;
        }
}

/* Refines one candidate. Returns 1 and fills *s if it is a star, -1 if it is
 * elongated (a trail, a blend, a trailed star), 0 if it is no star at all. */
static int refine(const uint16_t *raw, size_t w, size_t h, double x0, double y0, float bg,
                  float sig_s, const struct cs_detect_params *p, struct cs_star *s)
{
        float win[(2 * RW_MAX + 1) * (2 * RW_MAX + 1)];
        double gxw[2 * RW_MAX + 1], gyw[2 * RW_MAX + 1];
        long cx = lround(x0 - 0.5), cy = lround(y0 - 0.5); /* window centre (sum position) */
        long rw = 6, dx, dy;
        double xc, yc, sw, mx, my, mxx, myy, mxy, sigw, sig2x = 0, sig2y = 0, peak_v = 0, flux, npix;
        float vmax = 0;
        size_t area = 0;
        int round, it;
        long ix, iy;

        if (cx - RW_MAX < 0 || cy - RW_MAX < 0 || cx + RW_MAX + 1 >= (long)w || cy + RW_MAX + 1 >= (long)h)
                return 0;
        /* sliding 2x2 sums of the mosaic minus background over the largest
         * window (every 2x2 window holds one R, one B and two G whatever its
         * parity: a colour-neutral luminance centred on (px + 0.5, py + 0.5)),
         * as pair sums along each raw row, then pairs of rows */
        {
                uint32_t hs[2 * RW_MAX + 2][2 * RW_MAX + 1];
                long j, i;

                for (j = 0; j < 2 * RW_MAX + 2; j++) {
                        const uint16_t *r = raw + (size_t)(cy - RW_MAX + j) * w + (size_t)(cx - RW_MAX);

                        for (i = 0; i < 2 * RW_MAX + 1; i++)
                                hs[j][i] = (uint32_t)r[i] + r[i + 1];
                }
                for (j = 0; j < 2 * RW_MAX + 1; j++)
                        for (i = 0; i < 2 * RW_MAX + 1; i++)
                                win[j * (2 * RW_MAX + 1) + i] = (float)(hs[j][i] + hs[j + 1][i]) - bg;
                for (dy = -2; dy <= 2; dy++)
                        for (dx = -2; dx <= 2; dx++)
                                if (win[(dy + RW_MAX) * (2 * RW_MAX + 1) + dx + RW_MAX] > vmax)
                                        vmax = win[(dy + RW_MAX) * (2 * RW_MAX + 1) + dx + RW_MAX];
        }
        if (vmax <= 0)
                return 0;
        /* first size guess: the area above half maximum */
        for (dy = -rw; dy <= rw; dy++)
                for (dx = -rw; dx <= rw; dx++)
                        area += win[(dy + RW_MAX) * (2 * RW_MAX + 1) + dx + RW_MAX] > 0.5f * vmax;
        sigw = 2.0 * sqrt((double)area / M_PI) / 2.3548;
        if (sigw < 0.8)
                sigw = 0.8;
        if (sigw > 4.0)
                sigw = 4.0;
        xc = cx + 0.5;
        yc = cy + 0.5;
        for (round = 0; round < 2; round++) {
                rw = (long)ceil(3.5 * sigw) + 1;
                if (rw > RW_MAX)
                        rw = RW_MAX;
                for (it = 0; it < 30; it++) {
                        double sx = 0, sy = 0, shift;

                        sw = 0;
                        gauss_taps((double)(cx - rw) + 0.5 - xc, 2 * rw + 1, sigw * sigw, gxw);
                        gauss_taps((double)(cy - rw) + 0.5 - yc, 2 * rw + 1, sigw * sigw, gyw);
                        for (dy = -rw; dy <= rw; dy++) {
                                const float *wr = win + (dy + RW_MAX) * (2 * RW_MAX + 1) + RW_MAX;
                                double ddy = (double)(cy + dy) + 0.5 - yc, rs, rx;
                                double rs0 = 0, rx0 = 0, rs1 = 0, rx1 = 0;

                                /* two chains of sums: the loop is bound by the latency
                                 * of the additions, not by their number */
                                for (dx = -rw; dx + 1 <= rw; dx += 2) {
                                        double w0 = gxw[dx + rw] * wr[dx], w1 = gxw[dx + rw + 1] * wr[dx + 1];

                                        rs0 += w0;
                                        rx0 += w0 * ((double)(cx + dx) + 0.5 - xc);
                                        rs1 += w1;
                                        rx1 += w1 * ((double)(cx + dx) + 1.5 - xc);
                                }
                                if (dx <= rw) {
                                        double w0 = gxw[dx + rw] * wr[dx];

                                        rs0 += w0;
                                        rx0 += w0 * ((double)(cx + dx) + 0.5 - xc);
                                }
                                rs = rs0 + rs1;
                                rx = rx0 + rx1;
                                sw += gyw[dy + rw] * rs;
                                sx += gyw[dy + rw] * rx;
                                sy += gyw[dy + rw] * rs * ddy;
                        }
                        if (sw <= 0)
                                return 0;
                        mx = 2.0 * sx / sw;
                        my = 2.0 * sy / sw;
                        /* damp: the window moves with the centre */
                        if (mx > 1) mx = 1;
                        if (mx < -1) mx = -1;
                        if (my > 1) my = 1;
                        if (my < -1) my = -1;
                        xc += mx;
                        yc += my;
                        shift = fabs(mx) + fabs(my);
                        if (fabs(xc - (cx + 0.5)) > 2.5 || fabs(yc - (cy + 0.5)) > 2.5)
                                return 0;
                        if (shift < (round == 0 ? 1e-3 : 1e-4)) /* centroid errors are >= ~0.003 px */
                                break;
                }
                /* windowed second moments: 1/M = 1/sigma^2 + 1/sigw^2 for a Gaussian;
                 * the window is separable, so two rows of exponentials do */
                gauss_taps((double)(cx - rw) + 0.5 - xc, 2 * rw + 1, sigw * sigw, gxw);
                gauss_taps((double)(cy - rw) + 0.5 - yc, 2 * rw + 1, sigw * sigw, gyw);
                sw = mxx = myy = mxy = 0;
                for (dy = -rw; dy <= rw; dy++) {
                        const float *wr = win + (dy + RW_MAX) * (2 * RW_MAX + 1) + RW_MAX;
                        double ddy = (double)(cy + dy) + 0.5 - yc;

                        for (dx = -rw; dx <= rw; dx++) {
                                double ddx = (double)(cx + dx) + 0.5 - xc;
                                double wi = gxw[dx + rw] * gyw[dy + rw] * wr[dx];

                                sw += wi;
                                mxx += wi * ddx * ddx;
                                myy += wi * ddy * ddy;
                                mxy += wi * ddx * ddy;
                        }
                }
                mxx /= sw;
                myy /= sw;
                mxy /= sw;
                {
                        /* elongated (a satellite or plane trail, a blend): not a star */
                        double tr = mxx + myy, det = mxx * myy - mxy * mxy;
                        double disc = sqrt(fmax(tr * tr / 4 - det, 0));
                        double lmax = tr / 2 + disc, lmin = tr / 2 - disc;

                        if (!(lmax > 0))
                                return 0;
                        if (lmin < 0.6 * lmax)
                                return -1;
                }
                if (!(mxx > 0 && myy > 0) || mxx >= 0.9 * sigw * sigw || myy >= 0.9 * sigw * sigw) {
                        if (round == 1)
                                return 0;
                        sigw *= 1.6; /* window too tight for this star: widen and retry */
                        continue;
                }
                sig2x = 1.0 / (1.0 / mxx - 1.0 / (sigw * sigw));
                sig2y = 1.0 / (1.0 / myy - 1.0 / (sigw * sigw));
                sigw = sqrt(0.5 * (sig2x + sig2y));
                if (sigw < 0.6)
                        sigw = 0.6;
                if (sigw > 6.0)
                        return 0;
        }
        {
                /* photon noise: a bright core is noisier than the sky around it,
                 * so the maximum-likelihood centre weights each pixel by
                 * G / (sky variance + gain * signal) rather than by the PSF G
                 * alone (same for faint stars; for photon-limited ones the
                 * plain window loses ~1.5x in variance). gain ~ sky variance /
                 * sky level (ADU per electron, read noise and pedestal ignored).
                 * Fixed point of the weighted centroid, one full step per
                 * iteration (contracts by at most 1/2). */
                double s2 = (double)sig_s * sig_s, g = bg > 0 ? s2 / bg : 0.0, amp = vmax;

                if (g * amp > 0.5 * s2) {
                        rw = (long)ceil(3.5 * sigw) + 1;
                        if (rw > RW_MAX)
                                rw = RW_MAX;
                        for (it = 0; it < 20; it++) {
                                double sx = 0, sy = 0;

                                gauss_taps((double)(cx - rw) + 0.5 - xc, 2 * rw + 1, sigw * sigw, gxw);
                                gauss_taps((double)(cy - rw) + 0.5 - yc, 2 * rw + 1, sigw * sigw, gyw);
                                sw = 0;
                                for (dy = -rw; dy <= rw; dy++) {
                                        const float *wr = win + (dy + RW_MAX) * (2 * RW_MAX + 1) + RW_MAX;
                                        double ddy = (double)(cy + dy) + 0.5 - yc;

                                        for (dx = -rw; dx <= rw; dx++) {
                                                double gg = gxw[dx + rw] * gyw[dy + rw];
                                                double wi = gg / (s2 + g * amp * gg) * wr[dx];

                                                sw += wi;
                                                sx += wi * ((double)(cx + dx) + 0.5 - xc);
                                                sy += wi * ddy;
                                        }
                                }
                                if (!(sw > 0))
                                        break;
                                mx = fmax(fmin(sx / sw, 0.5), -0.5);
                                my = fmax(fmin(sy / sw, 0.5), -0.5);
                                xc += mx;
                                yc += my;
                                if (fabs(xc - (cx + 0.5)) > 2.5 || fabs(yc - (cy + 0.5)) > 2.5)
                                        return 0;
                                if (fabs(mx) + fabs(my) < 1e-4)
                                        break;
                        }
                }
        }
        /* the sliding 2x2 sum adds 1/4 px^2 of variance per axis */
        sig2x -= 0.25;
        sig2y -= 0.25;
        if (!(sig2x > 0.04 && sig2y > 0.04))
                return 0; /* narrower than a pixel: not a star */
        /* aperture flux (sums hold four pixels) and the brightest raw pixel */
        flux = 0;
        npix = 0;
        {
                double ra = 3.0 * sqrt(0.5 * (sig2x + sig2y)) + 1.0;

                for (dy = -RW_MAX; dy <= RW_MAX; dy++)
                        for (dx = -RW_MAX; dx <= RW_MAX; dx++) {
                                double ddx = (double)(cx + dx) + 0.5 - xc, ddy = (double)(cy + dy) + 0.5 - yc;

                                if (ddx * ddx + ddy * ddy <= ra * ra) {
                                        flux += win[(dy + RW_MAX) * (2 * RW_MAX + 1) + dx + RW_MAX];
                                        npix += 1;
                                }
                        }
        }
        flux *= 0.25;
        if (flux <= 0)
                return 0;
        for (iy = lround(yc) - 2; iy <= lround(yc) + 2; iy++)
                for (ix = lround(xc) - 2; ix <= lround(xc) + 2; ix++)
                        if (raw[(size_t)iy * w + (size_t)ix] > peak_v)
                                peak_v = raw[(size_t)iy * w + (size_t)ix];
        if (peak_v >= p->saturation)
                return 0;
        s->x = xc;
        s->y = yc;
        s->flux = flux;
        s->peak = peak_v;
        s->fwhm = 2.3548 * sqrt(0.5 * (sig2x + sig2y));
        {
                /* noise of the aperture sum: sums of four pixels overlap, so
                 * count each raw pixel once: sig_pix = sig_s / 2 */
                double sig_pix = sig_s / 2.0, sig2 = 0.5 * (sig2x + sig2y);
                double fnoise = sqrt(npix * sig_pix * sig_pix + flux); /* + Poisson, gain ~1 */
                double e_bg = sqrt(8.0 * M_PI) * sig2 * sig_pix / flux;

                s->snr = flux / fnoise;
                double gain = bg > 0 ? (double)sig_s * sig_s / bg : 1.0; /* ADU per electron, as above */

                s->err = sqrt(e_bg * e_bg + gain * sig2 / flux + 0.003 * 0.003);
        }
        return 1;
}

int cs_detect_stars(const uint16_t *raw, size_t w, size_t h, const struct cs_detect_params *p,
                    struct cs_star **ret_stars, size_t *ret_n, size_t *ret_elongated, struct cs_err *err)
{
        size_t bw = w / 2, bh = h / 2, t, gx, gy, i, j, k, ncand = 0, capcand, nstars = 0, nelong = 0;
        float *img = NULL, *bgmap = NULL, *tmed = NULL, *tsig = NULL, *buf = NULL;
        struct cand *cand = NULL;
        struct cs_star *stars = NULL;
        int r = CS_OK;

        if (w < 16 || h < 16)
                return cs_err_set(err, CS_EINVAL, "frame %zux%zu too small for star detection", w, h);
        t = p->tile / 2;
        if (t < 8)
                t = 8;
        if (t > bw)
                t = bw;
        if (t > bh)
                t = bh;
        gx = (bw + t - 1) / t;
        gy = (bh + t - 1) / t;
        img = cs_alloc_array(bw * bh, sizeof *img, 0);
        bgmap = cs_alloc_array(bw * bh, sizeof *bgmap, 0);
        tmed = cs_alloc_array(gx * gy, sizeof *tmed, 0);
        tsig = cs_alloc_array(gx * gy, sizeof *tsig, 0);
        buf = cs_alloc_array(4 * t * t, sizeof *buf, 0);
        if (!img || !bgmap || !tmed || !tsig || !buf) {
                r = cs_err_set(err, CS_ENOMEM, "out of memory for star detection");
                goto out;
        }
        for (j = 0; j < bh; j++) {
                const uint16_t *r0 = raw + 2 * j * w, *r1 = r0 + w;
                float *o = img + j * bw;

                for (i = 0; i < bw; i++) /* integer sum, one conversion */
                        o[i] = (float)((uint32_t)r0[2 * i] + r0[2 * i + 1] + r1[2 * i] + r1[2 * i + 1]);
        }
        /* tiles: the last row/column of tiles is anchored at the far edge */
        for (j = 0; j < gy; j++)
                for (i = 0; i < gx; i++) {
                        size_t x0 = i * t, y0 = j * t;

                        if (x0 + t > bw)
                                x0 = bw - t;
                        if (y0 + t > bh)
                                y0 = bh - t;
                        tile_stats(img, bw, x0, y0, t, t, buf, &tmed[j * gx + i], &tsig[j * gx + i]);
                }
        /* background map: bilinear between tile centres; the column weights
         * are the same on every row, the row weights the same along a row */
        {
                size_t *cx0 = cs_alloc_array(bw, sizeof *cx0, 0);
                float *cax = cs_alloc_array(bw, sizeof *cax, 0), *rowt = cs_alloc_array(gx, sizeof *rowt, 0);

                if (!cx0 || !cax || !rowt) {
                        free(cx0);
                        free(cax);
                        free(rowt);
                        r = cs_err_set(err, CS_ENOMEM, "out of memory for the background map");
                        goto out;
                }
                for (i = 0; i < bw; i++) {
                        double fx = ((double)i + 0.5) / (double)t - 0.5;

                        if (fx < 0)
                                fx = 0;
                        if (fx > (double)(gx - 1))
                                fx = (double)(gx - 1);
                        cx0[i] = (size_t)fx;
                        if (cx0[i] + 1 >= gx)
                                cx0[i] = gx >= 2 ? gx - 2 : 0;
                        cax[i] = gx >= 2 ? (float)(fx - (double)cx0[i]) : 0.0f;
                }
                for (j = 0; j < bh; j++) {
                        double fy = ((double)j + 0.5) / (double)t - 0.5;
                        size_t ty0, ty1;
                        float ay;
                        float *brow = bgmap + j * bw, *irow = img + j * bw;

                        if (fy < 0)
                                fy = 0;
                        if (fy > (double)(gy - 1))
                                fy = (double)(gy - 1);
                        ty0 = (size_t)fy;
                        ty1 = ty0 + 1 < gy ? ty0 + 1 : ty0;
                        ay = (float)(fy - (double)ty0);
                        for (i = 0; i < gx; i++)
                                rowt[i] = (1 - ay) * tmed[ty0 * gx + i] + ay * tmed[ty1 * gx + i];
                        if (gx == 1) {
                                for (i = 0; i < bw; i++)
                                        brow[i] = rowt[0];
                        } else {
                                for (i = 0; i < bw; i++)
                                        brow[i] = (1 - cax[i]) * rowt[cx0[i]] + cax[i] * rowt[cx0[i] + 1];
                        }
                        for (i = 0; i < bw; i++)
                                irow[i] -= brow[i];
                }
                free(cx0);
                free(cax);
                free(rowt);
        }

        /* local maxima above threshold that are not lone pixels */
        capcand = 4 * (p->max_stars > 0 ? p->max_stars : 1) + 64;
        cand = cs_alloc_array(capcand, sizeof *cand, 0);
        if (!cand) {
                r = cs_err_set(err, CS_ENOMEM, "out of memory for star candidates");
                goto out;
        }
        for (j = 2; j + 2 < bh; j++) {
                const float *row = img + j * bw, *up = row - bw, *dn = row + bw;
                const float *trow = tsig + (j / t < gy ? j / t : gy - 1) * gx;
                size_t ti = 0, inext = t; /* tile of column i; the last one reaches the edge */
                float thr = (float)p->sigma * trow[0];

                for (i = 2; i + 2 < bw; i++) {
                        float v = row[i], nb;

                        while (i >= inext && ti + 1 < gx) {
                                ti++;
                                inext += t;
                                thr = (float)p->sigma * trow[ti];
                        }
                        if (v <= thr)
                                continue;
                        if (!(v > row[i - 1] && v > up[i - 1] && v > up[i] && v > up[i + 1] &&
                              v >= row[i + 1] && v >= dn[i - 1] && v >= dn[i] && v >= dn[i + 1]))
                                continue;
                        nb = 0.25f * (row[i - 1] + row[i + 1] + up[i] + dn[i]);
                        if (nb < 0.08f * v)
                                continue; /* a lone (hot) pixel */
                        if (ncand == capcand) {
                                /* keep the brightest: drop the weaker half */
                                qsort(cand, ncand, sizeof *cand, cand_cmp);
                                ncand = capcand / 2;
                        }
                        cand[ncand].i = i;
                        cand[ncand].j = j;
                        cand[ncand].v = v;
                        ncand++;
                }
        }
        qsort(cand, ncand, sizeof *cand, cand_cmp);
        stars = cs_alloc_array(ncand > 0 ? ncand : 1, sizeof *stars, 0);
        if (!stars) {
                r = cs_err_set(err, CS_ENOMEM, "out of memory for stars");
                goto out;
        }
        /* brightest candidates first: enough refined stars (a margin for the
         * blends removed below) and the fainter rest need no refining */
        for (k = 0; k < ncand && nstars < p->max_stars + p->max_stars / 4 + 16; k++) {
                size_t ti = cand[k].i / t, tj = cand[k].j / t;
                float bg = bgmap[cand[k].j * bw + cand[k].i];
                struct cs_star s;

                if (ti >= gx)
                        ti = gx - 1;
                if (tj >= gy)
                        tj = gy - 1;
                switch (refine(raw, w, h, 2.0 * (double)cand[k].i + 0.5, 2.0 * (double)cand[k].j + 0.5, bg,
                               tsig[tj * gx + ti], p, &s)) {
                case 1:
                        stars[nstars++] = s;
                        break;
                case -1:
                        nelong++;
                        break;
                default:
                        break;
                }
        }
        qsort(stars, nstars, sizeof *stars, star_cmp);
        /* blends and double detections: keep the brighter of two close ones */
        {
                size_t kept = 0;

                for (k = 0; k < nstars; k++) {
                        size_t q;
                        int dup = 0;

                        for (q = 0; q < kept && !dup; q++) {
                                double dx = stars[k].x - stars[q].x, dy = stars[k].y - stars[q].y;

                                dup = dx * dx + dy * dy < 2.5 * 2.5;
                        }
                        if (!dup)
                                stars[kept++] = stars[k];
                        if (kept == p->max_stars)
                                break;
                }
                nstars = kept;
        }
        *ret_stars = stars;
        *ret_n = nstars;
        if (ret_elongated)
                *ret_elongated = nelong;
        stars = NULL;
out:
        free(img);
        free(bgmap);
        free(tmed);
        free(tsig);
        free(buf);
        free(cand);
        free(stars);
        return r;
}
