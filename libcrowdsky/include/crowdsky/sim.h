/* sim.h - Seestar S50-like raw frame simulator with ground truth.
 *
 * cs_sim_write() writes N raw frames (FITS, BITPIX 16 + BZERO 32768, GRBG
 * Bayer mosaic, the Seestar header keywords) of one simulated star field
 * seen through an alt-az mount (field rotation, drift, tiny scale jitter),
 * with Moffat stars integrated over each pixel, a sky gradient, Poisson +
 * read noise, fixed hot pixels and optionally a satellite trail and a cloudy
 * frame and wind-shaken frames (every star smeared along a short line centred
 * on its position), plus DIR/truth.json:
 *
 *   { "generator", "version", "seed", "width", "height", "bayer": "GRBG",
 *     "pedestal_adu", "adu_per_electron", "read_noise_adu",
 *     "reference_frame": 0, "reference_file",
 *     "frames": [ { "index", "file", "date_obs", "matrix": [[a,b,c],[d,e,f]],
 *                   "rotation_deg", "scale", "shift": [c,f], "fwhm", "beta",
 *                   "satellite", "cloudy", "trail_px", "trail_deg", "sky_adu": [r,g,b] } ],
 *     "satellite": null | { "frame", "file", "width_px", "amplitude_adu",
 *                   "frame_line": [[x0,y0],[x1,y1]], "ref_line": [[x0,y0],[x1,y1]] },
 *     "hot_pixels": [ [x, y, amplitude_adu], ... ],   (sensor positions)
 *     "stars": [ { "x", "y", "flux": [r,g,b] }, ... ] (reference-frame pixels) }
 *
 * "matrix" maps THIS frame's pixel (x = column, y = row, 0-based, row 0 =
 * first row stored) to the reference frame's pixel, as the stack report of
 * SPEC section 3: x' = a x + b y + c, y' = d x + e y + f. Frame 0 is the
 * reference (identity). Star fluxes are the total ADU (above the pedestal)
 * a star would give in a full-resolution image of that colour channel; each
 * Bayer pixel records its own channel's share. */
#ifndef CROWDSKY_SIM_H
#define CROWDSKY_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct cs_sim_params {
        int width;                  /* NAXIS1, even, default 1080 */
        int height;                 /* NAXIS2, even, default 1920 */
        int frames;                 /* number of frames, >= 1 (default 10) */
        uint64_t seed;              /* default 1 */
        int stars;                  /* stars within one frame's area; < 0 = 1500 per 1080x1920, scaled by area */
        int hot_pixels;             /* < 0 = 300 per 1080x1920, scaled by area */
        bool satellite;             /* a satellite trail in one frame (not frame 0) */
        bool cloudy;                /* one cloudy frame (not frame 0) */
        double rotation_deg_per_frame; /* field rotation, default 0.05 */
        double drift_px;            /* total drift over the run; < 0 = 3 px per frame */
        char object[64];            /* OBJECT, default "M 94" */
        double ra, dec;             /* RA/DEC in degrees, default M 94 */
        char start[40];             /* DATE-OBS of frame 0, ISO 8601 UTC */
        double cadence_s;           /* seconds between frame starts, default 11 */
        double exptime_s;           /* EXPTIME, default 10 */
        double fwhm_px;             /* mean seeing FWHM in px, default 3.15 */
        double beta;                /* Moffat beta, default 3.0 */
        int wind_frames;            /* frames shaken by wind (never frame 0), default 0 */
        double wind_px;             /* their stars' trail length, px (+-20 % per frame), default 6 */
        int threads;                /* worker threads, 0 = online CPUs */
        bool noiseless;             /* write the expected signal, rounded, without
                                     * shot or read noise (for checking tools) */
};

/* The defaults listed above. */
struct cs_sim_params cs_sim_params_defaults(void);

/* Writes p->frames frames and truth.json into outdir (created if missing,
 * existing files of the same names overwritten). Deterministic for a seed
 * and independent of p->threads. Returns CS_OK, CS_EINVAL (bad params, with
 * the reason), CS_ETOOBIG, CS_ENOMEM, CS_EIO or CS_EFITS. Thread-safe. */
int cs_sim_write(const struct cs_sim_params *p, const char *outdir, struct cs_err *err);

#endif
