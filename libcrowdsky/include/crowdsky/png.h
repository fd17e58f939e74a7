/* png.h - PNG output (libpng): auto-stretched thumbnails of linear RGB data.
 *
 * The thumbnail stretch follows the screen transfer function of PixInsight /
 * Siril's auto-stretch, per channel: background = median and noise = MAD of
 * the (downscaled) image; shadows clipped at median - 2.8 * 1.4826 * MAD; the
 * midtones transfer function chosen so the background lands on 25 % grey.
 * Stretching each channel so its own background lands on the same grey makes
 * the sky neutral whatever the colour of the light pollution. */
#ifndef CROWDSKY_PNG_H
#define CROWDSKY_PNG_H

#include <stdint.h>

#include "err.h"

#define CS_PNG_THUMB_MAX_SIDE 1024    /* default long side of a thumbnail */
#define CS_PNG_THUMB_BACKGROUND 0.25  /* where the sky background lands (0..1) */

/* Writes an auto-stretched 8-bit RGB PNG of the planar float image r, g, b
 * (width x height each, row-major, any linear scale; NaN = no data, shown
 * black). The image is downscaled by area averaging so that its long side is
 * at most max_side (<= 0 means CS_PNG_THUMB_MAX_SIDE); it is never enlarged.
 * The file is written to a temporary name next to path and renamed, so
 * readers never see half a PNG. Returns CS_OK, CS_EINVAL (bad arguments),
 * CS_ENOMEM or CS_EIO. Thread-safe. */
int cs_png_write_thumbnail(const char *path, const float *r, const float *g, const float *b,
                           int width, int height, int max_side, struct cs_err *err);

/* Writes 8-bit data as is: rgb is width * height * 3 bytes (R G B interleaved),
 * gray width * height bytes. Same return codes and atomic rename as above. */
int cs_png_write_rgb8(const char *path, const uint8_t *rgb, int width, int height,
                      struct cs_err *err);
int cs_png_write_gray8(const char *path, const uint8_t *gray, int width, int height,
                       struct cs_err *err);

/* The midtones transfer function: mtf(m, x) maps 0 -> 0, m -> 0.5, 1 -> 1. */
double cs_png_mtf(double m, double x);

#endif
