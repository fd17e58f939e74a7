/* test_auth.c - argon2id hashing, digests, tokens, throttling, the
 * verified-credential cache, account field validation. */
#include <string.h>

#include "cs_test.h"
#include "crowdsky/auth.h"
#include "crowdsky/str.h"

CS_TEST(password_hash_verify)
{
        char enc[CS_AUTH_HASH_MAX], enc2[CS_AUTH_HASH_MAX];
        struct cs_err err = CS_ERR_INIT;

        CS_ASSERT_OK(cs_auth_password_hash("correct horse", 13, enc, &err));
        CS_ASSERT(strncmp(enc, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
        CS_ASSERT_OK(cs_auth_password_verify(enc, "correct horse", 13, &err));
        CS_ASSERT_EQ(cs_auth_password_verify(enc, "correct horsE", 13, &err), CS_EAUTH);
        CS_ASSERT_EQ(cs_auth_password_verify("$2y$10$bcrypt", "x", 1, &err), CS_EAUTH);
        CS_ASSERT_EQ(cs_auth_password_verify("$argon2id$garbage", "x", 1, &err), CS_EAUTH);
        /* fresh salt each time */
        CS_ASSERT_OK(cs_auth_password_hash("correct horse", 13, enc2, &err));
        CS_ASSERT(strcmp(enc, enc2) != 0);
}

CS_TEST(password_policy)
{
        struct cs_err err = CS_ERR_INIT;

        CS_ASSERT_EQ(cs_auth_password_policy("short", 5, &err), CS_EINVAL);
        CS_ASSERT(strstr(err.msg, "at least 10") != NULL);
        CS_ASSERT_OK(cs_auth_password_policy("0123456789", 10, &err));
        CS_ASSERT_EQ(cs_auth_password_policy("0123456789\0ab", 13, &err), CS_EINVAL);
}

CS_TEST(digests)
{
        char hex[CS_AUTH_HEX];
        unsigned char mac[32];
        struct cs_sha256 *h = cs_sha256_new();

        cs_auth_sha256_hex("abc", 3, hex);
        CS_ASSERT_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        cs_sha256_update(h, "a", 1);
        cs_sha256_update(h, "bc", 2);
        cs_sha256_final_hex(h, hex);
        CS_ASSERT_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        h = cs_sha256_free(h);
        /* RFC 4231 test case 2 */
        cs_auth_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
        cs_hex(mac, 32, hex);
        CS_ASSERT_STREQ(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

CS_TEST(tokens)
{
        char t1[CS_API_TOKEN_LEN + 1], t2[CS_API_TOKEN_LEN + 1], small[10];

        CS_ASSERT_OK(cs_auth_token_new(CS_API_TOKEN_PREFIX, t1, sizeof t1, NULL));
        CS_ASSERT_OK(cs_auth_token_new(CS_API_TOKEN_PREFIX, t2, sizeof t2, NULL));
        CS_ASSERT(strcmp(t1, t2) != 0);
        CS_ASSERT(cs_auth_is_api_token(t1));
        CS_ASSERT(!cs_auth_is_api_token("cst_123"));
        CS_ASSERT(!cs_auth_is_api_token("my password"));
        t1[10] = 'G';
        CS_ASSERT(!cs_auth_is_api_token(t1));
        CS_ASSERT_EQ(cs_auth_token_new("x", small, sizeof small, NULL), CS_ETOOBIG);
}

CS_TEST(throttle_window)
{
        struct cs_throttle *t = cs_throttle_new(10, 900, 100);
        int i, retry = 0;

        for (i = 0; i < 9; i++)
                cs_throttle_fail(t, "user:alice", 1000 + i);
        CS_ASSERT(!cs_throttle_blocked(t, "user:alice", 1010, NULL));
        cs_throttle_fail(t, "user:alice", 1010);
        CS_ASSERT(cs_throttle_blocked(t, "user:alice", 1011, &retry));
        CS_ASSERT_EQ(retry, 1000 + 900 - 1011);
        CS_ASSERT(!cs_throttle_blocked(t, "user:bob", 1011, NULL));
        /* the oldest failure leaves the window */
        CS_ASSERT(!cs_throttle_blocked(t, "user:alice", 1900, NULL));
        cs_throttle_fail(t, "user:alice", 1901); /* 1002..1008, 1010, 1901: 9 in the window */
        CS_ASSERT(!cs_throttle_blocked(t, "user:alice", 1901, NULL));
        cs_throttle_fail(t, "user:alice", 1902); /* 1003..1008, 1010, 1901, 1902 */
        CS_ASSERT(!cs_throttle_blocked(t, "user:alice", 1902, NULL));
        for (i = 0; i < 10; i++)
                cs_throttle_fail(t, "user:alice", 3000);
        CS_ASSERT(cs_throttle_blocked(t, "user:alice", 3000, NULL));
        cs_throttle_clear(t, "user:alice");
        CS_ASSERT(!cs_throttle_blocked(t, "user:alice", 3000, NULL));
        t = cs_throttle_free(t);
}

CS_TEST(throttle_bounded_keys)
{
        struct cs_throttle *t = cs_throttle_new(2, 60, 50);
        char key[32];
        int i;

        for (i = 0; i < 1000; i++) {
                snprintf(key, sizeof key, "addr:%d", i);
                cs_throttle_fail(t, key, 100 + i / 10);
                cs_throttle_fail(t, key, 100 + i / 10);
        }
        /* recent keys are remembered, the table did not grow without bound */
        CS_ASSERT(cs_throttle_blocked(t, "addr:999", 199, NULL));
        CS_ASSERT(!cs_throttle_blocked(t, "addr:0", 199, NULL));
        t = cs_throttle_free(t);
}

CS_TEST(credcache)
{
        struct cs_credcache *c = cs_credcache_new(64, 60);
        unsigned char k1[32], k2[32], k3[32];

        cs_credcache_key("secret", "alice", "pw1", k1);
        cs_credcache_key("secret", "alice", "pw2", k2);
        cs_credcache_key("other", "alice", "pw1", k3);
        CS_ASSERT(memcmp(k1, k2, 32) != 0 && memcmp(k1, k3, 32) != 0);
        CS_ASSERT(!cs_credcache_check(c, k1, 7, "stampA", 1000));
        cs_credcache_put(c, k1, 7, "stampA", 1000);
        CS_ASSERT(cs_credcache_check(c, k1, 7, "stampA", 1059));
        CS_ASSERT(!cs_credcache_check(c, k1, 7, "stampA", 1060)); /* expired */
        CS_ASSERT(!cs_credcache_check(c, k2, 7, "stampA", 1001)); /* other secret */
        CS_ASSERT(!cs_credcache_check(c, k1, 8, "stampA", 1001)); /* other user */
        CS_ASSERT(!cs_credcache_check(c, k1, 7, "stampB", 1001)); /* password changed */
        cs_credcache_forget_user(c, 7);
        CS_ASSERT(!cs_credcache_check(c, k1, 7, "stampA", 1001));
        c = cs_credcache_free(c);
}

CS_TEST(sesscache)
{
        struct cs_sesscache *c = cs_sesscache_new(16, 5);
        struct cs_session s, got;
        char h2[CS_AUTH_HEX];

        memset(&s, 0, sizeof s);
        s.user_id = 42;
        snprintf(s.username, sizeof s.username, "alice");
        snprintf(s.csrf, sizeof s.csrf, "%064d", 7);
        CS_ASSERT(cs_session_hash("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", s.id_hash));
        CS_ASSERT(!cs_session_hash("not-hex", h2));
        CS_ASSERT(!cs_session_hash("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", h2));
        CS_ASSERT(!cs_sesscache_get(c, s.id_hash, 100, &got));
        cs_sesscache_put(c, &s, 100);
        CS_ASSERT(cs_sesscache_get(c, s.id_hash, 104, &got));
        CS_ASSERT_EQ(got.user_id, 42);
        CS_ASSERT_STREQ(got.username, "alice");
        CS_ASSERT(!cs_sesscache_get(c, s.id_hash, 105, &got)); /* ttl */
        cs_sesscache_put(c, &s, 200);
        cs_sesscache_forget(c, s.id_hash);
        CS_ASSERT(!cs_sesscache_get(c, s.id_hash, 200, &got));
        cs_sesscache_put(c, &s, 300);
        cs_sesscache_forget_user(c, 41);
        CS_ASSERT(cs_sesscache_get(c, s.id_hash, 300, &got));
        cs_sesscache_forget_user(c, 42);
        CS_ASSERT(!cs_sesscache_get(c, s.id_hash, 300, &got));
        cs_auth_sha256_hex("x", 1, h2);
        CS_ASSERT(!cs_sesscache_get(c, h2, 300, &got));
        c = cs_sesscache_free(c);
}

CS_TEST(validate_fields)
{
        CS_ASSERT_OK(cs_user_validate_name("alice_01", NULL));
        CS_ASSERT_EQ(cs_user_validate_name("al", NULL), CS_EINVAL);
        CS_ASSERT_EQ(cs_user_validate_name("_alice", NULL), CS_EINVAL);
        CS_ASSERT_EQ(cs_user_validate_name("ali ce", NULL), CS_EINVAL);
        CS_ASSERT_EQ(cs_user_validate_name("../etc", NULL), CS_EINVAL);
        CS_ASSERT_OK(cs_user_validate_email("a@example.org", NULL));
        CS_ASSERT_EQ(cs_user_validate_email("a@b", NULL), CS_EINVAL);
        CS_ASSERT_EQ(cs_user_validate_email("a b@example.org", NULL), CS_EINVAL);
        CS_ASSERT_EQ(cs_user_validate_email("a@@example.org", NULL), CS_EINVAL);
        CS_ASSERT_EQ(cs_user_validate_email("a\xff@example.org", NULL), CS_EINVAL);
}

CS_TEST_MAIN()
