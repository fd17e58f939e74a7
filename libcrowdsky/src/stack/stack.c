/* stack.c - the stacking pipeline: read, hot pixels, stars, reference,
 * registration, then resample + normalise + combine in row blocks over
 * threads, with memory bounded by a budget whatever the number of frames. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "crowdsky/alloc.h"
#include "crowdsky/chunkkey.h"
#include "crowdsky/png.h"
#include "crowdsky/stack.h"
#include "stack/stack_int.h"

/* OpenBLAS must not start threads of its own inside ours. */
extern void openblas_set_num_threads(int num_threads);

const char *cs_stack_stage_name(enum cs_stack_stage s)
{
        switch (s) {
        case CS_STAGE_READ: return "reading";
        case CS_STAGE_ALIGN: return "aligning";
        case CS_STAGE_STACK: return "stacking";
        case CS_STAGE_WRITE: return "writing";
        }
        return "unknown";
}

void cs_stack_params_default(struct cs_stack_params *p)
{
        memset(p, 0, sizeof *p);
        cs_combine_params_default(&p->combine);
        cs_detect_params_default(&p->detect);
        cs_match_params_default(&p->match);
        p->threads = 0;
        p->norm = CS_NORM_ADDITIVE;
        p->hotpix = true;
        p->debayer_gradient = true;
        p->resample_bicubic = true;
        p->resample_separable = true;
        p->weight_frames = true;
        p->max_fwhm_ratio = 0;
        p->min_stars_ratio = 0;
        p->hotpix_kappa = 6.0;
        p->hotpix_fraction = 0.5;
        p->scrub_location = true;
        p->mem_budget = (size_t)320 << 20;
}

struct frame {
        const char *path;
        fitsfile *ff;
        pthread_mutex_t lock;
        struct cs__frame_hdr hdr;
        struct cs_star *stars;
        size_t nstars;
        size_t nelong;          /* elongated sources the detector set aside */
        struct cs_xform inv;    /* reference pixel -> this frame's pixel */
        float add[3], mul[3];
};

struct run {
        const struct cs_stack_params *p;
        struct cs_stack_result *res;
        struct frame *fr;
        size_t n;
        size_t w, h;
        uint8_t cfa[4];
        int threads;
        uint16_t *counts;       /* hot-pixel outlier counts (merged) */
        uint8_t *hotmask;
        size_t *hotidx;         /* indices of the hot pixels, ascending */
        size_t nhot;
        const struct cs_star *master; /* averaged reference star list (refine_on_master) */
        size_t nmaster;
        size_t hot_stride;      /* scan every hot_stride-th frame for hot pixels */
        size_t hot_scanned;     /* how many frames that is */
        size_t *used;           /* indices of the frames to stack */
        float *weights;         /* 3 x nused frame weights of the mean, or NULL */
        size_t nused;
        size_t block_rows, nblocks;
        atomic_size_t next;
        atomic_int failed;
        pthread_mutex_t lock;   /* error, progress, merged counts, timings */
        struct cs_err err;
        size_t done;
        enum cs_stack_stage stage;
        size_t total;
        double cpu[4];
};

static bool cancelled(const struct run *rn)
{
        return rn->p->cancel && *rn->p->cancel;
}

static void set_error(struct run *rn, const struct cs_err *e)
{
        pthread_mutex_lock(&rn->lock);
        if (!atomic_load(&rn->failed)) {
                rn->err = *e;
                atomic_store(&rn->failed, 1);
        }
        pthread_mutex_unlock(&rn->lock);
}

static void progress_step(struct run *rn)
{
        pthread_mutex_lock(&rn->lock);
        rn->done++;
        if (rn->p->progress)
                rn->p->progress(rn->p->progress_ctx, rn->stage, rn->done, rn->total);
        pthread_mutex_unlock(&rn->lock);
}

static void stage_begin(struct run *rn, enum cs_stack_stage s, size_t total)
{
        rn->stage = s;
        rn->done = 0;
        rn->total = total;
        atomic_store(&rn->next, 0);
        if (rn->p->progress)
                rn->p->progress(rn->p->progress_ctx, s, 0, total);
}

/* Runs fn on `threads` threads (the caller being one of them). */
static int run_threads(struct run *rn, void *(*fn)(void *))
{
        pthread_t tid[64];
        int i, nt = rn->threads, started = 0;

        for (i = 1; i < nt; i++) {
                if (pthread_create(&tid[started], NULL, fn, rn) != 0)
                        break;
                started++;
        }
        fn(rn);
        for (i = 0; i < started; i++)
                pthread_join(tid[i], NULL);
        if (atomic_load(&rn->failed))
                return rn->err.code < 0 ? rn->err.code : CS_EINVAL;
        return CS_OK;
}

/* ---- pass 1: read each frame once: statistics, hot-pixel scan, stars ---- */

static void *pass1_thread(void *arg)
{
        struct run *rn = arg;
        size_t npix = rn->w * rn->h, i;
        uint16_t *raw = cs_alloc_array(npix, sizeof *raw, 0);
        uint16_t *counts = rn->p->hotpix ? cs_alloc_array(npix, sizeof *counts, 1) : NULL;
        struct cs_err e = CS_ERR_INIT;

        openblas_set_num_threads(1);
        if (!raw || (rn->p->hotpix && !counts)) {
                cs_err_set(&e, CS_ENOMEM, "out of memory reading frames");
                set_error(rn, &e);
                goto out;
        }
        for (;;) {
                size_t k = atomic_fetch_add(&rn->next, 1);
                struct frame *f;
                struct cs_stack_frame *sf;
                int r;

                if (k >= rn->n || atomic_load(&rn->failed))
                        break;
                if (cancelled(rn)) {
                        cs_err_set(&e, CS_ECANCELLED, "cancelled");
                        set_error(rn, &e);
                        break;
                }
                f = &rn->fr[k];
                sf = &rn->res->frames[k];
                pthread_mutex_lock(&f->lock);
                r = cs__frame_read_rows(f->ff, &f->hdr, f->path, (long)rn->w, 0, (long)rn->h, raw, &e);
                pthread_mutex_unlock(&f->lock);
                if (r < 0) {
                        set_error(rn, &e);
                        break;
                }
                cs_frame_stats_compute(raw, rn->w, rn->h, rn->cfa, &sf->stats);
                /* a hot pixel is hot in most frames: a sample of frames spread
                 * over the set finds them as well as all of them would */
                if (counts && k % rn->hot_stride == 0)
                        cs_hotpix_scan(raw, rn->w, rn->h, rn->cfa, &sf->stats, rn->p->hotpix_kappa, counts);
                r = cs_detect_stars(raw, rn->w, rn->h, &rn->p->detect, &f->stars, &f->nstars, &f->nelong, &e);
                if (r < 0) {
                        set_error(rn, &e);
                        break;
                }
                progress_step(rn);
        }
        if (counts) {
                pthread_mutex_lock(&rn->lock);
                for (i = 0; i < npix; i++) {
                        unsigned s = (unsigned)rn->counts[i] + counts[i];

                        rn->counts[i] = (uint16_t)(s > UINT16_MAX ? UINT16_MAX : s);
                }
                pthread_mutex_unlock(&rn->lock);
        }
out:
        free(raw);
        free(counts);
        return NULL;
}

/* ---- registration ---- */

static void *align_thread(void *arg)
{
        struct run *rn = arg;
        size_t ref = rn->res->reference;

        openblas_set_num_threads(1);
        for (;;) {
                size_t k = atomic_fetch_add(&rn->next, 1);
                struct cs_stack_frame *sf;
                struct cs_err e = CS_ERR_INIT;
                int r;

                if (k >= rn->n || atomic_load(&rn->failed))
                        break;
                sf = &rn->res->frames[k];
                if (k == ref) {
                        cs_xform_identity(&sf->reg.xf);
                        sf->reg.rms_px = 0;
                        sf->reg.n_matched = rn->fr[k].nstars;
                        sf->reg.rotation_deg = 0;
                        sf->reg.scale = 1;
                        sf->reg.mirror = false;
                        sf->reg.affine = false;
                        sf->registered = true;
                } else {
                        r = cs_align_match(rn->fr[k].stars, rn->fr[k].nstars, rn->fr[ref].stars,
                                           rn->fr[ref].nstars, &rn->p->match, &sf->reg, &e);
                        if (r == CS_ENOTFOUND && rn->fr[k].nelong >= 10 && rn->fr[k].nelong > rn->fr[k].nstars) {
                                /* the stars are there, smeared: say what happened */
                                snprintf(sf->reason, sizeof sf->reason,
                                         "not registered: trailed stars (%zu elongated, %zu round): wind shake "
                                         "or a tracking error",
                                         rn->fr[k].nelong, rn->fr[k].nstars);
                        } else if (r == CS_ENOTFOUND) {
                                snprintf(sf->reason, sizeof sf->reason, "not registered: %.200s", e.msg);
                        } else if (r < 0) {
                                set_error(rn, &e);
                                break;
                        } else {
                                sf->registered = true;
                        }
                }
                progress_step(rn);
        }
        return NULL;
}

static void *refit_thread(void *arg)
{
        struct run *rn = arg;

        openblas_set_num_threads(1);
        for (;;) {
                size_t i = atomic_fetch_add(&rn->next, 1);
                struct cs_stack_frame *sf;
                struct cs_match_result mr;

                if (i >= rn->n)
                        break;
                sf = &rn->res->frames[i];
                if (!sf->registered)
                        continue;
                if (cs_align_refine(rn->fr[i].stars, rn->fr[i].nstars, rn->master, rn->nmaster, &rn->p->match,
                                    &sf->reg.xf, sf->reg.mirror, &mr, NULL) == CS_OK)
                        sf->reg = mr;
        }
        return NULL;
}

/* Orders indices of a star list by x (qsort_r context: the list). */
static int cmp_master_x(const void *a, const void *b, void *ctx)
{
        const struct cs_star *m = ctx;
        double x = m[*(const size_t *)a].x, y = m[*(const size_t *)b].x;

        return (x > y) - (x < y);
}

/* Index of the master star nearest (x, y) within lim (master sorted by x
 * through order[0..n-1]), or -1; *ret_d2 gets its squared distance. */
static long master_nearest(const struct cs_star *master, const size_t *order, size_t n, double x, double y,
                           double lim, double *ret_d2)
{
        size_t lo = 0, hi = n, q;
        double bd = lim * lim;
        long bj = -1;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (master[order[mid]].x < x - lim)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        for (q = lo; q < n && master[order[q]].x <= x + lim; q++) {
                size_t j = order[q];
                double d2 = (master[j].x - x) * (master[j].x - x) + (master[j].y - y) * (master[j].y - y);

                if (d2 < bd) {
                        bd = d2;
                        bj = (long)j;
                }
        }
        *ret_d2 = bd;
        return bj;
}

/* Star positions of the reference are as noisy as anyone's, and every frame
 * inherits their errors. Averaging each star over all registered frames
 * (mapped into the reference geometry) gives a master list about sqrt(N)
 * times steadier; every frame, the reference included, is then refitted to
 * it. The list is the union of the frames' stars, not only the reference's:
 * a frame shifted by a hundred pixels would otherwise lose the stars the
 * reference does not show, often bright ones near its own corners where
 * they matter most (bench sim100: the worst frames' errors came from that).
 * Two rounds, as the maps and the averages depend on each other. */
static void refine_on_master(struct run *rn, size_t ref)
{
        const struct frame *R = &rn->fr[ref];
        size_t nr = R->nstars, cap, i, j, k, nreg = 0;
        struct cs_star *master, *use;
        double *ax, *ay, *aw, *ad2, *ae2;
        size_t *cnt, *order;
        int round;

        if (nr < 3 || rn->n < 3)
                return;
        cap = 0;
        for (i = 0; i < rn->n; i++)
                if (rn->res->frames[i].registered) {
                        cap += rn->fr[i].nstars;
                        nreg++;
                }
        if (nreg < 3)
                return;
        master = cs_xmalloc(cap * sizeof *master);
        use = cs_xmalloc(cap * sizeof *use);
        order = cs_xmalloc(2 * cap * sizeof *order);
        ax = cs_xmalloc(cap * sizeof *ax);
        ay = cs_xmalloc(cap * sizeof *ay);
        aw = cs_xmalloc(cap * sizeof *aw);
        ad2 = cs_xmalloc(cap * sizeof *ad2);
        ae2 = cs_xmalloc(cap * sizeof *ae2);
        cnt = cs_xmalloc(cap * sizeof *cnt);
        /* the union: the reference's stars, then every star of another frame
         * that lands on none of them (one frame at a time, kept sorted by x) */
        memcpy(master, R->stars, nr * sizeof *master);
        for (j = 0; j < nr; j++)
                order[j] = j;
        qsort_r(order, nr, sizeof *order, cmp_master_x, master);
        for (i = 0; i < rn->n; i++) {
                const struct cs_stack_frame *sf = &rn->res->frames[i];
                const struct frame *f = &rn->fr[i];
                double lim = fmax(3.0 * sf->reg.rms_px, 1.0);
                size_t n0 = nr, a0, b0, o;

                if (!sf->registered || i == ref)
                        continue;
                for (k = 0; k < f->nstars && nr < cap; k++) {
                        double x, y, d2;

                        cs_xform_apply(&sf->reg.xf, f->stars[k].x, f->stars[k].y, &x, &y);
                        if (master_nearest(master, order, n0, x, y, lim, &d2) >= 0)
                                continue;
                        master[nr] = f->stars[k];
                        master[nr].x = x;
                        master[nr].y = y;
                        nr++;
                }
                if (nr == n0)
                        continue;
                /* merge the new ones (sorted by x) into the order */
                for (j = n0; j < nr; j++)
                        order[cap + j - n0] = j;
                qsort_r(order + cap, nr - n0, sizeof *order, cmp_master_x, master);
                memmove(order + n0, order + cap, (nr - n0) * sizeof *order);
                /* in-place merge of [0, n0) and [n0, nr) through the spare half */
                memcpy(order + cap, order, nr * sizeof *order);
                for (a0 = 0, b0 = n0, o = 0; o < nr; o++) {
                        if (b0 >= nr || (a0 < n0 && master[order[cap + a0]].x <= master[order[cap + b0]].x))
                                order[o] = order[cap + a0++];
                        else
                                order[o] = order[cap + b0++];
                }
        }
        for (round = 0; round < 2; round++) {
                size_t nuse = 0;

                /* index of the master list by x (positions move between rounds) */
                for (j = 0; j < nr; j++)
                        order[j] = j;
                qsort_r(order, nr, sizeof *order, cmp_master_x, master);

                for (j = 0; j < nr; j++) {
                        ax[j] = ay[j] = aw[j] = ad2[j] = ae2[j] = 0;
                        cnt[j] = 0;
                }
                for (i = 0; i < rn->n; i++) {
                        const struct cs_stack_frame *sf = &rn->res->frames[i];
                        const struct frame *f = &rn->fr[i];
                        double lim = fmax(3.0 * sf->reg.rms_px, 1.0);

                        if (!sf->registered)
                                continue;
                        for (k = 0; k < f->nstars; k++) {
                                double x, y, bd, w;
                                long bj;

                                cs_xform_apply(&sf->reg.xf, f->stars[k].x, f->stars[k].y, &x, &y);
                                bj = master_nearest(master, order, nr, x, y, lim, &bd);
                                if (bj < 0)
                                        continue;
                                w = 1.0 / (f->stars[k].err * f->stars[k].err + 1e-6);
                                /* scatter about the current master position (not yet the
                                 * mean: the offset of the mean is removed below) */
                                ad2[bj] += bd;
                                ae2[bj] += f->stars[k].err * f->stars[k].err;
                                ax[bj] += w * x;
                                ay[bj] += w * y;
                                aw[bj] += w;
                                cnt[bj]++;
                        }
                }
                for (j = 0; j < nr; j++) {
                        double mx, my, off2, var, excess;

                        /* a star seen in one frame only is too unsure of its
                         * place to pull anyone (and may be no star at all) */
                        if (cnt[j] < 2 || aw[j] <= 0)
                                continue;
                        mx = ax[j] / aw[j];
                        my = ay[j] / aw[j];
                        off2 = (mx - master[j].x) * (mx - master[j].x) + (my - master[j].y) * (my - master[j].y);
                        var = (ad2[j] / (double)cnt[j] - off2) * (double)cnt[j] / (2.0 * (double)(cnt[j] - 1));
                        excess = var - ae2[j] / (double)cnt[j];
                        master[j].x = mx;
                        master[j].y = my;
                        /* what the star scatters beyond its estimated centroid error
                         * (blends, neighbours, under-estimated errors of bright stars)
                         * goes into the master star's error, so every frame's refit
                         * weights the star by how well it really holds still; and the
                         * maps of the frames it was seen in are unsure by ~0.01 px */
                        master[j].err = sqrt(1.0 / aw[j] + fmax(excess, 0.0) + 1e-4 / (double)cnt[j]);
                        use[nuse++] = master[j];
                }
                if (nuse < 3)
                        break;
                /* refit every frame to it, over the threads */
                rn->master = use;
                rn->nmaster = nuse;
                atomic_store(&rn->next, 0);
                if (run_threads(rn, refit_thread) < 0)
                        break;
        }
        rn->master = NULL;
        rn->nmaster = 0;
        free(master);
        free(use);
        free(order);
        free(ax);
        free(ay);
        free(aw);
        free(ad2);
        free(ae2);
        free(cnt);
}

/* ---- pass 2: row blocks ---- */

#define BLOCK_ROWS_MAX 64

struct tbuf {
        uint16_t *raw;
        float *band, *rgb, *tmp;
        size_t band_cap; /* rows */
        float *vals;     /* nused * 3 * block_rows * w */
        uint8_t *mask;   /* nused * block_rows * w */
        float *scratch;
        const float **planes;
        const uint8_t **masks;
        size_t *hotrel;  /* hot pixel indices relative to a band */
        size_t *spans;   /* 4 x band_cap: per band row, pass 1 and debayer columns */
};

static int grow_band(struct tbuf *t, size_t rows, size_t w)
{
        if (rows <= t->band_cap)
                return CS_OK;
        free(t->raw);
        free(t->band);
        free(t->rgb);
        free(t->tmp);
        free(t->spans);
        t->spans = cs_alloc_array(4 * rows, sizeof *t->spans, 0);
        t->raw = cs_alloc_array(rows * w, sizeof *t->raw, 0);
        t->band = cs_alloc_array(rows * w, sizeof *t->band, 0);
        t->rgb = cs_alloc_array(3 * rows * w, sizeof *t->rgb, 0);
        t->tmp = cs_alloc_array(3 * rows * w, sizeof *t->tmp, 0);
        t->band_cap = t->raw && t->band && t->rgb && t->tmp && t->spans ? rows : 0;
        return t->band_cap ? CS_OK : CS_ENOMEM;
}

/* First position in the ascending a[0..n-1] with a value >= v. */
static size_t lower_bound(const size_t *a, size_t n, size_t v)
{
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (a[mid] < v)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

/* out[i] = in[i] for n values, 8 at a time (a plain loop stays scalar at -O2). */
static void u16_to_f32(const uint16_t *restrict in, float *restrict out, size_t n)
{
        typedef uint16_t vu16x8 __attribute__((vector_size(16)));
        typedef float vf32x8 __attribute__((vector_size(32)));
        size_t i = 0;

        for (; i + 8 <= n; i += 8) {
                vu16x8 a;
                vf32x8 f;

                memcpy(&a, in + i, sizeof a);
                f = __builtin_convertvector(a, vf32x8);
                memcpy(out + i, &f, sizeof f);
        }
        for (; i < n; i++)
                out[i] = in[i];
}

static int do_block(struct run *rn, struct tbuf *t, size_t b, double cpu[4], struct cs_err *e)
{
        size_t w = rn->w, y0 = b * rn->block_rows, rows = rn->block_rows, u, c, i;
        size_t plane = rows * w;
        double t0;
        int r;

        if (y0 + rows > rn->h)
                rows = rn->h - y0;
        for (u = 0; u < rn->nused; u++) {
                struct frame *f = &rn->fr[rn->used[u]];
                float *vals = t->vals + u * 3 * plane;
                uint8_t *mask = t->mask + u * plane;
                long lo, hi, blo, bhi;
                size_t nrows;
                uint8_t cfa[4];
                bool spans;

                cs__resample_rows(&f->inv, w, y0, rows, rn->h, 2, &lo, &hi);
                if (hi - lo < 2) {
                        /* the frame does not reach this block */
                        memset(mask, 0, rows * w);
                        memset(vals, 0, 3 * plane * sizeof *vals);
                        continue;
                }
                /* three rows more on each side for the debayer (its green
                 * looks 2 rows away, red and blue 1 row away from that) */
                blo = lo > 3 ? lo - 3 : 0;
                bhi = hi + 3 < (long)rn->h ? hi + 3 : (long)rn->h;
                nrows = (size_t)(bhi - blo);
                if (grow_band(t, nrows, w) < 0)
                        return cs_err_set(e, CS_ENOMEM, "out of memory for a band of %zu rows", nrows);
                t0 = cs__thread_cpu();
                pthread_mutex_lock(&f->lock);
                r = cs__frame_read_rows(f->ff, &f->hdr, f->path, (long)w, blo, (long)nrows, t->raw, e);
                pthread_mutex_unlock(&f->lock);
                if (r < 0)
                        return r;
                if (rn->nhot > 0) {
                        /* the hot pixels inside this band: a range of the sorted list */
                        size_t first = lower_bound(rn->hotidx, rn->nhot, (size_t)blo * w);
                        size_t last = lower_bound(rn->hotidx, rn->nhot, (size_t)bhi * w), q;

                        for (q = first; q < last; q++)
                                t->hotrel[q - first] = rn->hotidx[q] - (size_t)blo * w;
                        cs__hotpix_mend_list(t->raw, w, nrows, rn->hotmask + (size_t)blo * w, t->hotrel, last - first);
                }
                u16_to_f32(t->raw, t->band, nrows * w);
                cpu[0] += cs__thread_cpu() - t0;
                t0 = cs__thread_cpu();
                for (i = 0; i < 4; i++)
                        cfa[i] = rn->cfa[((((i >> 1) + (size_t)blo) & 1) << 1) | (i & 1)];
                /* a rotated frame's band is a slanted strip: only its part is
                 * debayered and resampled in pass 1 of the two-pass scheme */
                spans = rn->p->resample_bicubic && rn->p->resample_separable &&
                        cs__resample_sep_spans(&f->inv, w, blo, nrows, w, y0, rows, t->spans, t->spans + nrows,
                                               t->spans + 2 * nrows, t->spans + 3 * nrows);
                cs__debayer_spans(t->band, w, nrows, cfa, rn->p->debayer_gradient,
                                  (float)rn->res->frames[rn->used[u]].stats.noise[1], t->rgb, t->rgb + nrows * w,
                                  t->rgb + 2 * nrows * w, spans ? t->spans + 2 * nrows : NULL,
                                  spans ? t->spans + 3 * nrows : NULL);
                cpu[1] += cs__thread_cpu() - t0;
                t0 = cs__thread_cpu();
                if (rn->p->resample_bicubic) {
                        const float *src[3] = { t->rgb, t->rgb + nrows * w, t->rgb + 2 * nrows * w };
                        float *dst[3] = { vals, vals + plane, vals + 2 * plane };

                        float *tmp[3] = { t->tmp, t->tmp + nrows * w, t->tmp + 2 * nrows * w };

                        if (!rn->p->resample_separable ||
                            !cs__resample_bicubic3_sep(src, w, rn->h, blo, nrows, &f->inv, w, y0, rows, f->add, f->mul,
                                                       dst, mask, tmp, spans ? t->spans : NULL,
                                                       spans ? t->spans + nrows : NULL))
                                cs__resample_bicubic3(src, w, rn->h, blo, nrows, &f->inv, w, y0, rows, f->add, f->mul,
                                                      dst, mask);
                } else {
                        for (c = 0; c < 3; c++)
                                cs__resample_bilinear(t->rgb + c * nrows * w, w, rn->h, blo, nrows, &f->inv, w, y0,
                                                      rows, f->add[c], f->mul[c], vals + c * plane, mask);
                }
                cpu[2] += cs__thread_cpu() - t0;
        }
        t0 = cs__thread_cpu();
        for (c = 0; c < 3; c++) {
                for (u = 0; u < rn->nused; u++) {
                        t->planes[u] = t->vals + (u * 3 + c) * plane;
                        t->masks[u] = t->mask + u * plane;
                }
                cs_combine_sigma_clip(t->planes, t->masks, rn->nused, rows * w, &rn->p->combine,
                                      rn->weights ? rn->weights + c * rn->nused : NULL,
                                      rn->res->rgb + c * rn->w * rn->h + y0 * w, NULL, t->scratch);
        }
        cpu[3] += cs__thread_cpu() - t0;
        return CS_OK;
}

static void *pass2_thread(void *arg)
{
        struct run *rn = arg;
        struct tbuf t = { 0 };
        struct cs_err e = CS_ERR_INIT;
        size_t plane = rn->block_rows * rn->w;
        t.vals = cs_alloc_array(rn->nused * 3, plane * sizeof(float), 0);
        t.mask = cs_alloc_array(rn->nused, plane, 0);
        t.scratch = cs_alloc_array(2 * rn->nused + 2, sizeof(float), 0);
        t.planes = cs_alloc_array(rn->nused, sizeof *t.planes, 0);
        t.masks = cs_alloc_array(rn->nused, sizeof *t.masks, 0);
        t.hotrel = cs_alloc_array(rn->nhot + 1, sizeof *t.hotrel, 0);
        if (!t.vals || !t.mask || !t.scratch || !t.planes || !t.masks || !t.hotrel) {
                cs_err_set(&e, CS_ENOMEM, "out of memory for row blocks");
                set_error(rn, &e);
                goto out;
        }
        for (;;) {
                size_t b = atomic_fetch_add(&rn->next, 1);

                if (b >= rn->nblocks || atomic_load(&rn->failed))
                        break;
                if (cancelled(rn)) {
                        cs_err_set(&e, CS_ECANCELLED, "cancelled");
                        set_error(rn, &e);
                        break;
                }
                {
                        double cpu[4] = { 0, 0, 0, 0 };
                        int r = do_block(rn, &t, b, cpu, &e);

                        pthread_mutex_lock(&rn->lock);
                        for (int q = 0; q < 4; q++)
                                rn->cpu[q] += cpu[q];
                        pthread_mutex_unlock(&rn->lock);
                        if (r < 0) {
                                set_error(rn, &e);
                                break;
                        }
                }
                progress_step(rn);
        }
out:
        free(t.raw);
        free(t.band);
        free(t.rgb);
        free(t.tmp);
        free(t.spans);
        free(t.vals);
        free(t.mask);
        free(t.scratch);
        free(t.planes);
        free(t.masks);
        free(t.hotrel);
        return NULL;
}

/* ---- output ---- */

struct fits_job {
        struct cs_stack_result *res;
        const struct cs_stack_params *p;
        struct cs_err err;
        int r;
        double secs;
};

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

static double median_fwhm(const struct cs_star *s, size_t n)
{
        double *v, m;
        size_t i;

        if (n == 0)
                return 0;
        v = cs_xmalloc(n * sizeof *v);
        for (i = 0; i < n; i++)
                v[i] = s[i].fwhm;
        qsort(v, n, sizeof *v, cmp_double);
        m = v[n / 2];
        free(v);
        return m;
}

/* Median of the registered frames' FWHM (which = 0) or star count (1). */
static double registered_median(const struct cs_stack_result *res, int which)
{
        double *v = cs_xmalloc((res->n ? res->n : 1) * sizeof *v), m = 0;
        size_t i, k = 0;

        for (i = 0; i < res->n; i++)
                if (res->frames[i].registered)
                        v[k++] = which == 0 ? res->frames[i].fwhm : (double)res->frames[i].n_stars;
        if (k > 0) {
                qsort(v, k, sizeof *v, cmp_double);
                m = k % 2 ? v[k / 2] : 0.5 * (v[k / 2 - 1] + v[k / 2]);
        }
        free(v);
        return m;
}

/* Registered frames far worse than the chunk's typical one are left out with
 * the reason: stars much wider than the median frame's (wind shake, a bumped
 * mount, focus drift: trailed or soft stars would widen every star of the
 * stack, and their weight only lessens that), or far fewer stars (cloud, haze,
 * dew: little signal, a bright uneven sky). Against the median of the
 * registered frames, so a night of steady seeing keeps everything and a bad
 * minority cannot move the bar; the reference is never left out. Needs three
 * registered frames to say what typical is. */
static void quality_gate(struct cs_stack_result *res, size_t ref, const struct cs_stack_params *p)
{
        double mf, ms;
        size_t i, nreg = 0;

        for (i = 0; i < res->n; i++)
                nreg += res->frames[i].registered;
        if (nreg < 3)
                return;
        mf = registered_median(res, 0);
        ms = registered_median(res, 1);
        for (i = 0; i < res->n; i++) {
                struct cs_stack_frame *sf = &res->frames[i];

                if (!sf->registered || i == ref)
                        continue;
                if (p->max_fwhm_ratio > 0 && mf > 0 && sf->fwhm > p->max_fwhm_ratio * mf)
                        snprintf(sf->reason, sizeof sf->reason,
                                 "soft or trailed stars: FWHM %.2f px, %.2f x the chunk's median %.2f px (limit %.2f x)",
                                 sf->fwhm, sf->fwhm / mf, mf, p->max_fwhm_ratio);
                else if (p->min_stars_ratio > 0 && (double)sf->n_stars < p->min_stars_ratio * ms)
                        snprintf(sf->reason, sizeof sf->reason,
                                 "cloud or haze: %zu stars against the chunk's median of %.0f (limit %.2f x)",
                                 sf->n_stars, ms, p->min_stars_ratio);
        }
}

/* The stack's FWHM as the frames' is measured: the same detector on its
 * luminance ((R + G + B) / 3, which the detector's 2x2 sums treat as they
 * treat a mosaic), the median over its stars. It includes what stacking adds
 * (resampling, registration, the spread of seeing): on the real 32-frame
 * chunk 3.22 px against 2.99 for the median frame and 2.71 for the best.
 * ~40 ms for 1080 x 1920, next to the thumbnail. */
static double measure_stack_fwhm(const struct cs_stack_result *res)
{
        size_t np = res->width * res->height, i, n = 0;
        uint16_t *lum = cs_alloc_array(np, sizeof *lum, 0);
        struct cs_detect_params p;
        struct cs_star *st = NULL;
        double v, r = 0;

        if (!lum)
                return 0;
        for (i = 0; i < np; i++) {
                v = ((double)res->rgb[i] + res->rgb[np + i] + res->rgb[2 * np + i]) / 3.0;
                lum[i] = (uint16_t)(!(v > 0) ? 0 : v > 65535 ? 65535 : v + 0.5);
        }
        cs_detect_params_default(&p);
        p.saturation = 65000;
        if (cs_detect_stars(lum, res->width, res->height, &p, &st, &n, NULL, NULL) == CS_OK && n >= 3)
                r = median_fwhm(st, n);
        free(st);
        free(lum);
        return r;
}

/* Measures the stack's FWHM (the FITS header carries it), then writes the
 * FITS file: on a thread of its own while the main thread makes the PNG. */
static void *write_fits_thread(void *arg)
{
        struct fits_job *j = arg;
        double t0 = cs__now();

        j->res->stack_fwhm = measure_stack_fwhm(j->res);
        j->r = cs_stack_write_fits(j->res, j->p, j->p->output, &j->err);
        j->secs = cs__now() - t0;
        return NULL;
}

/* ---- the whole run ---- */

static bool same_file(const char *a, const char *b)
{
        char ra[PATH_MAX], rb[PATH_MAX];

        if (!strcmp(a, b))
                return true;
        if (!realpath(a, ra) || !realpath(b, rb))
                return false;
        return !strcmp(ra, rb);
}

void cs_stack_result_release(struct cs_stack_result *r)
{
        size_t i;

        if (!r)
                return;
        for (i = 0; i < r->n && r->frames; i++)
                free(r->frames[i].file);
        free(r->frames);
        free(r->rgb);
        memset(r, 0, sizeof *r);
}

static double peak_rss_mb(void)
{
        struct rusage ru;

        if (getrusage(RUSAGE_SELF, &ru) != 0)
                return 0;
        return (double)ru.ru_maxrss / 1024.0;
}

int cs_stack_run(const struct cs_stack_params *params, const char *const *files, size_t n,
                 struct cs_stack_result *ret, struct cs_err *err)
{
        struct cs_stack_result res;
        struct run rn;
        size_t i, k, nhot = 0, ref = 0;
        double t_start = cs__now(), t0;
        int r = CS_OK;
        long nproc;

        memset(&res, 0, sizeof res);
        memset(&rn, 0, sizeof rn);
        pthread_mutex_init(&rn.lock, NULL);
        rn.p = params;
        rn.res = &res;
        rn.n = n;
        if (n == 0) {
                r = cs_err_set(err, CS_EINVAL, "no frames to stack");
                goto out;
        }
        if (params->combine.kappa <= 0 || params->combine.max_iter < 1) {
                r = cs_err_set(err, CS_EINVAL, "kappa must be > 0 and iterations >= 1");
                goto out;
        }
        nproc = sysconf(_SC_NPROCESSORS_ONLN);
        rn.threads = params->threads > 0 ? params->threads : (int)(nproc > 0 ? nproc : 1);
        if (rn.threads > 64)
                rn.threads = 64;
        openblas_set_num_threads(1);
        res.n = n;
        res.frames = cs_alloc_array(n, sizeof *res.frames, 1);
        rn.fr = cs_alloc_array(n, sizeof *rn.fr, 1);
        if (!res.frames || !rn.fr) {
                r = cs_err_set(err, CS_ENOMEM, "out of memory for %zu frames", n);
                goto out;
        }
        for (i = 0; i < n; i++)
                pthread_mutex_init(&rn.fr[i].lock, NULL);

        /* headers: every file must be a readable mosaic of one size and pattern */
        t0 = cs__now();
        for (i = 0; i < n; i++) {
                struct frame *f = &rn.fr[i];
                struct cs_stack_frame *sf = &res.frames[i];

                f->path = files[i];
                sf->file = cs_xstrdup(files[i]);
                r = cs__frame_open(files[i], &f->ff, &f->hdr, err);
                if (r < 0)
                        goto out;
                if (i == 0) {
                        rn.w = (size_t)f->hdr.w;
                        rn.h = (size_t)f->hdr.h;
                        memcpy(rn.cfa, f->hdr.cfa, 4);
                } else if ((size_t)f->hdr.w != rn.w || (size_t)f->hdr.h != rn.h) {
                        r = cs_err_set(err, CS_EINVAL, "'%s' is %ldx%ld but '%s' is %zux%zu: one stack needs one frame size",
                                       files[i], f->hdr.w, f->hdr.h, files[0], rn.w, rn.h);
                        goto out;
                } else if (memcmp(rn.cfa, f->hdr.cfa, 4) != 0) {
                        r = cs_err_set(err, CS_EINVAL, "'%s' has Bayer pattern '%s' but '%s' has '%s': one stack needs one pattern",
                                       files[i], f->hdr.bayer, files[0], rn.fr[0].hdr.bayer);
                        goto out;
                }
                sf->date_obs = f->hdr.date_obs;
                snprintf(sf->date_obs_str, sizeof sf->date_obs_str, "%s", f->hdr.date_str);
                sf->exptime = f->hdr.exptime;
                sf->ra = f->hdr.ra;
                sf->dec = f->hdr.dec;
        }
        res.width = rn.w;
        res.height = rn.h;
        if (params->hotpix) {
                rn.counts = cs_alloc_array(rn.w * rn.h, sizeof *rn.counts, 1);
                if (!rn.counts) {
                        r = cs_err_set(err, CS_ENOMEM, "out of memory for hot-pixel counts");
                        goto out;
                }
        }

        /* pass 1 */
        rn.hot_stride = n > 16 ? (n + 15) / 16 : 1;
        rn.hot_scanned = (n + rn.hot_stride - 1) / rn.hot_stride;
        stage_begin(&rn, CS_STAGE_READ, n);
        r = run_threads(&rn, pass1_thread);
        if (r < 0) {
                if (err)
                        *err = rn.err;
                goto out;
        }
        res.timings[CS_STACK_T_READ] = cs__now() - t0;

        /* hot pixels: outliers at one place in most frames */
        t0 = cs__now();
        if (params->hotpix) {
                size_t ns = rn.hot_scanned;
                unsigned minc = ns >= 3 ? (unsigned)ceil(params->hotpix_fraction * (double)ns) : (unsigned)ns;

                if (minc < 2 && ns >= 2)
                        minc = 2;
                rn.hotmask = cs_alloc_array(rn.w * rn.h, 1, 0);
                if (!rn.hotmask) {
                        r = cs_err_set(err, CS_ENOMEM, "out of memory for the hot-pixel mask");
                        goto out;
                }
                nhot = cs_hotpix_mask(rn.counts, rn.w * rn.h, minc, rn.hotmask);
                CS_FREE(rn.counts);
                rn.hotidx = cs_alloc_array(nhot + 1, sizeof *rn.hotidx, 0);
                if (!rn.hotidx) {
                        r = cs_err_set(err, CS_ENOMEM, "out of memory for the hot-pixel list");
                        goto out;
                }
                for (i = 0; i < rn.w * rn.h; i++)
                        if (rn.hotmask[i])
                                rn.hotidx[rn.nhot++] = i;
                /* a star sitting on a hot pixel is the hot pixel */
                for (i = 0; i < n; i++) {
                        struct frame *f = &rn.fr[i];
                        size_t kept = 0;

                        for (k = 0; k < f->nstars; k++) {
                                long cx = lround(f->stars[k].x), cy = lround(f->stars[k].y), dx, dy;
                                int hot = 0;

                                for (dy = -1; dy <= 1 && !hot; dy++)
                                        for (dx = -1; dx <= 1 && !hot; dx++) {
                                                long xx = cx + dx, yy = cy + dy;

                                                if (xx >= 0 && yy >= 0 && xx < (long)rn.w && yy < (long)rn.h)
                                                        hot = rn.hotmask[(size_t)yy * rn.w + (size_t)xx];
                                        }
                                if (!hot)
                                        f->stars[kept++] = f->stars[k];
                        }
                        f->nstars = kept;
                }
        }
        res.n_hot_pixels = nhot;
        for (i = 0; i < n; i++) {
                res.frames[i].n_stars = rn.fr[i].nstars;
                res.frames[i].n_elongated = rn.fr[i].nelong;
                res.frames[i].fwhm = median_fwhm(rn.fr[i].stars, rn.fr[i].nstars);
        }
        res.timings[CS_STACK_T_HOTPIX] = cs__now() - t0;

        /* reference: forced, or the frame with most stars per PSF area */
        t0 = cs__now();
        if (params->reference) {
                for (ref = 0; ref < n && !same_file(params->reference, files[ref]); ref++)
                        ;
                if (ref == n) {
                        r = cs_err_set(err, CS_EINVAL, "reference '%s' is not one of the frames", params->reference);
                        goto out;
                }
        } else {
                double best = -1;

                for (i = 0; i < n; i++) {
                        double fw = res.frames[i].fwhm > 0.5 ? res.frames[i].fwhm : 10.0;
                        double q = (double)(rn.fr[i].nstars < 500 ? rn.fr[i].nstars : 500) / (fw * fw);

                        if (q > best) {
                                best = q;
                                ref = i;
                        }
                }
        }
        res.reference = ref;
        if (rn.fr[ref].nstars < params->match.min_matches) {
                r = cs_err_set(err, CS_ENOTFOUND,
                               "no frame could be registered: the reference '%s' shows only %zu stars (clouds?)",
                               files[ref], rn.fr[ref].nstars);
                goto out;
        }
        stage_begin(&rn, CS_STAGE_ALIGN, n);
        r = run_threads(&rn, align_thread);
        if (r < 0) {
                if (err)
                        *err = rn.err;
                goto out;
        }
        refine_on_master(&rn, ref);
        quality_gate(&res, ref, params);
        rn.used = cs_alloc_array(n, sizeof *rn.used, 0);
        if (!rn.used) {
                r = cs_err_set(err, CS_ENOMEM, "out of memory");
                goto out;
        }
        for (i = 0; i < n; i++) {
                struct cs_stack_frame *sf = &res.frames[i];
                struct frame *f = &rn.fr[i];
                int c;

                if (!sf->registered || sf->reason[0]) /* not registered, or left out by the gate */
                        continue;
                if (cs_xform_invert(&sf->reg.xf, &f->inv, NULL) < 0) {
                        sf->registered = false;
                        snprintf(sf->reason, sizeof sf->reason, "not registered: singular transform");
                        continue;
                }
                for (c = 0; c < 3; c++) {
                        double bgf = sf->stats.bg[c], bgr = res.frames[ref].stats.bg[c];
                        double m = 1;

                        if (params->norm == CS_NORM_ADDSCALE && sf->stats.noise[c] > 0)
                                m = res.frames[ref].stats.noise[c] / sf->stats.noise[c];
                        if (params->norm == CS_NORM_NONE) {
                                f->add[c] = 0;
                                f->mul[c] = 1;
                        } else {
                                f->mul[c] = (float)m;
                                f->add[c] = (float)(bgr / m - bgf);
                        }
                }
                sf->used = true;
                rn.used[rn.nused++] = i;
        }
        res.n_used = rn.nused;
        res.n_rejected = n - rn.nused;
        if (params->weight_frames && rn.nused > 1) {
                /* a star's signal-to-noise in a frame goes as 1 / (noise x FWHM):
                 * weighting by its square favours sharp, clear frames */
                rn.weights = cs_alloc_array(3 * rn.nused, sizeof *rn.weights, 0);
                if (!rn.weights) {
                        r = cs_err_set(err, CS_ENOMEM, "out of memory");
                        goto out;
                }
                for (k = 0; k < rn.nused; k++) {
                        const struct cs_stack_frame *sf = &res.frames[rn.used[k]];
                        double fw = sf->fwhm > 0.5 ? sf->fwhm : 10.0;
                        int c;

                        for (c = 0; c < 3; c++) {
                                double nz = sf->stats.noise[c] * rn.fr[rn.used[k]].mul[c];

                                rn.weights[c * rn.nused + k] = (float)(1.0 / ((nz > 0 ? nz * nz : 1.0) * fw * fw));
                        }
                        res.frames[rn.used[k]].weight = rn.weights[rn.nused + k];
                }
        }
        if (n > 1 && rn.nused < 2) {
                r = cs_err_set(err, CS_ENOTFOUND, "no frame could be registered to the reference '%s' (%s)",
                               files[ref], n > 1 ? res.frames[ref == 0 ? 1 : 0].reason : "");
                goto out;
        }
        res.timings[CS_STACK_T_ALIGN] = cs__now() - t0;

        /* pass 2: row blocks sized from the memory budget */
        t0 = cs__now();
        {
                size_t per_row = rn.nused * rn.w * (3 * sizeof(float) + 1);
                size_t budget = params->mem_budget ? params->mem_budget : ((size_t)320 << 20);

                rn.block_rows = budget / ((size_t)rn.threads * per_row);
                /* taller blocks only cost: above ~64 rows the values of a block
                 * (nused x 3 x rows x w floats per thread) stop being reused from
                 * the caches between resampling and combining, and the last block
                 * leaves a thread idle longer; the rows a rotated frame adds to
                 * each band only cost their read (the debayer and the first
                 * resampling pass skip what is not needed). sim100: stack stage
                 * 1.44-1.55 s with 115-row blocks, 1.34-1.36 s with 64, and
                 * 235 instead of 385 MiB peak */
                if (rn.block_rows > BLOCK_ROWS_MAX)
                        rn.block_rows = BLOCK_ROWS_MAX;
                if (rn.block_rows < 8) {
                        /* keep threads busy on tiny budgets before giving up */
                        while (rn.threads > 1 && budget / ((size_t)rn.threads * per_row) < 8)
                                rn.threads--;
                        rn.block_rows = budget / ((size_t)rn.threads * per_row);
                }
                if (rn.block_rows < 1) {
                        r = cs_err_set(err, CS_ETOOBIG, "%zu frames of %zu px width do not fit the memory budget of %zu bytes",
                                       rn.nused, rn.w, budget);
                        goto out;
                }
                if (rn.block_rows > rn.h)
                        rn.block_rows = rn.h;
                rn.nblocks = (rn.h + rn.block_rows - 1) / rn.block_rows;
        }
        res.rgb = cs_alloc_array(3 * rn.w, rn.h * sizeof(float), 0);
        if (!res.rgb) {
                r = cs_err_set(err, CS_ENOMEM, "out of memory for the stack");
                goto out;
        }
        stage_begin(&rn, CS_STAGE_STACK, rn.nblocks);
        r = run_threads(&rn, pass2_thread);
        if (r < 0) {
                if (err)
                        *err = rn.err;
                goto out;
        }
        res.timings[CS_STACK_T_STACK] = cs__now() - t0;
        res.timings[CS_STACK_T_CPU_READ] = rn.cpu[0];
        res.timings[CS_STACK_T_CPU_DEBAYER] = rn.cpu[1];
        res.timings[CS_STACK_T_CPU_RESAMPLE] = rn.cpu[2];
        res.timings[CS_STACK_T_CPU_COMBINE] = rn.cpu[3];

        /* metadata */
        {
                double ra_x = 0, ra_y = 0, dec = 0, tfirst = INFINITY;
                size_t npt = 0, first = rn.used[0];

                for (k = 0; k < rn.nused; k++) {
                        struct cs_stack_frame *sf = &res.frames[rn.used[k]];

                        res.total_exptime += sf->exptime;
                        if (isfinite(sf->ra) && isfinite(sf->dec)) {
                                ra_x += cos(sf->ra * M_PI / 180);
                                ra_y += sin(sf->ra * M_PI / 180);
                                dec += sf->dec;
                                npt++;
                        }
                        if (isfinite(sf->date_obs) && sf->date_obs < tfirst) {
                                tfirst = sf->date_obs;
                                first = rn.used[k];
                        }
                }
                snprintf(res.object, sizeof res.object, "%s", rn.fr[ref].hdr.object);
                if (!params->scrub_location) {
                        snprintf(res.sitelat, sizeof res.sitelat, "%s", rn.fr[ref].hdr.sitelat);
                        snprintf(res.sitelong, sizeof res.sitelong, "%s", rn.fr[ref].hdr.sitelong);
                }
                if (npt > 0 && isfinite(tfirst)) {
                        double ra = atan2(ra_y, ra_x) * 180 / M_PI;
                        struct cs_err e2 = CS_ERR_INIT;

                        if (ra < 0)
                                ra += 360;
                        if (cs_chunkkey_format(res.frames[first].date_obs, ra, dec / (double)npt, res.chunk_key,
                                               &e2) < 0)
                                res.chunk_key[0] = 0;
                }
        }
        if (params->output || params->thumbnail)
                stage_begin(&rn, CS_STAGE_WRITE, (params->output ? 1 : 0) + (params->thumbnail ? 1 : 0));
        res.peak_rss_mb = peak_rss_mb();
        {
                /* the FITS file and the thumbnail are independent: with two threads
                 * the FITS file is written while the main thread makes the PNG */
                struct fits_job fj = { &res, params, CS_ERR_INIT, CS_OK, 0 };
                pthread_t wt;
                bool async = params->output && params->thumbnail && rn.threads > 1 &&
                             pthread_create(&wt, NULL, write_fits_thread, &fj) == 0;
                int rt = CS_OK;
                double t_thumb = 0;
                struct cs_err e_thumb = CS_ERR_INIT;

                if (params->output && !async)
                        write_fits_thread(&fj);
                else if (!params->output)
                        res.stack_fwhm = measure_stack_fwhm(&res);
                if (params->thumbnail) {
                        size_t np = rn.w * rn.h;

                        t0 = cs__now();
                        rt = cs_png_write_thumbnail(params->thumbnail, res.rgb, res.rgb + np, res.rgb + 2 * np,
                                                    (int)rn.w, (int)rn.h, 1024, &e_thumb);
                        t_thumb = cs__now() - t0;
                }
                if (async)
                        pthread_join(wt, NULL);
                if (fj.r < 0) {
                        if (err)
                                *err = fj.err;
                        r = fj.r;
                        goto out;
                }
                if (rt < 0) {
                        if (err)
                                *err = e_thumb;
                        r = rt;
                        goto out;
                }
                if (params->output) {
                        res.timings[CS_STACK_T_WRITE] = fj.secs;
                        progress_step(&rn);
                }
                if (params->thumbnail) {
                        res.timings[CS_STACK_T_THUMB] = t_thumb;
                        progress_step(&rn);
                }
        }
        res.timings[CS_STACK_T_TOTAL] = cs__now() - t_start;
        res.peak_rss_mb = peak_rss_mb();
        *ret = res;
        memset(&res, 0, sizeof res);
        r = CS_OK;
out:
        if (rn.fr) {
                for (i = 0; i < n; i++) {
                        cs__frame_close(rn.fr[i].ff);
                        free(rn.fr[i].stars);
                        pthread_mutex_destroy(&rn.fr[i].lock);
                }
        }
        free(rn.fr);
        free(rn.counts);
        free(rn.hotmask);
        free(rn.hotidx);
        free(rn.used);
        free(rn.weights);
        pthread_mutex_destroy(&rn.lock);
        cs_stack_result_release(&res);
        return r;
}
