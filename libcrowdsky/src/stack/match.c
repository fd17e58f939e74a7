/* match.c - star-triangle matching and the iterated least-squares registration.
 *
 * Triangles of the brightest stars are described by their side ratios
 * (b/c, a/c with a <= b <= c), which rotation, scale and mirroring leave
 * unchanged. Each source triangle looks up the reference triangles with nearly
 * the same ratios (a window in a sorted array); every such pair is a
 * hypothesis (a similarity through its three vertex pairs) that earns one vote
 * per bright star it brings onto a reference star. The winner seeds a weighted
 * least-squares fit over all agreeing pairs, iterated with outlier removal. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crowdsky/alloc.h"
#include "crowdsky/align.h"
#include "stack/stack_int.h"

void cs_match_params_default(struct cs_match_params *p)
{
        p->tri_stars = 25;
        p->score_stars = 60;
        p->tri_tol = 0.008;
        p->match_radius = 3.0;
        p->min_scale = 0.9;
        p->max_scale = 1.1;
        p->max_rms = 1.0;
        p->min_matches = 5;
        p->model = CS_XFORM_AUTO;
        p->allow_mirror = true;
}

struct tri {
        float f1, f2;   /* a/c, b/c */
        short v[3];     /* vertices opposite the sides a, b, c */
        signed char orient;
};

static int tri_cmp(const void *a, const void *b)
{
        const struct tri *x = a, *y = b;

        return (x->f1 > y->f1) - (x->f1 < y->f1);
}

static size_t build_triangles(const struct cs_star *s, size_t n, struct tri *out)
{
        size_t i, j, k, m = 0;

        for (i = 0; i < n; i++)
                for (j = i + 1; j < n; j++)
                        for (k = j + 1; k < n; k++) {
                                /* side opposite each vertex */
                                double dij = hypot(s[i].x - s[j].x, s[i].y - s[j].y);
                                double djk = hypot(s[j].x - s[k].x, s[j].y - s[k].y);
                                double dik = hypot(s[i].x - s[k].x, s[i].y - s[k].y);
                                double side[3] = { djk, dik, dij }; /* opposite i, j, k */
                                short vx[3] = { (short)i, (short)j, (short)k };
                                int o[3] = { 0, 1, 2 }, q, t;
                                double cross;

                                /* sort the three sides ascending, carrying their vertices */
                                for (q = 0; q < 2; q++)
                                        for (t = 0; t < 2 - q; t++)
                                                if (side[o[t]] > side[o[t + 1]]) {
                                                        int tmp = o[t];

                                                        o[t] = o[t + 1];
                                                        o[t + 1] = tmp;
                                                }
                                if (side[o[2]] < 8.0 || side[o[0]] < 0.05 * side[o[2]])
                                        continue; /* tiny or degenerate */
                                out[m].f1 = (float)(side[o[0]] / side[o[2]]);
                                out[m].f2 = (float)(side[o[1]] / side[o[2]]);
                                out[m].v[0] = vx[o[0]];
                                out[m].v[1] = vx[o[1]];
                                out[m].v[2] = vx[o[2]];
                                {
                                        const struct cs_star *A = &s[out[m].v[0]], *B = &s[out[m].v[1]],
                                                             *C = &s[out[m].v[2]];

                                        cross = (B->x - A->x) * (C->y - A->y) - (B->y - A->y) * (C->x - A->x);
                                }
                                out[m].orient = cross >= 0 ? 1 : -1;
                                m++;
                        }
        return m;
}

/* Spatial hash of the reference stars for nearest-neighbour look-ups. */
struct grid {
        double cell, x0, y0;
        size_t nx, ny;
        size_t *start; /* nx * ny + 1 */
        size_t *idx;
};

static int grid_build(struct grid *g, const struct cs_star *s, size_t n, double cell)
{
        double x1 = -1e300, y1 = -1e300;
        size_t i, c, *cnt;

        g->x0 = g->y0 = 1e300;
        for (i = 0; i < n; i++) {
                g->x0 = fmin(g->x0, s[i].x);
                g->y0 = fmin(g->y0, s[i].y);
                x1 = fmax(x1, s[i].x);
                y1 = fmax(y1, s[i].y);
        }
        g->cell = cell;
        g->nx = (size_t)((x1 - g->x0) / cell) + 1;
        g->ny = (size_t)((y1 - g->y0) / cell) + 1;
        if (g->nx * g->ny > 4 * n + 1024) { /* keep the table small for wide fields */
                g->cell = sqrt((x1 - g->x0 + 1) * (y1 - g->y0 + 1) / (double)(n + 1));
                if (g->cell < cell)
                        g->cell = cell;
                g->nx = (size_t)((x1 - g->x0) / g->cell) + 1;
                g->ny = (size_t)((y1 - g->y0) / g->cell) + 1;
        }
        g->start = calloc(g->nx * g->ny + 1, sizeof *g->start);
        g->idx = malloc((n ? n : 1) * sizeof *g->idx);
        cnt = calloc(g->nx * g->ny + 1, sizeof *cnt);
        if (!g->start || !g->idx || !cnt) {
                free(cnt);
                return CS_ENOMEM;
        }
        for (i = 0; i < n; i++) {
                c = (size_t)((s[i].y - g->y0) / g->cell) * g->nx + (size_t)((s[i].x - g->x0) / g->cell);
                g->start[c + 1]++;
        }
        for (c = 0; c < g->nx * g->ny; c++)
                g->start[c + 1] += g->start[c];
        for (i = 0; i < n; i++) {
                c = (size_t)((s[i].y - g->y0) / g->cell) * g->nx + (size_t)((s[i].x - g->x0) / g->cell);
                g->idx[g->start[c] + cnt[c]++] = i;
        }
        free(cnt);
        return CS_OK;
}

static void grid_release(struct grid *g)
{
        free(g->start);
        free(g->idx);
}

/* Index of the nearest star within r of (x, y), or -1; *ret_d2 its squared distance. */
static long grid_nearest(const struct grid *g, const struct cs_star *s, double x, double y, double r,
                         double *ret_d2)
{
        long cx0 = (long)floor((x - r - g->x0) / g->cell), cx1 = (long)floor((x + r - g->x0) / g->cell);
        long cy0 = (long)floor((y - r - g->y0) / g->cell), cy1 = (long)floor((y + r - g->y0) / g->cell);
        long cx, cy, best = -1;
        double bd = r * r;
        size_t k;

        if (cx1 < 0 || cy1 < 0 || cx0 >= (long)g->nx || cy0 >= (long)g->ny)
                return -1;
        if (cx0 < 0)
                cx0 = 0;
        if (cy0 < 0)
                cy0 = 0;
        if (cx1 >= (long)g->nx)
                cx1 = (long)g->nx - 1;
        if (cy1 >= (long)g->ny)
                cy1 = (long)g->ny - 1;
        for (cy = cy0; cy <= cy1; cy++)
                for (cx = cx0; cx <= cx1; cx++) {
                        size_t c = (size_t)cy * g->nx + (size_t)cx;

                        for (k = g->start[c]; k < g->start[c + 1]; k++) {
                                const struct cs_star *q = &s[g->idx[k]];
                                double d2 = (q->x - x) * (q->x - x) + (q->y - y) * (q->y - y);

                                if (d2 <= bd) {
                                        bd = d2;
                                        best = (long)g->idx[k];
                                }
                        }
                }
        if (ret_d2)
                *ret_d2 = bd;
        return best;
}

/* Similarity through three point pairs in closed form (complex least squares). */
static void similarity3(const struct cs_star *s, const short *vs, const struct cs_star *r, const short *vr,
                        bool mirror, struct cs_xform *t)
{
        double zx = 0, zy = 0, wx = 0, wy = 0, nr = 0, ni = 0, den = 0;
        int k;

        for (k = 0; k < 3; k++) {
                zx += s[vs[k]].x;
                zy += mirror ? -s[vs[k]].y : s[vs[k]].y;
                wx += r[vr[k]].x;
                wy += r[vr[k]].y;
        }
        zx /= 3;
        zy /= 3;
        wx /= 3;
        wy /= 3;
        for (k = 0; k < 3; k++) {
                double ax = s[vs[k]].x - zx, ay = (mirror ? -s[vs[k]].y : s[vs[k]].y) - zy;
                double bx = r[vr[k]].x - wx, by = r[vr[k]].y - wy;

                /* (b) * conj(a) */
                nr += bx * ax + by * ay;
                ni += by * ax - bx * ay;
                den += ax * ax + ay * ay;
        }
        {
                double pr = nr / den, pi = ni / den;

                /* w = alpha * z' + beta with z' = (x, +-y) */
                t->m[0] = pr;
                t->m[1] = mirror ? pi : -pi;
                t->m[3] = pi;
                t->m[4] = mirror ? -pr : pr;
                t->m[2] = wx - (pr * zx - pi * zy);
                t->m[5] = wy - (pi * zx + pr * zy);
        }
}

/* Stars of s that land within r of a reference star under t (and the sum of
 * their squared distances). Gives up, returning less than need, as soon as
 * need can no longer be reached: most hypotheses are wrong. */
static size_t score(const struct cs_xform *t, const struct cs_star *s, size_t ns, const struct grid *g,
                    const struct cs_star *ref, double r, size_t need, double *ret_sum)
{
        size_t i, n = 0;
        double sum = 0;

        for (i = 0; i < ns; i++) {
                double x, y, d2;

                if (n + (ns - i) < need)
                        break;
                cs_xform_apply(t, s[i].x, s[i].y, &x, &y);
                if (grid_nearest(g, ref, x, y, r, &d2) >= 0) {
                        n++;
                        sum += d2;
                }
        }
        *ret_sum = sum;
        return n;
}

static int dbl_cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

/* Weighted squared residuals of the pairs under t. */
static double chi2(const double *ps, const double *pd, const double *pw, size_t n, const struct cs_xform *t)
{
        double s = 0;
        size_t i;

        for (i = 0; i < n; i++) {
                double x, y;

                cs_xform_apply(t, ps[2 * i], ps[2 * i + 1], &x, &y);
                s += pw[i] * ((x - pd[2 * i]) * (x - pd[2 * i]) + (y - pd[2 * i + 1]) * (y - pd[2 * i + 1]));
        }
        return s;
}

/* Whether the affine fit ta explains the n pairs overwhelmingly better than
 * the similarity ts: F = (drop in chi^2 / 2) / (chi^2 / (2n - 6)) against
 * F(2, 2n - 6) at p = 1e-9, whose tail is (1 + 2f / v)^(-v / 2) (~21-26 for
 * 50-1000 pairs). The centroid errors behind the weights are estimates, not
 * truths: simulated true similarities of ~50 stars reached F = 19, and the
 * real 32-frame chunk's frames 8-14, so a p = 0.001 test (F ~ 7.4) took
 * noise for a squeeze. A 0.2 % squeeze over 150 stars scores in the
 * thousands. The test is scale-free: it holds whatever the weights' overall
 * scale. */
static bool affine_preferred(const double *ps, const double *pd, const double *pw, size_t n,
                             const struct cs_xform *ts, const struct cs_xform *ta)
{
        double cs = chi2(ps, pd, pw, n, ts), ca = chi2(ps, pd, pw, n, ta), v = 2.0 * (double)n - 6.0;
        double f, fcrit = 0.5 * v * (pow(1e-9, -2.0 / v) - 1.0);

        if (!(ca > 0) || !(cs > ca))
                return false;
        f = 0.5 * (cs - ca) / (ca / v);
        return f > fcrit;
}

int cs_align_refine(const struct cs_star *src, size_t ns, const struct cs_star *ref, size_t nr,
                    const struct cs_match_params *p, const struct cs_xform *init, bool mirror,
                    struct cs_match_result *ret, struct cs_err *err)
{
        struct grid g = { 0 };
        struct cs_xform t;
        double rms = 0;
        double *ps = NULL, *pd = NULL, *pw = NULL, *chi = NULL;
        long *pair = NULL, *owner = NULL;
        size_t npair = 0, prev_npair = 0;
        int r = CS_OK, iter;

        if (ns < 2 || nr < 2)
                return cs_err_set(err, CS_ENOTFOUND, "too few stars to fit");
        ps = cs_alloc_array(2 * ns, sizeof *ps, 0);
        pd = cs_alloc_array(2 * ns, sizeof *pd, 0);
        pw = cs_alloc_array(ns, sizeof *pw, 0);
        chi = cs_alloc_array(2 * ns, sizeof *chi, 0);
        pair = cs_alloc_array(ns, sizeof *pair, 0);
        owner = cs_alloc_array(nr, sizeof *owner, 0);
        if (!ps || !pd || !pw || !chi || !pair || !owner || grid_build(&g, ref, nr, 2 * p->match_radius) < 0) {
                r = cs_err_set(err, CS_ENOMEM, "out of memory for the fit");
                goto out;
        }
        /* iterated fit: pair every star with its nearest reference star under
         * the current map, fit, drop outliers, repeat until the pairs settle */
        t = *init;
        for (iter = 0; iter < 12; iter++) {
                double radius = iter == 0 ? p->match_radius : fmin(p->match_radius, fmax(5.0 * rms, 1.0));
                size_t k, m;
                int drop;

                for (k = 0; k < nr; k++)
                        owner[k] = -1;
                for (k = 0; k < ns; k++) {
                        double x, y, d2;
                        long q;

                        cs_xform_apply(&t, src[k].x, src[k].y, &x, &y);
                        q = grid_nearest(&g, ref, x, y, radius, &d2);
                        pair[k] = q;
                        if (q >= 0) {
                                chi[k] = d2;
                                if (owner[q] < 0 || chi[owner[q]] > d2) {
                                        if (owner[q] >= 0)
                                                pair[owner[q]] = -1;
                                        owner[q] = (long)k;
                                } else {
                                        pair[k] = -1;
                                }
                        }
                }
                for (drop = 0; drop < 5; drop++) {
                        double med, lim;
                        size_t nd = 0;

                        npair = 0;
                        for (k = 0; k < ns; k++) {
                                if (pair[k] < 0)
                                        continue;
                                ps[2 * npair] = src[k].x;
                                ps[2 * npair + 1] = src[k].y;
                                pd[2 * npair] = ref[pair[k]].x;
                                pd[2 * npair + 1] = ref[pair[k]].y;
                                {
                                        double e2 = src[k].err * src[k].err + ref[pair[k]].err * ref[pair[k]].err;

                                        /* a floor so that no single bright star rules the fit; 0.005 px
                                         * since centroid errors count photon noise at the frame's gain
                                         * (0.01 before: bench sim100 0.0140 -> 0.0133 px at the corners) */
                                        pw[npair] = 1.0 / (e2 + 0.005 * 0.005);
                                }
                                npair++;
                        }
                        if (npair < 3) {
                                r = cs_err_set(err, CS_ENOTFOUND, "registration lost its stars (%zu pairs left)", npair);
                                goto out;
                        }
                        r = cs_align_fit(ps, pd, pw, npair, npair >= 6 && p->model == CS_XFORM_AFFINE
                                         ? CS_XFORM_AFFINE : CS_XFORM_SIMILARITY, mirror, &t, &rms, err);
                        if (r < 0)
                                goto out;
                        /* normalised residuals; robust scale from their median */
                        m = 0;
                        for (k = 0; k < ns; k++) {
                                double x, y, res;

                                if (pair[k] < 0)
                                        continue;
                                cs_xform_apply(&t, src[k].x, src[k].y, &x, &y);
                                res = hypot(x - ref[pair[k]].x, y - ref[pair[k]].y) * sqrt(pw[m]);
                                chi[ns + m] = res;
                                chi[m++] = res;
                        }
                        qsort(chi, m, sizeof *chi, dbl_cmp);
                        med = chi[m / 2] / 1.1774; /* median of a 2-D Gaussian radius */
                        lim = 4.0 * fmax(med, 1.0);
                        m = 0;
                        for (k = 0; k < ns; k++) {
                                if (pair[k] < 0)
                                        continue;
                                if (chi[ns + m] > lim && npair - nd > 3) {
                                        pair[k] = -1;
                                        nd++;
                                }
                                m++;
                        }
                        if (nd == 0)
                                break;
                }
                if (npair == prev_npair && iter > 1)
                        break;
                prev_npair = npair;
        }
        {
                struct cs_match_result res;

                /* chance agreements in a dense field: demand a share of the
                 * stars the sparser list offers, and a tight fit */
                size_t need = (size_t)ceil(0.15 * (double)(ns < nr ? ns : nr));

                if (need < p->min_matches)
                        need = p->min_matches;
                if (npair < need) {
                        r = cs_err_set(err, CS_ENOTFOUND, "only %zu stars matched (need %zu)", npair, need);
                        goto out;
                }
                if (rms > p->max_rms) {
                        r = cs_err_set(err, CS_ENOTFOUND, "star positions disagree by %.2f px rms (limit %.2f)", rms,
                                       p->max_rms);
                        goto out;
                }
                res.affine = p->model == CS_XFORM_AFFINE && npair >= 6;
                if (p->model == CS_XFORM_AUTO && !mirror && npair >= 12) {
                        struct cs_xform ta;
                        double rms_a;

                        if (cs_align_fit(ps, pd, pw, npair, CS_XFORM_AFFINE, false, &ta, &rms_a, NULL) == CS_OK &&
                            affine_preferred(ps, pd, pw, npair, &t, &ta)) {
                                t = ta;
                                rms = rms_a;
                                res.affine = true;
                        }
                }
                res.xf = t;
                res.rms_px = rms;
                res.n_matched = npair;
                cs_xform_decompose(&t, &res.rotation_deg, &res.scale, &res.mirror);
                if (res.scale < p->min_scale || res.scale > p->max_scale) {
                        r = cs_err_set(err, CS_ENOTFOUND, "fitted scale %.3f outside [%.2f, %.2f]", res.scale,
                                       p->min_scale, p->max_scale);
                        goto out;
                }
                *ret = res;
        }
out:
        grid_release(&g);
        free(ps);
        free(pd);
        free(pw);
        free(chi);
        free(pair);
        free(owner);
        return r;
}

int cs_align_match(const struct cs_star *src, size_t ns, const struct cs_star *ref, size_t nr,
                   const struct cs_match_params *p, struct cs_match_result *ret, struct cs_err *err)
{
        size_t ks = ns < p->tri_stars ? ns : p->tri_stars, kr = nr < p->tri_stars ? nr : p->tri_stars;
        size_t nts, ntr, i, best_n = 0, done_n, nscore = ns < p->score_stars ? ns : p->score_stars;
        struct tri *ts = NULL, *tr = NULL;
        struct grid g = { 0 };
        struct cs_xform best, t;
        double best_sum = 0;
        bool best_mirror = false, have = false;
        int r = CS_OK;

        if (ns < 3 || nr < 3)
                return cs_err_set(err, CS_ENOTFOUND, "too few stars (%zu in the frame, %zu in the reference)", ns, nr);
        if (ks > 32767 || kr > 32767)
                return cs_err_set(err, CS_EINVAL, "tri_stars too large");
        ts = cs_alloc_array(ks * (ks - 1) * (ks - 2) / 6 + 1, sizeof *ts, 0);
        tr = cs_alloc_array(kr * (kr - 1) * (kr - 2) / 6 + 1, sizeof *tr, 0);
        if (!ts || !tr || grid_build(&g, ref, nr, 2 * p->match_radius) < 0) {
                r = cs_err_set(err, CS_ENOMEM, "out of memory for matching");
                goto out;
        }
        nts = build_triangles(src, ks, ts);
        ntr = build_triangles(ref, kr, tr);
        qsort(tr, ntr, sizeof *tr, tri_cmp);
        /* a hypothesis that half of the scored stars agree with is the answer
         * (chance agreements in a dense field reach a few per cent): stop
         * searching there; the refinement below starts from it either way */
        done_n = nscore / 2 > 3 * (size_t)p->min_matches ? nscore / 2 : 3 * (size_t)p->min_matches;
        for (i = 0; i < nts && best_n < done_n; i++) {
                const struct tri *a = &ts[i];
                size_t lo = 0, hi = ntr, j;

                while (lo < hi) { /* first reference triangle with f1 >= a->f1 - tol */
                        size_t mid = lo + (hi - lo) / 2;

                        if (tr[mid].f1 < a->f1 - p->tri_tol)
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                for (j = lo; j < ntr && tr[j].f1 <= a->f1 + p->tri_tol && best_n < done_n; j++) {
                        const struct tri *b = &tr[j];
                        bool mirror = a->orient != b->orient;
                        double sc, sum;
                        size_t n, k;
                        int bad = 0;

                        if (fabs(b->f2 - a->f2) > p->tri_tol)
                                continue;
                        if (mirror && !p->allow_mirror)
                                continue;
                        similarity3(src, a->v, ref, b->v, mirror, &t);
                        cs_xform_decompose(&t, NULL, &sc, NULL);
                        if (sc < p->min_scale || sc > p->max_scale)
                                continue;
                        for (k = 0; k < 3 && !bad; k++) {
                                double x, y;

                                cs_xform_apply(&t, src[a->v[k]].x, src[a->v[k]].y, &x, &y);
                                bad = hypot(x - ref[b->v[k]].x, y - ref[b->v[k]].y) > p->match_radius;
                        }
                        if (bad)
                                continue;
                        n = score(&t, src, nscore, &g, ref, p->match_radius, have ? best_n : 0, &sum);
                        if (n > best_n || (n == best_n && sum < best_sum)) {
                                best_n = n;
                                best_sum = sum;
                                best = t;
                                best_mirror = mirror;
                                have = true;
                        }
                }
        }
        if (!have || best_n < (p->min_matches < 4 ? 4 : p->min_matches)) {
                r = cs_err_set(err, CS_ENOTFOUND, "no consistent star pattern (best %zu agreeing stars of %zu, %zu in reference)",
                               best_n, ns, nr);
                goto out;
        }
        r = cs_align_refine(src, ns, ref, nr, p, &best, best_mirror, ret, err);
out:
        grid_release(&g);
        free(ts);
        free(tr);
        return r;
}
