/* fuzz_multipart.c - libFuzzer target for the streaming multipart/form-data
 * parser.
 *
 * Input: an optional first line "CT: <Content-Type header value>\n" followed by
 * the body (without that line, "multipart/form-data; boundary=XyZ" is used).
 * Oracles beyond "no crash, no sanitizer report":
 *  - the verdict (status), the parts (name, filename, data) and the number of
 *    part ends are the same whatever the chunking: whole, 1 byte, and a
 *    pseudo-random chunking derived from the input;
 *  - parts never hold more data bytes than the body has;
 *  - every part that began and was not cut by an error ended exactly once.
 * Any violation aborts, which libFuzzer reports as a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crowdsky/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                        \
        do {                                                                               \
                if (!(cond)) {                                                             \
                        fprintf(stderr, "fuzz_multipart: check failed: %s (line %d)\n", #cond, \
                                __LINE__);                                                 \
                        abort();                                                           \
                }                                                                          \
        } while (0)

#define MAXP 16

struct record {
        int rc;
        unsigned begins, ends;
        char names[MAXP][CS_MULTIPART_NAME_MAX];
        char files[MAXP][CS_MULTIPART_NAME_MAX];
        uint64_t hash[MAXP]; /* FNV-1a of each part's data */
        size_t len[MAXP];
        size_t total;
};

static int on_begin(void *ud, const struct cs_multipart_part *p, struct cs_err *err)
{
        struct record *r = ud;

        (void)err;
        CHECK(r->begins == r->ends); /* the previous part ended */
        CHECK(p->index == r->begins);
        if (r->begins < MAXP) {
                memcpy(r->names[r->begins], p->name, sizeof p->name);
                memcpy(r->files[r->begins], p->filename, sizeof p->filename);
                r->hash[r->begins] = 1469598103934665603u;
        }
        r->begins++;
        return CS_OK;
}

static int on_data(void *ud, const char *p, size_t n, struct cs_err *err)
{
        struct record *r = ud;
        unsigned i = r->begins - 1;
        size_t k;

        (void)err;
        CHECK(r->begins > r->ends && n > 0);
        r->total += n;
        if (i < MAXP) {
                for (k = 0; k < n; k++)
                        r->hash[i] = (r->hash[i] ^ (unsigned char)p[k]) * 1099511628211u;
                r->len[i] += n;
        }
        return CS_OK;
}

static int on_end(void *ud, struct cs_err *err)
{
        struct record *r = ud;

        (void)err;
        r->ends++;
        CHECK(r->ends == r->begins);
        return CS_OK;
}

static void run(const char *ct, const uint8_t *body, size_t n, unsigned mode, struct record *rec)
{
        static const struct cs_multipart_cb cb = { on_begin, on_data, on_end };
        struct cs_multipart_limits lim = { 1024, MAXP };
        struct cs_multipart *mp = NULL;
        size_t i = 0;
        uint32_t x = (uint32_t)n * 2654435761u + mode;
        int rc;

        memset(rec, 0, sizeof *rec);
        rc = cs_multipart_new(ct, &cb, rec, &lim, &mp, NULL);
        if (rc < 0) {
                rec->rc = rc;
                return;
        }
        while (i < n && rc == CS_OK) {
                size_t k;
                if (mode == 0) {
                        k = n;
                } else if (mode == 1) {
                        k = 1;
                } else {
                        x = x * 1103515245u + 12345u;
                        k = 1 + (x >> 16) % 97;
                }
                if (k > n - i)
                        k = n - i;
                rc = cs_multipart_feed(mp, (const char *)body + i, k, NULL);
                i += k;
        }
        if (rc == CS_OK)
                rc = cs_multipart_finish(mp, NULL);
        rec->rc = rc;
        cs_multipart_free(mp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct record a, b, c;
        char ct[300] = "multipart/form-data; boundary=XyZ";
        const uint8_t *body = data;
        size_t n = size;
        unsigned i;

        if (size > 4 && memcmp(data, "CT: ", 4) == 0) {
                const uint8_t *nl = memchr(data, '\n', size < 260 ? size : 260);
                if (nl) {
                        size_t l = (size_t)(nl - data) - 4;
                        memcpy(ct, data + 4, l);
                        ct[l] = '\0';
                        body = nl + 1;
                        n = size - (size_t)(body - data);
                }
        }
        run(ct, body, n, 0, &a);
        run(ct, body, n, 1, &b);
        run(ct, body, n, 2, &c);
        CHECK(a.total <= n);
        CHECK(a.rc == b.rc && a.rc == c.rc);
        CHECK(a.begins == b.begins && a.begins == c.begins);
        CHECK(a.ends == b.ends && a.ends == c.ends);
        if (a.rc == CS_OK)
                CHECK(a.begins == a.ends);
        /* parts that completed carry the same names and data in every chunking */
        for (i = 0; i < a.ends && i < MAXP; i++) {
                CHECK(strcmp(a.names[i], b.names[i]) == 0 && strcmp(a.names[i], c.names[i]) == 0);
                CHECK(strcmp(a.files[i], b.files[i]) == 0 && strcmp(a.files[i], c.files[i]) == 0);
                CHECK(a.len[i] == b.len[i] && a.len[i] == c.len[i]);
                CHECK(a.hash[i] == b.hash[i] && a.hash[i] == c.hash[i]);
        }
        return 0;
}
