/* test_http.c - urlencoded forms, cookies, header parameters, Basic auth,
 * base64, HTML escaping. */
#include <string.h>

#include "cs_test.h"
#include "crowdsky/http.h"

CS_TEST(form_basic)
{
        struct cs_form f = CS_FORM_INIT;
        const char *q = "action=start&name=M+94%20core&empty=&flag&&x=%41%42";

        CS_ASSERT_OK(cs_form_parse(&f, q, strlen(q), NULL));
        CS_ASSERT_EQ(f.n, 5);
        CS_ASSERT_STREQ(cs_form_get(&f, "action"), "start");
        CS_ASSERT_STREQ(cs_form_get(&f, "name"), "M 94 core");
        CS_ASSERT_STREQ(cs_form_get(&f, "empty"), "");
        CS_ASSERT_STREQ(cs_form_get(&f, "flag"), "");
        CS_ASSERT_STREQ(cs_form_get(&f, "x"), "AB");
        CS_ASSERT(cs_form_get(&f, "missing") == NULL);
        cs_form_release(&f);
}

CS_TEST(form_first_wins_and_nul)
{
        struct cs_form f = CS_FORM_INIT;
        const char *q = "a=1&a=2&b=x%00y";

        CS_ASSERT_OK(cs_form_parse(&f, q, strlen(q), NULL));
        CS_ASSERT_STREQ(cs_form_get(&f, "a"), "1");
        CS_ASSERT(cs_form_get_text(&f, "b") == NULL); /* embedded NUL refused as text */
        CS_ASSERT_EQ(f.fields[2].value_len, 3);
        cs_form_release(&f);
}

CS_TEST(form_bad_escape)
{
        struct cs_form f = CS_FORM_INIT;
        struct cs_err err = CS_ERR_INIT;
        const char *bad[] = { "a=%", "a=%4", "a=%zz", "%g1=1" };
        size_t i;

        for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                CS_ASSERT_EQ(cs_form_parse(&f, bad[i], strlen(bad[i]), &err), CS_EINVAL);
                cs_form_release(&f);
        }
}

CS_TEST(form_caps)
{
        struct cs_form f;
        struct cs_err err = CS_ERR_INIT;
        const char *q = "a=1&b=2&c=3";
        const char *big = "a=0123456789012345678901234567890123456789";

        cs_form_init(&f, 2, 1024);
        CS_ASSERT_EQ(cs_form_parse(&f, q, strlen(q), &err), CS_ETOOBIG);
        CS_ASSERT(strstr(err.msg, "too many") != NULL);
        cs_form_release(&f);
        cs_form_init(&f, 10, 16);
        CS_ASSERT_EQ(cs_form_parse(&f, big, strlen(big), &err), CS_ETOOBIG);
        cs_form_release(&f);
}

CS_TEST(url_encode_roundtrip)
{
        struct cs_buf e = CS_BUF_INIT(1024), d = CS_BUF_INIT(1024);
        const char *s = "M 94 & co/ü=?";

        CS_ASSERT_OK(cs_url_encode(cs_str_c(s), &e));
        CS_ASSERT(strchr(e.data, ' ') == NULL && strchr(e.data, '&') == NULL);
        CS_ASSERT_OK(cs_url_decode(cs_str_from(e.data, e.len), false, &d));
        CS_ASSERT_STREQ(d.data, s);
        cs_buf_release(&e);
        cs_buf_release(&d);
}

CS_TEST(cookies)
{
        struct cs_str v;

        CS_ASSERT(cs_cookie_find("a=1; cs_session=abc123; b=2", "cs_session", &v));
        CS_ASSERT(cs_str_eq(v, "abc123"));
        CS_ASSERT(cs_cookie_find("cs_session=\"q\"", "cs_session", &v));
        CS_ASSERT(cs_str_eq(v, "q"));
        CS_ASSERT(cs_cookie_find("x=1;cs_session=first;cs_session=second", "cs_session", &v));
        CS_ASSERT(cs_str_eq(v, "first"));
        CS_ASSERT(!cs_cookie_find("xcs_session=1; cs_sessionx=2", "cs_session", &v));
        CS_ASSERT(!cs_cookie_find("", "cs_session", &v));
        CS_ASSERT(!cs_cookie_find(NULL, "cs_session", &v));
        CS_ASSERT(cs_cookie_find("a=; b", "a", &v));
        CS_ASSERT_EQ(v.len, 0);
}

CS_TEST(header_params)
{
        char out[128];
        struct cs_str ct = cs_str_c("multipart/form-data; charset=utf-8; boundary=\"ab\\\"c d\"");
        struct cs_str cd = cs_str_c("form-data; name=\"file\"; filename=\"M 94; x.fit\"");
        struct cs_str tok = cs_str_c("multipart/form-data;boundary=----WebKitFormBoundaryX ");

        CS_ASSERT(cs_str_eq(cs_header_media_type(ct), "multipart/form-data"));
        CS_ASSERT_OK(cs_header_param(ct, "BOUNDARY", out, sizeof out));
        CS_ASSERT_STREQ(out, "ab\"c d");
        CS_ASSERT_OK(cs_header_param(cd, "name", out, sizeof out));
        CS_ASSERT_STREQ(out, "file");
        CS_ASSERT_OK(cs_header_param(cd, "filename", out, sizeof out));
        CS_ASSERT_STREQ(out, "M 94; x.fit");
        CS_ASSERT_OK(cs_header_param(tok, "boundary", out, sizeof out));
        CS_ASSERT_STREQ(out, "----WebKitFormBoundaryX");
        CS_ASSERT_EQ(cs_header_param(cd, "size", out, sizeof out), CS_ENOTFOUND);
        CS_ASSERT_EQ(cs_header_param(cd, "filename", out, 4), CS_ETOOBIG);
        CS_ASSERT_EQ(cs_header_param(cs_str_c("a; b=\"open"), "b", out, sizeof out), CS_EINVAL);
        CS_ASSERT_EQ(cs_header_param(cs_str_c("text/plain"), "b", out, sizeof out), CS_ENOTFOUND);
}

CS_TEST(basic_auth)
{
        char user[64], secret[64];
        struct cs_buf b = CS_BUF_INIT(256);
        struct cs_str tok;

        /* alice:s3cret:with:colons */
        CS_ASSERT_OK(cs_base64_encode("alice:s3cret:with:colons", 24, &b));
        {
                char hdr[300];
                snprintf(hdr, sizeof hdr, "Basic %s", b.data);
                CS_ASSERT_OK(cs_http_basic_parse(hdr, user, sizeof user, secret, sizeof secret));
        }
        CS_ASSERT_STREQ(user, "alice");
        CS_ASSERT_STREQ(secret, "s3cret:with:colons");
        CS_ASSERT_OK(cs_http_basic_parse("basic YTpi", user, sizeof user, secret, sizeof secret));
        CS_ASSERT_STREQ(user, "a");
        CS_ASSERT_STREQ(secret, "b");
        CS_ASSERT_EQ(cs_http_basic_parse("Basic bm9jb2xvbg==", user, sizeof user, secret, sizeof secret),
                     CS_EINVAL); /* "nocolon" */
        CS_ASSERT_EQ(cs_http_basic_parse("Bearer abc", user, sizeof user, secret, sizeof secret),
                     CS_EINVAL);
        CS_ASSERT_EQ(cs_http_basic_parse("Basic !!!!", user, sizeof user, secret, sizeof secret),
                     CS_EINVAL);
        CS_ASSERT_EQ(cs_http_basic_parse("Basic YTpi", user, 1, secret, sizeof secret), CS_ETOOBIG);
        CS_ASSERT(cs_http_bearer_parse("Bearer  tok123 ", &tok));
        CS_ASSERT(cs_str_eq(tok, "tok123"));
        CS_ASSERT(!cs_http_bearer_parse("Basic x", &tok));
        cs_buf_release(&b);
}

CS_TEST(base64_vectors)
{
        static const char *plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
        static const char *enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
        size_t i;

        for (i = 0; i < 7; i++) {
                struct cs_buf b = CS_BUF_INIT(64);
                unsigned char out[16];
                size_t n;

                CS_ASSERT_OK(cs_base64_encode(plain[i], strlen(plain[i]), &b));
                CS_ASSERT_STREQ(b.data, enc[i]);
                CS_ASSERT_OK(cs_base64_decode(cs_str_c(enc[i]), out, sizeof out, &n));
                CS_ASSERT_EQ(n, strlen(plain[i]));
                CS_ASSERT(memcmp(out, plain[i], n) == 0);
                cs_buf_release(&b);
        }
}

CS_TEST(html_escape)
{
        struct cs_buf b = CS_BUF_INIT(256);
        const char *s = "<script>alert('x&y')</script>\"";

        CS_ASSERT_OK(cs_html_escape(&b, s, strlen(s)));
        CS_ASSERT_STREQ(b.data, "&lt;script&gt;alert(&#39;x&amp;y&#39;)&lt;/script&gt;&quot;");
        cs_buf_release(&b);
        CS_ASSERT_STREQ(cs_http_reason(507), "Insufficient Storage");
}

CS_TEST(text_ok)
{
        CS_ASSERT(cs_text_ok("Light_M 94_10.0s.fit"));
        CS_ASSERT(cs_text_ok("N\xc3\xa9" "buleuse \xe2\x98\x86 \xf0\x9f\x94\xad.fits"));
        CS_ASSERT(cs_text_ok(""));
        CS_ASSERT(!cs_text_ok("a\x01b"));
        CS_ASSERT(!cs_text_ok("tab\there"));
        CS_ASSERT(!cs_text_ok("del\x7f"));
        CS_ASSERT(!cs_text_ok("\xff\xfe"));
        CS_ASSERT(!cs_text_ok("\xc0\xaf"));         /* overlong '/' */
        CS_ASSERT(!cs_text_ok("\xed\xa0\x80"));     /* surrogate */
        CS_ASSERT(!cs_text_ok("\xf4\x90\x80\x80")); /* past U+10FFFF */
        CS_ASSERT(!cs_text_ok("\xe2\x98"));         /* truncated */
}

CS_TEST_MAIN()
