/* stack_int.h - helpers shared by the files of the stacking engine (library-private). */
#ifndef CROWDSKY_STACK_INT_H
#define CROWDSKY_STACK_INT_H

#include <stddef.h>
#include <stdint.h>

#include "crowdsky/align.h"
#include "crowdsky/select.h"

/* Seconds of a monotonic clock / of this thread's CPU time. */
double cs__now(void);
double cs__thread_cpu(void);

/* Whether this CPU runs AVX2 (the engine's 8-wide loops; SSE2 otherwise). */
bool cs__cpu_avx2(void);

/* Bilinear resampling of one channel band into the reference geometry.
 *   src: band of rows [src_y0, src_y0 + src_h) of a frame src_w wide, frame
 *        height frame_h (samples outside the frame are not covered)
 *   inv: map from output pixel (reference frame) to source frame pixel
 *   out: rows [y0, y0 + rows) of the output, out_w wide; mask gets 1 where covered.
 *   add, mul: out = (sample + add) * mul */
void cs__resample_bilinear(const float *src, size_t src_w, size_t frame_h, long src_y0, size_t src_h,
                           const struct cs_xform *inv, size_t out_w, size_t y0, size_t rows,
                           float add, float mul, float *out, uint8_t *mask);

/* Bicubic resampling of the three channel bands at once (same
 * arguments as above, per channel); covered only where the whole 4x4 support
 * lies inside the frame. */
void cs__resample_bicubic3(const float *const src[3], size_t src_w, size_t frame_h, long src_y0, size_t src_h,
                           const struct cs_xform *inv, size_t out_w, size_t y0, size_t rows,
                           const float add[3], const float mul[3], float *const out[3], uint8_t *mask);

/* The same result in two 1-D passes (horizontal over the band's rows into
 * tmp, 3 planes of src_h x out_w, then vertical), the 4x4 kernel sheared by
 * the rotation: about twice as fast. Returns 0 (nothing done) when the map is
 * not close enough to an upright one (|rotation| beyond ~14 deg, or near 180
 * deg only when upright after a flip of both axes), 1 when done. */
int cs__resample_bicubic3_sep(const float *const src[3], size_t src_w, size_t frame_h, long src_y0, size_t src_h,
                              const struct cs_xform *inv, size_t out_w, size_t y0, size_t rows,
                              const float add[3], const float mul[3], float *const out[3], uint8_t *mask,
                              float *const tmp[3], const size_t *span_lo, const size_t *span_hi);

/* What the two-pass scheme needs of each band row v for the output rows
 * y0 .. y0 + rows - 1: pass 1 output columns [out_lo[v], out_hi[v]) (give them
 * to cs__resample_bicubic3_sep as span_lo/span_hi; NULL there = all), and the
 * source columns [src_lo[v], src_hi[v]) pass 1 reads of that row (what the
 * debayer must supply). A rotated frame's band is a slanted strip: this skips
 * the corners of the band nobody reads. Returns 0 when the two-pass scheme
 * does not apply to this map (nothing filled). */
int cs__resample_sep_spans(const struct cs_xform *inv, size_t src_w, long src_y0, size_t src_h, size_t out_w,
                           size_t y0, size_t rows, size_t *out_lo, size_t *out_hi, size_t *src_lo, size_t *src_hi);

/* cs_debayer of only the columns [span_lo[y], span_hi[y]) of each row y (widened
 * to multiples of 4; green is also made a few columns around and in the rows
 * next to them); other columns of the outputs may be left as they were. NULL
 * spans = whole rows. noise: the mosaic's noise (ADU), the floor under the
 * directional debayer's gradients. Each output row needs the input rows up
 * to 3 above and below it. */
void cs__debayer_spans(const float *raw, size_t w, size_t h, const uint8_t cfa[4], bool gradient, float noise,
                       float *r, float *g, float *b, const size_t *span_lo, const size_t *span_hi);

/* Source row range [*lo, *hi) an output block needs (clamped to the frame, with margin). */
void cs__resample_rows(const struct cs_xform *inv, size_t out_w, size_t y0, size_t rows,
                       size_t frame_h, long margin, long *lo, long *hi);

/* Mends the pixels idx[0..n-1] (indices into the w x h band, ascending)
 * like cs_hotpix_mend, without scanning the whole mask. */
void cs__hotpix_mend_list(uint16_t *raw, size_t w, size_t h, const uint8_t *mask, const size_t *idx, size_t n);

/* ---- frame files (frameio.c) ---- */
#include <fitsio.h>

#include "crowdsky/err.h"

struct cs__frame_hdr {
        long w, h;
        uint8_t cfa[4];
        char bayer[16];
        double date_obs;        /* UTC seconds since 1970, NAN if absent */
        char date_str[32];
        double exptime;         /* 0 if absent */
        double ra, dec;         /* NAN if absent */
        char object[72];
        char instrume[72];
        char sitelat[72], sitelong[72]; /* raw header values ("" if absent) */
        long long raw_off;      /* byte offset of the pixels when they can be read directly, else -1 */
};

/* Opens path (no extended file-name syntax) and reads and checks its header:
 * a 2-D image with a Bayer pattern. Closes it again on failure. */
int cs__frame_open(const char *path, fitsfile **ret_ff, struct cs__frame_hdr *ret_hdr, struct cs_err *err);

/* Reads nrows full rows from row0 as unsigned 16-bit: straight from the file
 * when hdr says the layout allows it (hdr may be NULL), else through cfitsio.
 * Not thread-safe per ff. */
int cs__frame_read_rows(fitsfile *ff, const struct cs__frame_hdr *hdr, const char *path, long w, long row0,
                        long nrows, uint16_t *out, struct cs_err *err);

void cs__frame_close(fitsfile *ff);

/* ISO 8601 UTC text of t (seconds since 1970) with milliseconds. */
void cs__format_time(double t, char out[32]);

#endif
