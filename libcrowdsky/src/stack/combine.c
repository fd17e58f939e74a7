/* combine.c - kappa-sigma clipped mean around the median, vectorised across pixels.
 *
 * A block of pixels is loaded frame-major (s[frame][pixel]) and sorted per pixel
 * by a sorting network whose compare-exchange steps run over all pixels of the
 * block at once (min/max on contiguous arrays: the compiler vectorises them).
 * Uncovered samples enter as +inf and sort to the top, so each pixel's valid
 * values are ranks 0 .. n_p - 1. With the values sorted, every clipping
 * iteration is O(1) per pixel: survivors are a contiguous rank range [a, b];
 * the median is read at a computed rank; the first pass takes sigma from the
 * interquartile range / 1.349 (a MAD-like robust scale that a lone outlier
 * among five values cannot move), later passes from the standard deviation
 * of the survivors (steadier on clean data) via prefix sums over ranks; the
 * range becomes the values within kappa sigma of the median; repeat until it
 * stops changing. Prefix sums make the final mean O(1) per pixel too. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crowdsky/alloc.h"
#include "crowdsky/combine.h"
#include "stack/stack_int.h"

#define CHUNK 64 /* pixels per vectorised block */

void cs_combine_params_default(struct cs_combine_params *p)
{
        p->kappa = 3.0f;
        p->max_iter = 10;
        p->median_below = 5;
}

float cs_median_f32(float *v, size_t n)
{
        float hi, lo;
        size_t i;

        if (n == 0)
                return 0;
        hi = cs_select_f32(v, n, n / 2);
        if (n & 1)
                return hi;
        /* after selection v[0 .. n/2 - 1] are all <= hi: the lower middle is their maximum */
        lo = v[0];
        for (i = 1; i < n / 2; i++)
                lo = v[i] > lo ? v[i] : lo;
        return 0.5f * (lo + hi);
}

/* Quantile q of the sorted values s[a..b] (stride st), linear interpolation. */
static inline float quant(const float *s, size_t st, size_t a, size_t b, float q)
{
        float pos = (float)(b - a) * q;
        size_t k = (size_t)pos;
        float f = pos - (float)k;

        if (a + k >= b)
                return s[b * st];
        return s[(a + k) * st] * (1 - f) + s[(a + k + 1) * st] * f;
}

/* Clipping on the sorted values s[0..n-1] (stride st) of one pixel, with
 * prefix sums p1[k] = sum of (s[j] - c) and p2[k] = sum of (s[j] - c)^2 over
 * j < k (same stride, c a value near the centre, for precision). The first
 * pass uses the interquartile range (robust against a lone outlier among a
 * handful of values); later passes the standard deviation of the survivors
 * (more efficient on clean data). Returns the surviving rank range in *ra, *rb,
 * or 0 when fewer than median_below values are (or remain) to clip. */
static int clip_sorted(const float *s, const float *p1, const float *p2, size_t st, size_t n,
                       const struct cs_combine_params *p, size_t *ra, size_t *rb)
{
        size_t a = 0, b = n - 1;
        int it;

        if ((int)n < p->median_below)
                return 0;
        for (it = 0; it < p->max_iter; it++) {
                float med = quant(s, st, a, b, 0.5f), sig, lo, hi;
                size_t na = a, nb = b;

                if (it == 0) {
                        sig = (quant(s, st, a, b, 0.75f) - quant(s, st, a, b, 0.25f)) * (1.0f / 1.349f);
                } else {
                        float cnt = (float)(b - a + 1);
                        float m1 = (p1[(b + 1) * st] - p1[a * st]) / cnt;
                        float m2 = (p2[(b + 1) * st] - p2[a * st]) / cnt;
                        float var = (m2 - m1 * m1) * cnt / (cnt - 1);

                        sig = var > 0 ? sqrtf(var) : 0;
                }
                if (!(sig > 0))
                        break;
                lo = med - p->kappa * sig;
                hi = med + p->kappa * sig;
                /* later passes may take back values an early, noisier
                 * estimate rejected: the range moves both ways */
                if (it > 0) {
                        while (na > 0 && s[(na - 1) * st] >= lo)
                                na--;
                        while (nb + 1 < n && s[(nb + 1) * st] <= hi)
                                nb++;
                }
                while (na < nb && s[na * st] < lo)
                        na++;
                while (nb > na && s[nb * st] > hi)
                        nb--;
                if (na == a && nb == b && it > 0)
                        break;
                a = na;
                b = nb;
                if ((int)(b - a + 1) < p->median_below)
                        return 0;
        }
        *ra = a;
        *rb = b;
        return 1;
}

static int cmp_f32(const void *x, const void *y)
{
        float a = *(const float *)x, b = *(const float *)y;

        return (a > b) - (a < b);
}

float cs_combine_pixel(float *v, size_t n, const struct cs_combine_params *p, size_t *ret_kept)
{
        float *pf, c, r;
        size_t a = 0, b = 0, k;
        int ok;

        if (n == 0) {
                if (ret_kept)
                        *ret_kept = 0;
                return 0;
        }
        qsort(v, n, sizeof *v, cmp_f32);
        pf = cs_xmalloc(2 * (n + 1) * sizeof *pf);
        c = v[(n - 1) / 2];
        pf[0] = pf[n + 1] = 0;
        for (k = 0; k < n; k++) {
                float d = v[k] - c;

                pf[k + 1] = pf[k] + d;
                pf[n + 1 + k + 1] = pf[n + 1 + k] + d * d;
        }
        ok = clip_sorted(v, pf, pf + n + 1, 1, n, p, &a, &b);
        if (ok) {
                r = (pf[b + 1] - pf[a]) / (float)(b - a + 1) + c;
        } else {
                struct cs_combine_params q = *p;

                /* too few to clip, or too few survived: median of where clipping stopped */
                q.median_below = 1;
                a = 0;
                b = n - 1;
                if ((int)n >= p->median_below && !clip_sorted(v, pf, pf + n + 1, 1, n, &q, &a, &b)) {
                        a = 0;
                        b = n - 1;
                }
                r = quant(v, 1, a, b, 0.5f);
        }
        free(pf);
        if (ret_kept)
                *ret_kept = b - a + 1;
        return r;
}

/* ---- sorting networks ---- */

struct net {
        size_t n;
        size_t nops;
        uint16_t (*ops)[2]; /* compare-exchange (i, j), i < j: s[i] = min, s[j] = max */
        uint8_t *move;      /* 1: s[i] = s[j], s[j] = +inf (padding known to be larger) */
};

/* Batcher's odd-even merge sort for the next power of two >= n, pruned by
 * tracking which positions still hold the +inf padding: comparators among
 * padding vanish, comparators against padding become no-ops or moves. */
static int net_build(struct net *nt, size_t n)
{
        size_t p2 = 1, t, pp, k, j, i, cap, m = 0;
        uint8_t *inf;

        while (p2 < n)
                p2 <<= 1;
        cap = 1;
        for (t = p2; t > 1; t >>= 1)
                cap++;
        cap = cap * cap * p2 + 16;
        nt->n = n;
        nt->ops = malloc(cap * sizeof *nt->ops);
        nt->move = malloc(cap);
        inf = calloc(p2, 1);
        if (!nt->ops || !nt->move || !inf) {
                free(inf);
                return CS_ENOMEM;
        }
        for (i = n; i < p2; i++)
                inf[i] = 1;
        for (pp = 1; pp < p2; pp <<= 1)
                for (k = pp; k >= 1; k >>= 1) {
                        for (j = k % pp; j + k < p2; j += 2 * k)
                                for (i = 0; i < k && i + j + k < p2; i++) {
                                        size_t x = i + j, y = i + j + k;

                                        if ((x / (2 * pp)) != (y / (2 * pp)))
                                                continue;
                                        if (inf[x] && inf[y])
                                                continue;
                                        if (inf[y])
                                                continue; /* min(v, inf) = v */
                                        if (m == cap) {
                                                free(inf);
                                                return CS_ENOMEM;
                                        }
                                        nt->ops[m][0] = (uint16_t)x;
                                        nt->ops[m][1] = (uint16_t)y;
                                        nt->move[m] = inf[x];
                                        if (inf[x]) {
                                                inf[x] = 0;
                                                inf[y] = 1;
                                        }
                                        m++;
                                }
                        if (k == 1)
                                break;
                }
        nt->nops = m;
        free(inf);
        return CS_OK;
}

static void net_release(struct net *nt)
{
        free(nt->ops);
        free(nt->move);
}

/* One compare-exchange over a block of pixels: a min/max pair on whole
 * vectors. GCC's generic vectors make this SIMD at any optimisation level
 * (16-byte SSE2 vectors, native on baseline x86-64); plain
 * loops with a float ternary stay scalar at -O2 (if-conversion). */
typedef float vf8 __attribute__((vector_size(16)));
typedef int32_t vi8 __attribute__((vector_size(16)));

static inline void cmpx(float *restrict x, float *restrict y)
{
        int i;

        for (i = 0; i < CHUNK; i += 4) {
                vf8 a, b;
                vi8 m;

                memcpy(&a, x + i, sizeof a);
                memcpy(&b, y + i, sizeof b);
                m = a < b;
                {
                        vi8 lo = ((vi8)a & m) | ((vi8)b & ~m);
                        vi8 hi = ((vi8)b & m) | ((vi8)a & ~m);

                        memcpy(x + i, &lo, sizeof lo);
                        memcpy(y + i, &hi, sizeof hi);
                }
        }
}

static inline void movex(float *restrict x, float *restrict y)
{
        int i;

        for (i = 0; i < CHUNK; i++) {
                x[i] = y[i];
                y[i] = INFINITY;
        }
}

#if defined(__x86_64__) || defined(__i386__)
#define CS_AVX2 __attribute__((target("avx2")))
#else
#define CS_AVX2 /* other targets: the generic vectors do the work */
#endif

/* AVX2 compare-exchange over a block (8 floats at a time). */
CS_AVX2 static void cmpx_avx2(float *restrict x, float *restrict y)
{
        typedef float v8 __attribute__((vector_size(32)));
        typedef int32_t m8 __attribute__((vector_size(32)));
        int i;

        for (i = 0; i < CHUNK; i += 8) {
                v8 a, b;
                m8 m, lo, hi;

                memcpy(&a, x + i, sizeof a);
                memcpy(&b, y + i, sizeof b);
                m = a < b;
                lo = ((m8)a & m) | ((m8)b & ~m);
                hi = ((m8)b & m) | ((m8)a & ~m);
                memcpy(x + i, &lo, sizeof lo);
                memcpy(y + i, &hi, sizeof hi);
        }
}

/* Runs a sorting network over a block of CHUNK pixels. */
static void run_net(const struct net *nt, float *s, int use_avx2)
{
        size_t k;

        for (k = 0; k < nt->nops; k++) {
                float *x = s + (size_t)nt->ops[k][0] * CHUNK, *y = s + (size_t)nt->ops[k][1] * CHUNK;

                if (nt->move[k])
                        movex(x, y);
                else if (use_avx2)
                        cmpx_avx2(x, y);
                else
                        cmpx(x, y);
        }
}


/* Sums over all n frames of the samples of pixels [i0, i0 + 4) that lie in
 * [lo, hi] and are covered: s0 = count, s1 = sum of d, s2 = sum of d^2 with
 * d = v - ref, and with frame weights ws = sum of w, sd = sum of w d. Frames
 * are the inner loop so that the accumulators stay in registers; 4-float
 * vectors with bit-mask selects (a float compare in a plain loop stays a
 * branch at -O2). */
static void accumulate4(const float *const *planes, const uint8_t *const *masks, size_t n, size_t off,
                        const float *ref, const float *lo, const float *hi, const float *weights, float *s0,
                        float *s1, float *s2, float *ws, float *sd)
{
        vf8 r, l, h, a0 = { 0, 0, 0, 0 }, a1 = a0, a2 = a0, b0 = a0, b1 = a0;
        const vf8 one = { 1, 1, 1, 1 };
        size_t f;

        memcpy(&r, ref, sizeof r);
        memcpy(&l, lo, sizeof l);
        memcpy(&h, hi, sizeof h);
        for (f = 0; f < n; f++) {
                vf8 v, d;
                vi8 m;

                memcpy(&v, planes[f] + off, sizeof v);
                m = (v >= l) & (v <= h);
                if (masks) {
                        const uint8_t *mk = masks[f] + off;
                        vi8 c = { mk[0], mk[1], mk[2], mk[3] };

                        m &= c != 0;
                }
                d = (vf8)((vi8)(v - r) & m);
                a0 += (vf8)((vi8)one & m);
                a1 += d;
                a2 += d * d;
                if (weights) {
                        vf8 w = { weights[f], weights[f], weights[f], weights[f] };

                        b0 += (vf8)((vi8)w & m);
                        b1 += w * d;
                }
        }
        memcpy(s0, &a0, sizeof a0);
        memcpy(s1, &a1, sizeof a1);
        memcpy(s2, &a2, sizeof a2);
        memcpy(ws, &b0, sizeof b0);
        memcpy(sd, &b1, sizeof b1);
}

/* The same over 8 pixels with 32-byte vectors, for CPUs with AVX2 (chosen at
 * run time: the build targets baseline x86-64). */
typedef float vx8 __attribute__((vector_size(32)));
typedef int32_t vy8 __attribute__((vector_size(32)));

CS_AVX2 static void accumulate8(const float *const *planes, const uint8_t *const *masks, size_t n, size_t off,
                        const float *ref, const float *lo, const float *hi, const float *weights, float *s0,
                        float *s1, float *s2, float *ws, float *sd)
{
        vx8 r, l, h, a0 = { 0, 0, 0, 0, 0, 0, 0, 0 }, a1 = a0, a2 = a0, b0 = a0, b1 = a0;
        const vx8 one = { 1, 1, 1, 1, 1, 1, 1, 1 };
        size_t f;

        memcpy(&r, ref, sizeof r);
        memcpy(&l, lo, sizeof l);
        memcpy(&h, hi, sizeof h);
        for (f = 0; f < n; f++) {
                vx8 v, d;
                vy8 m;

                memcpy(&v, planes[f] + off, sizeof v);
                m = (v >= l) & (v <= h);
                if (masks) {
                        const uint8_t *mk = masks[f] + off;
                        vy8 c = { mk[0], mk[1], mk[2], mk[3], mk[4], mk[5], mk[6], mk[7] };

                        m &= c != 0;
                }
                d = (vx8)((vy8)(v - r) & m);
                a0 += (vx8)((vy8)one & m);
                a1 += d;
                a2 += d * d;
                if (weights) {
                        vx8 w = { weights[f], weights[f], weights[f], weights[f], weights[f], weights[f], weights[f], weights[f] };

                        b0 += (vx8)((vy8)w & m);
                        b1 += w * d;
                }
        }
        memcpy(s0, &a0, sizeof a0);
        memcpy(s1, &a1, sizeof a1);
        memcpy(s2, &a2, sizeof a2);
        memcpy(ws, &b0, sizeof b0);
        memcpy(sd, &b1, sizeof b1);
}

/* One subset row of a block: the frame's values, +inf where it does not
 * cover, and the coverage counts (the scalar loop was a branch per value). */
CS_AVX2 static void subset_row8(const float *src, const uint8_t *mk, size_t np, float *row, uint32_t *cs)
{
        const vx8 inf = { INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY };
        size_t i = 0;

        for (; i + 8 <= np; i += 8) {
                vx8 v;
                vy8 c, valid;
                uint32_t cv[8];

                memcpy(&v, src + i, sizeof v);
                c = (vy8){ mk[i], mk[i + 1], mk[i + 2], mk[i + 3], mk[i + 4], mk[i + 5], mk[i + 6], mk[i + 7] };
                valid = c != 0;
                v = (vx8)(((vy8)v & valid) | ((vy8)inf & ~valid));
                memcpy(row + i, &v, sizeof v);
                memcpy(cv, cs + i, sizeof cv);
                c = (vy8)((vy8){ (int32_t)cv[0], (int32_t)cv[1], (int32_t)cv[2], (int32_t)cv[3], (int32_t)cv[4],
                                 (int32_t)cv[5], (int32_t)cv[6], (int32_t)cv[7] } - valid);
                memcpy(cs + i, &c, sizeof c);
        }
        for (; i < np; i++) {
                int valid = mk[i] != 0;

                row[i] = valid ? src[i] : INFINITY;
                cs[i] += (uint32_t)valid;
        }
}

static inline int any_active(const int *a, int n)
{
        int k, r = 0;

        for (k = 0; k < n; k++)
                r |= a[k];
        return r;
}

/* A better start for the clipping over all frames: the standard deviation of
 * the sorted subset values s[0..m-1][pixel] within each pixel's interquartile
 * bounds [lo, hi] around ref (uncovered samples are +inf and drop out), as
 * the bounds ref -/+ kappa * sd. It is steadier than the interquartile sigma
 * it starts from, so fewer passes over all frames follow. Pixels with no
 * usable spread keep their bounds. */
static void subset_scale(const float *s, size_t m, const float *ref, float *lo, float *hi, float kappa)
{
        float c0[CHUNK], c1[CHUNK], c2[CHUNK];
        size_t k, i;

        for (i = 0; i < CHUNK; i += 4) {
                vf8 r, l, h, a0 = { 0, 0, 0, 0 }, a1 = a0, a2 = a0;
                const vf8 one = { 1, 1, 1, 1 };

                memcpy(&r, ref + i, sizeof r);
                memcpy(&l, lo + i, sizeof l);
                memcpy(&h, hi + i, sizeof h);
                for (k = 0; k < m; k++) {
                        vf8 v, d;
                        vi8 msk;

                        memcpy(&v, s + k * CHUNK + i, sizeof v);
                        msk = (v >= l) & (v <= h);
                        d = (vf8)((vi8)(v - r) & msk);
                        a0 += (vf8)((vi8)one & msk);
                        a1 += d;
                        a2 += d * d;
                }
                memcpy(c0 + i, &a0, sizeof a0);
                memcpy(c1 + i, &a1, sizeof a1);
                memcpy(c2 + i, &a2, sizeof a2);
        }
        for (i = 0; i < CHUNK; i++) {
                float var = c0[i] >= 2 ? (c2[i] - c1[i] * c1[i] / c0[i]) / (c0[i] - 1) : 0.0f;

                if (var > 0 && lo[i] > -INFINITY && hi[i] < INFINITY) {
                        lo[i] = ref[i] - kappa * sqrtf(var);
                        hi[i] = ref[i] + kappa * sqrtf(var);
                }
        }
}

/* Many frames: sorting every pixel's n values would cost O(n log^2 n) per
 * pixel. Instead a robust start comes from the sorted values of SUBSET frames
 * spread over the set (all of them up to SUBSET: their median and
 * interquartile sigma, which no lone outlier can move), and the clipping then
 * iterates over all n values, centred on that median, with the survivors'
 * standard deviation -- plain sums over frames, vectorised across the pixels
 * of a block. With more than 16 frames a single outlier can no longer hide
 * behind the standard deviation (it could only for n <= 10). */
#define SUBSET 32
/* Up to this many frames every value of a pixel is kept sorted (exact median
 * and quartiles at every pass, the reference cs_combine_pixel follows); above,
 * the pass-by-pass sums over frames are cheaper. Between the two limits the
 * "subset" is all the frames, so the start is exact there too. */
#define SORT_ALL_MAX 16
/* Many frames: the clipping counts as stable once a pass changes the number
 * of survivors by at most this many values. One value at the 3 sigma edge
 * moves the mean of ~100 survivors by ~0.03 sigma (a third of the mean's own
 * noise), and the pass that would only confirm or trade it was most of the
 * work: 3.7 passes over all frames per pixel on sim100 otherwise. The sums
 * kept are those of the last bounds, so the mean stays that of a clipped set. */
#define STABLE_WITHIN 1u

static void clip_large(const float *const *planes, const uint8_t *const *masks, size_t n, size_t npix,
                       const struct cs_combine_params *p, const float *weights, float *out,
                       uint16_t *out_kept)
{
        struct net nt;
        float *s;
        size_t sub[SUBSET], p0, f, i, k;
        uint32_t cs[CHUNK], prev[CHUNK];
        float ref[CHUNK], lo[CHUNK], hi[CHUNK], s0[CHUNK], s1[CHUNK], s2[CHUNK], w0[CHUNK], w1[CHUNK];
        int done[CHUNK], active[CHUNK];
        const int use_avx2 = cs__cpu_avx2();

        const size_t m = n < SUBSET ? n : SUBSET; /* all frames when there are few */

        if (net_build(&nt, m) < 0 || !(s = aligned_alloc(64, SUBSET * CHUNK * sizeof *s))) {
                for (i = 0; i < npix; i++)
                        out[i] = 0; /* out of memory for 8 KiB: nothing sensible left */
                return;
        }
        for (k = 0; k < m; k++)
                sub[k] = k * n / m;
        for (p0 = 0; p0 < npix; p0 += CHUNK) {
                size_t np = npix - p0 < CHUNK ? npix - p0 : CHUNK;
                int it;

                /* the next block's values are read frame by frame, 100 streams
                 * the hardware does not follow: ask for them now, they arrive
                 * while this block is sorted and clipped */
                if (p0 + CHUNK < npix)
                        for (f = 0; f < n; f++) {
                                const char *a = (const char *)(planes[f] + p0 + CHUNK);
                                size_t b;

                                for (b = 0; b < CHUNK * sizeof(float); b += 64)
                                        __builtin_prefetch(a + b);
                                if (masks)
                                        __builtin_prefetch(masks[f] + p0 + CHUNK);
                        }
                memset(cs, 0, sizeof cs);
                for (k = 0; k < m; k++) {
                        float *row = s + k * CHUNK;
                        const float *src = planes[sub[k]] + p0;
                        const uint8_t *mk = masks ? masks[sub[k]] + p0 : NULL;

                        for (i = np; i < CHUNK; i++)
                                row[i] = INFINITY;
                        if (mk && use_avx2) {
                                subset_row8(src, mk, np, row, cs);
                                continue;
                        }
                        for (i = 0; i < np; i++) {
                                int valid = !mk || mk[i];

                                row[i] = valid ? src[i] : INFINITY;
                                cs[i] += (uint32_t)valid;
                        }
                }
                run_net(&nt, s, use_avx2);
                for (i = 0; i < CHUNK; i++) {
                        done[i] = i >= np;
                        active[i] = 1;
                        ref[i] = 0;
                        lo[i] = INFINITY;
                        hi[i] = -INFINITY;
                        prev[i] = UINT32_MAX;
                }
                for (i = 0; i < np; i++) {
                        float med, sig;

                        if ((int)cs[i] < p->median_below) {
                                /* frame edges: too few frames of the subset cover it */
                                out[p0 + i] = cs[i] ? quant(s + i, CHUNK, 0, cs[i] - 1, 0.5f) : 0.0f;
                                if (out_kept)
                                        out_kept[p0 + i] = (uint16_t)cs[i];
                                done[i] = 1;
                                active[i] = 0;
                                continue;
                        }
                        med = quant(s + i, CHUNK, 0, cs[i] - 1, 0.5f);
                        sig = (quant(s + i, CHUNK, 0, cs[i] - 1, 0.75f) - quant(s + i, CHUNK, 0, cs[i] - 1, 0.25f)) *
                              (1.0f / 1.349f);
                        ref[i] = med;
                        if (sig > 0) {
                                lo[i] = med - p->kappa * sig;
                                hi[i] = med + p->kappa * sig;
                        } else {
                                lo[i] = -INFINITY;
                                hi[i] = INFINITY;
                        }
                }
                subset_scale(s, m, ref, lo, hi, p->kappa);
                for (it = 0; it < p->max_iter; it++) {
                        int changed = 0;

                        /* only groups with a pixel still moving are summed again: the
                         * others' sums already belong to their final bounds */
                        i = 0;
                        if (use_avx2)
                                for (; i + 8 <= np; i += 8)
                                        if (any_active(active + i, 8))
                                                accumulate8(planes, masks, n, p0 + i, ref + i, lo + i, hi + i, weights,
                                                            s0 + i, s1 + i, s2 + i, w0 + i, w1 + i);
                        for (; i + 4 <= np; i += 4)
                                if (any_active(active + i, 4))
                                        accumulate4(planes, masks, n, p0 + i, ref + i, lo + i, hi + i, weights, s0 + i,
                                                    s1 + i, s2 + i, w0 + i, w1 + i);
                        for (; i < np; i++) {
                                /* the last few pixels of a row block, one by one */
                                if (!active[i])
                                        continue;
                                s0[i] = s1[i] = s2[i] = w0[i] = w1[i] = 0;
                                for (f = 0; f < n; f++) {
                                        float v = planes[f][p0 + i], d = v - ref[i];

                                        if (v >= lo[i] && v <= hi[i] && (!masks || masks[f][p0 + i])) {
                                                float wf = weights ? weights[f] : 0.0f;

                                                s0[i] += 1;
                                                s1[i] += d;
                                                s2[i] += d * d;
                                                w0[i] += wf;
                                                w1[i] += wf * d;
                                        }
                                }
                        }
                        for (i = 0; i < np; i++) {
                                float mean, var;

                                if (done[i] || ((uint32_t)s0[i] + STABLE_WITHIN >= prev[i] &&
                                                (uint32_t)s0[i] <= prev[i] + STABLE_WITHIN)) {
                                        active[i] = 0;
                                        continue;
                                }
                                prev[i] = (uint32_t)s0[i];
                                if (s0[i] < 2) {
                                        done[i] = 1; /* nothing survives: keep the subset median */
                                        active[i] = 0;
                                        out[p0 + i] = ref[i];
                                        if (out_kept)
                                                out_kept[p0 + i] = 0;
                                        continue;
                                }
                                changed = 1;
                                mean = s1[i] / s0[i];
                                var = (s2[i] - s1[i] * mean) / (s0[i] - 1);
                                if (var > 0) {
                                        /* centre on the median of the subset, as before
                                         * (robust); the scale is now the survivors' */
                                        float sd = sqrtf(var);

                                        lo[i] = ref[i] - p->kappa * sd;
                                        hi[i] = ref[i] + p->kappa * sd;
                                }
                        }
                        if (!changed)
                                break;
                }
                /* s0..s2 (and w0, w1) hold the sums over the survivors of the last [lo, hi] */
                if (weights)
                        for (i = 0; i < np; i++)
                                if (!done[i] && w0[i] > 0)
                                        s1[i] = w1[i] / w0[i] * s0[i]; /* so that s1 / s0 is the weighted mean */
                for (i = 0; i < np; i++) {
                        if (done[i])
                                continue;
                        out[p0 + i] = s0[i] > 0 ? ref[i] + s1[i] / s0[i] : ref[i];
                        if (out_kept)
                                out_kept[p0 + i] = (uint16_t)(s0[i] > 65535 ? 65535 : s0[i]);
                }
        }
        free(s);
        net_release(&nt);
}

void cs_combine_sigma_clip(const float *const *planes, const uint8_t *const *masks, size_t n,
                           size_t npix, const struct cs_combine_params *p, const float *weights,
                           float *out, uint16_t *out_kept, float *scratch)
{
        struct net nt;
        float *s;
        size_t p0, f, i, k;
        uint32_t cnt[CHUNK];
        float cen[CHUNK], *p1, *p2, vlo[CHUNK], vhi[CHUNK];
        int use_avx2;

        (void)scratch;
        if (n == 0) {
                memset(out, 0, npix * sizeof *out);
                if (out_kept)
                        memset(out_kept, 0, npix * sizeof *out_kept);
                return;
        }
        if (n > SORT_ALL_MAX) {
                clip_large(planes, masks, n, npix, p, weights, out, out_kept);
                return;
        }
        use_avx2 = cs__cpu_avx2();
        if (n > 65535 || net_build(&nt, n) < 0 || !(s = aligned_alloc(64, (3 * n + 2) * CHUNK * sizeof *s))) {
                /* cannot happen for sane n: fall back to the scalar path */
                float *v = cs_xmalloc(n * sizeof *v);

                for (i = 0; i < npix; i++) {
                        size_t c = 0, kept;

                        for (f = 0; f < n; f++)
                                if (!masks || masks[f][i])
                                        v[c++] = planes[f][i];
                        out[i] = cs_combine_pixel(v, c, p, &kept);
                        if (out_kept)
                                out_kept[i] = (uint16_t)(kept > UINT16_MAX ? UINT16_MAX : kept);
                }
                free(v);
                return;
        }
        p1 = s + n * CHUNK;
        p2 = p1 + (n + 1) * CHUNK;
        for (p0 = 0; p0 < npix; p0 += CHUNK) {
                size_t np = npix - p0 < CHUNK ? npix - p0 : CHUNK;

                memset(cnt, 0, sizeof cnt);
                for (f = 0; f < n; f++) {
                        float *row = s + f * CHUNK;
                        const float *src = planes[f] + p0;

                        if (np < CHUNK)
                                for (i = np; i < CHUNK; i++)
                                        row[i] = INFINITY;
                        if (masks) {
                                const uint8_t *mk = masks[f] + p0;

                                for (i = 0; i < np; i++) {
                                        row[i] = mk[i] ? src[i] : INFINITY;
                                        cnt[i] += mk[i] != 0;
                                }
                        } else {
                                for (i = 0; i < np; i++)
                                        row[i] = src[i];
                                for (i = 0; i < np; i++)
                                        cnt[i]++;
                        }
                }
                run_net(&nt, s, use_avx2);
                /* prefix sums over ranks of the values minus a centre value */
                for (i = 0; i < CHUNK; i++) {
                        size_t c = cnt[i] > 0 ? (cnt[i] - 1) / 2 : 0;

                        cen[i] = i < np && cnt[i] > 0 ? s[c * CHUNK + i] : 0.0f;
                        p1[i] = 0;
                        p2[i] = 0;
                }
                for (k = 0; k < n; k++) {
                        const float *row = s + k * CHUNK;
                        const float *q1 = p1 + k * CHUNK, *q2 = p2 + k * CHUNK;
                        float *o1 = p1 + (k + 1) * CHUNK, *o2 = p2 + (k + 1) * CHUNK;

                        for (i = 0; i < CHUNK; i++) {
                                float d = row[i] - cen[i];

                                o1[i] = q1[i] + d;
                                o2[i] = q2[i] + d * d;
                        }
                }
                for (i = 0; i < CHUNK; i++) {
                        vlo[i] = INFINITY; /* empty range: no weighted sum */
                        vhi[i] = -INFINITY;
                }
                for (i = 0; i < np; i++) {
                        size_t a = 0, b = 0;
                        float r;

                        if (cnt[i] == 0) {
                                r = 0;
                        } else if (clip_sorted(s + i, p1 + i, p2 + i, CHUNK, cnt[i], p, &a, &b)) {
                                r = (p1[(b + 1) * CHUNK + i] - p1[a * CHUNK + i]) / (float)(b - a + 1) + cen[i];
                                vlo[i] = s[a * CHUNK + i];
                                vhi[i] = s[b * CHUNK + i];
                        } else {
                                struct cs_combine_params q = *p;

                                /* too few to clip, or too few survived: median of
                                 * the range where clipping stopped */
                                q.median_below = 1;
                                a = 0;
                                b = cnt[i] - 1;
                                if ((int)cnt[i] >= p->median_below &&
                                    !clip_sorted(s + i, p1 + i, p2 + i, CHUNK, cnt[i], &q, &a, &b)) {
                                        a = 0;
                                        b = cnt[i] - 1;
                                }
                                r = quant(s + i, CHUNK, a, b, 0.5f);
                        }
                        out[p0 + i] = r;
                        if (out_kept)
                                out_kept[p0 + i] = (uint16_t)(cnt[i] ? b - a + 1 : 0);
                }
                if (weights) {
                        /* weighted mean of the survivors: the values within
                         * [vlo, vhi] of each pixel, frame by frame */
                        float sw[CHUNK], sv[CHUNK];

                        for (i = 0; i < CHUNK; i++)
                                sw[i] = sv[i] = 0;
                        for (f = 0; f < n; f++) {
                                const float *src = planes[f] + p0, wf = weights[f];
                                const uint8_t *mk = masks ? masks[f] + p0 : NULL;

                                for (i = 0; i < np; i++) {
                                        float v = src[i];
                                        int in = v >= vlo[i] && v <= vhi[i] && (!mk || mk[i]);

                                        /* select, never multiply: an uncovered sample may be anything */
                                        sw[i] += in ? wf : 0.0f;
                                        sv[i] += in ? wf * (v - cen[i]) : 0.0f;
                                }
                        }
                        for (i = 0; i < np; i++)
                                if (sw[i] > 0)
                                        out[p0 + i] = sv[i] / sw[i] + cen[i];
                }
        }
        free(s);
        net_release(&nt);
}
