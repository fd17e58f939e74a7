/* debayer.c - Bayer pattern parsing and demosaicing: bilinear, and directional
 * green with colour-difference red and blue. */
#include <ctype.h>
#include <math.h>
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

#define VN 4
#define VF vf4
#define VI vi4
#define VS(n) n##_v4
#define VATTR
#include "debayer_vec.inc"

#if defined(__x86_64__) || defined(__i386__)
typedef float vf8 __attribute__((vector_size(32)));
typedef int32_t vi8 __attribute__((vector_size(32)));

#define VN 8
#define VF vf8
#define VI vi8
#define VS(n) n##_v8
#define VATTR __attribute__((target("avx2")))
#include "debayer_vec.inc"
#define HAVE_V8 1
#else
#define HAVE_V8 0
#endif

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
 * four orthogonal and the four diagonal neighbours). */
static void row_helpers(const float *up, const float *row, const float *dn, size_t w, size_t xa, size_t xb,
                        float *hz, float *vt, float *cross, float *diag)
{
        size_t x;

        x = xa < 2 ? 2 : xa;
        for (; x + 2 + 4 <= w && x < xb; x += 4) {
                vf4 l = ld_v4(row + x - 1), r = ld_v4(row + x + 1), u = ld_v4(up + x), d = ld_v4(dn + x);

                st_v4(hz + x, 0.5f * (l + r));
                st_v4(vt + x, 0.5f * (u + d));
                st_v4(cross + x, 0.25f * (l + r + u + d));
                st_v4(diag + x, 0.25f * (ld_v4(up + x - 1) + ld_v4(up + x + 1) + ld_v4(dn + x - 1) + ld_v4(dn + x + 1)));
        }
        for (; x + 2 < w && x < xb; x++) {
                float l = row[x - 1], r = row[x + 1], u = up[x], d = dn[x];

                hz[x] = 0.5f * (l + r);
                vt[x] = 0.5f * (u + d);
                cross[x] = 0.25f * (l + r + u + d);
                diag[x] = 0.25f * (up[x - 1] + up[x + 1] + dn[x - 1] + dn[x + 1]);
        }
        for (x = xa; x < xb; x++) {
                size_t xl, xr;

                if (x >= 2 && x + 2 < w) {
                        x = w - 3; /* the loops above did the middle */
                        continue;
                }
                xl = mirror((long)x - 1, w);
                xr = mirror((long)x + 1, w);
                hz[x] = 0.5f * (row[xl] + row[xr]);
                vt[x] = 0.5f * (up[x] + dn[x]);
                cross[x] = 0.5f * (hz[x] + vt[x]);
                diag[x] = 0.25f * (up[xl] + up[xr] + dn[xl] + dn[xr]);
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
        cs__debayer_spans(raw, w, h, cfa, gradient, 0.0f, r, g, b, NULL, NULL);
}

/* Which value plane pl takes at the pixels of parity par in row y, bilinear:
 * 0 the pixel's own, 1 horizontal pair, 2 vertical pair, 3 cross, 4
 * diagonal. */
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

/* Writes plane pl's columns [xa, xb) (xa even) from two candidate rows by
 * the parity of x: e at even x, od at odd x. */
static void select_parity(const float *e, const float *od, size_t xa, size_t xb, float *o, bool v8)
{
        size_t x = xa;

        (void)v8;
#if HAVE_V8
        if (v8)
                x = select_run_v8(e, od, x, xb, o);
#endif
        x = select_run_v4(e, od, x, xb, o);
        for (; x < xb; x++)
                o[x] = (x & 1 ? od : e)[x];
}

/* Bilinear, columns [xa, xb) of one row (any columns, mirrored at the edges). */
static void row_bilinear(const float *up, const float *row, const float *dn, size_t w, size_t xa, size_t xb,
                         float *tmp, float *const out[3], const uint8_t cfa[4], size_t y, bool v8)
{
        const float *cand[5] = { row, tmp, tmp + w, tmp + 2 * w, tmp + 3 * w };
        int pl;

        row_helpers(up, row, dn, w, xa, xb, tmp, tmp + w, tmp + 2 * w, tmp + 3 * w);
        for (pl = 0; pl < 3; pl++)
                select_parity(cand[cand_index(cfa, y, pl, 0)], cand[cand_index(cfa, y, pl, 1)], xa, xb, out[pl], v8);
}

/* ---- the directional debayer ----
 *
 * Green first, at every red and blue pixel: the horizontal and the vertical
 * estimate of Hamilton and Adams (the pair's mean plus a quarter of the
 * pixel's own-colour second difference, exact on ramps), blended by the
 * squares of the gradients across them -- a star's core is interpolated
 * along the direction it varies least in, flat sky by both evenly: eps (the
 * frame's noise) keeps the weights from following noise. The second
 * differences are shrunk by L2 / (L2 + t2), L2 their sum of squares and t2
 * its noise power (Wiener's factor): a star's curvature passes, the sky's
 * noise does not. Then red and blue: the mean of their own neighbours (the
 * pair at a green pixel, the four diagonals at a red or blue one) plus
 * green's difference to its mean over the same pixels -- the colour
 * difference (R - G, B - G) varies far more slowly than the colours --
 * shrunk the same way against a quarter of the noise.
 * Measured (tests/bench, stack FWHM px / noise ADU, resampling B 0.475):
 * the real 32-frame chunk, green 2.833 / 10.80 with Malvar-He-Cutler ->
 * 2.738 / 10.70 (Siril 2.795 / 10.99), red 2.94 / 13.95 -> 2.73 / 12.51
 * (Siril 2.70 / 12.55), blue 2.60 / 19.24 -> 2.41 / 16.47 (Siril 2.44 /
 * 15.51); sim100 green 3.468 / 5.861 -> 3.455 / 5.664 (Siril 3.470 /
 * 5.997). */

/* The green estimate at x from the rows y-2 .. y+2 (xl .. xr2: the columns
 * around x, mirrored at the edges); green_run_v* is the same in vectors. */
static inline float green_dir(const float *u2, const float *up, const float *row, const float *dn,
                              const float *d2, size_t x, size_t xl, size_t xr, size_t xl2, size_t xr2, float eps,
                              float t2)
{
        float c = row[x], l = row[xl], r = row[xr], u = up[x], d = dn[x];
        float lh = 2.0f * c - row[xl2] - row[xr2], lv = 2.0f * c - u2[x] - d2[x];
        float L2 = lh * lh + lv * lv, sl = L2 / (L2 + t2);
        float gh = 0.5f * (l + r) + 0.25f * lh * sl, gv = 0.5f * (u + d) + 0.25f * lv * sl;
        float dh = eps + fabsf(l - r) + fabsf(lh), dv = eps + fabsf(u - d) + fabsf(lv);
        float wh = dv * dv, wv = dh * dh;

        return (wh * gh + wv * gv) / (wh + wv);
}

/* Green of row y, columns [xa, xb) (xa a multiple of 4): vectors where the
 * 5x5 neighbourhood lies inside [0, lim + 4), mirrored scalars elsewhere. */
static void row_green(const float *u2, const float *up, const float *row, const float *dn, const float *d2,
                      size_t w, size_t xa, size_t xb, size_t lim, float eps, float t2, int gpar, float *g,
                      bool v8)
{
        size_t x = xa;

        while (x < xb) {
                if (x >= 4 && (x & 3) == 0 && x + 4 <= lim && x + 4 <= xb) {
                        size_t end = xb < lim ? xb : lim;

#if HAVE_V8
                        if (v8)
                                x = green_run_v8(u2, up, row, dn, d2, x, end, eps, t2, gpar, g);
#endif
                        x = green_run_v4(u2, up, row, dn, d2, x, end, eps, t2, gpar, g);
                        continue;
                }
                if ((int)(x & 1) == gpar)
                        g[x] = row[x];
                else
                        g[x] = green_dir(u2, up, row, dn, d2, x, mirror((long)x - 1, w), mirror((long)x + 1, w),
                                         mirror((long)x - 2, w), mirror((long)x + 2, w), eps, t2);
                x++;
        }
}

/* Red and blue of row y, columns [xa, xb) (xa a multiple of 4), from the
 * colour differences (raw - green) of the rows y-1 .. y+1 (green already
 * done there): each pixel takes, by its parity, one of four candidates --
 * its own value, the horizontal pair's, the vertical pair's or the
 * diagonals' (sel[plane][parity], plane 0 red, 1 blue). */
static void row_chroma(const float *rup, const float *row, const float *rdn, const float *gup, const float *g,
                       const float *gdn, size_t w, size_t xa, size_t xb, size_t lim, const int sel[2][2], float c2,
                       float *ro, float *bo, bool v8)
{
        size_t x = xa;

        while (x < xb) {
                size_t xl, xr;
                float gc, d, q, cand[4];

                if (x >= 4 && (x & 3) == 0 && x + 4 <= lim && x + 4 <= xb) {
                        size_t end = xb < lim ? xb : lim;

#if HAVE_V8
                        if (v8)
                                x = chroma_run_v8(rup, row, rdn, gup, g, gdn, x, end, c2, sel, ro, bo);
#endif
                        x = chroma_run_v4(rup, row, rdn, gup, g, gdn, x, end, c2, sel, ro, bo);
                        continue;
                }
                xl = mirror((long)x - 1, w);
                xr = mirror((long)x + 1, w);
                gc = g[x];
                cand[0] = row[x];
                d = gc - 0.5f * (g[xl] + g[xr]);
                q = d * d;
                cand[1] = 0.5f * (row[xl] + row[xr]) + d * (q / (q + c2));
                d = gc - 0.5f * (gup[x] + gdn[x]);
                q = d * d;
                cand[2] = 0.5f * (rup[x] + rdn[x]) + d * (q / (q + c2));
                d = gc - 0.25f * (gup[xl] + gup[xr] + gdn[xl] + gdn[xr]);
                q = d * d;
                cand[3] = 0.25f * (rup[xl] + rup[xr] + rdn[xl] + rdn[xr]) + d * (q / (q + c2));
                ro[x] = cand[sel[0][x & 1]];
                bo[x] = cand[sel[1][x & 1]];
                x++;
        }
}

/* Columns a row's debayer needs, widened to whole vectors of 4. */
static void row_span(const size_t *span_lo, const size_t *span_hi, size_t w, size_t y, size_t *ret_a,
                     size_t *ret_b)
{
        size_t xa = span_lo ? span_lo[y] & ~(size_t)3 : 0;
        size_t xb = span_hi ? (span_hi[y] + 3) & ~(size_t)3 : w;

        if (span_lo && span_hi[y] <= span_lo[y])
                xa = xb = 0;
        *ret_a = xa;
        *ret_b = xb > w ? w : xb;
}

void cs__debayer_spans(const float *raw, size_t w, size_t h, const uint8_t cfa[4], bool gradient, float noise,
                       float *r, float *g, float *b, const size_t *span_lo, const size_t *span_hi)
{
        /* interior vectors: 4 px in from the left, 4 px clear of the right edge */
        const size_t lim = w >= 8 ? (w - 4) & ~(size_t)3 : 0;
        const float sig = noise > 0 ? noise : 0.0f;
        /* the gradients' floor; the noise power of the two second differences
         * (each 2c - a - b: 6 sigma^2); a quarter of the noise for the colour
         * differences' detail (the floors keep 0 / 0 out of flat data) */
        const float eps = 1.0f + sig, t2 = 12.0f * sig * sig + 1e-12f, c2 = 0.25f * sig * sig + 1e-12f;
        const bool v8 = HAVE_V8 && cs__cpu_avx2();
        size_t y;

        if (!gradient || w < 3 || h < 3) {
                float *tmp = cs_xmalloc(4 * w * sizeof *tmp);

                for (y = 0; y < h; y++) {
                        const float *up = raw + mirror((long)y - 1, h) * w, *dn = raw + mirror((long)y + 1, h) * w;
                        float *const out[3] = { r + y * w, g + y * w, b + y * w };
                        size_t xa, xb;

                        row_span(span_lo, span_hi, w, y, &xa, &xb);
                        if (xa < xb)
                                row_bilinear(up, raw + y * w, dn, w, xa, xb, tmp, out, cfa, y, v8);
                }
                free(tmp);
                return;
        }
        /* green wherever a row's red and blue will look: the spans of the
         * rows above and below too, one pixel wider */
        for (y = 0; y < h; y++) {
                size_t xa = w, xb = 0, k;

                for (k = y ? y - 1 : 0; k <= y + 1 && k < h; k++) {
                        size_t a, e;

                        row_span(span_lo, span_hi, w, k, &a, &e);
                        if (a < e) {
                                xa = a < xa ? a : xa;
                                xb = e > xb ? e : xb;
                        }
                }
                if (xa >= xb)
                        continue;
                xa = xa >= 4 ? xa - 4 : 0;
                xb = xb + 4 < w ? xb + 4 : w;
                row_green(raw + mirror((long)y - 2, h) * w, raw + mirror((long)y - 1, h) * w, raw + y * w,
                          raw + mirror((long)y + 1, h) * w, raw + mirror((long)y + 2, h) * w, w, xa, xb, lim, eps,
                          t2, cfa[(y & 1) * 2] == 1 ? 0 : 1, g + y * w, v8);
        }
        for (y = 0; y < h; y++) {
                size_t yu = mirror((long)y - 1, h), yd = mirror((long)y + 1, h), xa, xb;
                float *const out[3] = { r + y * w, g + y * w, b + y * w };

                int sel[2][2];
                size_t par;

                row_span(span_lo, span_hi, w, y, &xa, &xb);
                if (xa >= xb)
                        continue;
                for (par = 0; par < 2; par++) {
                        int own = cfa[(y & 1) * 2 + par], hcol = cfa[(y & 1) * 2 + (par ^ 1)], k;

                        for (k = 0; k < 2; k++) {
                                int pl = 2 * k; /* red, blue */

                                sel[k][par] = own == pl ? 0 : own == 1 ? (pl == hcol ? 1 : 2) : 3;
                        }
                }
                row_chroma(raw + yu * w, raw + y * w, raw + yd * w, g + yu * w, g + y * w, g + yd * w, w, xa, xb,
                           lim, (const int(*)[2])sel, c2, out[0], out[2], v8);
        }
}
