/* combine.h - per-pixel rejection and averaging of registered frames.
 *
 * Pixels are combined one plane (channel) of one row block at a time: n frames,
 * each a float array of npix values plus a coverage mask (1 = the frame covers
 * this pixel). Memory is the caller's: the stacker feeds row blocks sized from
 * a memory budget, so any frame count fits. Thread-safe for distinct outputs. */
#ifndef CROWDSKY_COMBINE_H
#define CROWDSKY_COMBINE_H

#include <stddef.h>
#include <stdint.h>

struct cs_combine_params {
        float kappa;          /* rejection threshold in robust sigmas (3.0) */
        int max_iter;         /* iterations; stops earlier when nothing changes (10) */
        int median_below;     /* fewer values than this: plain median, no clipping (5) */
};

void cs_combine_params_default(struct cs_combine_params *p);

/* Kappa-sigma clipped mean around the median: per pixel, the values of the
 * frames that cover it are clipped at |v - median| > kappa * sigma, repeated on
 * the survivors until stable (or max_iter), then averaged. A mean and standard
 * deviation clip cannot flag a lone outlier among N <= 10 values (its
 * deviation is at most sqrt(N - 1) sigma); the first pass therefore takes
 * sigma from the interquartile range (a robust scale like the MAD, which a
 * lone outlier among five values cannot move), later passes from the
 * survivors' standard deviation. Up to 16 frames every pixel's values are
 * kept sorted (a sorting network run across 64 pixels at a time); beyond, the
 * median and quartiles come from the sorted values of (up to) 32 frames spread
 * over the set -- exact up to 32 frames; the first pass then uses the standard
 * deviation of those sorted values within their interquartile bounds -- and
 * the later passes sum over all frames, stopping once a pass changes the
 * number of survivors by at most one. With
 * fewer than median_below values the median is returned. Pixels no frame
 * covers get 0. Vectorised (GCC vector types; AVX2 chosen at run time).
 *
 *   planes[f][i], masks[f][i]  value and coverage of frame f at pixel i (masks
 *                              may be NULL: everything covered)
 *   weights[f] (may be NULL)   frame weights of the final mean (the clipping
 *                              itself treats all frames alike)
 *   out[i]                     the combined value
 *   out_kept[i] (may be NULL)  how many values were averaged
 *   scratch                    unused (may be NULL); workspace is n x 64 floats
 */
void cs_combine_sigma_clip(const float *const *planes, const uint8_t *const *masks, size_t n,
                           size_t npix, const struct cs_combine_params *p, const float *weights,
                           float *out, uint16_t *out_kept, float *scratch);

/* Clipped mean of the n values in v (sorted in place), as above for up to 16
 * frames (the reference the block path is tested against). Returns the value;
 * *ret_kept (may be NULL) gets the number averaged. */
float cs_combine_pixel(float *v, size_t n, const struct cs_combine_params *p, size_t *ret_kept);

/* Median of v[0..n-1] (n >= 1), reordering v. */
float cs_median_f32(float *v, size_t n);

#endif
