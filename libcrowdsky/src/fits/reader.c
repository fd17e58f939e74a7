/* reader.c - streaming FITS primary-header reader (see fits.h).
 *
 * State machine: bytes go into one 2880-byte block buffer; each completed block
 * is parsed card by card until END. The first 30 bytes are compared with the
 * SIMPLE card as they arrive, so a non-FITS upload is refused after its first
 * byte that differs. After END the header is validated as a whole (required
 * keywords and their values) and the reader turns into a byte counter that
 * refuses a stream longer than header + padded data. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crowdsky/alloc.h"
#include "crowdsky/fits.h"
#include "crowdsky/str.h"
#include "fits/fits_int.h"

static const char simple_card[] = "SIMPLE  =                    T";
#define SIMPLE_LEN (sizeof simple_card - 1)

/* A keyword's value as given, kept until END so the checks can run in one place
 * whatever order the cards come in. */
struct kv {
        bool seen;
        enum cs__fits_vtype type;
        double f;
        char s[72];
};

enum kw {
        KW_DATE_OBS, KW_TIME_OBS, KW_RA, KW_DEC, KW_OBJCTRA, KW_OBJCTDEC, KW_EXPTIME, KW_EXPOSURE,
        KW_OBJECT, KW_BAYERPAT, KW_XBAYROFF, KW_YBAYROFF, KW_INSTRUME, KW_TELESCOP, KW_SITELAT,
        KW_SITELONG, KW_BZERO, KW_BSCALE, KW_GAIN, KW_CCD_TEMP, KW_FOCALLEN, KW_XPIXSZ, KW_N
};

static const char *const kw_names[KW_N] = {
        "DATE-OBS", "TIME-OBS", "RA", "DEC", "OBJCTRA", "OBJCTDEC", "EXPTIME", "EXPOSURE",
        "OBJECT", "BAYERPAT", "XBAYROFF", "YBAYROFF", "INSTRUME", "TELESCOP", "SITELAT",
        "SITELONG", "BZERO", "BSCALE", "GAIN", "CCD-TEMP", "FOCALLEN", "XPIXSZ",
};

struct cs_fits_reader {
        unsigned char block[CS_FITS_BLOCK];
        size_t fill;            /* bytes in block */
        uint64_t fed;           /* bytes fed in total */
        int nblocks;            /* header blocks parsed */
        int ncards;             /* header cards parsed (before END) */
        bool header_done;
        struct cs_err fail;     /* sticky failure; fail.code < 0 once failed */
        int bitpix;
        int naxis;              /* -1 until seen */
        int64_t naxes[3];
        int64_t header_bytes, data_bytes, padded_bytes;
        struct kv kv[KW_N];
        struct cs_fits_info info; /* filled at END */
};

struct cs_fits_reader *cs_fits_reader_new(void)
{
        struct cs_fits_reader *r = cs_xcalloc(1, sizeof *r);

        r->naxis = -1;
        r->naxes[0] = r->naxes[1] = r->naxes[2] = 1;
        return r;
}

struct cs_fits_reader *cs_fits_reader_free(struct cs_fits_reader *r)
{
        free(r);
        return NULL;
}

bool cs_fits_reader_header_done(const struct cs_fits_reader *r)
{
        return r->header_done && r->fail.code == CS_OK;
}

uint64_t cs_fits_reader_bytes_fed(const struct cs_fits_reader *r)
{
        return r->fed;
}

int cs_fits_reader_sizes(const struct cs_fits_reader *r, int64_t *ret_header_bytes,
                         int64_t *ret_data_bytes)
{
        if (!cs_fits_reader_header_done(r))
                return CS_EINVAL;
        *ret_header_bytes = r->header_bytes;
        *ret_data_bytes = r->data_bytes;
        return CS_OK;
}

/* Records the sticky failure and copies it to err. */
__attribute__((format(printf, 4, 5)))
static int fail(struct cs_fits_reader *r, struct cs_err *err, int code, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        r->fail.code = code;
        vsnprintf(r->fail.msg, sizeof r->fail.msg, fmt, ap);
        va_end(ap);
        if (err)
                *err = r->fail;
        return code;
}

static int failed(const struct cs_fits_reader *r, struct cs_err *err)
{
        if (err)
                *err = r->fail;
        return r->fail.code;
}

/* Quotes a user-supplied value for a message, shortened. */
static const char *q(const char *s, char buf[40])
{
        size_t n = strlen(s);

        if (n < 36) {
                memcpy(buf, s, n + 1);
        } else {
                memcpy(buf, s, 32);
                memcpy(buf + 32, "...", 4);
        }
        return buf;
}

/* The mandatory keywords, in the order the standard requires:
 * card 0 SIMPLE (checked byte-wise), 1 BITPIX, 2 NAXIS, 3.. NAXISn. */
static int structural_card(struct cs_fits_reader *r, const struct cs__fits_card *c, struct cs_err *err)
{
        int idx = r->ncards;
        char kb[40];

        if (idx == 1) {
                if (strcmp(c->key, "BITPIX") != 0)
                        return fail(r, err, CS_EFITS, "BITPIX must be the second header card (found '%s')",
                                    q(c->key, kb));
                if (c->type != CS__FV_INT)
                        return fail(r, err, CS_EFITS, "invalid BITPIX '%s'", q(c->s, kb));
                if (c->i != 8 && c->i != 16 && c->i != 32 && c->i != 64 && c->i != -32 && c->i != -64)
                        return fail(r, err, CS_EFITS, "unsupported BITPIX %lld", (long long)c->i);
                r->bitpix = (int)c->i;
                return CS_OK;
        }
        if (idx == 2) {
                if (strcmp(c->key, "NAXIS") != 0)
                        return fail(r, err, CS_EFITS, "NAXIS must be the third header card (found '%s')",
                                    q(c->key, kb));
                if (c->type != CS__FV_INT)
                        return fail(r, err, CS_EFITS, "invalid NAXIS '%s'", q(c->s, kb));
                if (c->i != 2 && c->i != 3)
                        return fail(r, err, CS_EFITS, "unsupported NAXIS = %lld (expected an image, 2 or 3)",
                                    (long long)c->i);
                r->naxis = (int)c->i;
                return CS_OK;
        }
        if (idx >= 3 && idx < 3 + r->naxis) {
                char want[16];
                int a = idx - 3;

                snprintf(want, sizeof want, "NAXIS%d", a + 1);
                if (strcmp(c->key, want) != 0)
                        return fail(r, err, CS_EFITS, "%s must follow NAXIS (found '%s')", want,
                                    q(c->key, kb));
                if (c->type != CS__FV_INT)
                        return fail(r, err, CS_EFITS, "invalid %s '%s'", want, q(c->s, kb));
                if (c->i < 1 || c->i > INT_MAX)
                        return fail(r, err, CS_EFITS, "%s = %lld out of range", want, (long long)c->i);
                r->naxes[a] = c->i;
                return CS_OK;
        }
        /* Later duplicates of the structural keywords would contradict the first. */
        if (!strcmp(c->key, "BITPIX") || !strcmp(c->key, "NAXIS") || !strcmp(c->key, "SIMPLE") ||
            (!strncmp(c->key, "NAXIS", 5) && c->key[5] >= '1' && c->key[5] <= '9'))
                return fail(r, err, CS_EFITS, "unexpected keyword %s in the header", c->key);
        return 1; /* not structural */
}

static void remember(struct cs_fits_reader *r, const struct cs__fits_card *c)
{
        int k;

        for (k = 0; k < KW_N; k++) {
                if (strcmp(c->key, kw_names[k]) != 0)
                        continue;
                if (r->kv[k].seen)
                        return; /* the first occurrence counts, as in cfitsio */
                r->kv[k].seen = true;
                r->kv[k].type = c->type;
                r->kv[k].f = c->f;
                memcpy(r->kv[k].s, c->s, sizeof r->kv[k].s);
                return;
        }
}

static bool kv_number(const struct kv *v, double *ret)
{
        if (!v->seen || (v->type != CS__FV_INT && v->type != CS__FV_FLOAT))
                return false;
        *ret = v->f;
        return true;
}

/* An angle from a numeric card (degrees) or a string card (degrees or sexagesimal). */
static int kv_angle(const struct kv *v, bool is_ra, double *ret)
{
        if (v->type == CS__FV_INT || v->type == CS__FV_FLOAT) {
                *ret = v->f;
                return CS_OK;
        }
        if (v->type == CS__FV_STRING)
                return cs_fits_parse_angle(v->s, is_ra, ret);
        return CS_EINVAL;
}

static void kv_string(const struct kv *v, char *dst, size_t dstsz)
{
        dst[0] = '\0';
        if (v->seen && v->type == CS__FV_STRING)
                cs_str_copy(cs_str_c(v->s), dst, dstsz);
}

/* DATE-OBS, alone or as a date completed by TIME-OBS. */
static int check_date(struct cs_fits_reader *r, struct cs_err *err)
{
        const struct kv *d = &r->kv[KW_DATE_OBS], *t = &r->kv[KW_TIME_OBS];
        char kb[40], both[96];

        if (!d->seen || d->type == CS__FV_NONE)
                return fail(r, err, CS_EFITS, "missing DATE-OBS");
        if (d->type != CS__FV_STRING)
                return fail(r, err, CS_EFITS, "invalid DATE-OBS '%s' (not a string)", q(d->s, kb));
        if (strlen(d->s) == 10) {
                /* The pre-2000 convention: the date here, the time in TIME-OBS. */
                if (!t->seen || t->type != CS__FV_STRING)
                        return fail(r, err, CS_EFITS,
                                    "DATE-OBS '%s' has no time and there is no TIME-OBS", q(d->s, kb));
                snprintf(both, sizeof both, "%sT%s", d->s, t->s);
                if (cs_fits_parse_datetime(both, &r->info.obs_time, r->info.date_obs) < 0 ||
                    strchr(t->s, 'T'))
                        return fail(r, err, CS_EFITS, "invalid TIME-OBS '%s'", q(t->s, kb));
                return CS_OK;
        }
        if (cs_fits_parse_datetime(d->s, &r->info.obs_time, r->info.date_obs) < 0)
                return fail(r, err, CS_EFITS, "invalid DATE-OBS '%s'", q(d->s, kb));
        return CS_OK;
}

static int check_pointing(struct cs_fits_reader *r, struct cs_err *err)
{
        const struct kv *ra = &r->kv[KW_RA], *dec = &r->kv[KW_DEC];
        const char *rn = "RA", *dn = "DEC";
        char kb[40];

        /* Cameras other than the Seestar often write only OBJCTRA/OBJCTDEC. */
        if (!ra->seen && r->kv[KW_OBJCTRA].seen) {
                ra = &r->kv[KW_OBJCTRA];
                rn = "OBJCTRA";
        }
        if (!dec->seen && r->kv[KW_OBJCTDEC].seen) {
                dec = &r->kv[KW_OBJCTDEC];
                dn = "OBJCTDEC";
        }
        if (!ra->seen || ra->type == CS__FV_NONE)
                return fail(r, err, CS_EFITS, "missing RA");
        if (!dec->seen || dec->type == CS__FV_NONE)
                return fail(r, err, CS_EFITS, "missing DEC");
        if (kv_angle(ra, true, &r->info.ra) < 0)
                return fail(r, err, CS_EFITS, "invalid %s '%s'", rn, q(ra->s, kb));
        if (kv_angle(dec, false, &r->info.dec) < 0)
                return fail(r, err, CS_EFITS, "invalid %s '%s'", dn, q(dec->s, kb));
        if (!(r->info.ra >= 0.0 && r->info.ra <= 360.0))
                return fail(r, err, CS_EFITS, "%s out of range (%g, expected 0..360)", rn, r->info.ra);
        if (!(r->info.dec >= -90.0 && r->info.dec <= 90.0))
                return fail(r, err, CS_EFITS, "%s out of range (%g, expected -90..90)", dn, r->info.dec);
        if (r->info.ra == 360.0 || r->info.ra == 0.0)
                r->info.ra = 0.0; /* also turns -0.0 into 0.0 */
        if (r->info.dec == 0.0)
                r->info.dec = 0.0;
        r->info.has_radec = true;
        return CS_OK;
}

/* Runs once, at END: the header as a whole. */
static int header_end(struct cs_fits_reader *r, struct cs_err *err)
{
        struct cs_fits_info *in = &r->info;
        int64_t n = r->bitpix < 0 ? -r->bitpix / 8 : r->bitpix / 8;
        double v;
        int a, rc;
        char kb[40];

        if (r->naxis < 0 || r->ncards < 3 + r->naxis)
                return fail(r, err, CS_EFITS, "header ends before BITPIX, NAXIS and NAXISn");
        /* NAXISn <= INT_MAX each and 3 axes: overflow-checked product. */
        for (a = 0; a < r->naxis; a++)
                if (__builtin_mul_overflow(n, r->naxes[a], &n) || n > INT64_MAX / 2)
                        return fail(r, err, CS_EFITS, "image size overflows");
        r->header_bytes = (int64_t)r->nblocks * CS_FITS_BLOCK;
        r->data_bytes = n;
        r->padded_bytes = (n + CS_FITS_BLOCK - 1) / CS_FITS_BLOCK * CS_FITS_BLOCK;

        in->bitpix = r->bitpix;
        in->naxis = r->naxis;
        memcpy(in->naxes, r->naxes, sizeof in->naxes);
        in->width = (int)r->naxes[0];
        in->height = (int)r->naxes[1];
        in->header_bytes = r->header_bytes;
        in->data_bytes = r->data_bytes;

        rc = check_date(r, err);
        if (rc < 0)
                return rc;
        rc = check_pointing(r, err);
        if (rc < 0)
                return rc;

        /* Scaling changes what the pixels mean: a bad value is a bad file. */
        in->bzero = 0.0;
        in->bscale = 1.0;
        if (r->kv[KW_BZERO].seen && !kv_number(&r->kv[KW_BZERO], &in->bzero))
                return fail(r, err, CS_EFITS, "invalid BZERO '%s'", q(r->kv[KW_BZERO].s, kb));
        if (r->kv[KW_BSCALE].seen && (!kv_number(&r->kv[KW_BSCALE], &in->bscale) || in->bscale == 0.0))
                return fail(r, err, CS_EFITS, "invalid BSCALE '%s'", q(r->kv[KW_BSCALE].s, kb));

        kv_string(&r->kv[KW_BAYERPAT], in->bayer, sizeof in->bayer);
        if (in->bayer[0] && strcmp(in->bayer, "RGGB") && strcmp(in->bayer, "BGGR") &&
            strcmp(in->bayer, "GRBG") && strcmp(in->bayer, "GBRG"))
                return fail(r, err, CS_EFITS, "unsupported BAYERPAT '%s'", q(r->kv[KW_BAYERPAT].s, kb));
        if (r->kv[KW_BAYERPAT].seen && r->kv[KW_BAYERPAT].type != CS__FV_STRING &&
            r->kv[KW_BAYERPAT].type != CS__FV_NONE)
                return fail(r, err, CS_EFITS, "unsupported BAYERPAT '%s'", q(r->kv[KW_BAYERPAT].s, kb));

        /* Descriptive keywords: an unreadable value is treated as absent. */
        in->has_exptime = (kv_number(&r->kv[KW_EXPTIME], &in->exptime) ||
                           kv_number(&r->kv[KW_EXPOSURE], &in->exptime)) &&
                          in->exptime >= 0.0;
        if (!in->has_exptime)
                in->exptime = 0.0;
        kv_string(&r->kv[KW_OBJECT], in->object, sizeof in->object);
        kv_string(&r->kv[KW_INSTRUME], in->instrume, sizeof in->instrume);
        kv_string(&r->kv[KW_TELESCOP], in->telescop, sizeof in->telescop);
        if (kv_number(&r->kv[KW_XBAYROFF], &v) && (v == 0 || v == 1))
                in->xbayoff = (int)v;
        if (kv_number(&r->kv[KW_YBAYROFF], &v) && (v == 0 || v == 1))
                in->ybayoff = (int)v;
        {
                double lat, lon;

                if (r->kv[KW_SITELAT].seen && r->kv[KW_SITELONG].seen &&
                    kv_angle(&r->kv[KW_SITELAT], false, &lat) == CS_OK &&
                    kv_angle(&r->kv[KW_SITELONG], false, &lon) == CS_OK && fabs(lat) <= 90.0 &&
                    fabs(lon) <= 360.0) {
                        in->has_site = true;
                        in->sitelat = lat;
                        in->sitelong = lon;
                }
        }
        in->has_gain = kv_number(&r->kv[KW_GAIN], &in->gain);
        in->has_ccd_temp = kv_number(&r->kv[KW_CCD_TEMP], &in->ccd_temp);
        if (!kv_number(&r->kv[KW_FOCALLEN], &in->focallen) || in->focallen < 0)
                in->focallen = 0.0;
        if (!kv_number(&r->kv[KW_XPIXSZ], &in->xpixsz) || in->xpixsz < 0)
                in->xpixsz = 0.0;
        r->header_done = true;
        return CS_OK;
}

/* Parses one complete header block. */
static int parse_block(struct cs_fits_reader *r, struct cs_err *err)
{
        struct cs__fits_card c;
        size_t off, k;
        int rc;

        for (off = 0; off < CS_FITS_BLOCK; off += CS_FITS_CARD) {
                const char *card = (const char *)r->block + off;

                for (k = 0; k < CS_FITS_CARD; k++)
                        if (card[k] < 0x20 || card[k] > 0x7e)
                                return fail(r, err, CS_EFITS,
                                            "header byte %zu is not printable ASCII (0x%02x)",
                                            (size_t)r->nblocks * CS_FITS_BLOCK + off + k,
                                            (unsigned char)card[k]);
                if (!memcmp(card, "END     ", 8)) {
                        /* The rest of END's card is blank; cards after it are fill. */
                        for (k = 8; k < CS_FITS_CARD; k++)
                                if (card[k] != ' ')
                                        return fail(r, err, CS_EFITS, "END card is not blank after END");
                        r->nblocks++;
                        return header_end(r, err);
                }
                if (r->ncards == 0) {
                        /* Bytes 0..29 were compared as they came; the value must end there. */
                        cs__fits_card_parse(card, &c);
                        if (c.type != CS__FV_LOGICAL || !c.logical)
                                return fail(r, err, CS_EFITS, "not a FITS file");
                        r->ncards++;
                        continue;
                }
                cs__fits_card_parse(card, &c);
                rc = structural_card(r, &c, err);
                if (rc < 0)
                        return rc;
                if (rc > 0 && c.has_value)
                        remember(r, &c);
                r->ncards++;
        }
        r->nblocks++;
        if (r->nblocks >= CS_FITS_MAX_HEADER_BLOCKS)
                return fail(r, err, CS_ETOOBIG, "header has no END card within %d blocks",
                            CS_FITS_MAX_HEADER_BLOCKS);
        return CS_OK;
}

int cs_fits_reader_feed(struct cs_fits_reader *r, const void *data, size_t n, struct cs_err *err)
{
        const unsigned char *p = data;
        int rc;

        if (r->fail.code < 0)
                return failed(r, err);
        while (n > 0) {
                if (r->header_done) {
                        uint64_t limit = (uint64_t)(r->header_bytes + r->padded_bytes);

                        r->fed += n;
                        if (r->fed > limit)
                                return fail(r, err, CS_EFITS,
                                            "file is longer than its header and data (expected at most %llu bytes; extensions are not supported)",
                                            (unsigned long long)limit);
                        return CS_OK;
                }
                {
                        size_t take = CS_FITS_BLOCK - r->fill;

                        if (take > n)
                                take = n;
                        /* The magic: refuse at the first byte that differs. */
                        if (r->fed < SIMPLE_LEN) {
                                size_t k, end = SIMPLE_LEN - (size_t)r->fed;

                                for (k = 0; k < take && k < end; k++)
                                        if (p[k] != (unsigned char)simple_card[r->fed + k])
                                                return fail(r, err, CS_EFITS, "not a FITS file");
                        }
                        memcpy(r->block + r->fill, p, take);
                        r->fill += take;
                        r->fed += take;
                        p += take;
                        n -= take;
                }
                if (r->fill == CS_FITS_BLOCK) {
                        r->fill = 0;
                        rc = parse_block(r, err);
                        if (rc < 0)
                                return rc;
                }
        }
        return CS_OK;
}

int cs_fits_reader_finish(struct cs_fits_reader *r, uint64_t total_file_bytes,
                          struct cs_fits_info *ret_info, struct cs_err *err)
{
        uint64_t total = total_file_bytes == CS_FITS_SIZE_FED ? r->fed : total_file_bytes;
        uint64_t hdr, exact, padded;

        if (r->fail.code < 0)
                return failed(r, err);
        if (total < r->fed)
                return cs_err_set(err, CS_EINVAL, "file size %llu is less than the %llu bytes read",
                                  (unsigned long long)total, (unsigned long long)r->fed);
        if (!r->header_done) {
                if (r->fed == 0)
                        return fail(r, err, CS_EFITS, "not a FITS file (empty)");
                if (r->fed < SIMPLE_LEN)
                        return fail(r, err, CS_EFITS, "not a FITS file (only %llu bytes)",
                                    (unsigned long long)r->fed);
                return fail(r, err, CS_EFITS, "header has no END card (file ends after %llu bytes)",
                            (unsigned long long)total);
        }
        hdr = (uint64_t)r->header_bytes;
        exact = hdr + (uint64_t)r->data_bytes;
        padded = hdr + (uint64_t)r->padded_bytes;
        if (total < exact)
                return fail(r, err, CS_EFITS, "truncated data (%llu bytes, expected %llu)",
                            (unsigned long long)total, (unsigned long long)exact);
        if (total > padded)
                return fail(r, err, CS_EFITS,
                            "file is longer than its header and data (expected at most %llu bytes; extensions are not supported)",
                            (unsigned long long)padded);
        if (total != exact && total != padded)
                return fail(r, err, CS_EFITS,
                            "file size %llu does not match its header and data (expected %llu or %llu)",
                            (unsigned long long)total, (unsigned long long)exact,
                            (unsigned long long)padded);
        if (ret_info) {
                *ret_info = r->info;
                ret_info->file_bytes = (int64_t)total;
        }
        return CS_OK;
}

int cs_fits_read_info(const char *path, struct cs_fits_info *ret, struct cs_err *err)
{
        struct cs_fits_reader *r = NULL;
        unsigned char *buf = NULL;
        const size_t bufsz = 1 << 16;
        uint64_t total = CS_FITS_SIZE_FED;
        struct stat st;
        int fd = -1, rc;
        ssize_t got;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                rc = cs_err_set(err, CS_EIO, "cannot open: %s", strerror(errno));
                goto out;
        }
        buf = cs_xmalloc(bufsz);
        r = cs_fits_reader_new();
        for (;;) {
                got = read(fd, buf, bufsz);
                if (got < 0 && errno == EINTR)
                        continue;
                if (got < 0) {
                        rc = cs_err_set(err, CS_EIO, "cannot read: %s", strerror(errno));
                        goto out;
                }
                if (got == 0)
                        break;
                rc = cs_fits_reader_feed(r, buf, (size_t)got, err);
                if (rc < 0)
                        goto out;
                /* A regular file's size says the rest: no need to read the pixels. */
                if (cs_fits_reader_header_done(r) && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                    (uint64_t)st.st_size >= cs_fits_reader_bytes_fed(r)) {
                        total = (uint64_t)st.st_size;
                        break;
                }
        }
        rc = cs_fits_reader_finish(r, total, ret, err);
out:
        if (fd >= 0)
                close(fd);
        free(buf);
        cs_fits_reader_free(r);
        return rc;
}
