/* fuzz_fits_header.c - libFuzzer target for the streaming FITS header reader and
 * the chunk-key parser.
 *
 * Oracles beyond "no crash, no sanitizer report":
 *  - the reader gives the same verdict (code, reason, info) whatever the chunking:
 *    whole, 1 byte, 7 bytes, and a pseudo-random chunking derived from the input;
 *  - once the header is done, finishing with the size the header announces
 *    (unpadded and padded) succeeds, and the chunk key of an accepted header can
 *    be formatted and parses back to itself;
 *  - a chunk key that parses formats back to the same text.
 * Any violation aborts, which libFuzzer reports as a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crowdsky/chunkkey.h"
#include "crowdsky/fits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                        \
        do {                                                                               \
                if (!(cond)) {                                                             \
                        fprintf(stderr, "fuzz_fits_header: check failed: %s (line %d)\n", #cond, \
                                __LINE__);                                                 \
                        abort();                                                           \
                }                                                                          \
        } while (0)

struct verdict {
        int rc;
        struct cs_err err;
        struct cs_fits_info info;
        bool header_done;
        int64_t hdr, dat;
};

/* Feeds data in chunks: mode 0 whole, otherwise sizes from a small LCG seeded
 * with `seed` in 1..maxchunk (maxchunk 1 = byte by byte). */
static void run(const uint8_t *data, size_t size, size_t maxchunk, uint32_t seed, struct verdict *v)
{
        struct cs_fits_reader *r = cs_fits_reader_new();
        size_t off = 0;

        memset(v, 0, sizeof *v);
        v->rc = CS_OK;
        while (off < size) {
                size_t n = size - off;

                if (maxchunk) {
                        seed = seed * 1664525u + 1013904223u;
                        n = 1 + (seed >> 8) % maxchunk;
                        if (n > size - off)
                                n = size - off;
                }
                v->rc = cs_fits_reader_feed(r, data + off, n, &v->err);
                if (v->rc < 0)
                        break;
                off += n;
        }
        v->header_done = cs_fits_reader_header_done(r);
        if (v->header_done)
                CHECK(cs_fits_reader_sizes(r, &v->hdr, &v->dat) == CS_OK);
        else
                CHECK(cs_fits_reader_sizes(r, &v->hdr, &v->dat) == CS_EINVAL);
        if (v->rc == CS_OK)
                v->rc = cs_fits_reader_finish(r, CS_FITS_SIZE_FED, &v->info, &v->err);
        CHECK(v->rc <= 0);
        CHECK(v->rc == CS_OK || v->err.msg[0] != '\0');
        CHECK(memchr(v->err.msg, '\0', sizeof v->err.msg) != NULL);
        cs_fits_reader_free(r);
}

static void same(const struct verdict *a, const struct verdict *b)
{
        CHECK(a->rc == b->rc);
        CHECK(strcmp(a->err.msg, b->err.msg) == 0);
        CHECK(a->header_done == b->header_done);
        if (a->rc == CS_OK)
                CHECK(memcmp(&a->info, &b->info, sizeof a->info) == 0);
}

static void check_key_round_trip(const char *key, bool must_parse)
{
        struct cs_chunkkey k;
        char again[CS_CHUNKKEY_MAX];

        if (cs_chunkkey_parse(key, &k, NULL) != CS_OK) {
                CHECK(!must_parse);
                return;
        }
        CHECK(k.slot >= 0 && k.slot <= 95);
        CHECK(k.ra >= 0.0 && k.ra < 360.0);
        CHECK(k.dec >= -90.0 && k.dec <= 90.0);
        CHECK(cs_chunkkey_format((double)k.slot_start, k.ra, k.dec, again, NULL) == CS_OK);
        CHECK(strcmp(again, key) == 0);
}

/* The accepted header, finished with the announced sizes, must pass. */
static void check_sizes(const uint8_t *data, size_t size, const struct verdict *v)
{
        uint64_t hdr = (uint64_t)v->hdr, dat = (uint64_t)v->dat;
        uint64_t padded = (dat + CS_FITS_BLOCK - 1) / CS_FITS_BLOCK * CS_FITS_BLOCK;
        struct cs_fits_reader *r = cs_fits_reader_new();
        struct cs_fits_info info;
        struct cs_err err = CS_ERR_INIT;
        char key[CS_CHUNKKEY_MAX];

        CHECK(cs_fits_reader_feed(r, data, (size_t)hdr, &err) == CS_OK);
        CHECK(cs_fits_reader_finish(r, hdr + dat, &info, &err) == CS_OK);
        CHECK(cs_fits_reader_finish(r, hdr + padded, &info, &err) == CS_OK);
        if (dat > 0)
                CHECK(cs_fits_reader_finish(r, hdr + dat - 1, &info, &err) == CS_EFITS);
        cs_fits_reader_free(r);
        CHECK(info.has_radec && info.ra >= 0.0 && info.ra < 360.0);
        CHECK(info.dec >= -90.0 && info.dec <= 90.0);
        CHECK(info.width >= 1 && info.height >= 1);
        CHECK(info.header_bytes % CS_FITS_BLOCK == 0 && (uint64_t)info.header_bytes <= size);
        CHECK(strlen(info.date_obs) >= 19);
        CHECK(cs_chunkkey_format(info.obs_time, info.ra, info.dec, key, &err) == CS_OK);
        check_key_round_trip(key, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct verdict whole, other;
        uint32_t seed = 2166136261u;
        char key[64];
        size_t i, n;

        /* FNV-1a of the input picks the random chunking, so a crash replays. */
        for (i = 0; i < size; i++)
                seed = (seed ^ data[i]) * 16777619u;
        run(data, size, 0, 0, &whole);
        run(data, size, 1, seed, &other);
        same(&whole, &other);
        run(data, size, 7, seed, &other); /* 1..7 */
        same(&whole, &other);
        run(data, size, 4000, seed, &other);
        same(&whole, &other);
        if (whole.header_done)
                check_sizes(data, size, &whole);

        /* The input's first line as a chunk key, e.g. from a URL. */
        for (n = 0; n < size && n < sizeof key - 1 && data[n] != '\n' && data[n] != '\0'; n++)
                key[n] = (char)data[n];
        key[n] = '\0';
        check_key_round_trip(key, false);
        return 0;
}
