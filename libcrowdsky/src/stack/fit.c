/* fit.c - affine maps and their weighted least-squares fit with LAPACKE. */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>

#include "crowdsky/alloc.h"
#include "crowdsky/align.h"

void cs_xform_identity(struct cs_xform *t)
{
        t->m[0] = 1;
        t->m[1] = 0;
        t->m[2] = 0;
        t->m[3] = 0;
        t->m[4] = 1;
        t->m[5] = 0;
}

void cs_xform_apply(const struct cs_xform *t, double x, double y, double *ret_x, double *ret_y)
{
        *ret_x = t->m[0] * x + t->m[1] * y + t->m[2];
        *ret_y = t->m[3] * x + t->m[4] * y + t->m[5];
}

int cs_xform_invert(const struct cs_xform *t, struct cs_xform *ret, struct cs_err *err)
{
        double det = t->m[0] * t->m[4] - t->m[1] * t->m[3];
        struct cs_xform r;

        if (!isfinite(det) || fabs(det) < 1e-12)
                return cs_err_set(err, CS_EINVAL, "singular transform");
        r.m[0] = t->m[4] / det;
        r.m[1] = -t->m[1] / det;
        r.m[3] = -t->m[3] / det;
        r.m[4] = t->m[0] / det;
        r.m[2] = -(r.m[0] * t->m[2] + r.m[1] * t->m[5]);
        r.m[5] = -(r.m[3] * t->m[2] + r.m[4] * t->m[5]);
        *ret = r;
        return CS_OK;
}

void cs_xform_decompose(const struct cs_xform *t, double *ret_rot_deg, double *ret_scale,
                        bool *ret_mirror)
{
        double det = t->m[0] * t->m[4] - t->m[1] * t->m[3];
        double rot;

        if (det >= 0)
                rot = atan2(t->m[3] - t->m[1], t->m[0] + t->m[4]);
        else
                rot = atan2(t->m[3] + t->m[1], t->m[0] - t->m[4]);
        rot *= 180.0 / M_PI;
        if (rot <= -180.0)
                rot += 360.0;
        if (ret_rot_deg)
                *ret_rot_deg = rot;
        if (ret_scale)
                *ret_scale = sqrt(fabs(det));
        if (ret_mirror)
                *ret_mirror = det < 0;
}

int cs_align_fit(const double *src, const double *dst, const double *w, size_t n,
                 enum cs_xform_model model, bool mirror, struct cs_xform *ret, double *ret_rms,
                 struct cs_err *err)
{
        double sx = 0, sy = 0, dx = 0, dy = 0, sw = 0, rms = 0;
        double *a = NULL, *b = NULL;
        struct cs_xform t;
        size_t i;
        lapack_int info;
        int r = CS_OK;

        if (n < (model == CS_XFORM_AFFINE ? 3u : 2u))
                return cs_err_set(err, CS_EINVAL, "%zu star pairs are too few for a fit", n);
        /* centre both point sets: keeps the normal equations well conditioned */
        for (i = 0; i < n; i++) {
                double wi = w ? w[i] : 1.0;

                sx += wi * src[2 * i];
                sy += wi * src[2 * i + 1];
                dx += wi * dst[2 * i];
                dy += wi * dst[2 * i + 1];
                sw += wi;
        }
        if (!(sw > 0))
                return cs_err_set(err, CS_EINVAL, "weights of the fit sum to zero");
        sx /= sw;
        sy /= sw;
        dx /= sw;
        dy /= sw;
        a = cs_alloc_array(2 * n * 4, sizeof *a, 1);
        b = cs_alloc_array(2 * n * 2, sizeof *b, 1);
        if (!a || !b) {
                r = cs_err_set(err, CS_ENOMEM, "out of memory for the fit");
                goto out;
        }
        if (model == CS_XFORM_AFFINE) {
                /* n rows [x y 1], two right-hand sides (x', y') */
                for (i = 0; i < n; i++) {
                        double q = sqrt(w ? w[i] : 1.0);
                        double x = src[2 * i] - sx, y = src[2 * i + 1] - sy;

                        a[i * 3 + 0] = q * x;
                        a[i * 3 + 1] = q * y;
                        a[i * 3 + 2] = q;
                        b[i * 2 + 0] = q * (dst[2 * i] - dx);
                        b[i * 2 + 1] = q * (dst[2 * i + 1] - dy);
                }
                info = LAPACKE_dgels(LAPACK_ROW_MAJOR, 'N', (lapack_int)n, 3, 2, a, 3, b, 2);
                if (info != 0) {
                        r = cs_err_set(err, CS_EINVAL, "affine fit failed (degenerate star geometry, info %d)",
                                       (int)info);
                        goto out;
                }
                t.m[0] = b[0];
                t.m[1] = b[2];
                t.m[2] = b[4];
                t.m[3] = b[1];
                t.m[4] = b[3];
                t.m[5] = b[5];
        } else {
                /* proper: x' = p x - q y + c, y' = q x + p y + f
                 * mirror: x' = p x + q y + c, y' = q x - p y + f */
                for (i = 0; i < n; i++) {
                        double q = sqrt(w ? w[i] : 1.0);
                        double x = src[2 * i] - sx, y = src[2 * i + 1] - sy;
                        double *r0 = a + (2 * i) * 4, *r1 = r0 + 4;

                        r0[0] = q * x;
                        r0[1] = q * (mirror ? y : -y);
                        r0[2] = q;
                        r0[3] = 0;
                        r1[0] = q * (mirror ? -y : y);
                        r1[1] = q * x;
                        r1[2] = 0;
                        r1[3] = q;
                        b[2 * i] = q * (dst[2 * i] - dx);
                        b[2 * i + 1] = q * (dst[2 * i + 1] - dy);
                }
                info = LAPACKE_dgels(LAPACK_ROW_MAJOR, 'N', (lapack_int)(2 * n), 4, 1, a, 4, b, 1);
                if (info != 0) {
                        r = cs_err_set(err, CS_EINVAL,
                                       "similarity fit failed (degenerate star geometry, info %d)", (int)info);
                        goto out;
                }
                t.m[0] = b[0];
                t.m[1] = mirror ? b[1] : -b[1];
                t.m[2] = b[2];
                t.m[3] = b[1];
                t.m[4] = mirror ? -b[0] : b[0];
                t.m[5] = b[3];
        }
        /* back from the centred frames: x' - dx = M (x - sx) + c' */
        t.m[2] += dx - t.m[0] * sx - t.m[1] * sy;
        t.m[5] += dy - t.m[3] * sx - t.m[4] * sy;
        for (i = 0; i < 6; i++)
                if (!isfinite(t.m[i])) {
                        r = cs_err_set(err, CS_EINVAL, "fit gave a non-finite transform");
                        goto out;
                }
        for (i = 0; i < n; i++) {
                double px, py;

                cs_xform_apply(&t, src[2 * i], src[2 * i + 1], &px, &py);
                rms += (px - dst[2 * i]) * (px - dst[2 * i]) + (py - dst[2 * i + 1]) * (py - dst[2 * i + 1]);
        }
        if (ret_rms)
                *ret_rms = sqrt(rms / (double)n);
        *ret = t;
out:
        free(a);
        free(b);
        return r;
}
