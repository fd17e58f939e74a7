/* chunkkey.h - chunk keys (SPEC section 5) and the proximity grouping of frames.
 *
 * A chunk key is `YYYYMMDD.CC_RRR.R_sDD.D`:
 *   YYYYMMDD  UTC date of DATE-OBS
 *   CC        floor(seconds since UTC midnight / 900), two digits 00..95
 *   RRR.R     RA in degrees, printf "%.1f", normalised to [0, 360) after rounding
 *             (359.96 -> "0.0")
 *   sDD.D     Dec, printf "%+.1f", with "-0.0" written "+0.0"
 * Example: 20250115.78_83.6_+22.0
 *
 * Grouping (going further than the original design): frames of one upload
 * session in the same 15-minute UTC slot whose pointings lie within 0.25 deg of
 * each other form one job, keyed by the group's slot and mean pointing, so that
 * pointing jitter across a rounding boundary does not split one target. */
#ifndef CROWDSKY_CHUNKKEY_H
#define CROWDSKY_CHUNKKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crowdsky/err.h"

#define CS_CHUNKKEY_MAX 32            /* buffer size for a key incl. NUL (keys are <= 23 chars) */
#define CS_CHUNK_SLOT_SECONDS 900     /* 15 minutes */
#define CS_CHUNK_RADIUS_DEG 0.25      /* SPEC section 5 grouping radius */

/* A parsed key. */
struct cs_chunkkey {
        int year, month, day;   /* UTC date */
        int slot;               /* 0..95 */
        double ra;              /* degrees as written (one decimal), [0, 360) */
        double dec;             /* degrees as written (one decimal), [-90, 90] */
        int64_t slot_start;     /* UTC seconds since 1970 at the start of the slot */
};

/* Writes the key of a frame observed at obs_time_utc (seconds since 1970, UTC,
 * with fraction) pointing at ra, dec (degrees) into out. RA may be any finite
 * value (it is wrapped into [0, 360)); Dec must be in [-90, 90].
 * Returns CS_OK, or CS_EINVAL (non-finite input, Dec out of range, a time
 * before year 0 or after 9999). out is written only on success. Thread-safe. */
int cs_chunkkey_format(double obs_time_utc, double ra, double dec, char out[CS_CHUNKKEY_MAX],
                       struct cs_err *err);

/* Strictly validates a key that arrives from outside (URL, form): exactly the
 * canonical form cs_chunkkey_format writes (real calendar date, slot 00..95,
 * RA in [0, 360) with one decimal and no leading zeros, Dec in [-90, 90] with a
 * sign and one decimal, no "-0.0", nothing before or after). Writes *ret (may
 * be NULL) on success. Returns CS_OK or CS_EINVAL with the reason. Thread-safe. */
int cs_chunkkey_parse(const char *key, struct cs_chunkkey *ret, struct cs_err *err);

/* The 15-minute slot a time falls in, counted from 1970-01-01T00:00:00 UTC:
 * floor(obs_time_utc / 900). Frames share a key's CC and date iff they share
 * this number. Thread-safe. */
int64_t cs_chunk_slot(double obs_time_utc);

/* Great-circle distance between two pointings in degrees (haversine form, stable
 * for small angles; RA wrap-around needs no special case). Thread-safe. */
double cs_sky_distance_deg(double ra1, double dec1, double ra2, double dec2);

/* One frame to group. */
struct cs_chunk_point {
        double obs_time;        /* UTC seconds since 1970 */
        double ra, dec;         /* degrees */
};

/* Groups n frames: two frames are linked when they share a 15-minute slot and
 * lie within radius_deg (use CS_CHUNK_RADIUS_DEG) of each other; groups are the
 * connected components of that relation (single linkage, via union-find), so a
 * chain of jittered pointings stays one group even when its ends are further
 * apart than the radius. Writes a group number 0..ngroups-1 per frame into
 * ret_group (caller-allocated, n ints) and the number of groups to *ret_ngroups.
 * Group numbers follow the order of each group's first frame in pts, so the
 * result does not depend on anything but the input order.
 * O(n^2) distance checks within a slot; upload sessions hold hundreds, not
 * millions, of frames. Returns CS_OK or CS_EINVAL (non-finite values, Dec out
 * of range, radius < 0). Thread-safe. */
int cs_chunk_group(const struct cs_chunk_point *pts, size_t n, double radius_deg, int *ret_group,
                   size_t *ret_ngroups, struct cs_err *err);

/* Key of group g as cs_chunk_group numbered it: the slot of its frames and their
 * mean pointing (mean of unit vectors, so a group straddling RA 0/360 averages
 * to ~0, not ~180). Writes out; optionally the mean pointing to *ret_ra and *ret_dec
 * (may be NULL). Returns CS_OK or CS_EINVAL (no frame in group g, or the unit
 * vectors cancel out). Thread-safe. */
int cs_chunk_group_key(const struct cs_chunk_point *pts, size_t n, const int *group, int g,
                       char out[CS_CHUNKKEY_MAX], double *ret_ra, double *ret_dec,
                       struct cs_err *err);

#endif
