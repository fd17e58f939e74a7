/* debayer.c - Bayer pattern parsing and bilinear demosaicing. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "crowdsky/alloc.h"

#include "crowdsky/stack.h"

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

/* Interpolated helpers of one row: horizontal pair, vertical pair, the four
 * orthogonal and the four diagonal neighbours. Edges mirror (x = -1 -> 1). */
static void row_helpers(const float *up, const float *row, const float *dn, size_t w, float *hz,
                        float *vt, float *cross, float *diag)
{
        size_t x;

        for (x = 1; x + 1 < w; x++) {
                float l = row[x - 1], r = row[x + 1], u = up[x], d = dn[x];

                hz[x] = 0.5f * (l + r);
                vt[x] = 0.5f * (u + d);
                cross[x] = 0.25f * (l + r + u + d);
                diag[x] = 0.25f * (up[x - 1] + up[x + 1] + dn[x - 1] + dn[x + 1]);
        }
        /* x = 0 and x = w - 1: the mirrored neighbour is the one inside */
        hz[0] = row[1];
        vt[0] = 0.5f * (up[0] + dn[0]);
        cross[0] = 0.5f * (hz[0] + vt[0]);
        diag[0] = 0.5f * (up[1] + dn[1]);
        hz[w - 1] = row[w - 2];
        vt[w - 1] = 0.5f * (up[w - 1] + dn[w - 1]);
        cross[w - 1] = 0.5f * (hz[w - 1] + vt[w - 1]);
        diag[w - 1] = 0.5f * (up[w - 2] + dn[w - 2]);
}

void cs_debayer_bilinear(const float *raw, size_t w, size_t h, const uint8_t cfa[4], float *r,
                         float *g, float *b)
{
        float *tmp = cs_xmalloc(4 * w * sizeof *tmp);
        float *hz = tmp, *vt = tmp + w, *cross = tmp + 2 * w, *diag = tmp + 3 * w;
        size_t y, x, par;

        for (y = 0; y < h; y++) {
                const float *row = raw + y * w;
                const float *up = raw + (y > 0 ? y - 1 : 1) * w;
                const float *dn = raw + (y + 1 < h ? y + 1 : h - 2) * w;
                float *out[3] = { r + y * w, g + y * w, b + y * w };

                row_helpers(up, row, dn, w, hz, vt, cross, diag);
                for (par = 0; par < 2; par++) {
                        int own = cfa[(y & 1) * 2 + par];
                        int hcol = cfa[(y & 1) * 2 + (par ^ 1)];   /* colour left/right */
                        int vcol = cfa[((y & 1) ^ 1) * 2 + par];   /* colour above/below */
                        float *po = out[own];

                        for (x = par; x < w; x += 2)
                                po[x] = row[x];
                        if (own == 1) {
                                float *ph = out[hcol], *pv = out[vcol];

                                for (x = par; x < w; x += 2) {
                                        ph[x] = hz[x];
                                        pv[x] = vt[x];
                                }
                        } else {
                                float *pg = out[1], *pd = out[2 - own];

                                for (x = par; x < w; x += 2) {
                                        pg[x] = cross[x];
                                        pd[x] = diag[x];
                                }
                        }
                }
        }
        free(tmp);
}
