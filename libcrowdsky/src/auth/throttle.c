/* throttle.c - sliding-window failure counters per key, in memory.
 *
 * A small open hash table (chained) under one mutex: login attempts are rare
 * next to page views, and each operation is O(max_failures). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crowdsky/alloc.h"
#include "crowdsky/auth.h"

#define NBUCKETS 1024

struct entry {
        struct entry *next;
        char *key;
        int64_t *times; /* ring of the last max_failures failure times */
        unsigned count, head;
        int64_t newest;
};

struct cs_throttle {
        pthread_mutex_t lock;
        unsigned max_failures;
        int window;
        size_t max_keys, nkeys;
        struct entry *buckets[NBUCKETS];
};

static size_t hash(const char *s)
{
        size_t h = 1469598103934665603u;

        while (*s)
                h = (h ^ (unsigned char)*s++) * 1099511628211u;
        return h % NBUCKETS;
}

struct cs_throttle *cs_throttle_new(unsigned max_failures, int window_seconds, size_t max_keys)
{
        struct cs_throttle *t = cs_xcalloc(1, sizeof *t);

        pthread_mutex_init(&t->lock, NULL);
        t->max_failures = max_failures ? max_failures : 1;
        t->window = window_seconds;
        t->max_keys = max_keys ? max_keys : 1;
        return t;
}

static void entry_free(struct entry *e)
{
        free(e->key);
        free(e->times);
        free(e);
}

struct cs_throttle *cs_throttle_free(struct cs_throttle *t)
{
        size_t i;

        if (!t)
                return NULL;
        for (i = 0; i < NBUCKETS; i++) {
                struct entry *e = t->buckets[i], *n;
                for (; e; e = n) {
                        n = e->next;
                        entry_free(e);
                }
        }
        pthread_mutex_destroy(&t->lock);
        free(t);
        return NULL;
}

static struct entry **find(struct cs_throttle *t, const char *key)
{
        struct entry **pp = &t->buckets[hash(key)];

        while (*pp && strcmp((*pp)->key, key) != 0)
                pp = &(*pp)->next;
        return pp;
}

/* Failures of e still inside the window at now. */
static unsigned live(const struct cs_throttle *t, const struct entry *e, int64_t now,
                     int64_t *ret_oldest)
{
        unsigned i, n = 0;
        int64_t oldest = INT64_MAX;

        for (i = 0; i < e->count; i++) {
                int64_t ts = e->times[i];
                if (ts > now - t->window) {
                        n++;
                        if (ts < oldest)
                                oldest = ts;
                }
        }
        if (ret_oldest)
                *ret_oldest = oldest;
        return n;
}

bool cs_throttle_blocked(struct cs_throttle *t, const char *key, int64_t now, int *ret_retry_after)
{
        struct entry *e;
        bool blocked = false;
        int64_t oldest;

        pthread_mutex_lock(&t->lock);
        e = *find(t, key);
        if (e && live(t, e, now, &oldest) >= t->max_failures) {
                blocked = true;
                if (ret_retry_after)
                        *ret_retry_after = (int)(oldest + t->window - now);
        }
        pthread_mutex_unlock(&t->lock);
        return blocked;
}

/* Drops expired keys; if still full, the key with the stalest newest failure. */
static void purge(struct cs_throttle *t, int64_t now)
{
        size_t i;
        struct entry **stalest = NULL;

        for (i = 0; i < NBUCKETS; i++) {
                struct entry **pp = &t->buckets[i];
                while (*pp) {
                        struct entry *e = *pp;
                        if (e->newest <= now - t->window) {
                                *pp = e->next;
                                entry_free(e);
                                t->nkeys--;
                                continue;
                        }
                        if (!stalest || e->newest < (*stalest)->newest)
                                stalest = pp;
                        pp = &e->next;
                }
        }
        if (t->nkeys >= t->max_keys && stalest) {
                struct entry *e = *stalest;
                *stalest = e->next;
                entry_free(e);
                t->nkeys--;
        }
}

void cs_throttle_fail(struct cs_throttle *t, const char *key, int64_t now)
{
        struct entry **pp, *e;

        pthread_mutex_lock(&t->lock);
        pp = find(t, key);
        if (!*pp) {
                if (t->nkeys >= t->max_keys) {
                        purge(t, now);
                        pp = find(t, key);
                }
                e = cs_xcalloc(1, sizeof *e);
                e->key = cs_xstrdup(key);
                e->times = cs_xcalloc(t->max_failures, sizeof *e->times);
                *pp = e;
                t->nkeys++;
        }
        e = *pp;
        e->times[e->head] = now;
        e->head = (e->head + 1) % t->max_failures;
        if (e->count < t->max_failures)
                e->count++;
        e->newest = now;
        pthread_mutex_unlock(&t->lock);
}

void cs_throttle_clear(struct cs_throttle *t, const char *key)
{
        struct entry **pp, *e;

        pthread_mutex_lock(&t->lock);
        pp = find(t, key);
        if (*pp) {
                e = *pp;
                *pp = e->next;
                entry_free(e);
                t->nkeys--;
        }
        pthread_mutex_unlock(&t->lock);
}
