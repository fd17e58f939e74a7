/* password.c - argon2id password hashing (libargon2) and the password policy. */
#include <argon2.h>
#include <string.h>

#include "crowdsky/auth.h"
#include "crowdsky/rand.h"

/* OWASP Password Storage Cheat Sheet, argon2id: m = 19 MiB, t = 2, p = 1. */
#define ARGON_M_KIB 19456u
#define ARGON_T 2u
#define ARGON_P 1u
#define ARGON_SALT 16u
#define ARGON_TAG 32u

int cs_auth_password_policy(const char *pw, size_t len, struct cs_err *err)
{
        if (memchr(pw, '\0', len))
                return cs_err_set(err, CS_EINVAL, "password must not contain NUL bytes");
        if (len < CS_AUTH_PASSWORD_MIN)
                return cs_err_set(err, CS_EINVAL, "password must be at least %d characters long",
                                  CS_AUTH_PASSWORD_MIN);
        if (len > CS_AUTH_PASSWORD_MAX)
                return cs_err_set(err, CS_EINVAL, "password must be at most %d characters long",
                                  CS_AUTH_PASSWORD_MAX);
        return CS_OK;
}

int cs_auth_password_hash(const char *pw, size_t len, char ret_encoded[CS_AUTH_HASH_MAX],
                          struct cs_err *err)
{
        unsigned char salt[ARGON_SALT];
        char enc[CS_AUTH_HASH_MAX];
        int r;

        if (len > CS_AUTH_PASSWORD_MAX)
                return cs_err_set(err, CS_EINVAL, "password too long");
        r = cs_random_bytes(salt, sizeof salt, err);
        if (r < 0)
                return r;
        if (argon2_encodedlen(ARGON_T, ARGON_M_KIB, ARGON_P, ARGON_SALT, ARGON_TAG, Argon2_id) >
            sizeof enc)
                return cs_err_set(err, CS_EAUTH, "argon2 encoded hash does not fit");
        r = argon2id_hash_encoded(ARGON_T, ARGON_M_KIB, ARGON_P, pw, len, salt, sizeof salt,
                                  ARGON_TAG, enc, sizeof enc);
        if (r != ARGON2_OK)
                return cs_err_set(err, CS_EAUTH, "argon2id: %s", argon2_error_message(r));
        memcpy(ret_encoded, enc, sizeof enc);
        return CS_OK;
}

int cs_auth_password_verify(const char *encoded, const char *pw, size_t len, struct cs_err *err)
{
        int r;

        if (!encoded || strncmp(encoded, "$argon2id$", 10) != 0)
                return cs_err_set(err, CS_EAUTH, "stored password hash is not argon2id");
        if (len > CS_AUTH_PASSWORD_MAX)
                return cs_err_set(err, CS_EAUTH, "wrong password");
        r = argon2id_verify(encoded, pw, len);
        if (r == ARGON2_OK)
                return CS_OK;
        if (r == ARGON2_VERIFY_MISMATCH)
                return cs_err_set(err, CS_EAUTH, "wrong password");
        return cs_err_set(err, CS_EAUTH, "argon2id verify: %s", argon2_error_message(r));
}
