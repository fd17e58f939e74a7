/* debayer.c - Bayer pattern parsing and bilinear demosaicing. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "crowdsky/alloc.h"

#include "crowdsky/stack.h"
#include "stack/stack_int.h"

int cs_bayer_parse(const char *pattern, long xoff, long yoff, uint8_t ret_cfa[4], struct cs_err *err)
{
        char p[4];
        size_t i = 0, n = 0;
        uint8_t base[4];

        if (!pattern)
                return cs_err_set(err, CS_EINVAL, "no Bayer pattern (BAYERPAT missing)");
        while (pattern[i] == ' ')
                i++;
        for (; pattern[i] && pattern[i] != ' '; i++) {
                if (n == 4)
                        return cs_err_set(err, CS_EINVAL, "Bayer pattern '%s' is not 4 letters", pattern);
                p[n++] = (char)toupper((unsigned char)pattern[i]);
        }
        while (pattern[i] == ' ')
                i++;
        if (n != 4 || pattern[i])
                return cs_err_set(err, CS_EINVAL, "Bayer pattern '%s' is not 4 letters", pattern);
        for (i = 0; i < 4; i++) {
                if (p[i] == 'R')
                        base[i] = 0;
                else if (p[i] == 'G')
                        base[i] = 1;
                else if (p[i] == 'B')
                        base[i] = 2;
                else
                        return cs_err_set(err, CS_EINVAL, "Bayer pattern '%s': unknown colour", pattern);
        }
        /* a 2x2 cell with one R, one B and two G, the G on a diagonal */
        if (!(base[0] == 1 && base[3] == 1 && base[1] + base[2] == 2 && base[1] != 1) &&
            !(base[1] == 1 && base[2] == 1 && base[0] + base[3] == 2 && base[0] != 1))
                return cs_err_set(err, CS_EINVAL, "Bayer pattern '%s' is not a Bayer cell", pattern);
        if (xoff < 0 || yoff < 0)
                return cs_err_set(err, CS_EINVAL, "negative Bayer offset %ld/%ld", xoff, yoff);
        for (i = 0; i < 4; i++) {
                size_t y = i >> 1, x = i & 1;

                ret_cfa[i] = base[((y + (size_t)yoff) & 1) * 2 + ((x + (size_t)xoff) & 1)];
        }
        return CS_OK;
}

typedef float vf4 __attribute__((vector_size(16)));
typedef int32_t vi4 __attribute__((vector_size(16)));

static inline vf4 ld4(const float *p)
{
        vf4 v;

        memcpy(&v, p, sizeof v);
        return v;
}

static inline void st4(float *p, vf4 v)
{
        memcpy(p, &v, sizeof v);
}

/* Mirror an index into [0, n) keeping its parity (x = -1 -> 1, n -> n - 2). */
static inline size_t mirror(long i, size_t n)
{
        int k;

        for (k = 0; k < 4 && (i < 0 || i >= (long)n); k++) {
                if (i < 0)
                        i = -i;
                if (i >= (long)n)
                        i = 2 * ((long)n - 1) - i;
        }
        return i < 0 ? 0 : i >= (long)n ? n - 1 : (size_t)i;
}

/* Helpers of one row: bilinear estimates (horizontal pair, vertical pair, the
 * four orthogonal and the four diagonal neighbours) and the sums of the
 * same-colour pixels two away horizontally and vertically, for the
 * gradient correction. */
static void row_helpers(const float *u2, const float *up, const float *row, const float *dn, const float *d2,
                        size_t w, size_t xa, size_t xb, float *hz, float *vt, float *cross, float *diag, float *sh,
                        float *sv)
{
        size_t x;

        x = xa < 2 ? 2 : xa;
        for (; x + 2 + 4 <= w && x < xb; x += 4) {
                vf4 l = ld4(row + x - 1), r = ld4(row + x + 1), u = ld4(up + x), d = ld4(dn + x);
                vf4 v;

                v = 0.5f * (l + r);
                st4(hz + x, v);
                v = 0.5f * (u + d);
                st4(vt + x, v);
                v = 0.25f * (l + r + u + d);
                st4(cross + x, v);
                v = 0.25f * (ld4(up + x - 1) + ld4(up + x + 1) + ld4(dn + x - 1) + ld4(dn + x + 1));
                st4(diag + x, v);
                st4(sh + x, ld4(row + x - 2) + ld4(row + x + 2));
                st4(sv + x, ld4(u2 + x) + ld4(d2 + x));
        }
        for (; x + 2 < w && x < xb; x++) {
                float l = row[x - 1], r = row[x + 1], u = up[x], d = dn[x];

                hz[x] = 0.5f * (l + r);
                vt[x] = 0.5f * (u + d);
                cross[x] = 0.25f * (l + r + u + d);
                diag[x] = 0.25f * (up[x - 1] + up[x + 1] + dn[x - 1] + dn[x + 1]);
                sh[x] = row[x - 2] + row[x + 2];
                sv[x] = u2[x] + d2[x];
        }
        for (x = xa; x < xb; x++) {
                size_t xl, xr, xl2, xr2;

                if (x >= 2 && x + 2 < w) {
                        x = w - 3; /* the loops above did the middle */
                        continue;
                }
                xl = mirror((long)x - 1, w);
                xr = mirror((long)x + 1, w);
                xl2 = mirror((long)x - 2, w);
                xr2 = mirror((long)x + 2, w);
                hz[x] = 0.5f * (row[xl] + row[xr]);
                vt[x] = 0.5f * (up[x] + dn[x]);
                cross[x] = 0.5f * (hz[x] + vt[x]);
                diag[x] = 0.25f * (up[xl] + up[xr] + dn[xl] + dn[xr]);
                sh[x] = row[xl2] + row[xr2];
                sv[x] = u2[x] + d2[x];
        }
}

void cs_debayer_bilinear(const float *raw, size_t w, size_t h, const uint8_t cfa[4], float *r,
                         float *g, float *b)
{
        cs_debayer(raw, w, h, cfa, false, r, g, b);
}

void cs_debayer(const float *raw, size_t w, size_t h, const uint8_t cfa[4], bool gradient, float *r,
                float *g, float *b)
{
        cs__debayer_spans(raw, w, h, cfa, gradient, r, g, b, NULL, NULL);
}

/* Which value plane pl takes at the pixels of parity par in row y: 0 the
 * pixel's own, 1 ca (horizontal), 2 cb (vertical), 3 cg (cross), 4 cd
 * (diagonal) -- the candidates of Malvar, He and Cutler below. */
static int cand_index(const uint8_t cfa[4], size_t y, int pl, size_t par)
{
        int own = cfa[(y & 1) * 2 + par];
        int hcol = cfa[(y & 1) * 2 + (par ^ 1)]; /* colour left/right */

        if (own == pl)
                return 0;
        if (own == 1)
                return pl == hcol ? 1 : 2;
        return pl == 1 ? 3 : 4;
}

/* Columns [xa, xb) of one row through the helper rows (any columns, mirrored
 * at the frame edges). */
static void row_general(const float *u2, const float *up, const float *row, const float *dn, const float *d2,
                        size_t w, size_t xa, size_t xb, float kg, int idx[3][2], float *tmp, float *const out[3])
{
        float *hz = tmp, *vt = tmp + w, *cross = tmp + 2 * w, *diag = tmp + 3 * w, *sh = tmp + 4 * w,
              *sv = tmp + 5 * w, *ca = tmp + 6 * w, *cb = tmp + 7 * w, *cg = tmp + 8 * w, *cd = tmp + 9 * w;
        const float *cand[5] = { row, ca, cb, cg, cd };
        size_t x;
        int pl;

        row_helpers(u2, up, row, dn, d2, w, xa, xb, hz, vt, cross, diag, sh, sv);
        for (x = xa; x + 4 <= xb; x += 4) {
                vf4 c = ld4(row + x), shv = ld4(sh + x), svv = ld4(sv + x), d4 = 4.0f * ld4(diag + x);

                st4(ca + x, ld4(hz + x) + kg * 0.125f * (5.0f * c - shv - d4 + 0.5f * svv));
                st4(cb + x, ld4(vt + x) + kg * 0.125f * (5.0f * c - svv - d4 + 0.5f * shv));
                st4(cg + x, ld4(cross + x) + kg * 0.125f * (4.0f * c - shv - svv));
                st4(cd + x, ld4(diag + x) + kg * 0.125f * (6.0f * c - 1.5f * (shv + svv)));
        }
        for (; x < xb; x++) {
                float c = row[x], d4 = 4.0f * diag[x];

                ca[x] = hz[x] + kg * 0.125f * (5.0f * c - sh[x] - d4 + 0.5f * sv[x]);
                cb[x] = vt[x] + kg * 0.125f * (5.0f * c - sv[x] - d4 + 0.5f * sh[x]);
                cg[x] = cross[x] + kg * 0.125f * (4.0f * c - sh[x] - sv[x]);
                cd[x] = diag[x] + kg * 0.125f * (6.0f * c - 1.5f * (sh[x] + sv[x]));
        }
        for (pl = 0; pl < 3; pl++) {
                const float *e = cand[idx[pl][0]], *od = cand[idx[pl][1]];
                const vi4 even = { -1, 0, -1, 0 };
                float *o = out[pl];

                for (x = xa; x + 4 <= xb; x += 4)
                        st4(o + x, (vf4)(((vi4)ld4(e + x) & even) | ((vi4)ld4(od + x) & ~even)));
                for (; x < xb; x++)
                        o[x] = (x & 1 ? od : e)[x];
        }
}

/* The same for interior columns [xa, xb) (multiples of 4, 2 <= xa, xb + 2 <= w)
 * with everything in registers: the same sums in the same order, so the
 * same values. */
static void row_fused(const float *u2, const float *up, const float *row, const float *dn, const float *d2,
                      size_t xa, size_t xb, float kg, int idx[3][2], float *const out[3])
{
        const vi4 even = { -1, 0, -1, 0 };
        size_t x;
        int pl;

        for (x = xa; x + 4 <= xb; x += 4) {
                vf4 l = ld4(row + x - 1), rt = ld4(row + x + 1), u = ld4(up + x), d = ld4(dn + x), c = ld4(row + x);
                vf4 diag = 0.25f * (ld4(up + x - 1) + ld4(up + x + 1) + ld4(dn + x - 1) + ld4(dn + x + 1));
                vf4 shv = ld4(row + x - 2) + ld4(row + x + 2), svv = ld4(u2 + x) + ld4(d2 + x);
                vf4 d4 = 4.0f * diag;
                vf4 cand[5];

                cand[0] = c;
                cand[1] = 0.5f * (l + rt) + kg * 0.125f * (5.0f * c - shv - d4 + 0.5f * svv);
                cand[2] = 0.5f * (u + d) + kg * 0.125f * (5.0f * c - svv - d4 + 0.5f * shv);
                cand[3] = 0.25f * (l + rt + u + d) + kg * 0.125f * (4.0f * c - shv - svv);
                cand[4] = diag + kg * 0.125f * (6.0f * c - 1.5f * (shv + svv));
                for (pl = 0; pl < 3; pl++)
                        st4(out[pl] + x, (vf4)(((vi4)cand[idx[pl][0]] & even) | ((vi4)cand[idx[pl][1]] & ~even)));
        }
}

void cs__debayer_spans(const float *raw, size_t w, size_t h, const uint8_t cfa[4], bool gradient, float *r,
                       float *g, float *b, const size_t *span_lo, const size_t *span_hi)
{
        float *tmp = cs_xmalloc(10 * w * sizeof *tmp);
        /* the gradient correction needs 2 px on each side of the mirror */
        const float kg = gradient && w >= 3 && h >= 3 ? 1.0f : 0.0f;
        /* interior vectors: 4 px in from the left, 2 px clear of the right edge */
        const size_t lim = w >= 6 ? (w - 2) & ~(size_t)3 : 0;
        size_t y;

        for (y = 0; y < h; y++) {
                const float *row = raw + y * w;
                const float *up = raw + mirror((long)y - 1, h) * w, *dn = raw + mirror((long)y + 1, h) * w;
                const float *u2 = raw + mirror((long)y - 2, h) * w;
                const float *d2 = raw + mirror((long)y + 2, h) * w;
                float *const out[3] = { r + y * w, g + y * w, b + y * w };
                /* the columns asked for, widened to whole vectors of 4 */
                size_t xa = span_lo ? span_lo[y] & ~(size_t)3 : 0;
                size_t xb = span_hi ? (span_hi[y] + 3) & ~(size_t)3 : w;
                size_t fa, fb;
                int idx[3][2], pl;

                if (xb > w)
                        xb = w;
                if (span_lo && span_hi[y] <= span_lo[y])
                        continue;
                /* Malvar, He and Cutler (2004): bilinear plus a share of the
                 * pixel's own-colour Laplacian, which follows edges and star
                 * profiles the missing colours share. Every candidate is
                 * computed for every x (contiguous, vectorised), then each
                 * plane takes, by the parity of x, the one that applies. */
                for (pl = 0; pl < 3; pl++) {
                        idx[pl][0] = cand_index(cfa, y, pl, 0);
                        idx[pl][1] = cand_index(cfa, y, pl, 1);
                }
                fa = xa < 4 ? 4 : xa;
                fb = xb < lim ? xb : lim;
                if (fa >= fb) {
                        row_general(u2, up, row, dn, d2, w, xa, xb, kg, idx, tmp, out);
                        continue;
                }
                if (xa < fa)
                        row_general(u2, up, row, dn, d2, w, xa, fa, kg, idx, tmp, out);
                row_fused(u2, up, row, dn, d2, fa, fb, kg, idx, out);
                if (fb < xb)
                        row_general(u2, up, row, dn, d2, w, fb, xb, kg, idx, tmp, out);
        }
        free(tmp);
}
