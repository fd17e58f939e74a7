/* test_match.c - triangle matching and the least-squares fit: random star
 * fields under known rotation / shift / scale / mirror, sparse fields of 12
 * stars, spurious and missing stars, refusal of unrelated fields. */
#include <stdlib.h>

#include "crowdsky/align.h"
#include "cs_test.h"

static double urand(unsigned *st)
{
        return (double)rand_r(st) / RAND_MAX;
}

static double gauss(unsigned *st)
{
        double u = 0;
        int k;

        for (k = 0; k < 12; k++)
                u += urand(st);
        return u - 6.0;
}

static int by_flux(const void *a, const void *b)
{
        const struct cs_star *x = a, *y = b;

        return (x->flux < y->flux) - (x->flux > y->flux);
}

/* Reference field of n stars in w x h; the frame sees them through the
 * inverse of t (so t maps frame -> reference), with centroid noise, minus
 * `missing` stars, plus `spurious` random ones. */
static void make_pair(size_t n, double w, double h, const struct cs_xform *t, double noise, size_t missing,
                      size_t spurious, unsigned seed, struct cs_star **ret_ref, size_t *ret_nr,
                      struct cs_star **ret_src, size_t *ret_ns)
{
        struct cs_star *ref = calloc(n, sizeof *ref), *src = calloc(n + spurious, sizeof *src);
        struct cs_xform inv;
        size_t i, ns = 0;
        unsigned st = seed;

        CS_ASSERT_OK(cs_xform_invert(t, &inv, NULL));
        for (i = 0; i < n; i++) {
                ref[i].x = w * urand(&st);
                ref[i].y = h * urand(&st);
                ref[i].flux = 1000 + 1e5 * pow(urand(&st), 3);
                ref[i].err = 0.05;
                ref[i].fwhm = 3;
        }
        for (i = 0; i < n; i++) {
                if (i % 7 == 3 && missing > 0) {
                        missing--;
                        continue;
                }
                cs_xform_apply(&inv, ref[i].x, ref[i].y, &src[ns].x, &src[ns].y);
                src[ns].x += noise * gauss(&st);
                src[ns].y += noise * gauss(&st);
                src[ns].flux = ref[i].flux * (0.9 + 0.2 * urand(&st));
                src[ns].err = 0.05;
                ns++;
        }
        for (i = 0; i < spurious; i++) {
                src[ns].x = w * urand(&st);
                src[ns].y = h * urand(&st);
                src[ns].flux = 1000 + 1e5 * pow(urand(&st), 3);
                src[ns].err = 0.05;
                ns++;
        }
        qsort(ref, n, sizeof *ref, by_flux);
        qsort(src, ns, sizeof *src, by_flux);
        *ret_ref = ref;
        *ret_nr = n;
        *ret_src = src;
        *ret_ns = ns;
}

static struct cs_xform similarity(double rot_deg, double scale, double tx, double ty, bool mirror)
{
        struct cs_xform t;
        double c = scale * cos(rot_deg * M_PI / 180), s = scale * sin(rot_deg * M_PI / 180);

        t.m[0] = c;
        t.m[1] = mirror ? s : -s;
        t.m[2] = tx;
        t.m[3] = s;
        t.m[4] = mirror ? -c : c;
        t.m[5] = ty;
        return t;
}

/* largest distance between the fitted and the true map over the frame corners */
static double corner_error(const struct cs_xform *a, const struct cs_xform *b, double w, double h)
{
        double xs[4] = { 0, w, 0, w }, ys[4] = { 0, 0, h, h }, worst = 0;
        int k;

        for (k = 0; k < 4; k++) {
                double ax, ay, bx, by;

                cs_xform_apply(a, xs[k], ys[k], &ax, &ay);
                cs_xform_apply(b, xs[k], ys[k], &bx, &by);
                worst = fmax(worst, hypot(ax - bx, ay - by));
        }
        return worst;
}

static void check(size_t n, struct cs_xform t, double noise, size_t missing, size_t spurious, unsigned seed,
                  double tol)
{
        struct cs_star *ref, *src;
        size_t nr, ns;
        struct cs_match_params p;
        struct cs_match_result res;
        struct cs_err e = CS_ERR_INIT;
        double err;

        make_pair(n, 1080, 1920, &t, noise, missing, spurious, seed, &ref, &nr, &src, &ns);
        cs_match_params_default(&p);
        if (cs_align_match(src, ns, ref, nr, &p, &res, &e) < 0)
                CS_FAIL("no match (n %zu, seed %u): %s", n, seed, e.msg);
        err = corner_error(&res.xf, &t, 1080, 1920);
        if (err > tol)
                CS_FAIL("corner error %.4f > %.4f (n %zu, seed %u, matched %zu)", err, tol, n, seed, res.n_matched);
        free(ref);
        free(src);
}

CS_TEST(rotation_shift_scale)
{
        check(150, similarity(3.0, 1.0, 250.0, -180.0, false), 0.05, 0, 0, 1, 0.05);
        check(150, similarity(-7.5, 1.002, -320.0, 410.0, false), 0.05, 5, 10, 2, 0.05);
        check(80, similarity(178.0, 0.998, 1100.0, 1900.0, false), 0.05, 3, 5, 3, 0.08); /* meridian flip */
        check(300, similarity(0.4, 1.0, 12.0, 7.0, false), 0.02, 0, 0, 4, 0.02);
}

CS_TEST(mirror)
{
        check(100, similarity(10.0, 1.0, 50.0, 1900.0, true), 0.05, 0, 0, 5, 0.06);
}

CS_TEST(sparse_twelve_stars)
{
        unsigned seed;

        /* a dozen stars, one missing and two spurious, several degrees and
         * hundreds of pixels apart: the M 94 case */
        for (seed = 10; seed < 20; seed++)
                check(12, similarity(4.0 + seed * 0.3, 1.0, 200.0 - 30.0 * seed, 150.0, false), 0.1, 1, 2, seed, 0.3);
}

CS_TEST(fit_exact_and_affine)
{
        double src[12] = { 0, 0, 100, 0, 0, 100, 100, 100, 50, 20, 13, 77 }, dst[12];
        struct cs_xform t = { { 1.01, 0.02, 5, -0.03, 0.98, -7 } }, r;
        double rms = 1;
        int k;

        for (k = 0; k < 6; k++)
                cs_xform_apply(&t, src[2 * k], src[2 * k + 1], &dst[2 * k], &dst[2 * k + 1]);
        CS_ASSERT_OK(cs_align_fit(src, dst, NULL, 6, CS_XFORM_AFFINE, false, &r, &rms, NULL));
        for (k = 0; k < 6; k++)
                CS_ASSERT_NEAR(r.m[k], t.m[k], 1e-9);
        CS_ASSERT(rms < 1e-9);
        t = similarity(30, 1.5, 3, 4, false);
        for (k = 0; k < 6; k++)
                cs_xform_apply(&t, src[2 * k], src[2 * k + 1], &dst[2 * k], &dst[2 * k + 1]);
        CS_ASSERT_OK(cs_align_fit(src, dst, NULL, 6, CS_XFORM_SIMILARITY, false, &r, &rms, NULL));
        for (k = 0; k < 6; k++)
                CS_ASSERT_NEAR(r.m[k], t.m[k], 1e-9);
        {
                double rot, sc;
                bool mir;

                cs_xform_decompose(&r, &rot, &sc, &mir);
                CS_ASSERT_NEAR(rot, 30, 1e-9);
                CS_ASSERT_NEAR(sc, 1.5, 1e-9);
                CS_ASSERT(!mir);
        }
        /* degenerate: all points the same */
        for (k = 0; k < 12; k++)
                src[k] = 1;
        CS_ASSERT(cs_align_fit(src, dst, NULL, 6, CS_XFORM_AFFINE, false, &r, &rms, NULL) < 0);
        CS_ASSERT(cs_align_fit(src, dst, NULL, 1, CS_XFORM_SIMILARITY, false, &r, &rms, NULL) == CS_EINVAL);
}

CS_TEST(unrelated_fields_refused)
{
        struct cs_star *ref, *src, *other, *o2;
        size_t nr, ns, no, n2, fails = 0;
        struct cs_match_params p;
        struct cs_match_result res;
        struct cs_xform id = similarity(0, 1, 0, 0, false);
        unsigned seed;

        cs_match_params_default(&p);
        for (seed = 0; seed < 5; seed++) {
                make_pair(40, 1080, 1920, &id, 0.05, 0, 0, 100 + seed, &ref, &nr, &src, &ns);
                make_pair(40, 1080, 1920, &id, 0.05, 0, 0, 200 + seed, &other, &no, &o2, &n2);
                fails += cs_align_match(other, no, ref, nr, &p, &res, NULL) == CS_ENOTFOUND;
                free(ref);
                free(src);
                free(other);
                free(o2);
        }
        CS_ASSERT_EQ(fails, 5);
        /* too few stars */
        make_pair(2, 1080, 1920, &id, 0.05, 0, 0, 7, &ref, &nr, &src, &ns);
        CS_ASSERT_EQ(cs_align_match(src, ns, ref, nr, &p, &res, NULL), CS_ENOTFOUND);
        free(ref);
        free(src);
}

/* The default model: a similarity, unless the pairs show an affine squeeze
 * (differential refraction: 0.2 % on one axis is 2 px across the frame). */
CS_TEST(affine_only_where_the_pairs_ask)
{
        struct cs_star *ref, *src;
        size_t nr, ns, seed, naff_sim = 0;
        struct cs_match_params p;
        struct cs_match_result res;
        struct cs_xform sq = similarity(1.5, 1.0, 40, -25, false);

        cs_match_params_default(&p);
        CS_ASSERT_EQ(p.model, CS_XFORM_AUTO);
        /* squeeze y by 0.2 % after the rotation */
        sq.m[3] *= 0.998;
        sq.m[4] *= 0.998;
        sq.m[5] *= 0.998;
        make_pair(150, 1080, 1920, &sq, 0.05, 0, 0, 31, &ref, &nr, &src, &ns);
        CS_ASSERT_OK(cs_align_match(src, ns, ref, nr, &p, &res, NULL));
        CS_ASSERT(res.affine);
        CS_ASSERT(res.rms_px < 0.1);
        free(ref);
        free(src);
        /* true similarities: the test at p = 1e-9 keeps them similarities */
        for (seed = 0; seed < 10; seed++) {
                struct cs_xform t = similarity(-2.0 + 0.4 * (double)seed, 1.0, 12, 30, false);

                make_pair(150, 1080, 1920, &t, 0.05, 0, 0, 50 + (unsigned)seed, &ref, &nr, &src, &ns);
                CS_ASSERT_OK(cs_align_match(src, ns, ref, nr, &p, &res, NULL));
                naff_sim += res.affine;
                free(ref);
                free(src);
        }
        CS_ASSERT_EQ(naff_sim, 0);
        /* forced similarity: the squeeze is left in the residuals */
        p.model = CS_XFORM_SIMILARITY;
        make_pair(150, 1080, 1920, &sq, 0.05, 0, 0, 31, &ref, &nr, &src, &ns);
        CS_ASSERT_OK(cs_align_match(src, ns, ref, nr, &p, &res, NULL));
        CS_ASSERT(!res.affine);
        CS_ASSERT(res.rms_px > 0.3);
        free(ref);
        free(src);
}

CS_TEST_MAIN()
