/* test_resample.c - internals of the row-block pipeline: the slanted-strip
 * spans of the two-pass resampling (the debayer of only the columns a span
 * asks for gives exactly the full debayer there, and pass 1 over only the
 * spans, everything else poisoned with NaN, gives the same covered output as
 * over whole rows, for rotations of either sign, shifts, and blocks at the
 * top, middle and bottom of the frame), and the selection (k-th smallest)
 * behind every median, against a sort. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crowdsky/align.h"
#include "crowdsky/stack.h"
#include "stack/stack_int.h"
#include "cs_test.h"

#define FW 200
#define FH 240

static float frand(unsigned *st)
{
        return (float)rand_r(st) / (float)RAND_MAX;
}

/* inverse map (output -> source) of a rotation by deg about the centre and a shift */
static void make_inv(double deg, double dx, double dy, struct cs_xform *inv)
{
        double c = cos(deg * M_PI / 180), s = sin(deg * M_PI / 180), cx = FW / 2.0, cy = FH / 2.0;

        inv->m[0] = c;
        inv->m[1] = -s;
        inv->m[2] = cx - c * cx + s * cy + dx;
        inv->m[3] = s;
        inv->m[4] = c;
        inv->m[5] = cy - s * cx - c * cy + dy;
}

CS_TEST(debayer_spans_match_full_rows)
{
        unsigned st = 7;
        float *raw = malloc(FW * FH * sizeof *raw), *full = malloc(3 * FW * FH * sizeof *full);
        float *part = malloc(3 * FW * FH * sizeof *part);
        size_t lo[FH], hi[FH], y, x, c;
        const uint8_t cfa[4] = { 1, 0, 2, 1 };

        for (x = 0; x < FW * FH; x++)
                raw[x] = 500.0f + 3000.0f * frand(&st);
        for (y = 0; y < FH; y++) {
                /* every kind of span: empty, at the edges, odd ends, whole rows */
                lo[y] = y % 7 == 0 ? 0 : (y * 13) % FW;
                hi[y] = y % 5 == 0 ? FW : lo[y] + (y * 29) % (FW - lo[y] + 1);
                if (y % 11 == 0)
                        hi[y] = lo[y];
        }
        cs_debayer(raw, FW, FH, cfa, true, full, full + FW * FH, full + 2 * FW * FH);
        for (x = 0; x < 3 * FW * FH; x++)
                part[x] = NAN;
        cs__debayer_spans(raw, FW, FH, cfa, true, 0.0f, part, part + FW * FH, part + 2 * FW * FH, lo, hi);
        for (c = 0; c < 3; c++)
                for (y = 0; y < FH; y++)
                        for (x = lo[y]; x < hi[y]; x++)
                                CS_ASSERT(part[c * FW * FH + y * FW + x] == full[c * FW * FH + y * FW + x]);
        free(raw);
        free(full);
        free(part);
}

CS_TEST(pass1_spans_give_the_same_output)
{
        static const double rot[] = { 0.0, 2.5, -4.0, 9.0, -13.0 };
        static const size_t y0s[] = { 0, 90, 200 };
        const size_t rows = 40;
        unsigned st = 11;
        float *band[3], *tmp[3], *out_a[3], *out_b[3];
        uint8_t *mask_a = malloc(rows * FW), *mask_b = malloc(rows * FW);
        size_t *spans = malloc(4 * FH * sizeof *spans);
        const float add[3] = { 0, 0, 0 }, mul[3] = { 1, 1, 1 };
        size_t i, k, c, z;
        int tested = 0;

        for (c = 0; c < 3; c++) {
                band[c] = malloc(FW * FH * sizeof(float));
                tmp[c] = malloc(FW * FH * sizeof(float));
                out_a[c] = malloc(rows * FW * sizeof(float));
                out_b[c] = malloc(rows * FW * sizeof(float));
                for (z = 0; z < FW * FH; z++)
                        band[c][z] = 100.0f + 1000.0f * frand(&st);
        }
        for (i = 0; i < sizeof rot / sizeof rot[0]; i++)
                for (k = 0; k < sizeof y0s / sizeof y0s[0]; k++) {
                        struct cs_xform inv;
                        long lo, hi;
                        size_t nrows, covered = 0;

                        make_inv(rot[i], 3.3, -7.6, &inv);
                        cs__resample_rows(&inv, FW, y0s[k], rows, FH, 2, &lo, &hi);
                        if (hi - lo < 4)
                                continue;
                        nrows = (size_t)(hi - lo);
                        /* whole rows */
                        {
                                const float *const whole[3] = { band[0] + (size_t)lo * FW, band[1] + (size_t)lo * FW,
                                                                band[2] + (size_t)lo * FW };

                                CS_ASSERT(cs__resample_bicubic3_sep(whole, FW, FH, lo, nrows, &inv, FW, y0s[k], rows, add,
                                                                    mul, out_a, mask_a, tmp, NULL, NULL));
                        }
                        /* spans only, the rest of the intermediate rows poisoned */
                        CS_ASSERT(cs__resample_sep_spans(&inv, FW, lo, nrows, FW, y0s[k], rows, spans, spans + nrows,
                                                         spans + 2 * nrows, spans + 3 * nrows));
                        for (c = 0; c < 3; c++)
                                for (z = 0; z < FW * FH; z++)
                                        tmp[c][z] = NAN;
                        {
                                /* and the source outside the debayer spans too */
                                float *src[3];
                                size_t v, x;

                                for (c = 0; c < 3; c++) {
                                        src[c] = malloc(nrows * FW * sizeof(float));
                                        for (v = 0; v < nrows; v++)
                                                for (x = 0; x < FW; x++)
                                                        src[c][v * FW + x] =
                                                                x >= spans[2 * nrows + v] && x < spans[3 * nrows + v]
                                                                        ? band[c][(size_t)lo * FW + v * FW + x]
                                                                        : NAN;
                                }
                                CS_ASSERT(cs__resample_bicubic3_sep((const float *const *)src, FW, FH, lo, nrows, &inv,
                                                                    FW, y0s[k], rows, add, mul, out_b, mask_b, tmp,
                                                                    spans, spans + nrows));
                                for (c = 0; c < 3; c++)
                                        free(src[c]);
                        }
                        CS_ASSERT(memcmp(mask_a, mask_b, rows * FW) == 0);
                        for (z = 0; z < rows * FW; z++) {
                                if (!mask_a[z])
                                        continue;
                                covered++;
                                for (c = 0; c < 3; c++) {
                                        CS_ASSERT(!isnan(out_b[c][z]));
                                        /* the same sums; where a run starts decides the vector (float position) or scalar (double) path: float positions round at ~1e-5 px */
                                        CS_ASSERT_NEAR(out_b[c][z], out_a[c][z], 1e-4 * fabsf(out_a[c][z]) + 1e-3);
                                }
                        }
                        CS_ASSERT(covered > 0);
                        tested++;
                }
        CS_ASSERT(tested >= 10);
        for (c = 0; c < 3; c++) {
                free(band[c]);
                free(tmp[c]);
                free(out_a[c]);
                free(out_b[c]);
        }
        free(mask_a);
        free(mask_b);
        free(spans);
}

static int cmp_float(const void *a, const void *b)
{
        float x = *(const float *)a, y = *(const float *)b;

        return (x > y) - (x < y);
}

CS_TEST(select_matches_sort)
{
        static const size_t sizes[] = { 1, 2, 3, 16, 17, 33, 256, 1000 };
        unsigned st = 5;
        float *a = malloc(1000 * sizeof *a), *b = malloc(1000 * sizeof *b), *c = malloc(1000 * sizeof *c);
        size_t si, k, i;
        int kind;

        for (kind = 0; kind < 4; kind++)
                for (si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
                        size_t n = sizes[si];

                        for (i = 0; i < n; i++) {
                                switch (kind) {
                                case 0: /* sky-like integers with outliers */
                                        a[i] = (float)(3200 + rand_r(&st) % 400 + (rand_r(&st) % 40 == 0 ? 5000 : 0));
                                        break;
                                case 1: /* a few distinct values: many equal */
                                        a[i] = (float)(rand_r(&st) % 3);
                                        break;
                                case 2: /* all equal */
                                        a[i] = 7.0f;
                                        break;
                                default: /* sorted, then reversed */
                                        a[i] = (float)(n - i);
                                }
                        }
                        memcpy(b, a, n * sizeof *a);
                        qsort(b, n, sizeof *b, cmp_float);
                        for (k = 0; k < n; k += n > 40 ? n / 7 : 1) {
                                memcpy(c, a, n * sizeof *a);
                                CS_ASSERT(cs_select_f32(c, n, k) == b[k]);
                        }
                }
        free(a);
        free(b);
        free(c);
}

CS_TEST_MAIN()
