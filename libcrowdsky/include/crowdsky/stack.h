/* stack.h - the stacking engine (SPEC section 8): raw Bayer frames in, one
 * registered, sigma-clipped RGB stack out.
 *
 * Pipeline (cs_stack_run):
 *  1. read every frame once (cfitsio, uint16): per-colour background/noise,
 *     hot-pixel scan (a sample of up to 16 frames), stars on the 2x2-binned
 *     luminance refined at full resolution (align.h);
 *  2. hot pixels = outliers at one place in most scanned frames;
 *  3. reference = most stars per PSF area (or params->reference);
 *  4. triangle matching + weighted LAPACKE fit per frame, then every frame
 *     refitted to a master star list averaged over all frames;
 *  5. row blocks sized from a memory budget, over threads: each frame's band of
 *     raw rows is read again, hot pixels mended in the mosaic, debayered
 *     (directional, debayer.c), background-normalised and resampled (bicubic,
 *     coverage-masked) into the reference geometry, then combined (combine.h,
 *     frames weighted by 1 / (noise^2 FWHM^2));
 *  6. FITS float32 NAXIS3 = 3 (+ PNG thumbnail via png.h, JSON report).
 * The engine sees only core and plain arrays: no database, no network. */
#ifndef CROWDSKY_STACK_H
#define CROWDSKY_STACK_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crowdsky/align.h"
#include "crowdsky/combine.h"
#include "crowdsky/err.h"

/* ---- Bayer mosaics ----------------------------------------------------- */

/* Colour codes of a CFA cell: 0 R, 1 G, 2 B. cfa[(y & 1) * 2 + (x & 1)] is the
 * colour of raw pixel (x, y). */

/* Parses a BAYERPAT value ("RGGB", "BGGR", "GRBG", "GBRG", case-insensitive,
 * surrounding blanks ignored) with the XBAYROFF/YBAYROFF offsets (0 when
 * absent) into cfa. Returns CS_OK or CS_EINVAL. */
int cs_bayer_parse(const char *pattern, long xoff, long yoff, uint8_t ret_cfa[4], struct cs_err *err);

/* Debayers a w x h mosaic (w, h >= 2) into three w x h float planes (values
 * in ADU): bilinear, or (gradient = true) directional -- green interpolated
 * along the direction a star's core or an edge varies least in (Hamilton and
 * Adams' estimates blended by their gradients), red and blue from their
 * differences to that green: markedly sharper stars in all three colours at
 * about the cost of a 5x5 filter. Both are exact on linear ramps. Edges are
 * mirrored (parity-preserving). Thread-safe. */
void cs_debayer(const float *raw, size_t w, size_t h, const uint8_t cfa[4], bool gradient, float *r,
                float *g, float *b);
/* cs_debayer, bilinear (gradient = false). */
void cs_debayer_bilinear(const float *raw, size_t w, size_t h, const uint8_t cfa[4], float *r,
                         float *g, float *b);

/* ---- Hot pixels --------------------------------------------------------- */

/* Adds 1 to counts[i] for every pixel of this raw frame that sticks out alone:
 * more than kappa noise sigmas from the mean of its four same-colour
 * neighbours while its eight direct neighbours stay near the background (stars
 * are never a single pixel). stats from cs_frame_stats_compute. Thread-safe
 * for distinct counts. */
void cs_hotpix_scan(const uint16_t *raw, size_t w, size_t h, const uint8_t cfa[4],
                    const struct cs_frame_stats *stats, double kappa, uint16_t *counts);

/* Marks mask[i] = 1 where a pixel was an outlier in at least min_count frames;
 * returns how many. */
size_t cs_hotpix_mask(const uint16_t *counts, size_t npix, unsigned min_count, uint8_t *mask);

/* Replaces every masked pixel of the w x h mosaic raw (mask aligned with it)
 * by the median of its unmasked same-colour neighbours (2 px away). Works on a
 * band of rows of a frame as well (pass the band and its part of the mask);
 * neighbours outside the band are not used. */
void cs_hotpix_mend(uint16_t *raw, size_t w, size_t h, const uint8_t *mask);

/* ---- The whole pipeline -------------------------------------------------- */

enum cs_stack_norm {
        CS_NORM_NONE = 0,
        CS_NORM_ADDITIVE = 1, /* match each frame's background to the reference (default) */
        CS_NORM_ADDSCALE = 2, /* additive, and scale the noise to the reference's */
};

enum cs_stack_stage {
        CS_STAGE_READ = 0,     /* reading frames, hot-pixel scan, star detection */
        CS_STAGE_ALIGN,        /* matching frames to the reference */
        CS_STAGE_STACK,        /* resampling + combining row blocks */
        CS_STAGE_WRITE,        /* output files */
};

/* Stable names for the stages: "reading", "aligning", "stacking", "writing". */
const char *cs_stack_stage_name(enum cs_stack_stage s);

/* Progress: called from the calling thread or a worker thread, never
 * concurrently; must be quick. */
typedef void (*cs_stack_progress_fn)(void *ctx, enum cs_stack_stage stage, size_t done, size_t total);

struct cs_stack_params {
        struct cs_combine_params combine;
        struct cs_detect_params detect;
        struct cs_match_params match;
        int threads;                    /* 0 = online processors */
        const char *reference;          /* file to register against (one of files), NULL = best */
        enum cs_stack_norm norm;
        bool hotpix;                    /* detect and mend hot pixels (true) */
        bool debayer_gradient;          /* directional debayer instead of bilinear (true) */
        bool resample_bicubic;          /* bicubic (Mitchell-Netravali B 0.42, C 0.29) instead of bilinear (true) */
        bool resample_separable;        /* bicubic in two sheared 1-D passes where the map allows (true) */
        bool weight_frames;             /* mean weighted by 1 / (noise^2 FWHM^2) (true) */
        double max_fwhm_ratio;          /* leave out frames whose FWHM is above this times the
                                         * registered frames' median: trailed, shaken, defocused
                                         * (1.5; 0 = keep all) */
        double min_stars_ratio;         /* leave out frames with fewer stars than this times the
                                         * registered frames' median: cloud, haze, dew (0.5; 0 = keep all) */
        double hotpix_kappa;            /* (6) */
        double hotpix_fraction;         /* outlier in at least this fraction of frames (0.5) */
        bool scrub_location;            /* leave SITELAT/SITELONG out of the output (true) */
        size_t mem_budget;              /* bytes for the row blocks of all threads (320 MiB) */
        const char *output;             /* FITS path to write (NULL = none) */
        const char *thumbnail;          /* PNG path (NULL = none) */
        cs_stack_progress_fn progress;  /* may be NULL */
        void *progress_ctx;
        const volatile sig_atomic_t *cancel; /* non-zero -> stop with CS_ECANCELLED (may be NULL) */
};

void cs_stack_params_default(struct cs_stack_params *p);

/* Whether r may be a max_fwhm_ratio: 0 (off) or 1 to 100 (below 1 the median
 * frame itself would be left out). The command line, the upload's finalize
 * and the worker's job params all ask this. */
static inline bool cs_stack_fwhm_ratio_valid(double r)
{
        return r == 0 || (r >= 1 && r <= 100);
}

struct cs_stack_frame {
        char *file;             /* copy of the path */
        bool used;
        char reason[272];       /* why not used ("" when used) */
        bool registered;
        struct cs_match_result reg; /* valid when registered */
        size_t n_stars;
        size_t n_elongated;     /* sources set aside as elongated (trailed stars, blends) */
        double fwhm;            /* median FWHM of its stars, px (0 if none) */
        struct cs_frame_stats stats;
        double date_obs;        /* UTC seconds since 1970 (NAN if absent) */
        char date_obs_str[32];  /* as in the header */
        double exptime;         /* s (0 if absent) */
        double ra, dec;         /* deg (NAN if absent) */
        double weight;          /* of the frame in the mean (green), 0 if unweighted or unused */
};

enum { CS_STACK_T_READ, CS_STACK_T_HOTPIX, CS_STACK_T_ALIGN, CS_STACK_T_STACK,
       CS_STACK_T_WRITE, CS_STACK_T_THUMB, CS_STACK_T_TOTAL,
       /* CPU seconds summed over threads inside the stacking stage */
       CS_STACK_T_CPU_READ, CS_STACK_T_CPU_DEBAYER, CS_STACK_T_CPU_RESAMPLE, CS_STACK_T_CPU_COMBINE,
       CS_STACK_T_COUNT };

struct cs_stack_result {
        size_t n;                       /* frames given */
        struct cs_stack_frame *frames;  /* n entries, in input order */
        size_t reference;               /* index of the reference frame */
        size_t n_used, n_rejected;
        size_t width, height;           /* of the stack (the reference's geometry) */
        float *rgb;                     /* 3 planes of width*height (R, G, B), or NULL */
        double total_exptime;
        /* the stack's own star FWHM (px): the median over the stars found on
         * its luminance with the frames' detector, so that it compares with
         * the frames' fwhm; 0 if fewer than 3 stars were found */
        double stack_fwhm;
        size_t n_hot_pixels;
        char chunk_key[32];             /* "" if the headers lack time or pointing */
        char object[72];
        char sitelat[72], sitelong[72]; /* the reference's, only when !scrub_location, else "" */
        double timings[CS_STACK_T_COUNT]; /* seconds */
        double peak_rss_mb;             /* the process's peak resident memory so far (getrusage) */
};

/* Stacks files[0..n-1]. On success fills *ret (release with
 * cs_stack_result_release) and writes params->output / ->thumbnail when set;
 * ret->rgb holds the stack. On failure *ret is left empty and err says why:
 * CS_EFITS (a file is unreadable or not a 2-D 16-bit mosaic; names the file),
 * CS_EINVAL (mixed sizes or Bayer patterns, bad parameters, no reference),
 * CS_ENOTFOUND (no frame could be registered), CS_ETOOBIG (frame too large for
 * the memory budget), CS_ECANCELLED, CS_EIO, CS_ENOMEM. Frames that cannot be
 * registered are left out and listed with the reason. Uses params->threads
 * threads; safe to call from several threads with distinct arguments. */
int cs_stack_run(const struct cs_stack_params *params, const char *const *files, size_t n,
                 struct cs_stack_result *ret, struct cs_err *err);

void cs_stack_result_release(struct cs_stack_result *r);

/* The report of SPEC section 3 as JSON text (caller frees with free()):
 * {"reference", "frames": [{"file","used","reason","matrix","rotation_deg",
 * "scale","rms_px","matched_stars","stars","fwhm"}], "timings", "peak_rss_mb",
 * "n_used", "n_rejected", ...}. NULL on allocation failure. */
char *cs_stack_report_json(const struct cs_stack_result *r);

/* Writes r->rgb as a FITS float32 cube (NAXIS3 = 3) with NCOMBINE, EXPTIME,
 * DATE-OBS, DATE-END, OBJECT, RA, DEC, CHUNKKEY, CREATOR and HISTORY; header
 * keywords of the reference frame are not copied, so SITELAT/SITELONG never
 * leak unless scrub_location is false. Overwrites path. CS_EFITS / CS_EIO. */
int cs_stack_write_fits(const struct cs_stack_result *r, const struct cs_stack_params *p,
                        const char *path, struct cs_err *err);

#endif
