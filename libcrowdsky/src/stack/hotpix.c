/* hotpix.c - sensor hot (and dead) pixels: outliers at the same place in most
 * frames, found in the raw mosaic and mended there before debayering, so that
 * they never spread into the neighbouring colours. */
#include <math.h>
#include <stdlib.h>

#include "crowdsky/stack.h"
#include "stack/stack_int.h"

void cs_hotpix_scan(const uint16_t *raw, size_t w, size_t h, const uint8_t cfa[4],
                    const struct cs_frame_stats *stats, double kappa, uint16_t *counts)
{
        size_t x, y;

        if (w < 8 || h < 8)
                return;
        for (y = 3; y + 3 < h; y++) {
                const uint16_t *r0 = raw + y * w;
                const uint16_t *u1 = r0 - w, *u2 = r0 - 2 * w, *u3 = r0 - 3 * w;
                const uint16_t *d1 = r0 + w, *d2 = r0 + 2 * w, *d3 = r0 + 3 * w;
                float thr[2];

                /* twice the thresholds: the tests below run on 2e in integers */
                thr[0] = (float)(2.0 * kappa * stats->noise[cfa[(y & 1) * 2]]);
                thr[1] = (float)(2.0 * kappa * stats->noise[cfa[(y & 1) * 2 + 1]]);
                for (x = 3; x + 3 < w; x++) {
                        int v = r0[x], a = r0[x - 2], b = r0[x + 2], c = u2[x], d = d2[x];
                        int lo, hi, t, e2, s;

                        /* median of the four same-colour neighbours (mean of the middle
                         * two): a hot neighbour must not make this pixel look dead.
                         * Integer selects (cmov), not swaps: branches on noise mispredict */
                        lo = a < b ? a : b;
                        t = c < d ? c : d;
                        lo = lo > t ? lo : t; /* larger of the two minima */
                        hi = a > b ? a : b;
                        t = c > d ? c : d;
                        hi = hi < t ? hi : t; /* smaller of the two maxima */
                        e2 = 2 * v - lo - hi; /* twice the excess over the median */
                        if ((float)abs(e2) <= thr[x & 1])
                                continue;
                        /* a star falls off outwards in every direction; a lone
                         * pixel leaves its neighbours at the local level */
                        s = (r0[x - 1] - r0[x - 3]) + (r0[x + 1] - r0[x + 3]) + (u1[x] - u3[x]) + (d1[x] - d3[x]);
                        if (2 * abs(s) < abs(e2) && counts[y * w + x] < UINT16_MAX)
                                counts[y * w + x]++;
                }
        }
}

size_t cs_hotpix_mask(const uint16_t *counts, size_t npix, unsigned min_count, uint8_t *mask)
{
        size_t i, n = 0;

        if (min_count < 1)
                min_count = 1;
        for (i = 0; i < npix; i++) {
                mask[i] = counts[i] >= min_count;
                n += mask[i];
        }
        return n;
}

static void sort_small(uint16_t *v, size_t n)
{
        size_t i, j;

        for (i = 1; i < n; i++) {
                uint16_t t = v[i];

                for (j = i; j > 0 && v[j - 1] > t; j--)
                        v[j] = v[j - 1];
                v[j] = t;
        }
}

/* Mends one pixel (x, y) of the band from its unmasked same-colour neighbours. */
static void mend_one(uint16_t *raw, size_t w, size_t h, const uint8_t *mask, size_t x, size_t y)
{
        static const int dx[8] = { -2, 2, 0, 0, -2, 2, -2, 2 };
        static const int dy[8] = { 0, 0, -2, 2, -2, -2, 2, 2 };
        uint16_t v[8];
        size_t n = 0;
        int k;

        for (k = 0; k < 8; k++) {
                long xx = (long)x + dx[k], yy = (long)y + dy[k];

                if (xx < 0 || yy < 0 || xx >= (long)w || yy >= (long)h)
                        continue;
                if (mask[(size_t)yy * w + (size_t)xx])
                        continue;
                v[n++] = raw[(size_t)yy * w + (size_t)xx];
        }
        if (n == 0)
                return;
        sort_small(v, n);
        raw[y * w + x] = n & 1 ? v[n / 2] : (uint16_t)((v[n / 2 - 1] + v[n / 2] + 1) / 2);
}

void cs__hotpix_mend_list(uint16_t *raw, size_t w, size_t h, const uint8_t *mask, const size_t *idx, size_t n)
{
        size_t k;

        for (k = 0; k < n; k++)
                mend_one(raw, w, h, mask, idx[k] % w, idx[k] / w);
}

void cs_hotpix_mend(uint16_t *raw, size_t w, size_t h, const uint8_t *mask)
{
        size_t x, y;

        for (y = 0; y < h; y++)
                for (x = 0; x < w; x++)
                        if (mask[y * w + x])
                                mend_one(raw, w, h, mask, x, y);
}
