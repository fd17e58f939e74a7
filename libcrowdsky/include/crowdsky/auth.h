/* auth.h - passwords (argon2id), digests (SHA-256, HMAC-SHA256), random
 * tokens, login throttling, the verified-credential cache of the Basic-auth
 * API, and the database side of accounts: users, browser sessions (with their
 * CSRF token) and personal API tokens.
 *
 * Secrets are never stored: passwords as argon2id encoded hashes, session ids
 * and API tokens as SHA-256 hex digests (they are 256-bit random, so a fast
 * hash is enough), cached Basic credentials by HMAC-SHA256(site_secret,
 * "user:secret").
 *
 * Thread-safety: every function is thread-safe; struct cs_throttle and struct
 * cs_credcache lock internally and are meant to be shared by a process's
 * responder threads. Functions taking a struct cs_db use it as db.h says (one
 * handle per thread). */
#ifndef CROWDSKY_AUTH_H
#define CROWDSKY_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

struct cs_db;

/* ---- passwords ---- */

#define CS_AUTH_HASH_MAX 160         /* encoded argon2id hash incl. NUL */
#define CS_AUTH_PASSWORD_MIN 10      /* characters (bytes) */
#define CS_AUTH_PASSWORD_MAX 1024

/* Checks the password policy (CS_AUTH_PASSWORD_MIN..MAX bytes, no NUL).
 * CS_OK or CS_EINVAL with a reason a user can read. */
int cs_auth_password_policy(const char *pw, size_t len, struct cs_err *err);
/* argon2id with OWASP parameters (m = 19 MiB, t = 2, p = 1, 16-byte random
 * salt, 32-byte tag), encoded form ("$argon2id$v=19$m=19456,t=2,p=1$...")
 * written to ret_encoded. ~30 ms of one core. CS_OK, CS_EINVAL (policy length
 * bounds only), CS_EAUTH (argon2 failure), CS_EIO (no randomness). */
int cs_auth_password_hash(const char *pw, size_t len, char ret_encoded[CS_AUTH_HASH_MAX],
                          struct cs_err *err);
/* Verifies pw against an encoded argon2id hash. CS_OK on match, CS_EAUTH on
 * mismatch or a malformed hash (err says which). */
int cs_auth_password_verify(const char *encoded, const char *pw, size_t len, struct cs_err *err);

/* ---- digests and tokens ---- */

#define CS_AUTH_HEX 65 /* 64 hex digits + NUL */

void cs_auth_sha256(const void *p, size_t n, unsigned char out[32]);
void cs_auth_sha256_hex(const void *p, size_t n, char out[CS_AUTH_HEX]);
void cs_auth_hmac_sha256(const void *key, size_t keylen, const void *p, size_t n,
                         unsigned char out[32]);

/* Streaming SHA-256 (uploads hash while they stream). new never returns NULL
 * (aborts on OOM); free accepts NULL and returns NULL. */
struct cs_sha256;
struct cs_sha256 *cs_sha256_new(void);
void cs_sha256_update(struct cs_sha256 *h, const void *p, size_t n);
void cs_sha256_final_hex(struct cs_sha256 *h, char out[CS_AUTH_HEX]); /* h is reset after */
struct cs_sha256 *cs_sha256_free(struct cs_sha256 *h);

/* A new random token: prefix followed by 64 lower-case hex digits (256 bits).
 * out must hold strlen(prefix) + 65 bytes. CS_OK, CS_EIO, CS_ETOOBIG. */
int cs_auth_token_new(const char *prefix, char *out, size_t outsz, struct cs_err *err);

#define CS_API_TOKEN_PREFIX "cst_" /* personal API tokens (Basic-auth secret) */
#define CS_API_TOKEN_LEN (4 + 64)
/* True if s has the shape of a personal API token (prefix + 64 hex). */
bool cs_auth_is_api_token(const char *s);

/* ---- throttling (in memory, per process) ---- */

/* A sliding window of failures per key: at most max_failures failures within
 * window_seconds; keys are strings such as "user:alice" or "addr:10.0.0.1".
 * At most max_keys keys are remembered (expired ones are purged first, then the
 * stalest). */
struct cs_throttle;
struct cs_throttle *cs_throttle_new(unsigned max_failures, int window_seconds, size_t max_keys);
struct cs_throttle *cs_throttle_free(struct cs_throttle *t);
/* True if key has reached max_failures within the window at time now; then
 * *ret_retry_after (may be NULL) = seconds until the oldest failure expires. */
bool cs_throttle_blocked(struct cs_throttle *t, const char *key, int64_t now, int *ret_retry_after);
void cs_throttle_fail(struct cs_throttle *t, const char *key, int64_t now);
void cs_throttle_clear(struct cs_throttle *t, const char *key);

/* ---- throttling (in the database, shared by every process) ---- */

/* The failed log-ins of table login_attempts within the last window_seconds:
 * 1 if the account `user` or the address `addr` has max_failures or more of
 * them (then *ret_retry_after, may be NULL, = seconds until the oldest
 * leaves the window, >= 1), 0 if neither has, or CS_EDB. The in-memory
 * throttle above answers for one process; this one for all the processes
 * that share the database (several app containers behind one nginx). */
int cs_login_failures(struct cs_db *db, const char *user, const char *addr, int window_seconds,
                      unsigned max_failures, int *ret_retry_after, struct cs_err *err);
/* Records one failed log-in of `user` (NULL or a name no account can have:
 * stored as NULL, the address still counts) from `addr`. */
int cs_login_failure_record(struct cs_db *db, const char *user, const char *addr, struct cs_err *err);

/* ---- verified-credential cache (Basic auth) ---- */

/* Remembers, for ttl_seconds, that HMAC(site_secret, "user:secret") was
 * verified for user_id while the user's password hash had fingerprint
 * `stamp` (e.g. the SHA-256 hex of the stored hash). A lookup hits only if the
 * entry is fresh, the user id matches and the stamp is still the current one,
 * so a password change (anywhere, even by another process) invalidates it.
 * Holds at most capacity entries (oldest replaced). */
struct cs_credcache;
struct cs_credcache *cs_credcache_new(size_t capacity, int ttl_seconds);
struct cs_credcache *cs_credcache_free(struct cs_credcache *c);
/* Keyed hash of a credential pair. */
void cs_credcache_key(const char *site_secret, const char *user, const char *secret,
                      unsigned char out[32]);
bool cs_credcache_check(struct cs_credcache *c, const unsigned char key[32], int64_t user_id,
                        const char *stamp, int64_t now);
void cs_credcache_put(struct cs_credcache *c, const unsigned char key[32], int64_t user_id,
                      const char *stamp, int64_t now);
/* Drops every entry of user_id (password or token change in this process). */
void cs_credcache_forget_user(struct cs_credcache *c, int64_t user_id);

/* ---- accounts (database) ---- */

#define CS_USERNAME_MAX 64 /* bytes incl. NUL: names are 3..40 of [A-Za-z0-9_.-] */
#define CS_EMAIL_MAX 255

struct cs_user {
        int64_t id;
        char name[CS_USERNAME_MAX];
        char email[CS_EMAIL_MAX + 1];
        char password_hash[CS_AUTH_HASH_MAX];
        bool is_admin;
        bool scrub_location; /* account default for the script API */
};

/* Username rules: 3..40 characters of letters, digits, '_', '.', '-', starting
 * with a letter or digit. Email: one '@', a dot in the domain, no spaces,
 * at most 254 bytes. CS_OK or CS_EINVAL with a readable reason. */
int cs_user_validate_name(const char *name, struct cs_err *err);
int cs_user_validate_email(const char *email, struct cs_err *err);
/* Creates a user (validates name, email and password policy; hashes the
 * password). CS_ECONFLICT if the name or email is taken. */
int cs_user_create(struct cs_db *db, const char *name, const char *email, const char *password,
                   bool is_admin, int64_t *ret_id, struct cs_err *err);
/* Looks a user up by name (case-sensitive). CS_ENOTFOUND if none. */
int cs_user_find(struct cs_db *db, const char *name, struct cs_user *ret, struct cs_err *err);
int cs_user_get(struct cs_db *db, int64_t id, struct cs_user *ret, struct cs_err *err);
/* Sets a new password (policy checked) and ends all of the user's sessions. */
int cs_user_set_password(struct cs_db *db, int64_t user_id, const char *password,
                         struct cs_err *err);

/* ---- browser sessions ---- */

#define CS_SESSION_COOKIE "cs_session"

struct cs_session {
        int64_t user_id;
        char username[CS_USERNAME_MAX];
        bool is_admin;
        char csrf[CS_AUTH_HEX];  /* the session's CSRF synchronizer token */
        char id_hash[CS_AUTH_HEX];
};

/* Creates a session for user_id with a fresh 256-bit id (stored hashed) and a
 * fresh CSRF token. ret_cookie receives the id to send in the cookie (64 hex).
 * Expiry: idle cfg->session_idle_seconds, absolute cfg->session_max_seconds. */
int cs_session_create(struct cs_db *db, const struct cs_config *cfg, int64_t user_id,
                      char ret_cookie[CS_AUTH_HEX], struct cs_session *ret, struct cs_err *err);
/* Finds the live session of a cookie value; refreshes its idle timer (at most
 * once a minute). CS_ENOTFOUND if unknown, expired or malformed. */
int cs_session_lookup(struct cs_db *db, const struct cs_config *cfg, const char *cookie,
                      struct cs_session *ret, struct cs_err *err);
/* Deletes the session of a cookie value (logout). CS_OK even if unknown. */
int cs_session_destroy(struct cs_db *db, const char *cookie, struct cs_err *err);
/* Constant-time check of a submitted CSRF token. */
bool cs_session_csrf_ok(const struct cs_session *s, const char *token);

/* ---- session cache (per process) ---- */

/* Remembers looked-up sessions for ttl_seconds so a page view does not cost a
 * database round trip each time. Keyed by the session hash. Entries are
 * dropped on log out / rotation (cs_sesscache_forget) and on a password
 * change in this process (cs_sesscache_forget_user); a change made by another
 * process is seen within ttl_seconds. Holds at most capacity entries
 * (direct-mapped: a newer session may evict an older one). */
struct cs_sesscache;
struct cs_sesscache *cs_sesscache_new(size_t capacity, int ttl_seconds);
struct cs_sesscache *cs_sesscache_free(struct cs_sesscache *c);
bool cs_sesscache_get(struct cs_sesscache *c, const char id_hash[CS_AUTH_HEX], int64_t now,
                      struct cs_session *ret);
void cs_sesscache_put(struct cs_sesscache *c, const struct cs_session *s, int64_t now);
void cs_sesscache_forget(struct cs_sesscache *c, const char id_hash[CS_AUTH_HEX]);
void cs_sesscache_forget_user(struct cs_sesscache *c, int64_t user_id);
/* The hash a cookie value is stored under (SHA-256 hex); false if the value
 * is not a well-formed session id. */
bool cs_session_hash(const char *cookie, char out[CS_AUTH_HEX]);

/* ---- personal API tokens ---- */

/* Creates a token for user_id with a label (<= 100 bytes); ret_token gets the
 * token text (shown once, stored hashed). */
int cs_apitoken_create(struct cs_db *db, int64_t user_id, const char *label,
                       char ret_token[CS_API_TOKEN_LEN + 1], int64_t *ret_id, struct cs_err *err);
/* CS_OK if token is a live token of user_id (and records its use), else
 * CS_EAUTH. */
int cs_apitoken_check(struct cs_db *db, int64_t user_id, const char *token, struct cs_err *err);
/* Revokes token id of user_id. CS_ENOTFOUND if it is not theirs. */
int cs_apitoken_revoke(struct cs_db *db, int64_t user_id, int64_t token_id, struct cs_err *err);

#endif
