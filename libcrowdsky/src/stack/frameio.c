/* frameio.c - raw frames through cfitsio: header checks, row reads, dates.
 * cfitsio status codes and messages are translated to CS_EFITS here and
 * nowhere else. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crowdsky/stack.h"
#include "stack/stack_int.h"

static int fits_fail(struct cs_err *err, int status, const char *path, const char *what)
{
        char msg[FLEN_ERRMSG] = "";

        fits_get_errstatus(status, msg);
        fits_clear_errmsg();
        return cs_err_set(err, CS_EFITS, "'%s': %s: %s", path, what, msg);
}

/* optional string key: "" if absent */
static void key_str(fitsfile *ff, const char *key, char *out, size_t outsz)
{
        char v[FLEN_VALUE] = "";
        int st = 0;

        out[0] = 0;
        if (fits_read_key(ff, TSTRING, key, v, NULL, &st) == 0) {
                snprintf(out, outsz, "%s", v);
        } else {
                /* numbers are not strings: take the raw card value */
                st = 0;
                if (fits_read_keyword(ff, key, v, NULL, &st) == 0)
                        snprintf(out, outsz, "%s", v);
        }
        fits_clear_errmsg();
}

static double key_dbl(fitsfile *ff, const char *key, double dflt)
{
        double v = dflt;
        int st = 0;

        if (fits_read_key(ff, TDOUBLE, key, &v, NULL, &st) != 0 || !isfinite(v))
                v = dflt;
        fits_clear_errmsg();
        return v;
}

void cs__format_time(double t, char out[32])
{
        time_t s = (time_t)floor(t);
        long ms = lround((t - floor(t)) * 1000.0);
        struct tm tm;

        if (ms >= 1000) {
                s++;
                ms -= 1000;
        }
        gmtime_r(&s, &tm);
        snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03d", (tm.tm_year + 1900) % 10000,
                 (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100,
                 (int)(ms % 1000));
}

int cs__frame_open(const char *path, fitsfile **ret_ff, struct cs__frame_hdr *hdr, struct cs_err *err)
{
        fitsfile *ff = NULL;
        int status = 0, naxis = 0, bitpix = 0, r;
        long naxes[3] = { 0, 0, 0 }, xoff, yoff;
        char date[FLEN_VALUE] = "";

        memset(hdr, 0, sizeof *hdr);
        if (fits_open_diskfile(&ff, path, READONLY, &status))
                return fits_fail(err, status, path, "cannot open as FITS");
        if (fits_get_img_param(ff, 3, &bitpix, &naxis, naxes, &status)) {
                r = fits_fail(err, status, path, "no image in the primary HDU");
                goto fail;
        }
        if (naxis != 2) {
                r = cs_err_set(err, CS_EFITS, "'%s': expected a 2-D Bayer mosaic, found NAXIS = %d", path, naxis);
                goto fail;
        }
        if (naxes[0] < 16 || naxes[1] < 16 || naxes[0] > 65536 || naxes[1] > 65536) {
                r = cs_err_set(err, CS_EFITS, "'%s': unsupported image size %ldx%ld", path, naxes[0], naxes[1]);
                goto fail;
        }
        hdr->w = naxes[0];
        hdr->h = naxes[1];
        key_str(ff, "BAYERPAT", hdr->bayer, sizeof hdr->bayer);
        xoff = (long)key_dbl(ff, "XBAYROFF", 0);
        yoff = (long)key_dbl(ff, "YBAYROFF", 0);
        if (!hdr->bayer[0]) {
                r = cs_err_set(err, CS_EFITS, "'%s': no BAYERPAT keyword: not a colour raw frame", path);
                goto fail;
        }
        if (cs_bayer_parse(hdr->bayer, xoff, yoff, hdr->cfa, err) < 0) {
                r = cs_err_prefix(err, "'%s'", path);
                r = CS_EFITS;
                if (err)
                        err->code = CS_EFITS;
                goto fail;
        }
        hdr->date_obs = NAN;
        key_str(ff, "DATE-OBS", date, sizeof date);
        if (date[0]) {
                int yr, mo, dy, hr, mi;
                double sec;

                status = 0;
                if (fits_str2time(date, &yr, &mo, &dy, &hr, &mi, &sec, &status) == 0) {
                        struct tm tm = { 0 };

                        tm.tm_year = yr - 1900;
                        tm.tm_mon = mo - 1;
                        tm.tm_mday = dy;
                        tm.tm_hour = hr;
                        tm.tm_min = mi;
                        tm.tm_sec = 0;
                        hdr->date_obs = (double)timegm(&tm) + sec;
                        snprintf(hdr->date_str, sizeof hdr->date_str, "%s", date);
                }
                status = 0;
                fits_clear_errmsg();
        }
        hdr->exptime = key_dbl(ff, "EXPTIME", 0);
        if (hdr->exptime == 0)
                hdr->exptime = key_dbl(ff, "EXPOSURE", 0);
        hdr->ra = key_dbl(ff, "RA", NAN);
        hdr->dec = key_dbl(ff, "DEC", NAN);
        if (!(hdr->dec >= -90 && hdr->dec <= 90))
                hdr->dec = NAN;
        key_str(ff, "OBJECT", hdr->object, sizeof hdr->object);
        key_str(ff, "INSTRUME", hdr->instrume, sizeof hdr->instrume);
        key_str(ff, "SITELAT", hdr->sitelat, sizeof hdr->sitelat);
        key_str(ff, "SITELONG", hdr->sitelong, sizeof hdr->sitelong);
        hdr->raw_off = -1;
        {
                /* the camera's own layout (16-bit, BZERO 32768, BSCALE 1, no
                 * compression, no BLANK): rows can be read straight from the
                 * file without cfitsio's buffers and scaling */
                LONGLONG head = 0, data = 0, end = 0;
                int st = 0;
                char blank[FLEN_VALUE];
                bool direct = bitpix == SHORT_IMG && key_dbl(ff, "BZERO", 0) == 32768.0 &&
                              key_dbl(ff, "BSCALE", 1) == 1.0;

                if (direct && fits_read_keyword(ff, "BLANK", blank, NULL, &st) == 0)
                        direct = false;
                st = 0;
                if (direct && (fits_is_compressed_image(ff, &st) != 0 || st != 0))
                        direct = false;
                st = 0;
                if (direct && fits_get_hduaddrll(ff, &head, &data, &end, &st) == 0 &&
                    end - data >= (LONGLONG)hdr->w * hdr->h * 2)
                        hdr->raw_off = (long long)data;
                fits_clear_errmsg();
        }
        *ret_ff = ff;
        return CS_OK;
fail:
        status = 0;
        fits_close_file(ff, &status);
        fits_clear_errmsg();
        return r;
}

/* Rows straight from the file: big-endian int16 + 32768 is the byte-swapped
 * value with its top bit flipped. The file is opened per read (a band of
 * 64-odd rows, a few hundred microseconds of work): cfitsio already holds a
 * descriptor per frame, and a second one each would halve the frames one
 * stack can keep open under the usual limit of 1024. */
static int read_direct(const char *path, long long off, long w, long row0, long nrows, uint16_t *out,
                       struct cs_err *err)
{
        typedef uint16_t vu16 __attribute__((vector_size(32)));
        size_t n = (size_t)w * (size_t)nrows, want = n * 2, got = 0, i = 0;
        unsigned char *dst = (unsigned char *)out;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return cs_err_set(err, CS_EFITS, "'%s': cannot open: %s", path, strerror(errno));
        off += (long long)row0 * w * 2;
        while (got < want) {
                ssize_t k = pread(fd, dst + got, want - got, (off_t)(off + (long long)got));

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        int e = k < 0 ? errno : 0;

                        close(fd);
                        return cs_err_set(err, CS_EFITS, "'%s': cannot read pixels: %s", path,
                                          e ? strerror(e) : "file truncated");
                }
                got += (size_t)k;
        }
        close(fd);
        for (; i + 16 <= n; i += 16) {
                vu16 v;

                memcpy(&v, out + i, sizeof v);
                v = ((v >> 8) | (v << 8)) ^ 0x8000;
                memcpy(out + i, &v, sizeof v);
        }
        for (; i < n; i++)
                out[i] = (uint16_t)(((out[i] >> 8) | (out[i] << 8)) ^ 0x8000);
        return CS_OK;
}

int cs__frame_read_rows(fitsfile *ff, const struct cs__frame_hdr *hdr, const char *path, long w, long row0,
                        long nrows, uint16_t *out, struct cs_err *err)
{
        int status = 0, anynul = 0;
        unsigned short nul = 0;

        if (nrows <= 0)
                return CS_OK;
        if (hdr && hdr->raw_off >= 0)
                return read_direct(path, hdr->raw_off, w, row0, nrows, out, err);
        if (fits_read_img(ff, TUSHORT, (LONGLONG)row0 * w + 1, (LONGLONG)nrows * w, &nul, out, &anynul, &status))
                return fits_fail(err, status, path, "cannot read pixels (truncated or not 16-bit data?)");
        return CS_OK;
}

void cs__frame_close(fitsfile *ff)
{
        int status = 0;

        if (ff)
                fits_close_file(ff, &status);
        fits_clear_errmsg();
}
