/* sesscache.c - a short-lived, per-process cache of browser sessions. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crowdsky/alloc.h"
#include "crowdsky/auth.h"

struct sentry {
        struct cs_session s;
        int64_t stored_at; /* 0 = empty */
};

struct cs_sesscache {
        pthread_mutex_t lock;
        struct sentry *e;
        size_t cap;
        int ttl;
};

struct cs_sesscache *cs_sesscache_new(size_t capacity, int ttl_seconds)
{
        struct cs_sesscache *c = cs_xcalloc(1, sizeof *c);

        pthread_mutex_init(&c->lock, NULL);
        c->cap = capacity ? capacity : 1;
        c->e = cs_xcalloc(c->cap, sizeof *c->e);
        c->ttl = ttl_seconds;
        return c;
}

struct cs_sesscache *cs_sesscache_free(struct cs_sesscache *c)
{
        if (c) {
                pthread_mutex_destroy(&c->lock);
                free(c->e);
                free(c);
        }
        return NULL;
}

/* The hash is hex of a uniformly random digest: its first 15 digits index. */
static size_t slot(const struct cs_sesscache *c, const char *h)
{
        uint64_t v = strtoull((char[16]){ h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9],
                                          h[10], h[11], h[12], h[13], h[14], 0 },
                              NULL, 16);

        return (size_t)(v % c->cap);
}

bool cs_sesscache_get(struct cs_sesscache *c, const char id_hash[CS_AUTH_HEX], int64_t now,
                      struct cs_session *ret)
{
        struct sentry *e;
        bool hit = false;

        pthread_mutex_lock(&c->lock);
        e = &c->e[slot(c, id_hash)];
        if (e->stored_at && now >= e->stored_at && now - e->stored_at < c->ttl &&
            memcmp(e->s.id_hash, id_hash, CS_AUTH_HEX) == 0) {
                *ret = e->s;
                hit = true;
        }
        pthread_mutex_unlock(&c->lock);
        return hit;
}

void cs_sesscache_put(struct cs_sesscache *c, const struct cs_session *s, int64_t now)
{
        struct sentry *e;

        pthread_mutex_lock(&c->lock);
        e = &c->e[slot(c, s->id_hash)];
        e->s = *s;
        e->stored_at = now ? now : 1;
        pthread_mutex_unlock(&c->lock);
}

void cs_sesscache_forget(struct cs_sesscache *c, const char id_hash[CS_AUTH_HEX])
{
        struct sentry *e;

        pthread_mutex_lock(&c->lock);
        e = &c->e[slot(c, id_hash)];
        if (memcmp(e->s.id_hash, id_hash, CS_AUTH_HEX) == 0)
                memset(e, 0, sizeof *e);
        pthread_mutex_unlock(&c->lock);
}

void cs_sesscache_forget_user(struct cs_sesscache *c, int64_t user_id)
{
        size_t i;

        pthread_mutex_lock(&c->lock);
        for (i = 0; i < c->cap; i++)
                if (c->e[i].stored_at && c->e[i].s.user_id == user_id)
                        memset(&c->e[i], 0, sizeof c->e[i]);
        pthread_mutex_unlock(&c->lock);
}
