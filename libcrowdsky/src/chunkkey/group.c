/* group.c - proximity grouping of frames into jobs (SPEC section 5).
 *
 * Why single linkage: a Seestar re-centres now and then, and alt-az tracking
 * drifts, so a target's pointings form a chain of small steps. Linking every
 * pair closer than the radius and taking connected components keeps such a
 * chain in one job even when its two ends lie further apart than the radius;
 * a centroid-based clustering would cut it at an arbitrary place. Targets more
 * than 0.25 deg apart (a Seestar field is ~0.7 x 1.3 deg, so a different target
 * or mosaic panel) stay separate. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crowdsky/alloc.h"
#include "crowdsky/chunkkey.h"

#define DEG (M_PI / 180.0)

double cs_sky_distance_deg(double ra1, double dec1, double ra2, double dec2)
{
        double sd = sin((dec2 - dec1) * DEG / 2), sr = sin((ra2 - ra1) * DEG / 2);
        double h = sd * sd + cos(dec1 * DEG) * cos(dec2 * DEG) * sr * sr;

        if (h > 1.0)
                h = 1.0;
        if (h < 0.0)
                h = 0.0;
        return 2.0 * asin(sqrt(h)) / DEG;
}

static size_t uf_find(size_t *parent, size_t i)
{
        while (parent[i] != i) {
                parent[i] = parent[parent[i]]; /* path halving */
                i = parent[i];
        }
        return i;
}

static void uf_union(size_t *parent, size_t a, size_t b)
{
        a = uf_find(parent, a);
        b = uf_find(parent, b);
        /* The smaller index becomes the root: roots are each group's first frame. */
        if (a < b)
                parent[b] = a;
        else if (b < a)
                parent[a] = b;
}

struct slot_idx {
        int64_t slot;
        size_t i;
};

static int cmp_slot(const void *a, const void *b)
{
        const struct slot_idx *x = a, *y = b;

        if (x->slot != y->slot)
                return x->slot < y->slot ? -1 : 1;
        return x->i < y->i ? -1 : x->i > y->i;
}

int cs_chunk_group(const struct cs_chunk_point *pts, size_t n, double radius_deg, int *ret_group,
                   size_t *ret_ngroups, struct cs_err *err)
{
        struct slot_idx *order = NULL;
        size_t *parent = NULL, *label = NULL, i, j, a, b, ngroups = 0;
        int rc = CS_OK;

        if (!(radius_deg >= 0.0) || !isfinite(radius_deg))
                return cs_err_set(err, CS_EINVAL, "grouping radius must be >= 0");
        if (n > (size_t)INT32_MAX)
                return cs_err_set(err, CS_ETOOBIG, "too many frames to group");
        for (i = 0; i < n; i++) {
                if (!isfinite(pts[i].obs_time) || !isfinite(pts[i].ra) ||
                    !(pts[i].dec >= -90.0 && pts[i].dec <= 90.0))
                        return cs_err_set(err, CS_EINVAL, "frame %zu: invalid time or pointing", i);
        }
        if (n == 0) {
                *ret_ngroups = 0;
                return CS_OK;
        }
        order = cs_alloc_array(n, sizeof *order, 0);
        parent = cs_alloc_array(n, sizeof *parent, 0);
        label = cs_alloc_array(n, sizeof *label, 0);
        if (!order || !parent || !label) {
                rc = cs_err_set(err, CS_ENOMEM, "out of memory grouping %zu frames", n);
                goto out;
        }
        for (i = 0; i < n; i++) {
                order[i].slot = cs_chunk_slot(pts[i].obs_time);
                order[i].i = i;
                parent[i] = i;
        }
        /* Only frames of one slot can link: sort by slot, then compare within runs. */
        qsort(order, n, sizeof *order, cmp_slot);
        for (a = 0; a < n; a = b) {
                for (b = a + 1; b < n && order[b].slot == order[a].slot; b++)
                        ;
                for (i = a; i < b; i++)
                        for (j = i + 1; j < b; j++) {
                                const struct cs_chunk_point *p = &pts[order[i].i], *o = &pts[order[j].i];

                                if (cs_sky_distance_deg(p->ra, p->dec, o->ra, o->dec) <= radius_deg)
                                        uf_union(parent, order[i].i, order[j].i);
                        }
        }
        /* Roots are each group's smallest index, so numbering in index order of
         * roots numbers groups by their first frame. */
        for (i = 0; i < n; i++) {
                size_t r = uf_find(parent, i);

                if (r == i)
                        label[i] = ngroups++;
                ret_group[i] = (int)label[r];
        }
        *ret_ngroups = ngroups;
out:
        free(order);
        free(parent);
        free(label);
        return rc;
}

int cs_chunk_group_key(const struct cs_chunk_point *pts, size_t n, const int *group, int g,
                       char out[CS_CHUNKKEY_MAX], double *ret_ra, double *ret_dec,
                       struct cs_err *err)
{
        double x = 0, y = 0, z = 0, norm, ra, dec, t = 0;
        size_t i, count = 0;
        int rc;

        for (i = 0; i < n; i++) {
                if (group[i] != g)
                        continue;
                if (count == 0)
                        t = pts[i].obs_time;
                x += cos(pts[i].dec * DEG) * cos(pts[i].ra * DEG);
                y += cos(pts[i].dec * DEG) * sin(pts[i].ra * DEG);
                z += sin(pts[i].dec * DEG);
                count++;
        }
        if (count == 0)
                return cs_err_set(err, CS_EINVAL, "group %d has no frames", g);
        norm = sqrt(x * x + y * y + z * z);
        if (!(norm > 1e-9 * (double)count))
                return cs_err_set(err, CS_EINVAL, "group %d: pointings cancel out", g);
        dec = asin(fmin(1.0, fmax(-1.0, z / norm))) / DEG;
        /* At a pole RA is undefined; atan2(0, 0) = 0 gives a stable key. */
        ra = atan2(y, x) / DEG;
        if (ra < 0)
                ra += 360.0;
        if (ra >= 360.0)
                ra -= 360.0;
        rc = cs_chunkkey_format(t, ra, dec, out, err);
        if (rc < 0)
                return rc;
        if (ret_ra)
                *ret_ra = ra;
        if (ret_dec)
                *ret_dec = dec;
        return CS_OK;
}
