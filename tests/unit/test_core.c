/* test_core.c - buffers, slices, number parsing, errors, config. */
#include <stdlib.h>
#include <unistd.h>

#include "crowdsky/cs.h"
#include "cs_test.h"

CS_TEST(buf_append_and_cap)
{
        struct cs_buf b = CS_BUF_INIT(8);
        char *s;
        size_t n;

        CS_ASSERT_STREQ(b.data, "");
        CS_ASSERT_OK(cs_buf_adds(&b, "abc"));
        CS_ASSERT_OK(cs_buf_printf(&b, "%d", 12345));
        CS_ASSERT_STREQ(b.data, "abc12345");
        CS_ASSERT_EQ(cs_buf_addc(&b, 'x'), CS_ETOOBIG);
        CS_ASSERT_STREQ(b.data, "abc12345");
        s = cs_buf_detach(&b, &n);
        CS_ASSERT_EQ(n, 8);
        CS_ASSERT_STREQ(s, "abc12345");
        CS_ASSERT_STREQ(b.data, "");
        free(s);
        cs_buf_release(&b);
}

CS_TEST(parse_numbers)
{
        int64_t i;
        double d;
        uint64_t u;

        CS_ASSERT_OK(cs_parse_i64(CS_STR_LIT("-42"), &i));
        CS_ASSERT_EQ(i, -42);
        CS_ASSERT_EQ(cs_parse_i64(CS_STR_LIT("42x"), &i), CS_EINVAL);
        CS_ASSERT_EQ(cs_parse_i64(CS_STR_LIT(""), &i), CS_EINVAL);
        CS_ASSERT_EQ(cs_parse_i64(CS_STR_LIT(" 1"), &i), CS_EINVAL);
        CS_ASSERT_EQ(cs_parse_i64(CS_STR_LIT("99999999999999999999"), &i), CS_EINVAL);
        CS_ASSERT_EQ(cs_parse_u64(CS_STR_LIT("-1"), &u), CS_EINVAL);
        CS_ASSERT_OK(cs_parse_f64(CS_STR_LIT("1.5e2"), &d));
        CS_ASSERT_NEAR(d, 150.0, 0);
        CS_ASSERT_EQ(cs_parse_f64(CS_STR_LIT("nan"), &d), CS_EINVAL);
        CS_ASSERT_EQ(cs_parse_f64(CS_STR_LIT("1e999"), &d), CS_EINVAL);
}

CS_TEST(slices)
{
        struct cs_str s = CS_STR_LIT("a=b&c"), head;
        char out[4];

        CS_ASSERT(cs_str_split(&s, '&', &head));
        CS_ASSERT(cs_str_eq(head, "a=b"));
        CS_ASSERT(cs_str_eq(s, "c"));
        CS_ASSERT(!cs_str_split(&s, '&', &head));
        CS_ASSERT(cs_str_eq(cs_str_trim(CS_STR_LIT("  x \t")), "x"));
        CS_ASSERT(!cs_str_copy(CS_STR_LIT("abcdef"), out, sizeof out));
        CS_ASSERT_STREQ(out, "abc");
        CS_ASSERT(cs_ct_equal("abc", 3, "abc", 3));
        CS_ASSERT(!cs_ct_equal("abc", 3, "abd", 3));
        CS_ASSERT(!cs_ct_equal("abc", 3, "ab", 2));
}

CS_TEST(errors)
{
        struct cs_err e = CS_ERR_INIT;

        CS_ASSERT_EQ(cs_err_set(&e, CS_EFITS, "missing %s", "END"), CS_EFITS);
        cs_err_prefix(&e, "file '%s'", "x.fit");
        CS_ASSERT_STREQ(e.msg, "file 'x.fit': missing END");
        CS_ASSERT_STREQ(cs_status_name(CS_EFITS), "efits");
        CS_ASSERT_EQ(cs_err_set(NULL, CS_EIO, "ignored"), CS_EIO);
}

/* Replaces the file at path with text. */
static void write_text(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");

        CS_ASSERT(f != NULL);
        fputs(text, f);
        fclose(f);
}

CS_TEST(config_file_and_env)
{
        struct cs_config c;
        struct cs_err e = CS_ERR_INIT;
        char path[] = "/tmp/cs_test_conf_XXXXXX";
        int fd = mkstemp(path);
        FILE *f;

        CS_ASSERT(fd >= 0);
        f = fdopen(fd, "w");
        fprintf(f, "# comment\ndb_port = 3307\ndb_name = \"test db\"\ncookie_secure = false\n");
        fclose(f);
        setenv("CROWDSKY_FCGI_THREADS", "3", 1);
        CS_ASSERT_OK(cs_config_load(path, &c, &e));
        CS_ASSERT_EQ(c.db_port, 3307);
        CS_ASSERT_STREQ(c.db_name, "test db");
        CS_ASSERT(!c.cookie_secure);
        CS_ASSERT_EQ(c.fcgi_threads, 3);
        CS_ASSERT_EQ(c.buffer_quota_bytes, 50000000000LL);
        unsetenv("CROWDSKY_FCGI_THREADS");

        write_text(path, "no_such_key = 1\n");
        CS_ASSERT_EQ(cs_config_load(path, &c, &e), CS_EINVAL);
        CS_ASSERT(strstr(e.msg, "no_such_key") != NULL);
        CS_ASSERT(strstr(e.msg, ":1") != NULL);
        write_text(path, "db_port = abc\n");
        CS_ASSERT_EQ(cs_config_load(path, &c, &e), CS_EINVAL);
        /* frame selection: numbers in range; a width limit under 1 is refused */
        CS_ASSERT(c.stack_max_fwhm_ratio == 0 && c.stack_min_stars_ratio == 0);
        write_text(path, "stack_max_fwhm_ratio = 1.5\nstack_min_stars_ratio = 0.4\n");
        CS_ASSERT_OK(cs_config_load(path, &c, &e));
        CS_ASSERT(c.stack_max_fwhm_ratio == 1.5 && c.stack_min_stars_ratio == 0.4);
        setenv("CROWDSKY_STACK_MAX_FWHM_RATIO", "0.5", 1);
        CS_ASSERT_EQ(cs_config_load(path, &c, &e), CS_EINVAL);
        CS_ASSERT(strstr(e.msg, "at least 1") != NULL);
        setenv("CROWDSKY_STACK_MAX_FWHM_RATIO", "2", 1);
        CS_ASSERT_OK(cs_config_load(path, &c, &e));
        CS_ASSERT(c.stack_max_fwhm_ratio == 2.0);
        unsetenv("CROWDSKY_STACK_MAX_FWHM_RATIO");
        write_text(path, "stack_min_stars_ratio = 1.5\n");
        CS_ASSERT_EQ(cs_config_load(path, &c, &e), CS_EINVAL);
        CS_ASSERT(strstr(e.msg, "[0, 1]") != NULL);
        write_text(path, "stack_min_stars_ratio = nan\n");
        CS_ASSERT_EQ(cs_config_load(path, &c, &e), CS_EINVAL);
        unlink(path);
        CS_ASSERT_EQ(cs_config_load("/nonexistent/crowdsky.conf", &c, &e), CS_EIO);
}

CS_TEST_MAIN()
