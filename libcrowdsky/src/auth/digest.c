/* digest.c - SHA-256 and HMAC-SHA256 (libcrypto), random tokens. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "crowdsky/alloc.h"
#include "crowdsky/auth.h"
#include "crowdsky/rand.h"
#include "crowdsky/str.h"

void cs_auth_sha256(const void *p, size_t n, unsigned char out[32])
{
        unsigned int len = 32;

        if (!EVP_Digest(p, n, out, &len, EVP_sha256(), NULL))
                abort(); /* only fails on OOM */
}

void cs_auth_sha256_hex(const void *p, size_t n, char out[CS_AUTH_HEX])
{
        unsigned char d[32];

        cs_auth_sha256(p, n, d);
        cs_hex(d, sizeof d, out);
}

void cs_auth_hmac_sha256(const void *key, size_t keylen, const void *p, size_t n,
                         unsigned char out[32])
{
        unsigned int len = 32;

        if (!HMAC(EVP_sha256(), key, (int)keylen, p, n, out, &len))
                abort();
}

struct cs_sha256 {
        EVP_MD_CTX *ctx;
};

struct cs_sha256 *cs_sha256_new(void)
{
        struct cs_sha256 *h = cs_xmalloc(sizeof *h);

        h->ctx = EVP_MD_CTX_new();
        if (!h->ctx || !EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL))
                abort();
        return h;
}

void cs_sha256_update(struct cs_sha256 *h, const void *p, size_t n)
{
        if (n && !EVP_DigestUpdate(h->ctx, p, n))
                abort();
}

void cs_sha256_final_hex(struct cs_sha256 *h, char out[CS_AUTH_HEX])
{
        unsigned char d[32];
        unsigned int len = 32;

        if (!EVP_DigestFinal_ex(h->ctx, d, &len) || !EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL))
                abort();
        cs_hex(d, sizeof d, out);
}

struct cs_sha256 *cs_sha256_free(struct cs_sha256 *h)
{
        if (h) {
                EVP_MD_CTX_free(h->ctx);
                free(h);
        }
        return NULL;
}

int cs_auth_token_new(const char *prefix, char *out, size_t outsz, struct cs_err *err)
{
        size_t pl = strlen(prefix);
        char hex[CS_AUTH_HEX];
        int r;

        if (outsz < pl + sizeof hex)
                return cs_err_set(err, CS_ETOOBIG, "token buffer too small");
        r = cs_random_hex(hex, 32, err);
        if (r < 0)
                return r;
        memcpy(out, prefix, pl);
        memcpy(out + pl, hex, sizeof hex);
        return CS_OK;
}

bool cs_auth_is_api_token(const char *s)
{
        size_t i, pl = strlen(CS_API_TOKEN_PREFIX);

        if (strncmp(s, CS_API_TOKEN_PREFIX, pl) != 0 || strlen(s) != CS_API_TOKEN_LEN)
                return false;
        for (i = pl; i < CS_API_TOKEN_LEN; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}
