/* score.c - scores a stack (CrowdSky's or Siril's) against simulate's
 * truth.json, or on real frames without truth, and prints comparison tables.
 * Independent of libcrowdsky's engine on purpose: it judges it.
 *
 *   score sim  --truth DIR/truth.json --stack S.fit (--report R.json | --siril-log L)
 *              [--label NAME] [--wall S] [--rss-kib K]
 *   score real --stack S.fit (--report R.json | --siril-log L) [--label NAME]
 *              [--wall S] [--rss-kib K] FRAME.fit...
 *   score table A.json B.json      (ratios A/B; A = CrowdSky, B = Siril)
 *
 * sim and real print one JSON object on stdout. Metrics (see README.md):
 *  reg_rms_px      RMS over frames and the four frame corners of |M(p) - T(p)|,
 *                  M the tool's frame->reference matrix, T the true one
 *  noise_adu       green background noise of the stack (robust sigma, star-free
 *                  tiles inside the area every used frame covers), in ADU of one
 *                  raw frame (the stack's scale is calibrated on star fluxes)
 *  fwhm_px         mean FWHM (circular Moffat fit, green) of isolated,
 *                  unsaturated stars of the stack
 *  trail_sigma     mean stack excess along the satellite trail, in noise sigmas
 *  hot_frac_5sigma fraction of hot-pixel landing spots (every used frame's hot
 *                  pixels mapped into the stack) still above 5 sigma */
#include <ctype.h>
#include <fitsio.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define MAX_FRAMES 4096
/* Truth stars used for FWHM and photometry: bright (a single frame's peak
 * >= ~1000 ADU, 12 sigma) and unsaturated (peak < ~20000 ADU). */
#define FIT_FLUX_MIN 1.5e4
#define FIT_FLUX_MAX 2.5e5
#define TILE 32

struct aff {
        double m[6]; /* x' = m0 x + m1 y + m2, y' = m3 x + m4 y + m5 */
};

struct image {
        int w, h, nch;
        float *ch[3]; /* planes; for mono nch = 1 and ch[1] = ch[2] = ch[0] */
};

struct star {
        double x, y, flux; /* stack coordinates, green flux (truth ADU or peak) */
};

struct tool_frames {
        int n;                 /* entries (truth frame order for sim, input order for real) */
        bool have[MAX_FRAMES]; /* a matrix was reported for the frame (used) */
        struct aff m[MAX_FRAMES];
        int reference;         /* index of the tool's reference frame */
        int n_used;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        fprintf(stderr, "score: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
        exit(1);
}

static void *xmalloc(size_t n)
{
        void *p = malloc(n ? n : 1);

        if (!p)
                die("out of memory");
        return p;
}

/* ---- affine helpers --------------------------------------------------------- */

static void aff_apply(const struct aff *a, double x, double y, double *rx, double *ry)
{
        *rx = a->m[0] * x + a->m[1] * y + a->m[2];
        *ry = a->m[3] * x + a->m[4] * y + a->m[5];
}

static struct aff aff_inv(const struct aff *a)
{
        struct aff r;
        double det = a->m[0] * a->m[4] - a->m[1] * a->m[3];

        r.m[0] = a->m[4] / det;
        r.m[1] = -a->m[1] / det;
        r.m[3] = -a->m[3] / det;
        r.m[4] = a->m[0] / det;
        r.m[2] = -(r.m[0] * a->m[2] + r.m[1] * a->m[5]);
        r.m[5] = -(r.m[3] * a->m[2] + r.m[4] * a->m[5]);
        return r;
}

/* (a after b)(p) = a(b(p)) */
static struct aff aff_mul(const struct aff *a, const struct aff *b)
{
        struct aff r;

        r.m[0] = a->m[0] * b->m[0] + a->m[1] * b->m[3];
        r.m[1] = a->m[0] * b->m[1] + a->m[1] * b->m[4];
        r.m[2] = a->m[0] * b->m[2] + a->m[1] * b->m[5] + a->m[2];
        r.m[3] = a->m[3] * b->m[0] + a->m[4] * b->m[3];
        r.m[4] = a->m[3] * b->m[1] + a->m[4] * b->m[4];
        r.m[5] = a->m[3] * b->m[2] + a->m[4] * b->m[5] + a->m[5];
        return r;
}

static int json_matrix(const cJSON *mat, struct aff *ret)
{
        int r, c;

        if (!cJSON_IsArray(mat) || cJSON_GetArraySize(mat) < 2)
                return -1;
        for (r = 0; r < 2; r++) {
                const cJSON *row = cJSON_GetArrayItem(mat, r);

                if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) < 3)
                        return -1;
                for (c = 0; c < 3; c++) {
                        const cJSON *v = cJSON_GetArrayItem(row, c);

                        if (!cJSON_IsNumber(v))
                                return -1;
                        ret->m[r * 3 + c] = v->valuedouble;
                }
        }
        return 0;
}

/* ---- files -------------------------------------------------------------------- */

static char *slurp(const char *path)
{
        FILE *f = fopen(path, "rb");
        char *buf;
        long n;

        if (!f)
                die("cannot open '%s'", path);
        if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0)
                die("cannot size '%s'", path);
        rewind(f);
        buf = xmalloc((size_t)n + 1);
        if (fread(buf, 1, (size_t)n, f) != (size_t)n)
                die("cannot read '%s'", path);
        buf[n] = '\0';
        fclose(f);
        return buf;
}

static cJSON *load_json(const char *path)
{
        char *text = slurp(path);
        cJSON *j = cJSON_Parse(text);

        free(text);
        if (!j)
                die("'%s' is not valid JSON", path);
        return j;
}

static const char *base_name(const char *p)
{
        const char *s = strrchr(p, '/');

        return s ? s + 1 : p;
}

static void fits_die(int status, const char *path)
{
        char text[FLEN_STATUS];

        fits_get_errstatus(status, text);
        die("'%s': cfitsio: %s", path, text);
}

/* Reads a 2-D (mono) or 3-D (NAXIS3 = 3, RGB planes) image as float. */
static struct image read_image(const char *path)
{
        struct image im = { 0, 0, 0, { NULL, NULL, NULL } };
        fitsfile *ff = NULL;
        int status = 0, bitpix, naxis, anynul, c;
        long naxes[3] = { 1, 1, 1 };
        size_t n;

        if (fits_open_diskfile(&ff, path, READONLY, &status))
                fits_die(status, path);
        if (fits_get_img_param(ff, 3, &bitpix, &naxis, naxes, &status))
                fits_die(status, path);
        if (naxis < 2 || naxis > 3 || (naxis == 3 && naxes[2] != 3 && naxes[2] != 1))
                die("'%s': expected a 2-D image or an RGB cube", path);
        im.w = (int)naxes[0];
        im.h = (int)naxes[1];
        im.nch = naxis == 3 ? (int)naxes[2] : 1;
        n = (size_t)im.w * im.h;
        for (c = 0; c < im.nch; c++) {
                long fpix[3] = { 1, 1, c + 1 };

                im.ch[c] = xmalloc(n * sizeof(float));
                if (fits_read_pix(ff, TFLOAT, fpix, (LONGLONG)n, NULL, im.ch[c], &anynul, &status))
                        fits_die(status, path);
        }
        if (im.nch == 1)
                im.ch[1] = im.ch[2] = im.ch[0];
        fits_close_file(ff, &status);
        return im;
}

static void free_image(struct image *im)
{
        free(im->ch[0]);
        if (im->nch == 3) {
                free(im->ch[1]);
                free(im->ch[2]);
        }
        memset(im, 0, sizeof *im);
}

/* ---- statistics ------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

static double median_d(double *v, size_t n)
{
        if (n == 0)
                return NAN;
        qsort(v, n, sizeof *v, cmp_double);
        return n & 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Robust sigma (1.4826 MAD) of v (reordered). */
static double robust_sigma(double *v, size_t n, double *ret_median)
{
        double med = median_d(v, n);
        size_t i;

        for (i = 0; i < n; i++)
                v[i] = fabs(v[i] - med);
        if (ret_median)
                *ret_median = med;
        return 1.4826 * median_d(v, n);
}

static float pix(const float *p, int w, int h, int x, int y)
{
        if (x < 0 || y < 0 || x >= w || y >= h)
                return NAN;
        return p[(size_t)y * w + x];
}

static double bilinear(const float *p, int w, int h, double x, double y)
{
        int x0 = (int)floor(x), y0 = (int)floor(y);
        double fx = x - x0, fy = y - y0;

        return (1 - fx) * (1 - fy) * pix(p, w, h, x0, y0) + fx * (1 - fy) * pix(p, w, h, x0 + 1, y0) +
               (1 - fx) * fy * pix(p, w, h, x0, y0 + 1) + fx * fy * pix(p, w, h, x0 + 1, y0 + 1);
}

/* ---- coverage: the part of the stack every used frame covers --------------------- */

struct coverage {
        int n;
        struct aff to_frame[MAX_FRAMES]; /* stack -> frame */
        int fw, fh;                      /* frame size */
};

static bool covered(const struct coverage *cv, double x, double y, double margin)
{
        int k;

        for (k = 0; k < cv->n; k++) {
                double fx, fy;

                aff_apply(&cv->to_frame[k], x, y, &fx, &fy);
                if (fx < margin || fy < margin || fx > cv->fw - 1 - margin ||
                    fy > cv->fh - 1 - margin)
                        return false;
        }
        return true;
}

/* ---- masks ----------------------------------------------------------------------- */

static void mask_disc(uint8_t *mask, int w, int h, double cx, double cy, double r)
{
        int x0 = (int)floor(cx - r), x1 = (int)ceil(cx + r), y0 = (int)floor(cy - r),
            y1 = (int)ceil(cy + r), x, y;

        for (y = y0 < 0 ? 0 : y0; y <= y1 && y < h; y++)
                for (x = x0 < 0 ? 0 : x0; x <= x1 && x < w; x++)
                        if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r)
                                mask[(size_t)y * w + x] = 1;
}

/* Radius where a Moffat (beta 3, FWHM 3.5) star of green flux f (ADU) falls
 * below 1 ADU, plus 3 px. */
static double star_radius(double f)
{
        double alpha = 3.5 / (2.0 * sqrt(pow(2.0, 1.0 / 3.0) - 1.0));
        double peak = f * 2.0 / (M_PI * alpha * alpha), u;

        if (peak <= 1.0)
                return 4.0;
        u = pow(peak, 1.0 / 3.0) - 1.0;
        return alpha * sqrt(u) + 3.0;
}

/* ---- noise ------------------------------------------------------------------------ */

/* Median over TILE x TILE tiles (fully covered, >= 40 % unmasked pixels) of the
 * robust sigma of the unmasked pixels of plane p. */
static double tile_noise(const float *p, int w, int h, const uint8_t *mask,
                         const struct coverage *cv, int *ret_tiles)
{
        double *vals = xmalloc(sizeof(double) * TILE * TILE);
        double *sig = xmalloc(sizeof(double) * ((size_t)(w / TILE + 1) * (h / TILE + 1)));
        size_t ns = 0;
        int tx, ty, x, y;
        double r;

        for (ty = 0; ty + TILE <= h; ty += TILE)
                for (tx = 0; tx + TILE <= w; tx += TILE) {
                        size_t n = 0;

                        if (cv && (!covered(cv, tx, ty, 4) || !covered(cv, tx + TILE - 1, ty, 4) ||
                                   !covered(cv, tx, ty + TILE - 1, 4) ||
                                   !covered(cv, tx + TILE - 1, ty + TILE - 1, 4)))
                                continue;
                        for (y = ty; y < ty + TILE; y++)
                                for (x = tx; x < tx + TILE; x++) {
                                        float v = p[(size_t)y * w + x];

                                        if (!mask[(size_t)y * w + x] && isfinite(v))
                                                vals[n++] = v;
                                }
                        if (n < TILE * TILE * 2 / 5)
                                continue;
                        sig[ns++] = robust_sigma(vals, n, NULL);
                }
        r = median_d(sig, ns);
        if (ret_tiles)
                *ret_tiles = (int)ns;
        free(vals);
        free(sig);
        return r;
}

/* ---- star fitting ------------------------------------------------------------------ */

/* Solves the n x n system a x = b (a, b overwritten) by Gaussian elimination
 * with partial pivoting; returns -1 if singular. */
static int solve(double *a, double *b, int n)
{
        int i, j, k;

        for (i = 0; i < n; i++) {
                int p = i;

                for (k = i + 1; k < n; k++)
                        if (fabs(a[k * n + i]) > fabs(a[p * n + i]))
                                p = k;
                if (fabs(a[p * n + i]) < 1e-300)
                        return -1;
                if (p != i) {
                        for (j = 0; j < n; j++) {
                                double t = a[i * n + j];

                                a[i * n + j] = a[p * n + j];
                                a[p * n + j] = t;
                        }
                        double t = b[i];

                        b[i] = b[p];
                        b[p] = t;
                }
                for (k = i + 1; k < n; k++) {
                        double f = a[k * n + i] / a[i * n + i];

                        for (j = i; j < n; j++)
                                a[k * n + j] -= f * a[i * n + j];
                        b[k] -= f * b[i];
                }
        }
        for (i = n - 1; i >= 0; i--) {
                double s = b[i];

                for (j = i + 1; j < n; j++)
                        s -= a[i * n + j] * b[j];
                b[i] = s / a[i * n + i];
        }
        return 0;
}

/* Fits a circular Moffat bg + A (1 + r^2 / alpha^2)^-beta (beta free in
 * [1.2, 12]) to the (2R+1)^2 box around (cx, cy) of plane p by
 * Levenberg-Marquardt. Returns the FWHM 2 alpha sqrt(2^(1/beta) - 1), or NAN
 * when the fit fails or wanders off. A Moffat describes seeing-limited stars
 * (and the simulator's PSF) better than a Gaussian, whose fit of the same
 * star comes out ~20 % wider. */
static double fit_psf(const float *p, int w, int h, double cx, double cy, double *ret_x,
                      double *ret_y, double *ret_amp)
{
        enum { R = 7, NP = 6, NB = (2 * R + 1) * (2 * R + 1) };
        double par[NP], lambda = 1e-3;
        const char *env = getenv("SCORE_BETA");
        double fixed_beta = env ? strtod(env, NULL) : 0.0;
        double xs[NB], ys[NB], zs[NB];
        int n = 0, ix = (int)lround(cx), iy = (int)lround(cy), x, y, it, i, j, k;

        if (ix - R < 0 || iy - R < 0 || ix + R >= w || iy + R >= h)
                return NAN;
        for (y = iy - R; y <= iy + R; y++)
                for (x = ix - R; x <= ix + R; x++) {
                        float v = p[(size_t)y * w + x];

                        if (!isfinite(v))
                                return NAN;
                        xs[n] = x;
                        ys[n] = y;
                        zs[n] = v;
                        n++;
                }
        {
                /* Background from the box edge, start at the given centre. */
                double edge[8 * R];
                int ne = 0;

                for (i = 0; i < n; i++)
                        if (fabs(xs[i] - ix) == R || fabs(ys[i] - iy) == R)
                                edge[ne++] = zs[i];
                par[0] = median_d(edge, (size_t)ne);
        }
        par[1] = pix(p, w, h, ix, iy) - par[0];
        par[2] = cx;
        par[3] = cy;
        par[4] = 3.4;
        par[5] = fixed_beta > 0 ? fixed_beta : 3.0;
        if (!(par[1] > 0))
                return NAN;
        for (it = 0; it < 100; it++) {
                double jtj[NP * NP] = { 0 }, jtr[NP] = { 0 }, chi = 0.0, trial[NP], tchi = 0.0;

                for (k = 0; k < n; k++) {
                        double dx = xs[k] - par[2], dy = ys[k] - par[3], a2 = par[4] * par[4];
                        double r2 = dx * dx + dy * dy, u = 1.0 + r2 / a2;
                        double ub = pow(u, -par[5]), ub1 = ub / u;
                        double r = zs[k] - (par[0] + par[1] * ub);
                        double jac[NP] = { 1.0, ub, 2.0 * par[1] * par[5] * dx * ub1 / a2,
                                           2.0 * par[1] * par[5] * dy * ub1 / a2,
                                           2.0 * par[1] * par[5] * r2 * ub1 / (a2 * par[4]),
                                           -par[1] * ub * log(u) };

                        if (fixed_beta > 0)
                                jac[5] = 0.0;
                        chi += r * r;
                        for (i = 0; i < NP; i++) {
                                jtr[i] += jac[i] * r;
                                for (j = 0; j < NP; j++)
                                        jtj[i * NP + j] += jac[i] * jac[j];
                        }
                }
                if (fixed_beta > 0)
                        jtj[5 * NP + 5] = 1.0;
                for (;;) {
                        double a[NP * NP], b[NP];

                        memcpy(a, jtj, sizeof a);
                        memcpy(b, jtr, sizeof b);
                        for (i = 0; i < NP; i++)
                                a[i * NP + i] *= 1.0 + lambda;
                        if (solve(a, b, NP) < 0)
                                return NAN;
                        for (i = 0; i < NP; i++)
                                trial[i] = par[i] + b[i];
                        trial[4] = fmax(trial[4], 0.3);
                        trial[5] = fmin(fmax(trial[5], 1.2), 12.0);
                        tchi = 0.0;
                        for (k = 0; k < n; k++) {
                                double dx = xs[k] - trial[2], dy = ys[k] - trial[3];
                                double u = 1.0 + (dx * dx + dy * dy) / (trial[4] * trial[4]);
                                double rr = zs[k] - (trial[0] + trial[1] * pow(u, -trial[5]));

                                tchi += rr * rr;
                        }
                        if (tchi <= chi) {
                                lambda = fmax(lambda * 0.3, 1e-7);
                                break;
                        }
                        lambda *= 10.0;
                        if (lambda > 1e8)
                                break;
                }
                if (tchi > chi)
                        break;
                memcpy(par, trial, sizeof par);
                if (chi - tchi < 1e-10 * chi)
                        break;
        }
        if (par[1] <= 0 || fabs(par[2] - cx) > 2.5 || fabs(par[3] - cy) > 2.5)
                return NAN;
        if (ret_x)
                *ret_x = par[2];
        if (ret_y)
                *ret_y = par[3];
        if (ret_amp)
                *ret_amp = par[1];
        return 2.0 * par[4] * sqrt(pow(2.0, 1.0 / par[5]) - 1.0);
}

/* ---- star detection (real frames) ---------------------------------------------------- */

/* Local maxima of plane p (5x5) above bg + k sigma, isolated (no brighter pixel
 * within 10 px), unsaturated (peak < sat). */
static struct star *detect_stars(const float *p, int w, int h, double bg, double sigma, double k,
                                 double sat, const struct coverage *cv, int *ret_n)
{
        int cap = 4096, n = 0, x, y, dx, dy;
        struct star *s = xmalloc(sizeof *s * (size_t)cap);

        for (y = 10; y < h - 10; y++)
                for (x = 10; x < w - 10; x++) {
                        float v = p[(size_t)y * w + x];
                        bool ok = true;
                        int bright_nb = 0;

                        if (!(v > bg + k * sigma) || v >= sat)
                                continue;
                        for (dy = -10; dy <= 10 && ok; dy++)
                                for (dx = -10; dx <= 10; dx++) {
                                        float o;

                                        if (!dx && !dy)
                                                continue;
                                        o = p[(size_t)(y + dy) * w + x + dx];
                                        if (o > v || (o == v && (dy < 0 || (dy == 0 && dx < 0)))) {
                                                ok = false;
                                                break;
                                        }
                                        if (abs(dx) <= 1 && abs(dy) <= 1 && o > bg + 0.3 * (v - bg))
                                                bright_nb++;
                                }
                        /* a star has bright direct neighbours; a hot pixel does not */
                        if (!ok || bright_nb < 3)
                                continue;
                        if (cv && !covered(cv, x, y, 12))
                                continue;
                        if (n == cap) {
                                cap *= 2;
                                s = realloc(s, sizeof *s * (size_t)cap);
                                if (!s)
                                        die("out of memory");
                        }
                        s[n].x = x;
                        s[n].y = y;
                        s[n].flux = v - bg;
                        n++;
                }
        *ret_n = n;
        return s;
}

/* ---- tool matrices --------------------------------------------------------------------- */

/* Index of file (by basename) in names[n], or -1. */
static int find_name(char **names, int n, const char *file)
{
        const char *b = base_name(file);
        int i;

        for (i = 0; i < n; i++)
                if (!strcmp(names[i], b))
                        return i;
        return -1;
}

static void load_report(const char *path, char **names, int n, struct tool_frames *tf)
{
        cJSON *rep = load_json(path), *frames, *f;
        const cJSON *ref = cJSON_GetObjectItem(rep, "reference");

        memset(tf, 0, sizeof *tf);
        tf->n = n;
        tf->reference = -1;
        if (cJSON_IsString(ref))
                tf->reference = find_name(names, n, ref->valuestring);
        frames = cJSON_GetObjectItem(rep, "frames");
        if (!cJSON_IsArray(frames))
                die("'%s': no \"frames\" array", path);
        cJSON_ArrayForEach(f, frames) {
                const cJSON *file = cJSON_GetObjectItem(f, "file");
                const cJSON *used = cJSON_GetObjectItem(f, "used");
                int k;

                if (!cJSON_IsString(file))
                        continue;
                k = find_name(names, n, file->valuestring);
                if (k < 0)
                        die("'%s': frame '%s' is not one of the inputs", path, file->valuestring);
                if (used && !cJSON_IsTrue(used))
                        continue;
                if (json_matrix(cJSON_GetObjectItem(f, "matrix"), &tf->m[k]) == 0) {
                        tf->have[k] = true;
                        tf->n_used++;
                }
        }
        if (tf->reference < 0)
                die("'%s': reference frame not found among the inputs", path);
        cJSON_Delete(rep);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Siril 1.0 logs, per registered image I (1-based, files sorted by name):
 *   "Found N stars in image I, channel #1" ... "Transformation Matrix:" and
 *   three rows ... "Matching stars in image I: done".
 * The matrix maps the image to the reference (image 1) in Siril's bottom-up
 * coordinates; y_siril = (H - 1) - y converts to rows as stored. Threads can
 * interleave lines, so a matrix counts only when the "Found" line before it
 * and the "Matching ... done" line after it name the same image. Siril prints
 * 5 decimals: rounding alone can be ~0.003 px RMS at the corners. */
static void load_siril_log(const char *path, char **names, int n, int height,
                           struct tool_frames *tf)
{
        char *text = slurp(path), *line, *save = NULL;
        char **sorted = xmalloc(sizeof(char *) * (size_t)n);
        int *order = xmalloc(sizeof(int) * (size_t)n);
        int found_img = -1, pending_img = -1, row = -1, i, k;
        double mat[9];
        double hp = height - 1.0;

        memset(tf, 0, sizeof *tf);
        tf->n = n;
        memcpy(sorted, names, sizeof(char *) * (size_t)n);
        qsort(sorted, (size_t)n, sizeof(char *), cmp_str);
        for (i = 0; i < n; i++)
                order[i] = find_name(names, n, sorted[i]);
        tf->reference = order[0];
        tf->have[order[0]] = true;
        tf->m[order[0]] = (struct aff){ { 1, 0, 0, 0, 1, 0 } };
        tf->n_used = 1;

        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                const char *p;
                int img;

                if ((p = strstr(line, " stars in image ")) && strstr(line, "Found ")) {
                        if (sscanf(p, " stars in image %d", &img) == 1)
                                found_img = img;
                        row = -1;
                        continue;
                }
                if (strstr(line, "Transformation Matrix:")) {
                        pending_img = found_img;
                        row = 0;
                        continue;
                }
                if (row >= 0 && row < 3) {
                        if (sscanf(line, "%lf %lf %lf", &mat[row * 3], &mat[row * 3 + 1],
                                   &mat[row * 3 + 2]) == 3)
                                row++;
                        else
                                row = -1;
                        continue;
                }
                /* "Matching stars in image I: done", possibly split by
                 * another thread's output in the middle */
                if ((p = strstr(line, "stars in image ")) && strstr(line, ": done")) {
                        if (sscanf(p, "stars in image %d", &img) == 1 && row == 3 &&
                            img == pending_img && img >= 2 && img <= n) {
                                struct aff s = { { mat[0], mat[1], mat[2], mat[3], mat[4], mat[5] } };
                                struct aff f = { { 1, 0, 0, 0, -1, hp } }, t;

                                k = order[img - 1];
                                t = aff_mul(&s, &f);
                                tf->m[k] = aff_mul(&f, &t);
                                if (!tf->have[k])
                                        tf->n_used++;
                                tf->have[k] = true;
                        }
                        row = -1;
                        pending_img = -1;
                }
        }
        free(text);
        free(sorted);
        free(order);
}

/* ---- output -------------------------------------------------------------------------- */

struct metrics {
        const char *label;
        int n_frames, n_used;
        double reg_rms, reg_max;
        int reg_over;            /* frames with corner RMS > 0.02 px */
        double noise_adu, noise_stack, scale;
        double fwhm, fwhm_median;
        int fwhm_stars;
        double input_fwhm_best, input_fwhm_worst;
        double fwhm_same; /* real: the stack's median FWHM on the best frame's stars */
        double trail_sigma, trail_expected_sigma;
        int trail_samples;
        double hot_frac;
        int hot_spots, hot_bad;
        int hot_pixels;          /* hot pixels on the sensor (truth, or found in real frames) */
        double hot_worst_sigma;
        double control_frac;     /* the same test away from the hot pixels */
        double wall, rss_mib;
};

static void num_or_null(cJSON *o, const char *k, double v)
{
        if (isfinite(v))
                cJSON_AddNumberToObject(o, k, v);
        else
                cJSON_AddNullToObject(o, k);
}

static void print_metrics(const struct metrics *mt)
{
        cJSON *o = cJSON_CreateObject();
        char *s;

        cJSON_AddStringToObject(o, "label", mt->label);
        cJSON_AddNumberToObject(o, "frames", mt->n_frames);
        cJSON_AddNumberToObject(o, "used", mt->n_used);
        num_or_null(o, "reg_rms_px", mt->reg_rms);
        num_or_null(o, "reg_max_px", mt->reg_max);
        cJSON_AddNumberToObject(o, "reg_frames_over_0.02px", mt->reg_over);
        num_or_null(o, "noise_adu", mt->noise_adu);
        num_or_null(o, "noise_stack_units", mt->noise_stack);
        num_or_null(o, "scale_to_adu", mt->scale);
        num_or_null(o, "fwhm_px", mt->fwhm);
        num_or_null(o, "fwhm_median_px", mt->fwhm_median);
        cJSON_AddNumberToObject(o, "fwhm_stars", mt->fwhm_stars);
        num_or_null(o, "input_fwhm_best_px", mt->input_fwhm_best);
        num_or_null(o, "input_fwhm_worst_px", mt->input_fwhm_worst);
        num_or_null(o, "fwhm_same_stars_px", mt->fwhm_same);
        num_or_null(o, "trail_sigma", mt->trail_sigma);
        num_or_null(o, "trail_unrejected_sigma", mt->trail_expected_sigma);
        cJSON_AddNumberToObject(o, "trail_samples", mt->trail_samples);
        num_or_null(o, "hot_frac_5sigma", mt->hot_frac);
        cJSON_AddNumberToObject(o, "hot_pixels", mt->hot_pixels);
        cJSON_AddNumberToObject(o, "hot_spots", mt->hot_spots);
        cJSON_AddNumberToObject(o, "hot_spots_over_5sigma", mt->hot_bad);
        num_or_null(o, "hot_worst_sigma", mt->hot_worst_sigma);
        num_or_null(o, "control_frac_5sigma", mt->control_frac);
        num_or_null(o, "wall_s", mt->wall);
        num_or_null(o, "peak_rss_mib", mt->rss_mib);
        s = cJSON_PrintUnformatted(o);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
}

/* ---- shared scoring steps ------------------------------------------------------------- */

struct hotpx {
        int x, y;
};

/* Largest excess over the 5..9 px annulus in the 3x3 around (ix, iy), over
 * the three channels, in units of each channel's noise; NAN if unusable. */
static double spot_sigma(const struct image *st, const double noise[3], const uint8_t *mask,
                         const struct coverage *cv, double sx, double sy)
{
        int ix = (int)lround(sx), iy = (int)lround(sy), c, dx, dy;
        double ring[256], worst = -INFINITY;

        if (ix < 12 || iy < 12 || ix >= st->w - 12 || iy >= st->h - 12)
                return NAN;
        if (mask[(size_t)iy * st->w + ix] || !covered(cv, sx, sy, 6))
                return NAN;
        for (c = 0; c < 3; c++) {
                const float *p = st->ch[c];
                double bg, peak = -INFINITY;
                size_t nr = 0;

                for (dy = -9; dy <= 9; dy++)
                        for (dx = -9; dx <= 9; dx++) {
                                double r2 = dx * dx + dy * dy;

                                if (r2 >= 25 && r2 <= 81 && nr < 256)
                                        ring[nr++] = pix(p, st->w, st->h, ix + dx, iy + dy);
                        }
                bg = median_d(ring, nr);
                for (dy = -1; dy <= 1; dy++)
                        for (dx = -1; dx <= 1; dx++)
                                peak = fmax(peak, pix(p, st->w, st->h, ix + dx, iy + dy));
                worst = fmax(worst, (peak - bg) / noise[c]);
        }
        return worst;
}

/* Hot-pixel landing spots: every used frame's hot pixels mapped into the
 * stack, scored by spot_sigma. The same test at spots moved by (+17, +23) px
 * is the control: what plain noise and faint unmasked stars give. */
static void score_hot(const struct image *st, const double noise[3], const uint8_t *mask,
                      const struct coverage *cv, const struct tool_frames *tf,
                      const struct aff *frame_to_stack, const struct hotpx *hot, int n_hot,
                      struct metrics *mt)
{
        int k, i, n_ctl = 0, bad_ctl = 0;

        mt->hot_spots = 0;
        mt->hot_bad = 0;
        mt->hot_worst_sigma = 0.0;
        for (k = 0; k < tf->n; k++) {
                if (!tf->have[k])
                        continue;
                for (i = 0; i < n_hot; i++) {
                        double sx, sy, v;

                        aff_apply(&frame_to_stack[k], hot[i].x, hot[i].y, &sx, &sy);
                        v = spot_sigma(st, noise, mask, cv, sx, sy);
                        if (isfinite(v)) {
                                mt->hot_spots++;
                                if (v > 5.0)
                                        mt->hot_bad++;
                                if (v > 5.0 && getenv("SCORE_DEBUG"))
                                        fprintf(stderr, "hot spot frame %d sensor %d,%d -> stack "
                                                "%.1f,%.1f: %.2f sigma\n", k, hot[i].x, hot[i].y,
                                                sx, sy, v);
                                mt->hot_worst_sigma = fmax(mt->hot_worst_sigma, v);
                        }
                        v = spot_sigma(st, noise, mask, cv, sx + 17.0, sy + 23.0);
                        if (isfinite(v)) {
                                n_ctl++;
                                if (v > 5.0)
                                        bad_ctl++;
                        }
                }
        }
        mt->hot_frac = mt->hot_spots ? (double)mt->hot_bad / mt->hot_spots : NAN;
        mt->control_frac = n_ctl ? (double)bad_ctl / n_ctl : NAN;
}

static void fwhm_stats(double *f, int n, struct metrics *mt)
{
        double s = 0.0;
        int i;

        for (i = 0; i < n; i++)
                s += f[i];
        mt->fwhm_stars = n;
        mt->fwhm = n ? s / n : NAN;
        mt->fwhm_median = median_d(f, (size_t)n);
}

static void parse_common(int argc, char **argv, int *i, struct metrics *mt, const char **stack,
                         const char **report, const char **siril)
{
        const char *a = argv[*i];

        if (*i + 1 >= argc)
                die("%s needs a value", a);
        if (!strcmp(a, "--stack"))
                *stack = argv[++*i];
        else if (!strcmp(a, "--report"))
                *report = argv[++*i];
        else if (!strcmp(a, "--siril-log"))
                *siril = argv[++*i];
        else if (!strcmp(a, "--label"))
                mt->label = argv[++*i];
        else if (!strcmp(a, "--wall"))
                mt->wall = strtod(argv[++*i], NULL);
        else if (!strcmp(a, "--rss-kib"))
                mt->rss_mib = strtod(argv[++*i], NULL) / 1024.0;
        else
                die("unknown option '%s'", a);
}

static void init_metrics(struct metrics *mt)
{
        memset(mt, 0, sizeof *mt);
        mt->label = "stack";
        mt->reg_rms = mt->reg_max = NAN;
        mt->noise_adu = mt->noise_stack = mt->scale = NAN;
        mt->fwhm = mt->fwhm_median = NAN;
        mt->input_fwhm_best = mt->input_fwhm_worst = mt->fwhm_same = NAN;
        mt->trail_sigma = mt->trail_expected_sigma = NAN;
        mt->hot_frac = mt->hot_worst_sigma = mt->control_frac = NAN;
        mt->wall = mt->rss_mib = NAN;
}

/* Aperture photometry: sum within r minus the median of an annulus. */
static double aperture_flux(const float *p, int w, int h, double cx, double cy, double r)
{
        double ring[2048], sum = 0.0, bg;
        int n = 0, x, y, na = 0;

        for (y = (int)floor(cy - 2 * r); y <= (int)ceil(cy + 2 * r); y++)
                for (x = (int)floor(cx - 2 * r); x <= (int)ceil(cx + 2 * r); x++) {
                        double d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
                        float v = pix(p, w, h, x, y);

                        if (!isfinite(v))
                                return NAN;
                        if (d2 <= r * r) {
                                sum += v;
                                na++;
                        } else if (d2 >= 2.25 * r * r && d2 <= 4 * r * r && n < 2048) {
                                ring[n++] = v;
                        }
                }
        bg = median_d(ring, (size_t)n);
        return sum - bg * na;
}

static void read_raw(const char *path, float **ret, int *w, int *h);
static float *green_bilinear(const float *raw, int w, int h);
static void plane_stats(const float *p, size_t n, double *ret_med, double *ret_sigma);

/* No neighbour above 2 % of the star's flux within 10 px (inside the fit box)
 * nor above 20 % within 18 px (its wings). */
static bool isolated_star(const struct star *stars, int n, int i)
{
        int j;

        for (j = 0; j < n; j++) {
                double dx = stars[j].x - stars[i].x, dy = stars[j].y - stars[i].y, d;

                if (j == i || fabs(dx) > 18.0 || fabs(dy) > 18.0)
                        continue;
                d = hypot(dx, dy);
                if ((d < 10.0 && stars[j].flux > 0.02 * stars[i].flux) ||
                    (d < 18.0 && stars[j].flux > 0.2 * stars[i].flux))
                        return false;
        }
        return true;
}

/* Median FWHM in raw frame `path` (true matrix frame -> frame 0 `m`) of the
 * isolated bright unsaturated truth stars (given in stack coordinates, with
 * ref_inv = frame 0 -> stack). */
static double frame_fwhm_at(const char *path, int W, int H, const struct aff *m,
                            const struct aff *ref_inv, const struct star *stars, int n_stars)
{
        struct aff to_frame, stack_to_0 = aff_inv(ref_inv), t = aff_inv(m);
        float *raw, *g;
        double *fw = xmalloc(sizeof(double) * (size_t)(n_stars + 1)), r;
        int w, h, i, nf = 0;

        to_frame = aff_mul(&t, &stack_to_0);
        read_raw(path, &raw, &w, &h);
        if (w != W || h != H)
                die("'%s' is %dx%d, expected %dx%d", path, w, h, W, H);
        g = green_bilinear(raw, w, h);
        for (i = 0; i < n_stars; i++) {
                double fx, fy, f;

                if (stars[i].flux < FIT_FLUX_MIN || stars[i].flux > FIT_FLUX_MAX)
                        continue;
                aff_apply(&to_frame, stars[i].x, stars[i].y, &fx, &fy);
                if (fx < 20 || fy < 20 || fx > w - 21 || fy > h - 21 ||
                    !isolated_star(stars, n_stars, i))
                        continue;
                f = fit_psf(g, w, h, fx, fy, NULL, NULL, NULL);
                if (isfinite(f) && f > 1.0 && f < 10.0)
                        fw[nf++] = f;
        }
        r = nf >= 3 ? median_d(fw, (size_t)nf) : NAN;
        free(fw);
        free(g);
        free(raw);
        return r;
}

/* Median FWHM in one frame's green plane g of the isolated stack stars
 * (stack coordinates; to_frame = stack -> frame) that land inside it bright
 * and unsaturated: peak 12 sigma above the frame's sky (the simulated sets'
 * criterion: fits of fainter stars in one frame scatter, and their smallest
 * values are noise) and below 60000 ADU. */
static double frame_fwhm_on(const float *g, int w, int h, const struct aff *to_frame,
                            const struct star *stars, int n_stars, double *per_star)
{
        double *fw = xmalloc(sizeof(double) * (size_t)(n_stars + 1)), r, bg, sigma;
        int i, nf = 0;

        plane_stats(g, (size_t)w * h, &bg, &sigma);
        for (i = 0; i < n_stars; i++) {
                double fx, fy, f, peak;

                per_star[i] = NAN;
                aff_apply(to_frame, stars[i].x, stars[i].y, &fx, &fy);
                if (fx < 20 || fy < 20 || fx > w - 21 || fy > h - 21)
                        continue;
                peak = pix(g, w, h, (int)lround(fx), (int)lround(fy));
                if (peak >= 60000.0 || peak < bg + 12.0 * sigma || !isolated_star(stars, n_stars, i))
                        continue;
                f = fit_psf(g, w, h, fx, fy, NULL, NULL, NULL);
                if (isfinite(f) && f > 1.2 && f < 10.0)
                        fw[nf++] = per_star[i] = f;
        }
        r = nf >= 3 ? median_d(fw, (size_t)nf) : NAN;
        free(fw);
        return r;
}

/* ---- score sim -------------------------------------------------------------------------- */

static int cmd_sim(int argc, char **argv)
{
        const char *truth_path = NULL, *stack_path = NULL, *report = NULL, *siril = NULL;
        struct metrics mt;
        struct tool_frames *tf = xmalloc(sizeof *tf);
        struct coverage *cv = xmalloc(sizeof *cv);
        struct aff *true_m, *to_stack, ref_inv;
        cJSON *truth, *frames, *f, *stars_j, *hot_j, *sat;
        char **names;
        struct image st;
        struct star *stars;
        struct hotpx *hot;
        uint8_t *mask;
        double noise[3], *fw, *ratios, sum2 = 0.0, sat_amp = 0.0;
        int n, W, H, i, k, n_stars, n_hot, n_corner = 0, nfw = 0, nrat = 0, sat_frame = -1, tiles;

        init_metrics(&mt);
        for (i = 0; i < argc; i++) {
                if (!strcmp(argv[i], "--truth") && i + 1 < argc)
                        truth_path = argv[++i];
                else
                        parse_common(argc, argv, &i, &mt, &stack_path, &report, &siril);
        }
        if (!truth_path || !stack_path || (!report && !siril))
                die("sim needs --truth, --stack and --report or --siril-log");
        truth = load_json(truth_path);
        W = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(truth, "width"));
        H = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(truth, "height"));
        frames = cJSON_GetObjectItem(truth, "frames");
        n = cJSON_GetArraySize(frames);
        if (n < 1 || n > MAX_FRAMES || W < 16 || H < 16)
                die("'%s': bad truth", truth_path);
        names = xmalloc(sizeof(char *) * (size_t)n);
        true_m = xmalloc(sizeof *true_m * (size_t)n);
        to_stack = xmalloc(sizeof *to_stack * (size_t)n);
        k = 0;
        cJSON_ArrayForEach(f, frames) {
                names[k] = cJSON_GetStringValue(cJSON_GetObjectItem(f, "file"));
                if (!names[k] || json_matrix(cJSON_GetObjectItem(f, "matrix"), &true_m[k]) < 0)
                        die("'%s': frame %d lacks file or matrix", truth_path, k);
                k++;
        }
        if (report)
                load_report(report, names, n, tf);
        else
                load_siril_log(siril, names, n, H, tf);
        mt.n_frames = n;
        mt.n_used = tf->n_used;

        /* True frame -> stack (reference r) transforms: T_r^-1 T_k. */
        ref_inv = aff_inv(&true_m[tf->reference]);
        for (k = 0; k < n; k++)
                to_stack[k] = aff_mul(&ref_inv, &true_m[k]);

        /* Registration error at the four corners of each used frame. */
        mt.reg_max = 0.0;
        for (k = 0; k < n; k++) {
                double corners[4][2] = { { 0, 0 }, { W - 1, 0 }, { 0, H - 1 }, { W - 1, H - 1 } };
                double fs = 0.0;
                int c;

                if (!tf->have[k] || k == tf->reference)
                        continue;
                for (c = 0; c < 4; c++) {
                        double ex, ey, tx, ty, d2;

                        aff_apply(&tf->m[k], corners[c][0], corners[c][1], &ex, &ey);
                        aff_apply(&to_stack[k], corners[c][0], corners[c][1], &tx, &ty);
                        d2 = (ex - tx) * (ex - tx) + (ey - ty) * (ey - ty);
                        sum2 += d2;
                        fs += d2;
                        n_corner++;
                }
                fs = sqrt(fs / 4);
                mt.reg_max = fmax(mt.reg_max, fs);
                if (fs > 0.02)
                        mt.reg_over++;
        }
        mt.reg_rms = n_corner ? sqrt(sum2 / n_corner) : NAN;

        st = read_image(stack_path);
        if (st.w != W || st.h != H)
                die("'%s' is %dx%d, the frames %dx%d", stack_path, st.w, st.h, W, H);

        /* Coverage: every used frame (true geometry). */
        cv->n = 0;
        cv->fw = W;
        cv->fh = H;
        for (k = 0; k < n; k++)
                if (tf->have[k])
                        cv->to_frame[cv->n++] = aff_inv(&to_stack[k]);

        /* Stars in stack coordinates, and the star mask. */
        stars_j = cJSON_GetObjectItem(truth, "stars");
        n_stars = cJSON_GetArraySize(stars_j);
        stars = xmalloc(sizeof *stars * (size_t)(n_stars + 1));
        mask = calloc((size_t)W * H, 1);
        if (!mask)
                die("out of memory");
        i = 0;
        cJSON_ArrayForEach(f, stars_j) {
                double x = cJSON_GetNumberValue(cJSON_GetObjectItem(f, "x"));
                double y = cJSON_GetNumberValue(cJSON_GetObjectItem(f, "y"));

                aff_apply(&ref_inv, x, y, &stars[i].x, &stars[i].y);
                stars[i].flux = cJSON_GetNumberValue(
                        cJSON_GetArrayItem(cJSON_GetObjectItem(f, "flux"), 1));
                mask_disc(mask, W, H, stars[i].x, stars[i].y, star_radius(stars[i].flux));
                i++;
        }

        /* Satellite: mask its line too for noise and hot pixels. */
        sat = cJSON_GetObjectItem(truth, "satellite");
        double sl[4] = { 0, 0, 0, 0 };
        if (cJSON_IsObject(sat)) {
                const cJSON *rl = cJSON_GetObjectItem(sat, "ref_line");

                sat_frame = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(sat, "frame"));
                sat_amp = cJSON_GetNumberValue(cJSON_GetObjectItem(sat, "amplitude_adu"));
                for (i = 0; i < 2; i++) {
                        const cJSON *pt = cJSON_GetArrayItem(rl, i);

                        aff_apply(&ref_inv, cJSON_GetNumberValue(cJSON_GetArrayItem(pt, 0)),
                                  cJSON_GetNumberValue(cJSON_GetArrayItem(pt, 1)), &sl[i * 2],
                                  &sl[i * 2 + 1]);
                }
                {
                        double len = hypot(sl[2] - sl[0], sl[3] - sl[1]), t;

                        for (t = 0; t <= len; t += 2.0)
                                mask_disc(mask, W, H, sl[0] + (sl[2] - sl[0]) * t / len,
                                          sl[1] + (sl[3] - sl[1]) * t / len, 6.0);
                }
        }

        for (i = 0; i < 3; i++)
                noise[i] = tile_noise(st.ch[i], W, H, mask, cv, &tiles);
        mt.noise_stack = noise[1];

        /* Stack scale from photometry of isolated, unsaturated bright stars, and
         * their FWHM. */
        fw = xmalloc(sizeof(double) * (size_t)(n_stars + 1));
        ratios = xmalloc(sizeof(double) * (size_t)(n_stars + 1));
        for (i = 0; i < n_stars; i++) {
                const struct star *s = &stars[i];
                double fwhm, fl;

                if (s->flux < FIT_FLUX_MIN || s->flux > FIT_FLUX_MAX || !covered(cv, s->x, s->y, 20) ||
                    !isolated_star(stars, n_stars, i))
                        continue;
                if (sat_frame >= 0) {
                        /* away from the trail */
                        double dx = sl[2] - sl[0], dy = sl[3] - sl[1], len = hypot(dx, dy);

                        if (fabs((s->x - sl[0]) * dy - (s->y - sl[1]) * dx) / len < 15.0)
                                continue;
                }
                fwhm = fit_psf(st.ch[1], W, H, s->x, s->y, NULL, NULL, NULL);
                if (isfinite(fwhm) && fwhm > 1.0 && fwhm < 10.0)
                        fw[nfw++] = fwhm;
                fl = aperture_flux(st.ch[1], W, H, s->x, s->y, 8.0);
                if (isfinite(fl) && fl > 0)
                        ratios[nrat++] = fl / s->flux;
        }
        fwhm_stats(fw, nfw, &mt);
        /* An 8 px aperture holds ~97 % of a beta-3 Moffat of FWHM 3.5. */
        mt.scale = median_d(ratios, (size_t)nrat) / 0.97;
        mt.noise_adu = noise[1] / mt.scale;
        /* Input frames, measured the same way (bilinear green, same fitter,
         * same stars): the best and the worst of the non-cloudy frames. */
        {
                char dir[4096], path[8192];
                const char *slash = strrchr(truth_path, '/');
                double fmin = INFINITY, fmax = 0.0;

                snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - truth_path) : 1,
                         slash ? truth_path : ".");
                k = 0;
                cJSON_ArrayForEach(f, frames) {
                        double v;

                        if (!cJSON_IsTrue(cJSON_GetObjectItem(f, "cloudy"))) {
                                snprintf(path, sizeof path, "%s/%s", dir, names[k]);
                                v = frame_fwhm_at(path, W, H, &true_m[k], &ref_inv, stars, n_stars);
                                if (isfinite(v)) {
                                        fmin = fmin < v ? fmin : v;
                                        fmax = fmax > v ? fmax : v;
                                }
                        }
                        k++;
                }
                mt.input_fwhm_best = isfinite(fmin) ? fmin : NAN;
                mt.input_fwhm_worst = fmax > 0 ? fmax : NAN;
        }

        /* Satellite trail: mean (on-trail - local background) along the trail. */
        if (sat_frame >= 0) {
                double dx = sl[2] - sl[0], dy = sl[3] - sl[1], len = hypot(dx, dy);
                double ux = dx / len, uy = dy / len, nx = -uy, ny = ux, t, acc = 0.0;
                double side[16];
                int ns;

                for (t = 0; t <= len; t += 1.0) {
                        double cx = sl[0] + ux * t, cy = sl[1] + uy * t, on = 0.0, off;
                        int o, bad = 0;

                        if (!covered(cv, cx, cy, 20))
                                continue;
                        /* no star light near this stretch */
                        for (o = -14; o <= 14 && !bad; o += 2) {
                                int px = (int)lround(cx + nx * o), py = (int)lround(cy + ny * o);
                                size_t idx = (size_t)py * W + px;

                                if (px < 0 || py < 0 || px >= W || py >= H)
                                        bad = 1;
                                else if (abs(o) > 6 && mask[idx])
                                        bad = 1;
                        }
                        for (i = 0; i < n_stars && !bad; i++)
                                if (fabs(stars[i].x - cx) < 30 && fabs(stars[i].y - cy) < 30 &&
                                    hypot(stars[i].x - cx, stars[i].y - cy) <
                                            star_radius(stars[i].flux))
                                        bad = 1;
                        if (bad)
                                continue;
                        for (o = -1; o <= 1; o++)
                                on += bilinear(st.ch[1], W, H, cx + nx * o, cy + ny * o) / 3.0;
                        ns = 0;
                        for (o = 8; o <= 14; o++) {
                                side[ns++] = bilinear(st.ch[1], W, H, cx + nx * o, cy + ny * o);
                                side[ns++] = bilinear(st.ch[1], W, H, cx - nx * o, cy - ny * o);
                        }
                        off = median_d(side, (size_t)ns);
                        acc += on - off;
                        mt.trail_samples++;
                }
                if (mt.trail_samples)
                        mt.trail_sigma = acc / mt.trail_samples / noise[1];
                /* what a plain mean would leave: amplitude / frames, Gaussian
                 * profile averaged over +-1 px (sigma 1.1 px) */
                if (tf->have[sat_frame] && mt.n_used > 0)
                        mt.trail_expected_sigma = sat_amp * 0.78 / mt.n_used * mt.scale / noise[1];
        }

        /* Hot pixels. */
        hot_j = cJSON_GetObjectItem(truth, "hot_pixels");
        n_hot = cJSON_GetArraySize(hot_j);
        hot = xmalloc(sizeof *hot * (size_t)(n_hot + 1));
        i = 0;
        cJSON_ArrayForEach(f, hot_j) {
                hot[i].x = (int)cJSON_GetNumberValue(cJSON_GetArrayItem(f, 0));
                hot[i].y = (int)cJSON_GetNumberValue(cJSON_GetArrayItem(f, 1));
                i++;
        }
        score_hot(&st, noise, mask, cv, tf, to_stack, hot, n_hot, &mt);
        mt.hot_pixels = n_hot;

        print_metrics(&mt);
        free(hot);
        free(fw);
        free(ratios);
        free(mask);
        free(stars);
        free_image(&st);
        free(names);
        free(true_m);
        free(to_stack);
        free(tf);
        free(cv);
        cJSON_Delete(truth);
        return 0;
}

/* ---- score real ------------------------------------------------------------------------ */

static void read_raw(const char *path, float **ret, int *w, int *h)
{
        struct image im = read_image(path);

        if (im.nch != 1)
                die("'%s' is not a raw mosaic", path);
        *ret = im.ch[0];
        *w = im.w;
        *h = im.h;
}

/* Green plane of a GRBG mosaic, bilinear: G sites kept, R/B sites get the
 * mean of their four green neighbours. */
static float *green_bilinear(const float *raw, int w, int h)
{
        float *g = xmalloc(sizeof(float) * (size_t)w * h);
        int x, y;

        for (y = 0; y < h; y++)
                for (x = 0; x < w; x++) {
                        bool is_g = ((x + y) & 1) == 0; /* GRBG: G where x + y is even */

                        if (is_g) {
                                g[(size_t)y * w + x] = raw[(size_t)y * w + x];
                        } else {
                                double s = 0.0;
                                int n = 0;

                                if (x > 0) { s += raw[(size_t)y * w + x - 1]; n++; }
                                if (x < w - 1) { s += raw[(size_t)y * w + x + 1]; n++; }
                                if (y > 0) { s += raw[(size_t)(y - 1) * w + x]; n++; }
                                if (y < h - 1) { s += raw[(size_t)(y + 1) * w + x]; n++; }
                                g[(size_t)y * w + x] = (float)(s / n);
                        }
                }
        return g;
}

static void plane_stats(const float *p, size_t n, double *ret_med, double *ret_sigma)
{
        size_t step = n / 200000 + 1, m = 0, i;
        double *v = xmalloc(sizeof(double) * (n / step + 1));

        for (i = 0; i < n; i += step)
                if (isfinite(p[i]))
                        v[m++] = p[i];
        *ret_sigma = robust_sigma(v, m, ret_med);
        free(v);
}

/* Median FWHM of the isolated stars detected in plane p (>= 3 fits). */
static double plane_fwhm(const float *p, int w, int h, const struct coverage *cv, double sat,
                         int *ret_n)
{
        double med, sigma, *fw, r;
        struct star *s;
        int n, i, nf = 0;

        plane_stats(p, (size_t)w * h, &med, &sigma);
        s = detect_stars(p, w, h, med, sigma, 15.0, sat, cv, &n);
        fw = xmalloc(sizeof(double) * (size_t)(n + 1));
        for (i = 0; i < n; i++) {
                double f = fit_psf(p, w, h, s[i].x, s[i].y, NULL, NULL, NULL);

                if (getenv("SCORE_DEBUG"))
                        fprintf(stderr, "star %.0f %.0f peak %.0f fwhm %.3f\n", s[i].x, s[i].y,
                                s[i].flux, f);
                if (isfinite(f) && f > 1.2 && f < 10.0)
                        fw[nf++] = f;
        }
        r = nf >= 3 ? median_d(fw, (size_t)nf) : NAN;
        *ret_n = nf;
        free(fw);
        free(s);
        return r;
}

/* Hot pixels of a real sensor: in the mean of all raw frames (stars smeared
 * by the drift, a hot pixel stays put), pixels more than 6 sigma (of that
 * Bayer colour in the mean mosaic) above the median of their four same-colour
 * neighbours while those stay within 4 sigma of the sky and the four direct
 * neighbours stay below half the excess (a star lights them all). */
static int find_hot(const float *m, int W, int H, struct hotpx **ret)
{
        double med[4], sig[4];
        struct hotpx *hot = xmalloc(sizeof *hot * 65536);
        int q, x, y, n = 0;

        for (q = 0; q < 4; q++) {
                size_t cap = (size_t)(W / 2 + 1) * (H / 2 + 1) / 4 + 16, nv = 0;
                double *v = xmalloc(sizeof(double) * cap);

                for (y = q / 2; y < H; y += 4)
                        for (x = q % 2; x < W; x += 4)
                                if (nv < cap)
                                        v[nv++] = m[(size_t)y * W + x];
                sig[q] = robust_sigma(v, nv, &med[q]);
                free(v);
        }
        for (y = 2; y < H - 2 && n < 65536; y++)
                for (x = 2; x < W - 2 && n < 65536; x++) {
                        size_t i = (size_t)y * W + x;
                        double ring[4] = { m[i - 2], m[i + 2], m[i - 2 * (size_t)W], m[i + 2 * (size_t)W] };
                        double dmax = fmax(fmax(m[i - 1], m[i + 1]), fmax(m[i - W], m[i + W]));
                        double rmed, rmax, bg;

                        q = (y & 1) * 2 + (x & 1);
                        if (m[i] < med[q] + 6 * sig[q])
                                continue;
                        rmax = fmax(fmax(ring[0], ring[1]), fmax(ring[2], ring[3]));
                        rmed = median_d(ring, 4);
                        bg = rmed;
                        if (m[i] - rmed > 6 * sig[q] && rmax < med[q] + 4 * sig[q] &&
                            dmax - bg < 0.5 * (m[i] - bg)) {
                                hot[n].x = x;
                                hot[n].y = y;
                                n++;
                        }
                }
        *ret = hot;
        return n;
}

static int cmd_real(int argc, char **argv)
{
        const char *stack_path = NULL, *report = NULL, *siril = NULL;
        struct metrics mt;
        struct tool_frames *tf = xmalloc(sizeof *tf);
        struct coverage *cv = xmalloc(sizeof *cv);
        char **files = xmalloc(sizeof(char *) * (size_t)(argc + 1));
        char **names = xmalloc(sizeof(char *) * (size_t)(argc + 1));
        struct aff *to_stack;
        struct image st;
        float *sum;
        struct hotpx *hot = NULL;
        uint8_t *mask;
        double noise[3], smax = -INFINITY, sbg, ssig;
        float *ref_green = NULL;
        double *fstar, *best_star; /* per stack star: FWHM in a frame, in the best frame */
        int n = 0, i, k, W = 0, H = 0, n_hot = 0, nstar, nf;
        struct star *sst;

        init_metrics(&mt);
        for (i = 0; i < argc; i++) {
                if (strncmp(argv[i], "--", 2) == 0)
                        parse_common(argc, argv, &i, &mt, &stack_path, &report, &siril);
                else
                        files[n++] = argv[i];
        }
        if (!stack_path || (!report && !siril) || n < 1 || n > MAX_FRAMES)
                die("real needs --stack, --report or --siril-log, and the frames");
        for (i = 0; i < n; i++)
                names[i] = (char *)base_name(files[i]);
        st = read_image(stack_path);
        W = st.w;
        H = st.h;
        if (report)
                load_report(report, names, n, tf);
        else
                load_siril_log(siril, names, n, H, tf);
        mt.n_frames = n;
        mt.n_used = tf->n_used;
        to_stack = xmalloc(sizeof *to_stack * (size_t)n);
        cv->n = 0;
        cv->fw = W;
        cv->fh = H;
        for (k = 0; k < n; k++)
                if (tf->have[k]) {
                        to_stack[k] = tf->m[k];
                        cv->to_frame[cv->n++] = aff_inv(&tf->m[k]);
                }

        /* The stack's stars first: every input frame's FWHM is measured on
         * the same stars (a single frame alone shows a handful at 15 sigma,
         * and the smallest of 32 medians of a handful is luck, not seeing). */
        plane_stats(st.ch[1], (size_t)W * H, &sbg, &ssig);
        for (i = 0; i < W * H; i++)
                if (isfinite(st.ch[1][i]))
                        smax = fmax(smax, st.ch[1][i]);
        sst = detect_stars(st.ch[1], W, H, sbg, ssig, 15.0, 0.9 * smax, cv, &nstar);
        fstar = xmalloc(sizeof(double) * (size_t)(nstar + 1));
        best_star = xmalloc(sizeof(double) * (size_t)(nstar + 1));
        for (i = 0; i <= nstar; i++)
                best_star[i] = NAN;

        /* Input frames: FWHM of each (best = smallest); their mean mosaic for
         * the hot pixels. */
        sum = calloc((size_t)W * H, sizeof *sum);
        if (!sum)
                die("out of memory");
        mt.input_fwhm_best = INFINITY;
        mt.input_fwhm_worst = 0.0;
        for (k = 0; k < n; k++) {
                float *raw, *g;
                int w, h;
                double fwhm;
                size_t j;

                read_raw(files[k], &raw, &w, &h);
                if (w != W || h != H)
                        die("'%s' is %dx%d, the stack %dx%d", files[k], w, h, W, H);
                g = green_bilinear(raw, w, h);
                if (tf->have[k]) {
                        struct aff to_frame = aff_inv(&tf->m[k]);

                        fwhm = frame_fwhm_on(g, w, h, &to_frame, sst, nstar, fstar);
                } else {
                        fwhm = plane_fwhm(g, w, h, NULL, 60000.0, &nf);
                }
                if (isfinite(fwhm)) {
                        if (fwhm < mt.input_fwhm_best && tf->have[k])
                                memcpy(best_star, fstar, sizeof(double) * (size_t)(nstar + 1));
                        mt.input_fwhm_best = fmin(mt.input_fwhm_best, fwhm);
                        mt.input_fwhm_worst = fmax(mt.input_fwhm_worst, fwhm);
                        if (getenv("SCORE_DEBUG"))
                                fprintf(stderr, "frame %d fwhm %.3f\n", k, fwhm);
                }
                for (j = 0; j < (size_t)W * H; j++)
                        sum[j] += raw[j] / n;
                if (k == tf->reference)
                        ref_green = g;
                else
                        free(g);
                free(raw);
        }
        if (!isfinite(mt.input_fwhm_best))
                mt.input_fwhm_best = mt.input_fwhm_worst = NAN;
        n_hot = find_hot(sum, W, H, &hot);
        free(sum);

        /* Stack: noise (stars masked where the green is > 3 sigma above the
         * background), scale vs the reference frame's green background, FWHM. */
        mask = calloc((size_t)W * H, 1);
        if (!mask)
                die("out of memory");
        for (i = 0; i < W * H; i++) {
                float v = st.ch[1][i];

                if (isfinite(v) && v > sbg + 3 * ssig)
                        mask_disc(mask, W, H, i % W, i / W, 6.0);
        }
        for (i = 0; i < 3; i++)
                noise[i] = tile_noise(st.ch[i], W, H, mask, cv, NULL);
        mt.noise_stack = noise[1];
        {
                double *fw, *ratio;
                int nfw = 0, nr = 0;

                fw = xmalloc(sizeof(double) * (size_t)(nstar + 1));
                ratio = xmalloc(sizeof(double) * (size_t)(nstar + 1));
                /* Scale of the stack against one raw frame: aperture photometry
                 * of the same stars in the stack and in the reference frame
                 * (same geometry), whatever offset the tool's output has. */
                for (i = 0; i < nstar; i++) {
                        double fs = aperture_flux(st.ch[1], W, H, sst[i].x, sst[i].y, 6.0);
                        double fr = ref_green ? aperture_flux(ref_green, W, H, sst[i].x, sst[i].y, 6.0)
                                              : NAN;

                        if (isfinite(fs) && isfinite(fr) && fr > 0 && fs > 0 &&
                            pix(ref_green, W, H, (int)sst[i].x, (int)sst[i].y) < 60000.0)
                                ratio[nr++] = fs / fr;
                }
                mt.scale = nr >= 3 ? median_d(ratio, (size_t)nr) : NAN;
                mt.noise_adu = noise[1] / mt.scale;
                free(ratio);
                double *same_s = xmalloc(sizeof(double) * (size_t)(nstar + 1));
                double *same_b = xmalloc(sizeof(double) * (size_t)(nstar + 1));
                int nsame = 0;

                for (i = 0; i < nstar; i++) {
                        double f = fit_psf(st.ch[1], W, H, sst[i].x, sst[i].y, NULL, NULL, NULL);

                        if (isfinite(f) && f > 1.2 && f < 10.0) {
                                fw[nfw++] = f;
                                if (isfinite(best_star[i])) {
                                        same_s[nsame] = f;
                                        same_b[nsame++] = best_star[i];
                                }
                        }
                }
                /* median: real fields have a galaxy core or two among the "stars" */
                fwhm_stats(fw, nfw, &mt);
                mt.fwhm = mt.fwhm_median;
                /* the stack against the best frame on the same stars: those
                 * bright in one frame are sharper than the stack's median
                 * star (fainter ones fit wider), so the ratio compares like
                 * with like */
                if (nsame >= 3) {
                        mt.fwhm_same = median_d(same_s, (size_t)nsame);
                        mt.input_fwhm_best = median_d(same_b, (size_t)nsame);
                }
                free(same_s);
                free(same_b);
                free(fw);
                free(sst);
        }
        free(fstar);
        free(best_star);
        score_hot(&st, noise, mask, cv, tf, to_stack, hot, n_hot, &mt);
        mt.hot_pixels = n_hot;
        print_metrics(&mt);
        free(ref_green);
        free(mask);
        free(hot);
        free_image(&st);
        free(to_stack);
        free(files);
        free(names);
        free(tf);
        free(cv);
        return 0;
}

/* ---- score table ------------------------------------------------------------------------- */

static double jnum(const cJSON *o, const char *k)
{
        const cJSON *v = cJSON_GetObjectItem(o, k);

        return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* Stack FWHM / best input frame FWHM, on the same stars: real frames give
 * fwhm_same_stars_px (the stack on the best frame's bright stars), simulated
 * ones measure both on the same truth stars already. */
static void ratio_line(const cJSON *o, const char *name, const char *target)
{
        double s = jnum(o, "fwhm_same_stars_px"), best = jnum(o, "input_fwhm_best_px");

        if (!isfinite(s))
                s = jnum(o, "fwhm_px");
        if (isfinite(s) && isfinite(best))
                printf("%s%s stack FWHM / best input FWHM = %.3f on the same stars (%.3f / %.3f px)%s\n",
                       *target ? "\n" : "", name, s / best, s, best, target);
}

static void row(const char *name, const cJSON *a, const cJSON *b, const char *key, int decimals,
                const char *target)
{
        double va = jnum(a, key), vb = b ? jnum(b, key) : NAN;
        char sa[32] = "-", sb[32] = "-", sr[32] = "-";

        if (isfinite(va))
                snprintf(sa, sizeof sa, "%.*f", decimals, va);
        if (isfinite(vb))
                snprintf(sb, sizeof sb, "%.*f", decimals, vb);
        if (isfinite(va) && isfinite(vb) && vb != 0.0)
                snprintf(sr, sizeof sr, "%.3f", va / vb);
        printf("| %-36s | %12s | %12s | %8s | %-22s |\n", name, sa, sb, sr, target);
}

static int cmd_table(int argc, char **argv)
{
        cJSON *a, *b = NULL;
        const cJSON *la, *lb;
        char used_a[32], used_b[32] = "-";
        const char *name_a, *name_b;

        if (argc < 1 || argc > 2)
                die("table needs one or two JSON files");
        a = load_json(argv[0]);
        if (argc == 2)
                b = load_json(argv[1]);
        la = cJSON_GetObjectItem(a, "label");
        lb = b ? cJSON_GetObjectItem(b, "label") : NULL;
        name_a = cJSON_GetStringValue(la);
        name_b = cJSON_GetStringValue(lb);
        if (!name_a)
                name_a = "A";
        if (!name_b)
                name_b = b ? "B" : "-";
        printf("| %-36s | %12s | %12s | %8s | %-22s |\n", "metric", name_a, name_b, "ratio",
               "target");
        printf("|%s|%s|%s|%s|%s|\n", "--------------------------------------",
               "--------------", "--------------", "----------", "------------------------");
        snprintf(used_a, sizeof used_a, "%.0f / %.0f", jnum(a, "used"), jnum(a, "frames"));
        if (b)
                snprintf(used_b, sizeof used_b, "%.0f / %.0f", jnum(b, "used"), jnum(b, "frames"));
        printf("| %-36s | %12s | %12s | %8s | %-22s |\n", "frames used", used_a, used_b, "-",
               "all with stars");
        row("registration RMS at corners (px)", a, b, "reg_rms_px", 4, "<= 0.02");
        row("registration worst frame (px)", a, b, "reg_max_px", 4, "");
        row("stack noise, green (ADU)", a, b, "noise_adu", 3, "<= Siril");
        row("stack star FWHM (px)", a, b, "fwhm_px", 3, "<= Siril");
        row("best input frame FWHM (px)", a, b, "input_fwhm_best_px", 3, "");
        row("satellite trail residual (sigma)", a, b, "trail_sigma", 3, "<= 0.2");
        row("trail if not rejected (sigma)", a, b, "trail_unrejected_sigma", 2, "");
        row("hot-pixel spots > 5 sigma (fraction)", a, b, "hot_frac_5sigma", 5, "0");
        row("hot pixels on the sensor", a, b, "hot_pixels", 0, "");
        row("hot-pixel spots checked", a, b, "hot_spots", 0, "");
        row("hot-pixel worst spot (sigma)", a, b, "hot_worst_sigma", 2, "");
        row("control spots > 5 sigma (fraction)", a, b, "control_frac_5sigma", 5, "noise floor");
        row("wall time (s)", a, b, "wall_s", 2, "<= Siril / 10");
        row("peak RSS (MiB)", a, b, "peak_rss_mib", 1, "<= 550 (100 frames)");
        ratio_line(a, name_a, " (target <= 1.05)");
        if (b)
                ratio_line(b, name_b, "");
        cJSON_Delete(a);
        cJSON_Delete(b);
        return 0;
}

/* ---- score check-sim: the simulator and this tool against each other ------------------- */

/* For every frame: the isolated bright truth stars projected into the frame
 * by the inverse of its true matrix, fitted there (bilinear green, Moffat).
 * Prints per frame the mean offset, the RMS, and the corner RMS of the affine
 * map fitted from measured to projected positions (0 if frame and truth agree
 * and the fitter is unbiased). */
static int cmd_check_sim(int argc, char **argv)
{
        cJSON *truth, *frames, *f, *stars_j;
        struct star *stars;
        char dir[4096], path[8192];
        const char *slash;
        int n, W, H, k = 0, i, n_stars;
        double worst = 0.0;

        if (argc != 2 || strcmp(argv[0], "--truth") != 0)
                die("check-sim needs --truth DIR/truth.json");
        truth = load_json(argv[1]);
        slash = strrchr(argv[1], '/');
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - argv[1]) : 1, slash ? argv[1] : ".");
        W = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(truth, "width"));
        H = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(truth, "height"));
        frames = cJSON_GetObjectItem(truth, "frames");
        n = cJSON_GetArraySize(frames);
        stars_j = cJSON_GetObjectItem(truth, "stars");
        n_stars = cJSON_GetArraySize(stars_j);
        stars = xmalloc(sizeof *stars * (size_t)(n_stars + 1));
        i = 0;
        cJSON_ArrayForEach(f, stars_j) {
                stars[i].x = cJSON_GetNumberValue(cJSON_GetObjectItem(f, "x"));
                stars[i].y = cJSON_GetNumberValue(cJSON_GetObjectItem(f, "y"));
                stars[i].flux = cJSON_GetNumberValue(
                        cJSON_GetArrayItem(cJSON_GetObjectItem(f, "flux"), 1));
                i++;
        }
        cJSON_ArrayForEach(f, frames) {
                struct aff m, inv;
                float *raw, *g;
                int w, h, nm = 0, c;
                double sx = 0, sy = 0, s2 = 0, ata[9] = { 0 }, atx[3] = { 0 }, aty[3] = { 0 };
                double cx[3], cy[3], corner = 0.0;
                double corners[4][2] = { { 0, 0 }, { W - 1, 0 }, { 0, H - 1 }, { W - 1, H - 1 } };

                if (json_matrix(cJSON_GetObjectItem(f, "matrix"), &m) < 0)
                        die("frame %d: no matrix", k);
                inv = aff_inv(&m);
                snprintf(path, sizeof path, "%s/%s",
                         dir, cJSON_GetStringValue(cJSON_GetObjectItem(f, "file")));
                read_raw(path, &raw, &w, &h);
                g = green_bilinear(raw, w, h);
                for (i = 0; i < n_stars; i++) {
                        double fx, fy, mx, my, fw, row[3];
                        int a, b;

                        if (stars[i].flux < 6.0e3 || stars[i].flux > 2.5e5)
                                continue;
                        aff_apply(&inv, stars[i].x, stars[i].y, &fx, &fy);
                        if (fx < 20 || fy < 20 || fx > w - 21 || fy > h - 21 ||
                            !isolated_star(stars, n_stars, i))
                                continue;
                        fw = fit_psf(g, w, h, fx, fy, &mx, &my, NULL);
                        if (!isfinite(fw))
                                continue;
                        sx += mx - fx;
                        sy += my - fy;
                        s2 += (mx - fx) * (mx - fx) + (my - fy) * (my - fy);
                        row[0] = mx;
                        row[1] = my;
                        row[2] = 1.0;
                        for (a = 0; a < 3; a++) {
                                for (b = 0; b < 3; b++)
                                        ata[a * 3 + b] += row[a] * row[b];
                                atx[a] += row[a] * fx;
                                aty[a] += row[a] * fy;
                        }
                        nm++;
                }
                if (nm >= 6) {
                        double a2[9];

                        memcpy(a2, ata, sizeof a2);
                        memcpy(cx, atx, sizeof cx);
                        memcpy(cy, aty, sizeof cy);
                        if (solve(a2, cx, 3) == 0) {
                                memcpy(a2, ata, sizeof a2);
                                if (solve(a2, cy, 3) == 0) {
                                        for (c = 0; c < 4; c++) {
                                                double px = corners[c][0], py = corners[c][1];
                                                double ex = cx[0] * px + cx[1] * py + cx[2] - px;
                                                double ey = cy[0] * px + cy[1] * py + cy[2] - py;

                                                corner += ex * ex + ey * ey;
                                        }
                                        corner = sqrt(corner / 4);
                                }
                        }
                }
                printf("frame %3d  stars %3d  mean offset %+.4f %+.4f px  rms %.4f px  "
                       "corner error of the fitted map %.4f px\n",
                       k, nm, nm ? sx / nm : NAN, nm ? sy / nm : NAN, nm ? sqrt(s2 / nm) : NAN,
                       nm >= 6 ? corner : NAN);
                if (nm >= 6)
                        worst = fmax(worst, corner);
                free(g);
                free(raw);
                k++;
        }
        printf("worst corner error %.4f px over %d frames\n", worst, n);
        free(stars);
        cJSON_Delete(truth);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr, "usage: score sim|real|table ... (see the comment at the top of "
                                "tests/bench/score.c)\n");
                return 2;
        }
        if (!strcmp(argv[1], "sim"))
                return cmd_sim(argc - 2, argv + 2);
        if (!strcmp(argv[1], "real"))
                return cmd_real(argc - 2, argv + 2);
        if (!strcmp(argv[1], "check-sim"))
                return cmd_check_sim(argc - 2, argv + 2);
        if (!strcmp(argv[1], "table"))
                return cmd_table(argc - 2, argv + 2);
        fprintf(stderr, "score: unknown command '%s'\n", argv[1]);
        return 2;
}
