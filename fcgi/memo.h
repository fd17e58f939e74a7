/* memo.h - short in-process memories of answers (the job_files list, the home
 * page's list): a text kept until a monotonic deadline under a two-number key,
 * in a fixed table of slots (a key goes to slot hash(k1) % nslots; a newer
 * key takes the slot over). cs_memo_forget bumps a generation, and cs_memo_put
 * stores nothing read before the last forget: an answer computed while a
 * change was being made is never kept after it. Thread-safe. */
#ifndef CS_FCGI_MEMO_H
#define CS_FCGI_MEMO_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct cs_memo_entry {
        int64_t k1, k2;         /* key; text == NULL: empty */
        int64_t expires_us;     /* cs_mono_us() deadline */
        char *text;             /* NUL-terminated copy */
        size_t len;
};

struct cs_memo {
        pthread_mutex_t lock;
        uint64_t gen;           /* bumped by every forget */
        size_t nslots;
        struct cs_memo_entry *e;
};

/* A memo over a static array of entries. */
#define CS_MEMO_INIT(entries) { PTHREAD_MUTEX_INITIALIZER, 0, sizeof(entries) / sizeof((entries)[0]), (entries) }

/* A copy of the text kept for (k1, k2) before its deadline (caller frees), or
 * NULL; *ret_len gets its length. */
char *cs_memo_get(struct cs_memo *m, int64_t k1, int64_t k2, size_t *ret_len);
/* The generation to hand to cs_memo_put: read it before computing the answer. */
uint64_t cs_memo_gen(struct cs_memo *m);
/* Keeps a copy of text[0..len) for (k1, k2) until expires_us, unless a forget
 * came after gen was read. */
void cs_memo_put(struct cs_memo *m, int64_t k1, int64_t k2, const char *text, size_t len, uint64_t gen,
                 int64_t expires_us);
/* Drops what is kept for k1 (any k2) and makes answers computed before now
 * unstorable. */
void cs_memo_forget(struct cs_memo *m, int64_t k1);

#endif
