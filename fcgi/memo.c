/* memo.c - short in-process memories of answers (see memo.h). */
#include <stdlib.h>
#include <string.h>

#include "crowdsky/alloc.h"

#include "app.h"
#include "memo.h"

static struct cs_memo_entry *slot(struct cs_memo *m, int64_t k1)
{
        return &m->e[(size_t)((uint64_t)k1 * 0x9E3779B97F4A7C15ull >> 32) % m->nslots];
}

char *cs_memo_get(struct cs_memo *m, int64_t k1, int64_t k2, size_t *ret_len)
{
        struct cs_memo_entry *e = slot(m, k1);
        int64_t now = cs_mono_us();
        char *copy = NULL;

        pthread_mutex_lock(&m->lock);
        if (e->text && e->k1 == k1 && e->k2 == k2 && now < e->expires_us) {
                copy = cs_xmalloc(e->len + 1);
                memcpy(copy, e->text, e->len + 1);
                *ret_len = e->len;
        }
        pthread_mutex_unlock(&m->lock);
        return copy;
}

uint64_t cs_memo_gen(struct cs_memo *m)
{
        uint64_t g;

        pthread_mutex_lock(&m->lock);
        g = m->gen;
        pthread_mutex_unlock(&m->lock);
        return g;
}

void cs_memo_put(struct cs_memo *m, int64_t k1, int64_t k2, const char *text, size_t len, uint64_t gen,
                 int64_t expires_us)
{
        struct cs_memo_entry *e = slot(m, k1);
        char *copy = cs_xmalloc(len + 1), *old = NULL;

        memcpy(copy, text, len);
        copy[len] = '\0';
        pthread_mutex_lock(&m->lock);
        if (m->gen == gen) {
                old = e->text;
                e->k1 = k1;
                e->k2 = k2;
                e->expires_us = expires_us;
                e->text = copy;
                e->len = len;
                copy = NULL;
        }
        pthread_mutex_unlock(&m->lock);
        free(old);
        free(copy);
}

void cs_memo_forget(struct cs_memo *m, int64_t k1)
{
        struct cs_memo_entry *e = slot(m, k1);
        char *old = NULL;

        pthread_mutex_lock(&m->lock);
        m->gen++;
        if (e->text && e->k1 == k1) {
                old = e->text;
                memset(e, 0, sizeof *e);
        }
        pthread_mutex_unlock(&m->lock);
        free(old);
}
