/* tokens.c - worker bearer tokens: created by an admin command, shown once,
 * stored as their SHA-256 (a 256-bit random secret needs no slow hash),
 * compared in constant time, revocable. Verified tokens are remembered for
 * CS_WORKER_TOKEN_CACHE_SECONDS (see jobs.h). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "crowdsky/auth.h"
#include "crowdsky/db.h"
#include "crowdsky/jobs.h"
#include "crowdsky/str.h"

static int check_name(const char *name, struct cs_err *err)
{
        size_t i, n = name ? strlen(name) : 0;

        if (n == 0 || n > 100)
                return cs_err_set(err, CS_EINVAL, "a worker token name has 1 to 100 characters");
        for (i = 0; i < n; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                      c == '-' || c == '.' || c == '@'))
                        return cs_err_set(err, CS_EINVAL,
                                          "worker token name '%s': use letters, digits and _ - . @ only", name);
        }
        return CS_OK;
}

/* Process-wide cache of verified tokens, keyed by the token's SHA-256 (the
 * token itself is never kept): direct-mapped on the digest's first bytes,
 * guarded by a mutex. Only successful verifications are cached, each for at
 * most CS_WORKER_TOKEN_CACHE_SECONDS (monotonic clock), so a revocation
 * made anywhere takes effect within that time; a revocation made by this
 * process empties the cache at once. */
#define TOKEN_CACHE 64

struct token_entry {
        char hash[CS_AUTH_HEX]; /* "" = empty slot */
        int64_t id;
        char name[CS_WORKER_NAME_MAX];
        double expires;         /* CLOCK_MONOTONIC seconds */
};

static struct {
        pthread_mutex_t mu;
        struct token_entry e[TOKEN_CACHE];
} g_tokens = { .mu = PTHREAD_MUTEX_INITIALIZER };

static double mono_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t token_slot(const char hash[CS_AUTH_HEX])
{
        size_t k = 0;
        int i;

        for (i = 0; i < 4; i++)
                k = k * 16 + (size_t)(hash[i] <= '9' ? hash[i] - '0' : (hash[i] | 0x20) - 'a' + 10);
        return k % TOKEN_CACHE;
}

static bool token_cached(const char hash[CS_AUTH_HEX], int64_t *ret_id, char ret_name[CS_WORKER_NAME_MAX])
{
        struct token_entry *e = &g_tokens.e[token_slot(hash)];
        bool hit;

        pthread_mutex_lock(&g_tokens.mu);
        hit = e->hash[0] && mono_now() < e->expires &&
              cs_ct_equal(e->hash, CS_AUTH_HEX - 1, hash, CS_AUTH_HEX - 1);
        if (hit) {
                if (ret_id)
                        *ret_id = e->id;
                if (ret_name)
                        memcpy(ret_name, e->name, CS_WORKER_NAME_MAX);
        }
        pthread_mutex_unlock(&g_tokens.mu);
        return hit;
}

static void token_remember(const char hash[CS_AUTH_HEX], int64_t id, const char *name)
{
        struct token_entry *e = &g_tokens.e[token_slot(hash)];

        pthread_mutex_lock(&g_tokens.mu);
        memcpy(e->hash, hash, CS_AUTH_HEX);
        e->id = id;
        snprintf(e->name, sizeof e->name, "%s", name ? name : "");
        e->expires = mono_now() + CS_WORKER_TOKEN_CACHE_SECONDS;
        pthread_mutex_unlock(&g_tokens.mu);
}

void cs_worker_token_cache_clear(void)
{
        pthread_mutex_lock(&g_tokens.mu);
        memset(g_tokens.e, 0, sizeof g_tokens.e);
        pthread_mutex_unlock(&g_tokens.mu);
}

int cs_worker_token_create(struct cs_db *db, const char *name, char ret_token[CS_WORKER_TOKEN_LEN + 1],
                           struct cs_err *err)
{
        char tok[CS_WORKER_TOKEN_LEN + 1], hash[CS_AUTH_HEX];
        uint64_t n = 0;
        int r;

        r = check_name(name, err);
        if (r < 0)
                return r;
        r = cs_auth_token_new(CS_WORKER_TOKEN_PREFIX, tok, sizeof tok, err);
        if (r < 0)
                return r;
        cs_auth_sha256_hex(tok, strlen(tok), hash);
        {
                /* a revoked token's name is given a new secret */
                struct cs_db_param p[] = { CS_DB_STR(hash), CS_DB_STR(name) };
                r = cs_db_exec(db,
                               "UPDATE worker_tokens SET token_hash = ?, revoked_at = NULL, "
                               "created_at = UTC_TIMESTAMP(6), last_seen_at = NULL "
                               "WHERE name = ? AND revoked_at IS NOT NULL",
                               p, CS_DB_N(p), &n, NULL, err);
        }
        if (r < 0)
                return r;
        if (n == 0) {
                struct cs_db_param p[] = { CS_DB_STR(name), CS_DB_STR(hash) };
                r = cs_db_exec(db, "INSERT INTO worker_tokens (name, token_hash) VALUES (?, ?)", p, CS_DB_N(p),
                               NULL, NULL, err);
                if (r == CS_ECONFLICT)
                        return cs_err_set(err, CS_ECONFLICT, "a worker token named '%s' exists (revoke it first)",
                                          name);
                if (r < 0)
                        return r;
        }
        memcpy(ret_token, tok, sizeof tok);
        memset(tok, 0, sizeof tok);
        return CS_OK;
}

int cs_worker_token_revoke(struct cs_db *db, const char *name, struct cs_err *err)
{
        struct cs_db_param p[] = { CS_DB_STR(name) };
        uint64_t n = 0;
        int r;

        r = cs_db_exec(db, "UPDATE worker_tokens SET revoked_at = UTC_TIMESTAMP(6) WHERE name = ? AND revoked_at IS NULL",
                       p, CS_DB_N(p), &n, NULL, err);
        cs_worker_token_cache_clear();
        if (r < 0)
                return r;
        if (n == 0)
                return cs_err_set(err, CS_ENOTFOUND, "no live worker token named '%s'", name);
        return CS_OK;
}

int cs_worker_token_verify(struct cs_db *db, const char *token, int64_t *ret_id, char ret_name[CS_WORKER_NAME_MAX],
                           struct cs_err *err)
{
        struct cs_db_rows *rows = NULL;
        char hash[CS_AUTH_HEX];
        const char *stored;
        int r;

        if (!token || strlen(token) != CS_WORKER_TOKEN_LEN ||
            strncmp(token, CS_WORKER_TOKEN_PREFIX, strlen(CS_WORKER_TOKEN_PREFIX)) != 0)
                return cs_err_set(err, CS_EAUTH, "not a worker token");
        cs_auth_sha256_hex(token, strlen(token), hash);
        if (token_cached(hash, ret_id, ret_name))
                return CS_OK;
        {
                /* the lookup is by digest: timing can reveal at most digest
                 * prefixes, which say nothing about the token */
                struct cs_db_param p[] = { CS_DB_STR(hash) };
                r = cs_db_query(db,
                                "SELECT id, name, token_hash, revoked_at IS NULL, "
                                "last_seen_at IS NULL OR last_seen_at < UTC_TIMESTAMP(6) - INTERVAL 60 SECOND "
                                "FROM worker_tokens WHERE token_hash = ?",
                                p, CS_DB_N(p), &rows, err);
        }
        if (r < 0)
                return r;
        if (cs_db_rows_count(rows) == 0) {
                r = cs_err_set(err, CS_EAUTH, "unknown worker token");
                goto out;
        }
        stored = cs_db_rows_str(rows, 0, 2);
        if (!stored || !cs_ct_equal(stored, strlen(stored), hash, strlen(hash))) {
                r = cs_err_set(err, CS_EAUTH, "unknown worker token");
                goto out;
        }
        if (cs_db_rows_i64(rows, 0, 3) == 0) {
                r = cs_err_set(err, CS_EAUTH, "worker token '%s' was revoked", cs_db_rows_str(rows, 0, 1));
                goto out;
        }
        if (cs_db_rows_i64(rows, 0, 4)) {
                struct cs_db_param p[] = { CS_DB_I64(cs_db_rows_i64(rows, 0, 0)) };
                /* bookkeeping only: a failure here must not refuse the worker */
                (void)cs_db_exec(db, "UPDATE worker_tokens SET last_seen_at = UTC_TIMESTAMP(6) WHERE id = ?", p,
                                 CS_DB_N(p), NULL, NULL, NULL);
        }
        if (ret_id)
                *ret_id = cs_db_rows_i64(rows, 0, 0);
        if (ret_name)
                snprintf(ret_name, CS_WORKER_NAME_MAX, "%s", cs_db_rows_str(rows, 0, 1));
        token_remember(hash, cs_db_rows_i64(rows, 0, 0), cs_db_rows_str(rows, 0, 1));
out:
        cs_db_rows_free(rows);
        return r;
}
