/* cs_test.h - minimal unit-test harness: CS_TEST(name) registers a test,
 * CS_ASSERT_* print file:line and the expression, then abort. main() comes
 * from CS_TEST_MAIN() at the end of each test file; exit 77 means skipped. */
#ifndef CROWDSKY_CS_TEST_H
#define CROWDSKY_CS_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*cs_test_fn)(void);
struct cs_test_case {
        const char *name;
        cs_test_fn fn;
};

#define CS_TEST_MAX 256
extern struct cs_test_case cs_test_cases[CS_TEST_MAX];
extern int cs_test_count;

#define CS_TEST(name)                                                                      \
        static void test_##name(void);                                                     \
        __attribute__((constructor)) static void register_##name(void)                     \
        {                                                                                  \
                if (cs_test_count < CS_TEST_MAX)                                           \
                        cs_test_cases[cs_test_count++] = (struct cs_test_case){ #name, test_##name }; \
        }                                                                                  \
        static void test_##name(void)

#define CS_FAIL(...)                                                                       \
        do {                                                                               \
                fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                            \
                fprintf(stderr, __VA_ARGS__);                                              \
                fprintf(stderr, "\n");                                                     \
                abort();                                                                   \
        } while (0)

#define CS_ASSERT(expr)                                                                    \
        do {                                                                               \
                if (!(expr))                                                               \
                        CS_FAIL("assertion failed: %s", #expr);                            \
        } while (0)

#define CS_ASSERT_OK(expr)                                                                 \
        do {                                                                               \
                int cs_r_ = (expr);                                                        \
                if (cs_r_ < 0)                                                             \
                        CS_FAIL("%s returned %d", #expr, cs_r_);                           \
        } while (0)

#define CS_ASSERT_EQ(a, b)                                                                 \
        do {                                                                               \
                long long cs_a_ = (long long)(a), cs_b_ = (long long)(b);                  \
                if (cs_a_ != cs_b_)                                                        \
                        CS_FAIL("%s == %s: %lld != %lld", #a, #b, cs_a_, cs_b_);           \
        } while (0)

#define CS_ASSERT_STREQ(a, b)                                                              \
        do {                                                                               \
                const char *cs_a_ = (a), *cs_b_ = (b);                                     \
                if (!cs_a_ || !cs_b_ || strcmp(cs_a_, cs_b_) != 0)                         \
                        CS_FAIL("%s == %s: '%s' != '%s'", #a, #b, cs_a_ ? cs_a_ : "(null)",  \
                                cs_b_ ? cs_b_ : "(null)");                                 \
        } while (0)

#define CS_ASSERT_NEAR(a, b, tol)                                                          \
        do {                                                                               \
                double cs_a_ = (double)(a), cs_b_ = (double)(b);                           \
                if (!(fabs(cs_a_ - cs_b_) <= (double)(tol)))                               \
                        CS_FAIL("%s ~= %s: %.9g vs %.9g (tol %g)", #a, #b, cs_a_, cs_b_,   \
                                (double)(tol));                                            \
        } while (0)

#define CS_TEST_MAIN()                                                                     \
        struct cs_test_case cs_test_cases[CS_TEST_MAX];                                    \
        int cs_test_count;                                                                 \
        int main(int argc, char **argv)                                                    \
        {                                                                                  \
                int i, ran = 0;                                                            \
                for (i = 0; i < cs_test_count; i++) {                                      \
                        if (argc > 1 && strcmp(argv[1], cs_test_cases[i].name) != 0)       \
                                continue;                                                  \
                        printf("== %s\n", cs_test_cases[i].name);                          \
                        fflush(stdout);                                                    \
                        cs_test_cases[i].fn();                                             \
                        ran++;                                                             \
                }                                                                          \
                printf("%d tests passed\n", ran);                                          \
                return ran > 0 ? 0 : 1;                                                    \
        }

#endif
