/* align.h - star detection, star-triangle matching and the least-squares
 * transform fit of the stacking engine.
 *
 * Coordinates everywhere: x = column, y = row, 0-based, pixel centres at
 * integers, row 0 = the first row stored in the file. Everything here works on
 * plain arrays (no files, no globals) and is thread-safe for distinct outputs. */
#ifndef CROWDSKY_ALIGN_H
#define CROWDSKY_ALIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crowdsky/err.h"

/* One detected star. */
struct cs_star {
        double x, y;    /* sub-pixel centroid (full-resolution pixels) */
        double flux;    /* background-subtracted flux, ADU summed over the star (mean of the CFA) */
        double peak;    /* highest raw value in the core, ADU */
        double fwhm;    /* full width at half maximum, pixels */
        double snr;     /* flux / its noise */
        double err;     /* estimated centroid error (1 sigma, pixels, per axis) */
};

/* Background and noise of one raw frame, per CFA colour (0 R, 1 G, 2 B). */
struct cs_frame_stats {
        double bg[3];      /* median, ADU */
        double noise[3];   /* 1.4826 * MAD, ADU */
        double lum_bg;     /* median of the 2x2 superpixel sum */
        double lum_noise;  /* its noise */
};

struct cs_detect_params {
        double sigma;        /* detection threshold above the background, in noise units (5) */
        size_t max_stars;    /* keep at most this many, brightest first (500) */
        double saturation;   /* raw ADU at/above which a star is saturated and dropped (60000) */
        size_t tile;         /* background tile size in full-resolution pixels (64) */
};

/* Fills p with the defaults above. */
void cs_detect_params_default(struct cs_detect_params *p);

/* Robust per-colour background and noise of a raw CFA frame w x h (w, h >= 2).
 * cfa[4] gives the colour (0 R, 1 G, 2 B) of pixel (x, y) as cfa[(y & 1) * 2 + (x & 1)].
 * Exact medians through 16-bit histograms. Thread-safe. */
void cs_frame_stats_compute(const uint16_t *raw, size_t w, size_t h, const uint8_t cfa[4],
                            struct cs_frame_stats *ret);

/* Detects stars in a raw CFA frame (any Bayer pattern: detection runs on the
 * 2x2-binned luminance, centroids are refined at full resolution on the
 * sliding 2x2 sum: Gaussian-windowed, and for bright stars weighted for photon
 * noise, with the gain taken as sky variance / sky level; err counts that
 * photon noise). Background and noise come from a tiled median/MAD model.
 * Single hot pixels, saturated stars and blends closer than 2 px are dropped.
 * Elongated sources are not stars either; their number goes to *ret_elongated
 * (may be NULL): many of them and few round stars is a trailed frame (wind
 * shake, tracking). *ret_stars (caller frees with free()) is sorted by flux,
 * brightest first.
 * Returns CS_OK, CS_EINVAL (frame smaller than 16 x 16), CS_ENOMEM. Thread-safe. */
int cs_detect_stars(const uint16_t *raw, size_t w, size_t h, const struct cs_detect_params *p,
                    struct cs_star **ret_stars, size_t *ret_n, size_t *ret_elongated, struct cs_err *err);

/* An affine map x' = m[0] x + m[1] y + m[2], y' = m[3] x + m[4] y + m[5]. */
struct cs_xform {
        double m[6];
};

enum cs_xform_model {
        CS_XFORM_SIMILARITY = 0, /* rotation + uniform scale + shift (+ a mirror if the data ask for it) */
        CS_XFORM_AFFINE = 1,
        /* cs_match_params only: a similarity, or an affine map where the star
         * pairs demand it (an F-test on the weighted residuals at p = 1e-9:
         * differential refraction low in the sky squeezes one axis) */
        CS_XFORM_AUTO = 2,
};

void cs_xform_identity(struct cs_xform *t);
void cs_xform_apply(const struct cs_xform *t, double x, double y, double *ret_x, double *ret_y);
/* Inverse of t; CS_EINVAL if t is singular. */
int cs_xform_invert(const struct cs_xform *t, struct cs_xform *ret, struct cs_err *err);
/* Rotation in degrees (-180, 180], mean scale, and whether the map mirrors. */
void cs_xform_decompose(const struct cs_xform *t, double *ret_rot_deg, double *ret_scale,
                        bool *ret_mirror);

/* Weighted least-squares fit (LAPACKE_dgels) of the map taking src[i] to
 * dst[i] (arrays of 2n doubles: x0 y0 x1 y1 ...). w (may be NULL: all 1) are
 * per-pair weights (1 / sigma^2). model CS_XFORM_SIMILARITY fits a proper
 * similarity, or the mirrored one when mirror is true. Needs n >= 2 (similarity)
 * or n >= 3 (affine). *ret_rms (may be NULL) is the unweighted RMS residual in
 * pixels. Returns CS_OK, CS_EINVAL (too few pairs, degenerate geometry),
 * CS_ENOMEM. Thread-safe (call openblas_set_num_threads(1) when calling from
 * many threads). */
int cs_align_fit(const double *src, const double *dst, const double *w, size_t n,
                 enum cs_xform_model model, bool mirror, struct cs_xform *ret, double *ret_rms,
                 struct cs_err *err);

struct cs_match_params {
        size_t tri_stars;       /* brightest stars that form triangles (25) */
        size_t score_stars;     /* brightest stars that vote for a hypothesis (60) */
        double tri_tol;         /* tolerance on the triangle side ratios (0.008) */
        double match_radius;    /* px, a pair agrees with a hypothesis within this (3) */
        double min_scale, max_scale; /* accepted scale range (0.9, 1.1) */
        size_t min_matches;     /* fewest matched stars for a registration (5; and at least
                                 * 15 % of the sparser star list) */
        double max_rms;         /* px, largest RMS residual of an accepted fit (1.0) */
        enum cs_xform_model model; /* of the final fit (auto) */
        bool allow_mirror;      /* also try mirrored solutions (true) */
};

void cs_match_params_default(struct cs_match_params *p);

struct cs_match_result {
        struct cs_xform xf;     /* maps src pixels to ref pixels */
        double rms_px;          /* RMS residual of the final fit over matched stars */
        size_t n_matched;       /* star pairs in the final fit */
        double rotation_deg, scale;
        bool mirror;
        bool affine;            /* the final fit is affine (else a similarity) */
};

/* Registers the star list src against ref (both sorted brightest first):
 * triangles of the brightest stars, rotation/scale/mirror-invariant side-ratio
 * features, neighbours in feature space (sorted array + window), consensus by
 * counting the stars each triangle hypothesis brings into agreement, then an
 * iterated weighted least-squares fit with outlier removal. Returns CS_OK,
 * CS_ENOTFOUND (no consistent solution: too few stars or no agreement, with the
 * reason in err), CS_ENOMEM. Thread-safe. */
int cs_align_match(const struct cs_star *src, size_t ns, const struct cs_star *ref, size_t nr,
                   const struct cs_match_params *p, struct cs_match_result *ret, struct cs_err *err);

/* The iterated part of cs_align_match on its own: starting from init (src ->
 * ref; mirror tells which similarity family), pairs every src star with the
 * nearest ref star, fits with weights 1 / (err_src^2 + err_ref^2), drops
 * outliers and repeats until the pairs settle. Used again against a master
 * star list averaged over all frames. Same returns as cs_align_match. */
int cs_align_refine(const struct cs_star *src, size_t ns, const struct cs_star *ref, size_t nr,
                    const struct cs_match_params *p, const struct cs_xform *init, bool mirror,
                    struct cs_match_result *ret, struct cs_err *err);

#endif
