/* fits.h - the hand-written, streaming FITS primary-header reader of the upload path.
 *
 * A 50 MB upload is validated while it streams: bytes are fed in any chunking,
 * the header is parsed one 2880-byte block at a time as blocks complete, and the
 * reader refuses as soon as the bytes show the stream is not an acceptable FITS
 * file. The data unit is never held: after END the reader only counts bytes.
 *
 * Every refusal returns CS_EFITS (or CS_ETOOBIG for the header cap) with a reason
 * that names the problem, e.g. "not a FITS file", "header has no END card",
 * "missing DATE-OBS", "invalid DATE-OBS '2025-13-01'", "missing RA",
 * "RA out of range", "truncated data", "unsupported BITPIX 12".
 *
 * Values understood: logical (T/F), integer, floating point (exponent E or D),
 * quoted strings with '' escapes (trailing spaces trimmed). COMMENT, HISTORY,
 * HIERARCH, CONTINUE and blank cards are tolerated and skipped.
 *
 * This is not cfitsio: the stacker reads pixels with cfitsio; this reader exists
 * so the web tier can check an upload without a temporary copy and with a bounded,
 * fuzzed parser. */
#ifndef CROWDSKY_FITS_H
#define CROWDSKY_FITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crowdsky/err.h"

#define CS_FITS_BLOCK 2880             /* bytes per header / data block */
#define CS_FITS_CARD 80                /* bytes per header card */
#define CS_FITS_MAX_HEADER_BLOCKS 100  /* header cap: 100 blocks = 288,000 bytes, 3600 cards */
#define CS_FITS_SIZE_FED UINT64_MAX    /* cs_fits_reader_finish: use the number of bytes fed */

/* What the primary header says. Filled by cs_fits_reader_finish / cs_fits_read_info.
 * Strings are NUL-terminated, trailing spaces trimmed, "" when the keyword is absent. */
struct cs_fits_info {
        int bitpix;             /* 8, 16, 32, 64, -32 or -64 */
        int naxis;              /* 2 or 3 */
        int64_t naxes[3];       /* NAXIS1..NAXISn; unused axes are 1 */
        int width, height;      /* NAXIS1, NAXIS2 */
        int64_t header_bytes;   /* header size in bytes, a multiple of 2880 */
        int64_t data_bytes;     /* |BITPIX|/8 * prod(NAXISn), without padding */
        int64_t file_bytes;     /* the total size the reader checked */
        char date_obs[32];      /* normalised ISO 'YYYY-MM-DDTHH:MM:SS[.ffffff]' (no Z) */
        double obs_time;        /* DATE-OBS as UTC seconds since 1970-01-01, with fraction
                                 * (double: ~1 microsecond resolution today) */
        bool has_radec;         /* RA and DEC present and valid (always true after finish) */
        double ra, dec;         /* degrees, RA in [0, 360), DEC in [-90, 90] */
        bool has_exptime;
        double exptime;         /* seconds (EXPTIME, else EXPOSURE) */
        char object[72];        /* OBJECT */
        char bayer[8];          /* BAYERPAT, e.g. "GRBG"; "" when absent */
        int xbayoff, ybayoff;   /* XBAYROFF / YBAYROFF, 0 when absent */
        char instrume[72];      /* INSTRUME */
        char telescop[72];      /* TELESCOP */
        bool has_site;          /* SITELAT and SITELONG both present (private data!) */
        double sitelat, sitelong;
        double bzero, bscale;   /* 0 and 1 when absent */
        bool has_gain;
        double gain;            /* GAIN */
        bool has_ccd_temp;
        double ccd_temp;        /* CCD-TEMP, deg C */
        double focallen;        /* FOCALLEN mm, 0 when absent */
        double xpixsz;          /* XPIXSZ microns, 0 when absent */
};

struct cs_fits_reader; /* opaque */

/* Creates a reader for one stream. Caller frees it with cs_fits_reader_free().
 * Never returns NULL (aborts on out of memory). Thread-safe; a reader itself
 * must be used by one thread at a time. */
struct cs_fits_reader *cs_fits_reader_new(void);

/* Frees r (NULL is fine). Returns NULL, so `r = cs_fits_reader_free(r);` is safe. */
struct cs_fits_reader *cs_fits_reader_free(struct cs_fits_reader *r);

/* Consumes the next n bytes of the file, in any chunking (1 byte at a time gives
 * the same result as the whole file at once). Header blocks are parsed as they
 * complete; data bytes after END are only counted. The header as a whole
 * (DATE-OBS, RA, DEC present and valid; BZERO/BSCALE/BAYERPAT readable) is
 * checked when its END card arrives, so a bad header is refused before any
 * pixel is streamed.
 * Returns CS_OK, or as soon as the stream is known to be unacceptable:
 *   CS_EFITS  with the reason (not a FITS file, bad card, bad BITPIX/NAXIS, bad
 *             DATE-OBS/RA/DEC value, more bytes than header + padded data, ...)
 *   CS_ETOOBIG when the header passes CS_FITS_MAX_HEADER_BLOCKS blocks without END.
 * After a failure the reader is stuck: every later feed/finish returns the same
 * code and reason. data may be NULL when n is 0. */
int cs_fits_reader_feed(struct cs_fits_reader *r, const void *data, size_t n, struct cs_err *err);

/* True once the END card has been parsed (and the header was valid so far). */
bool cs_fits_reader_header_done(const struct cs_fits_reader *r);

/* Number of bytes fed so far. */
uint64_t cs_fits_reader_bytes_fed(const struct cs_fits_reader *r);

/* Once the header is done: the header size and the unpadded data size the
 * header announces, so a caller can check a declared length (Content-Length,
 * multipart part size) before streaming the rest. The whole file must then be
 * header + data bytes, or header + data rounded up to 2880.
 * Returns CS_OK, or CS_EINVAL before END / after a failure (outputs untouched). */
int cs_fits_reader_sizes(const struct cs_fits_reader *r, int64_t *ret_header_bytes,
                         int64_t *ret_data_bytes);

/* Ends the stream and checks the whole file: END seen, the file size against
 * the header + |BITPIX|/8 * prod(NAXISn) data (accepted: data padded to a 2880
 * multiple as the standard says, or unpadded as Seestar writes; shorter is
 * "truncated data", longer is refused), and the keywords an upload needs:
 * DATE-OBS, RA, DEC present and valid.
 * total_file_bytes is the whole file's size when the caller fed only a prefix
 * (e.g. the header) and counted the rest itself; CS_FITS_SIZE_FED means "the
 * bytes fed are the whole file". It may not be smaller than the bytes fed.
 * On success writes *ret_info (may be NULL) and returns CS_OK; otherwise
 * CS_EFITS / CS_ETOOBIG / CS_EINVAL with the reason, and *ret_info is untouched. */
int cs_fits_reader_finish(struct cs_fits_reader *r, uint64_t total_file_bytes,
                          struct cs_fits_info *ret_info, struct cs_err *err);

/* Reads the file at path through the streaming reader (header and size checks
 * as cs_fits_reader_finish). Reads the header only when path is a regular file
 * (its size comes from fstat); anything else (a pipe) is read to its end and
 * counted. Reasons are not prefixed: the caller adds the file name if it wants.
 * Returns CS_OK, CS_EIO (cannot open/read), or the reader's codes.
 * Thread-safe. */
int cs_fits_read_info(const char *path, struct cs_fits_info *ret, struct cs_err *err);

/* Parses an ISO 8601 date-time as FITS writes it: 'YYYY-MM-DDTHH:MM:SS[.f...][Z]'
 * or a date only 'YYYY-MM-DD' (then time 00:00:00); years 1900..9999, real
 * calendar dates, no leap seconds, no time zones. Writes UTC seconds since 1970
 * to *ret_time and the normalised text (fraction kept up to 6 digits) to ret_norm
 * (32 bytes, may be NULL). Returns CS_OK or CS_EINVAL. Thread-safe. */
int cs_fits_parse_datetime(const char *s, double *ret_time, char ret_norm[32]);

/* Parses an angle given as a number (degrees) or a sexagesimal string
 * ('05 35 17.3', '05:35:17.3', '-05 23 28'); sexagesimal RA is in hours
 * (is_ra = true) and multiplied by 15. Returns CS_OK or CS_EINVAL. Thread-safe. */
int cs_fits_parse_angle(const char *s, bool is_ra, double *ret_deg);

#endif
