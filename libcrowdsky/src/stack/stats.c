/* stats.c - robust per-colour background and noise of a raw mosaic. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crowdsky/alloc.h"
#include "crowdsky/align.h"

/* Median and MAD of the values counted in hist[65536] (total n > 0), exact for integers. */
static void hist_median_mad(const uint32_t *hist, uint64_t n, double *ret_med, double *ret_mad)
{
        uint64_t half = (n + 1) / 2, acc = 0, in;
        long med = 0, d;

        for (med = 0; med < 65536; med++) {
                acc += hist[med];
                if (acc >= half)
                        break;
        }
        if (med > 65535)
                med = 65535;
        /* smallest d with at least half of the values in [med - d, med + d] */
        in = hist[med];
        for (d = 0; in < half && d < 65536; ) {
                d++;
                if (med - d >= 0)
                        in += hist[med - d];
                if (med + d <= 65535)
                        in += hist[med + d];
        }
        *ret_med = (double)med;
        /* integer data: a MAD of 0 still means noise of about half a count */
        *ret_mad = d > 0 ? (double)d : 0.5;
}

void cs_frame_stats_compute(const uint16_t *raw, size_t w, size_t h, const uint8_t cfa[4],
                            struct cs_frame_stats *ret)
{
        uint32_t *hist = cs_xcalloc(3 * 65536, sizeof *hist);
        uint64_t cnt[3] = { 0, 0, 0 };
        double lum_var = 0;
        size_t x, y, c;

        /* every second row pair is plenty for a median and fast */
        for (y = 0; y < h; y++) {
                const uint16_t *row = raw + y * w;
                uint32_t *h0, *h1;

                if ((y & 2) && h > 64)
                        continue;
                h0 = hist + (size_t)cfa[(y & 1) * 2] * 65536;
                h1 = hist + (size_t)cfa[(y & 1) * 2 + 1] * 65536;
                for (x = 0; x + 1 < w; x += 2) {
                        h0[row[x]]++;
                        h1[row[x + 1]]++;
                }
                cnt[cfa[(y & 1) * 2]] += w / 2;
                cnt[cfa[(y & 1) * 2 + 1]] += w / 2;
        }
        ret->lum_bg = 0;
        for (c = 0; c < 3; c++) {
                double med = 0, mad = 1;

                if (cnt[c] > 0)
                        hist_median_mad(hist + c * 65536, cnt[c], &med, &mad);
                ret->bg[c] = med;
                ret->noise[c] = 1.4826 * mad;
        }
        /* the superpixel holds R, B and two G: sum of the four */
        ret->lum_bg = ret->bg[0] + 2 * ret->bg[1] + ret->bg[2];
        lum_var = ret->noise[0] * ret->noise[0] + 2 * ret->noise[1] * ret->noise[1] +
                  ret->noise[2] * ret->noise[2];
        ret->lum_noise = lum_var > 0 ? sqrt(lum_var) : 1;
        free(hist);
}
