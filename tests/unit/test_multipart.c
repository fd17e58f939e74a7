/* test_multipart.c - the streaming multipart/form-data parser: every
 * chunking gives the same parts, delimiters spanning chunk edges, look-alike
 * delimiters in file data, limits, malformed bodies. */
#include <stdint.h>
#include <string.h>

#include "cs_test.h"
#include "crowdsky/buf.h"
#include "crowdsky/multipart.h"

#define CT "multipart/form-data; boundary=XyZ-b0und"

struct got {
        int nparts, nends;
        char names[8][CS_MULTIPART_NAME_MAX];
        char filenames[8][CS_MULTIPART_NAME_MAX];
        int has_filename[8];
        struct cs_buf data[8];
        int stop_at_part; /* callback returns an error at this part (-1: never) */
};

static int on_begin(void *ud, const struct cs_multipart_part *p, struct cs_err *err)
{
        struct got *g = ud;

        if (g->nparts == g->stop_at_part)
                return cs_err_set(err, CS_EFITS, "refused part %d", g->nparts);
        if (g->nparts >= 8)
                return cs_err_set(err, CS_ETOOBIG, "test holds 8 parts");
        snprintf(g->names[g->nparts], CS_MULTIPART_NAME_MAX, "%s", p->name);
        snprintf(g->filenames[g->nparts], CS_MULTIPART_NAME_MAX, "%s", p->filename);
        g->has_filename[g->nparts] = p->has_filename;
        cs_buf_init(&g->data[g->nparts], 1 << 20);
        g->nparts++;
        return CS_OK;
}

static int on_data(void *ud, const char *p, size_t n, struct cs_err *err)
{
        struct got *g = ud;

        (void)err;
        CS_ASSERT(n > 0);
        return cs_buf_add(&g->data[g->nparts - 1], p, n);
}

static int on_end(void *ud, struct cs_err *err)
{
        struct got *g = ud;

        (void)err;
        g->nends++;
        CS_ASSERT_EQ(g->nends, g->nparts);
        return CS_OK;
}

static const struct cs_multipart_cb cb = { on_begin, on_data, on_end };

static void got_release(struct got *g)
{
        int i;

        for (i = 0; i < g->nparts; i++)
                cs_buf_release(&g->data[i]);
}

/* Feeds body in chunks of `step` bytes (0 = all at once); returns status. */
static int run(const char *ct, const char *body, size_t n, size_t step, struct got *g,
               const struct cs_multipart_limits *lim, struct cs_err *err)
{
        struct cs_multipart *mp = NULL;
        size_t i = 0;
        int r;

        memset(g, 0, sizeof *g);
        g->stop_at_part = -1;
        r = cs_multipart_new(ct, &cb, g, lim, &mp, err);
        if (r < 0)
                return r;
        if (step == 0)
                step = n ? n : 1;
        while (i < n && r == CS_OK) {
                size_t k = n - i < step ? n - i : step;
                r = cs_multipart_feed(mp, body + i, k, err);
                i += k;
        }
        if (r == CS_OK)
                r = cs_multipart_finish(mp, err);
        cs_multipart_free(mp);
        return r;
}

/* A body with a preamble, two text fields, a binary file whose data holds
 * near-delimiters, padding after a delimiter, and an epilogue. */
static size_t make_body(char *out, size_t cap, const char *file, size_t flen)
{
        struct cs_buf b = CS_BUF_INIT(cap);
        size_t n;

        cs_buf_adds(&b, "preamble to ignore\r\n");
        cs_buf_adds(&b, "--XyZ-b0und\r\n"
                        "Content-Disposition: form-data; name=\"action\"\r\n\r\n"
                        "file\r\n"
                        "--XyZ-b0und  \r\n"
                        "content-disposition: form-data; name=\"session_token\"\r\n"
                        "X-Other: ignored\r\n\r\n"
                        "abc\r\n--XyZ-b0un\r\n"
                        "--XyZ-b0und\r\n"
                        "Content-Disposition: form-data; name=\"file\"; filename=\"a b.fit\"\r\n"
                        "Content-Type: application/octet-stream\r\n\r\n");
        cs_buf_add(&b, file, flen);
        cs_buf_adds(&b, "\r\n--XyZ-b0und--\r\nepilogue --XyZ-b0und\r\n");
        n = b.len;
        memcpy(out, b.data, n);
        cs_buf_release(&b);
        return n;
}

static void check_parts(struct got *g, const char *file, size_t flen)
{
        CS_ASSERT_EQ(g->nparts, 3);
        CS_ASSERT_EQ(g->nends, 3);
        CS_ASSERT_STREQ(g->names[0], "action");
        CS_ASSERT_STREQ(g->data[0].data, "file");
        CS_ASSERT_EQ(g->has_filename[0], 0);
        CS_ASSERT_STREQ(g->names[1], "session_token");
        CS_ASSERT_STREQ(g->data[1].data, "abc\r\n--XyZ-b0un");
        CS_ASSERT_STREQ(g->names[2], "file");
        CS_ASSERT_STREQ(g->filenames[2], "a b.fit");
        CS_ASSERT_EQ(g->has_filename[2], 1);
        CS_ASSERT_EQ(g->data[2].len, flen);
        CS_ASSERT(memcmp(g->data[2].data, file, flen) == 0);
}

static size_t make_file(char *f, size_t cap)
{
        static const char *pieces[] = { "\r", "\r\n", "\r\n-", "\r\n--", "\r\n--XyZ", "\r\n--XyZ-b0un",
                                        "\r\r\n--XyZ-b0unX", "--XyZ-b0und", "\n--XyZ-b0und" };
        size_t n = 0, i, k;
        uint32_t x = 12345;

        for (k = 0; k < 40; k++) {
                for (i = 0; i < 17 && n < cap; i++) {
                        x = x * 1103515245u + 12345u;
                        f[n++] = (char)(x >> 16);
                }
                {
                        const char *p = pieces[k % (sizeof pieces / sizeof pieces[0])];
                        size_t l = strlen(p);
                        if (n + l < cap) {
                                memcpy(f + n, p, l);
                                n += l;
                        }
                }
        }
        /* the file ends with CR, right before the delimiter's CRLF */
        f[n++] = '\r';
        return n;
}

CS_TEST(every_chunking)
{
        static char file[4096], body[8192];
        size_t flen = make_file(file, sizeof file - 1);
        size_t n = make_body(body, sizeof body, file, flen);
        size_t step;
        struct got g;

        for (step = 0; step <= 97; step++) {
                struct cs_err err = CS_ERR_INIT;
                int r = run(CT, body, n, step, &g, NULL, &err);
                if (r < 0)
                        CS_FAIL("step %zu: %d %s", step, r, err.msg);
                check_parts(&g, file, flen);
                got_release(&g);
        }
        for (step = 98; step < n + 5; step += 131) {
                CS_ASSERT_OK(run(CT, body, n, step, &g, NULL, NULL));
                check_parts(&g, file, flen);
                got_release(&g);
        }
}

CS_TEST(body_starts_with_delimiter_and_empty_part)
{
        const char *b = "--B\r\nContent-Disposition: form-data; name=\"e\"\r\n\r\n\r\n--B--";
        struct got g;

        CS_ASSERT_OK(run("multipart/form-data; boundary=B", b, strlen(b), 1, &g, NULL, NULL));
        CS_ASSERT_EQ(g.nparts, 1);
        CS_ASSERT_EQ(g.data[0].len, 0);
        got_release(&g);
}

CS_TEST(truncated_and_malformed)
{
        struct got g;
        struct cs_err err = CS_ERR_INIT;
        const char *trunc = "--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\ndata without end";
        const char *nodisp = "--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--";
        const char *junk = "--BX\r\n";
        const char *fold = "--B\r\nContent-Disposition: form-data;\r\n name=\"f\"\r\n\r\nx\r\n--B--";
        const char *empty = "";

        CS_ASSERT_EQ(run("multipart/form-data; boundary=B", trunc, strlen(trunc), 7, &g, NULL, &err),
                     CS_EINVAL);
        CS_ASSERT(strstr(err.msg, "truncated") != NULL);
        got_release(&g);
        CS_ASSERT_EQ(run("multipart/form-data; boundary=B", nodisp, strlen(nodisp), 0, &g, NULL, &err),
                     CS_EINVAL);
        got_release(&g);
        CS_ASSERT_EQ(run("multipart/form-data; boundary=B", junk, strlen(junk), 0, &g, NULL, &err),
                     CS_EINVAL);
        got_release(&g);
        CS_ASSERT_EQ(run("multipart/form-data; boundary=B", fold, strlen(fold), 0, &g, NULL, &err),
                     CS_EINVAL);
        got_release(&g);
        CS_ASSERT_EQ(run("multipart/form-data; boundary=B", empty, 0, 0, &g, NULL, &err), CS_EINVAL);
        got_release(&g);
}

CS_TEST(bad_content_type)
{
        struct got g;
        struct cs_err err = CS_ERR_INIT;

        CS_ASSERT_EQ(run("application/x-www-form-urlencoded", "", 0, 0, &g, NULL, &err), CS_EINVAL);
        CS_ASSERT_EQ(run("multipart/form-data", "", 0, 0, &g, NULL, &err), CS_EINVAL);
        CS_ASSERT_EQ(run("multipart/form-data; boundary=\"a\rb\"", "", 0, 0, &g, NULL, &err), CS_EINVAL);
        CS_ASSERT_EQ(run("multipart/form-data; boundary=01234567890123456789012345678901234567890123"
                         "4567890123456789012345678",
                         "", 0, 0, &g, NULL, &err),
                     CS_EINVAL);
}

CS_TEST(limits)
{
        struct got g;
        struct cs_err err = CS_ERR_INIT;
        struct cs_multipart_limits lim = { 64, 2 };
        const char *three = "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n"
                            "--B\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\n2\r\n"
                            "--B\r\nContent-Disposition: form-data; name=\"c\"\r\n\r\n3\r\n--B--";
        const char *bighdr = "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n"
                             "X-Long: 0123456789012345678901234567890123456789\r\n\r\n1\r\n--B--";

        CS_ASSERT_EQ(run("multipart/form-data; boundary=B", three, strlen(three), 3, &g, &lim, &err),
                     CS_ETOOBIG);
        CS_ASSERT(strstr(err.msg, "too many") != NULL);
        CS_ASSERT_EQ(g.nparts, 2);
        got_release(&g);
        CS_ASSERT_EQ(run("multipart/form-data; boundary=B", bighdr, strlen(bighdr), 5, &g, &lim, &err),
                     CS_ETOOBIG);
        got_release(&g);
}

CS_TEST(callback_stops_parse)
{
        struct got g;
        struct cs_err err = CS_ERR_INIT;
        struct cs_multipart *mp = NULL;
        static char file[256], body[2048];
        size_t flen = make_file(file, sizeof file - 1), n = make_body(body, sizeof body, file, flen);

        memset(&g, 0, sizeof g);
        g.stop_at_part = 1;
        CS_ASSERT_OK(cs_multipart_new(CT, &cb, &g, NULL, &mp, &err));
        CS_ASSERT_EQ(cs_multipart_feed(mp, body, n, &err), CS_EFITS);
        CS_ASSERT(strstr(err.msg, "refused part 1") != NULL);
        /* stuck after an error */
        CS_ASSERT_EQ(cs_multipart_feed(mp, "x", 1, &err), CS_EFITS);
        CS_ASSERT_EQ(cs_multipart_finish(mp, &err), CS_EFITS);
        CS_ASSERT_EQ(cs_multipart_parts(mp), 2);
        cs_multipart_free(mp);
        got_release(&g);
}

CS_TEST_MAIN()
