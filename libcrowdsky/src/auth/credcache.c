/* credcache.c - short-lived cache of verified Basic credentials, so a script
 * that sends its password on every request costs one argon2id verification
 * per ttl, not one per request. Entries are keyed by an HMAC of the pair,
 * never the password, and tied to the fingerprint of the stored hash. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crowdsky/alloc.h"
#include "crowdsky/auth.h"
#include "crowdsky/str.h"

struct centry {
        unsigned char key[32];
        int64_t user_id;
        char stamp[CS_AUTH_HEX];
        int64_t stored_at; /* 0 = empty slot */
};

struct cs_credcache {
        pthread_mutex_t lock;
        struct centry *e;
        size_t cap;
        int ttl;
};

struct cs_credcache *cs_credcache_new(size_t capacity, int ttl_seconds)
{
        struct cs_credcache *c = cs_xcalloc(1, sizeof *c);

        pthread_mutex_init(&c->lock, NULL);
        c->cap = capacity ? capacity : 1;
        c->e = cs_xcalloc(c->cap, sizeof *c->e);
        c->ttl = ttl_seconds;
        return c;
}

struct cs_credcache *cs_credcache_free(struct cs_credcache *c)
{
        if (c) {
                pthread_mutex_destroy(&c->lock);
                free(c->e);
                free(c);
        }
        return NULL;
}

void cs_credcache_key(const char *site_secret, const char *user, const char *secret,
                      unsigned char out[32])
{
        size_t ul = strlen(user), sl = strlen(secret);
        char *msg = cs_xmalloc(ul + sl + 2);

        memcpy(msg, user, ul);
        msg[ul] = ':';
        memcpy(msg + ul + 1, secret, sl + 1);
        cs_auth_hmac_sha256(site_secret, strlen(site_secret), msg, ul + 1 + sl, out);
        memset(msg, 0, ul + sl + 2);
        free(msg);
}

/* Slot of a key: the first 8 bytes of the HMAC are uniformly random. */
static size_t slot(const struct cs_credcache *c, const unsigned char key[32])
{
        uint64_t v;

        memcpy(&v, key, sizeof v);
        return (size_t)(v % c->cap);
}

bool cs_credcache_check(struct cs_credcache *c, const unsigned char key[32], int64_t user_id,
                        const char *stamp, int64_t now)
{
        struct centry *e;
        bool hit = false;

        pthread_mutex_lock(&c->lock);
        e = &c->e[slot(c, key)];
        if (e->stored_at && now - e->stored_at < c->ttl && now >= e->stored_at &&
            e->user_id == user_id && cs_ct_equal(e->key, 32, key, 32) &&
            strcmp(e->stamp, stamp) == 0)
                hit = true;
        pthread_mutex_unlock(&c->lock);
        return hit;
}

void cs_credcache_put(struct cs_credcache *c, const unsigned char key[32], int64_t user_id,
                      const char *stamp, int64_t now)
{
        struct centry *e;

        pthread_mutex_lock(&c->lock);
        e = &c->e[slot(c, key)];
        memcpy(e->key, key, 32);
        e->user_id = user_id;
        snprintf(e->stamp, sizeof e->stamp, "%s", stamp);
        e->stored_at = now ? now : 1;
        pthread_mutex_unlock(&c->lock);
}

void cs_credcache_forget_user(struct cs_credcache *c, int64_t user_id)
{
        size_t i;

        pthread_mutex_lock(&c->lock);
        for (i = 0; i < c->cap; i++)
                if (c->e[i].stored_at && c->e[i].user_id == user_id)
                        memset(&c->e[i], 0, sizeof c->e[i]);
        pthread_mutex_unlock(&c->lock);
}
