/* sim.c - Seestar S50-like raw frame simulator: the plan of a run (field,
 * per-frame geometry and conditions), rendering, FITS output and truth.json.
 *
 * Model, in ADU above the black-level pedestal, per Bayer pixel:
 *   signal = sky(channel, x, y) + sum of stars (Moffat, integrated over the
 *            pixel) + satellite trail + hot pixel dark signal
 *   value  = adu_per_e * Poisson(signal / adu_per_e) + pedestal
 *            + N(0, read_noise), rounded and clamped to [0, 65535].
 * Constants were matched to the real M 94 frames in shared/data/seestar:
 * raw background G ~990, R ~840, B ~795 ADU and raw green noise ~88 ADU
 * (robust sigma), which a bilinear debayer turns into the ~64 ADU Siril
 * reports for a single frame. */
#include <errno.h>
#include <fitsio.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "crowdsky/alloc.h"
#include "crowdsky/sim.h"
#include "sim/sim_int.h"

#define FULL_AREA (1080.0 * 1920.0)
#define PEDESTAL_ADU 500.0
#define ADU_PER_E 15.0
#define READ_NOISE_ADU 20.0
#define SAT_ADU 65535.0
#define STAR_FLUX_MIN 800.0    /* green ADU, faintest star (~0.6 sigma peak) */
#define STAR_FLUX_MAX 4.0e6    /* green ADU, brightest star */
#define STAR_SLOPE 2.2         /* dN/dF ~ F^-STAR_SLOPE */
#define PSF_TABLE_N 8192
#define PSF_TABLE_RMAX 40.0    /* in units of the Moffat alpha */
#define STAMP_RMAX 80.0        /* px */
#define SUPERSAMPLE 4
#define MAX_STARS 5000000
#define MAX_PIXELS (16384L * 16384L)

static const double sky_base[3] = { 342.0, 490.0, 295.0 }; /* R G B above pedestal */

struct sim_star {
        double x, y;   /* reference-frame pixel */
        double f[3];   /* R G B flux, ADU */
};

struct sim_hot {
        int x, y;
        double amp;    /* ADU of dark signal */
};

struct sim_frame {
        double theta_deg, scale, tx, ty;
        double m[6];   /* this frame -> reference */
        double inv[6]; /* reference -> this frame */
        double fwhm, beta;
        double sky[3];
        double ccd_temp;
        bool satellite, cloudy;
        double trail_px, trail_deg; /* wind shake: trail length and direction (0 = none) */
        long long t_us; /* DATE-OBS, microseconds since the epoch */
        char date_obs[96];
        char file[288];
};

struct sim_sat {
        double px, py;     /* a point on the trail, frame pixels */
        double ux, uy;     /* unit direction */
        double sigma;      /* Gaussian profile sigma, px */
        double amp;        /* green ADU at the centre line */
        double line[4];    /* clipped end points in the frame: x0 y0 x1 y1 */
};

struct sim_run {
        const struct cs_sim_params *p;
        const char *outdir;
        int n_frames;
        struct sim_frame *frames;
        struct sim_star *stars;
        size_t n_stars;
        struct sim_hot *hots;
        size_t n_hots;
        int sat_frame, cloudy_frame;
        struct sim_sat sat;
        double grad[5];    /* sky gradient: x, y, x^2, y^2, xy (relative) */
        /* thread pool state */
        pthread_mutex_t lock;
        int next;
        int failed;
        bool fits_locked;
        struct cs_err first_err;
};

static inline int bayer_channel(int x, int y)
{
        /* GRBG for rows as stored: (0,0) G, (0,1) R, (1,0) B, (1,1) G. */
        if ((y & 1) == 0)
                return (x & 1) ? 0 : 1;
        return (x & 1) ? 1 : 2;
}

static void affine_apply(const double m[6], double x, double y, double *rx, double *ry)
{
        *rx = m[0] * x + m[1] * y + m[2];
        *ry = m[3] * x + m[4] * y + m[5];
}

static void affine_invert(const double m[6], double inv[6])
{
        double det = m[0] * m[4] - m[1] * m[3];

        inv[0] = m[4] / det;
        inv[1] = -m[1] / det;
        inv[3] = -m[3] / det;
        inv[4] = m[0] / det;
        inv[2] = -(inv[0] * m[2] + inv[1] * m[5]);
        inv[5] = -(inv[3] * m[2] + inv[4] * m[5]);
}

/* ---- time ---------------------------------------------------------------- */

static int parse_digits(const char *s, int n, int *ret)
{
        int v = 0, i;

        for (i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        *ret = v;
        return 0;
}

/* "YYYY-MM-DDTHH:MM:SS[.ffffff][Z]" -> microseconds since the epoch. */
static int parse_iso(const char *s, long long *ret_us)
{
        int Y, M, D, h, m, sec, i;
        long long frac = 0, scale = 100000;
        struct tm tm;
        time_t t;

        if (strlen(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') ||
            s[13] != ':' || s[16] != ':')
                return -1;
        if (parse_digits(s, 4, &Y) || parse_digits(s + 5, 2, &M) || parse_digits(s + 8, 2, &D) ||
            parse_digits(s + 11, 2, &h) || parse_digits(s + 14, 2, &m) ||
            parse_digits(s + 17, 2, &sec))
                return -1;
        if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 59)
                return -1;
        i = 19;
        if (s[i] == '.') {
                i++;
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                for (; s[i] >= '0' && s[i] <= '9'; i++) {
                        frac += (s[i] - '0') * scale;
                        scale /= 10;
                }
        }
        if (s[i] == 'Z')
                i++;
        if (s[i] != '\0')
                return -1;
        memset(&tm, 0, sizeof tm);
        tm.tm_year = Y - 1900;
        tm.tm_mon = M - 1;
        tm.tm_mday = D;
        tm.tm_hour = h;
        tm.tm_min = m;
        tm.tm_sec = sec;
        t = timegm(&tm);
        if (t == (time_t)-1 || tm.tm_mday != D)
                return -1;
        *ret_us = (long long)t * 1000000LL + frac;
        return 0;
}

static void format_iso(long long t_us, char *buf, size_t n, char *stamp, size_t stampn)
{
        time_t t = (time_t)(t_us / 1000000LL);
        int us = (int)(t_us % 1000000LL);
        struct tm tm;

        gmtime_r(&t, &tm);
        snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%06d", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
        snprintf(stamp, stampn, "%04d%02d%02d-%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ---- parameters ---------------------------------------------------------- */

struct cs_sim_params cs_sim_params_defaults(void)
{
        struct cs_sim_params p;

        memset(&p, 0, sizeof p);
        p.width = 1080;
        p.height = 1920;
        p.frames = 10;
        p.seed = 1;
        p.stars = -1;
        p.hot_pixels = -1;
        p.satellite = false;
        p.cloudy = false;
        p.rotation_deg_per_frame = 0.05;
        p.drift_px = -1.0;
        snprintf(p.object, sizeof p.object, "%s", "M 94");
        p.ra = 193.04166;
        p.dec = 40.970556;
        snprintf(p.start, sizeof p.start, "%s", "2025-03-27T01:20:32.955368");
        p.cadence_s = 11.0;
        p.exptime_s = 10.0;
        p.fwhm_px = 3.15;
        p.beta = 3.0;
        p.wind_frames = 0;
        p.wind_px = 6.0;
        p.threads = 0;
        return p;
}

static int check_params(const struct cs_sim_params *p, long long *ret_t0, struct cs_err *err)
{
        size_t i;

        if (p->width < 16 || p->height < 16 || p->width > 16384 || p->height > 16384)
                return cs_err_set(err, CS_EINVAL, "frame size %dx%d out of range (16..16384)",
                                  p->width, p->height);
        if ((p->width & 1) || (p->height & 1))
                return cs_err_set(err, CS_EINVAL, "frame size %dx%d must be even (Bayer mosaic)",
                                  p->width, p->height);
        if (p->frames < 1 || p->frames > 100000)
                return cs_err_set(err, CS_EINVAL, "frame count %d out of range (1..100000)",
                                  p->frames);
        if ((p->satellite || p->cloudy) && p->frames < 2)
                return cs_err_set(err, CS_EINVAL,
                                  "a satellite or cloudy frame needs at least 2 frames");
        if (p->satellite && p->cloudy && p->frames < 3)
                return cs_err_set(err, CS_EINVAL,
                                  "a satellite and a cloudy frame need at least 3 frames");
        if (p->stars > MAX_STARS)
                return cs_err_set(err, CS_ETOOBIG, "too many stars (%d, at most %d)", p->stars,
                                  MAX_STARS);
        if (p->hot_pixels > p->width * (p->height / 4))
                return cs_err_set(err, CS_EINVAL, "too many hot pixels (%d)", p->hot_pixels);
        if (!isfinite(p->rotation_deg_per_frame) || fabs(p->rotation_deg_per_frame) > 10.0)
                return cs_err_set(err, CS_EINVAL, "rotation per frame must be within +-10 degrees");
        if (!isfinite(p->drift_px) || p->drift_px > 1.0e5)
                return cs_err_set(err, CS_EINVAL, "drift must be finite and below 1e5 px");
        if (!isfinite(p->ra) || p->ra < 0.0 || p->ra >= 360.0)
                return cs_err_set(err, CS_EINVAL, "RA must be in [0, 360) degrees");
        if (!isfinite(p->dec) || p->dec < -90.0 || p->dec > 90.0)
                return cs_err_set(err, CS_EINVAL, "DEC must be in [-90, 90] degrees");
        if (!isfinite(p->cadence_s) || p->cadence_s < 0.0 || p->cadence_s > 86400.0)
                return cs_err_set(err, CS_EINVAL, "cadence must be in [0, 86400] s");
        if (!isfinite(p->exptime_s) || p->exptime_s <= 0.0 || p->exptime_s > 3600.0)
                return cs_err_set(err, CS_EINVAL, "exposure must be in (0, 3600] s");
        if (!isfinite(p->fwhm_px) || p->fwhm_px < 1.0 || p->fwhm_px > 20.0)
                return cs_err_set(err, CS_EINVAL, "FWHM must be in [1, 20] px");
        if (!isfinite(p->beta) || p->beta < 1.5 || p->beta > 10.0)
                return cs_err_set(err, CS_EINVAL, "Moffat beta must be in [1.5, 10]");
        if (p->wind_frames < 0 || p->wind_frames + (p->satellite ? 1 : 0) + (p->cloudy ? 1 : 0) > p->frames - 1)
                return cs_err_set(err, CS_EINVAL,
                                  "wind-shaken frames must be 0 .. the frames left after frame 0 and the "
                                  "satellite and cloudy ones");
        if (!isfinite(p->wind_px) || p->wind_px < 0.5 || p->wind_px > 50.0)
                return cs_err_set(err, CS_EINVAL, "wind trail length must be in [0.5, 50] px");
        if (p->threads < 0 || p->threads > 256)
                return cs_err_set(err, CS_EINVAL, "thread count %d out of range", p->threads);
        if (!memchr(p->object, '\0', sizeof p->object) || p->object[0] == '\0')
                return cs_err_set(err, CS_EINVAL, "OBJECT must be 1..63 characters");
        for (i = 0; p->object[i]; i++)
                if ((unsigned char)p->object[i] < 0x20 || (unsigned char)p->object[i] > 0x7e ||
                    p->object[i] == '\'')
                        return cs_err_set(err, CS_EINVAL,
                                          "OBJECT must be printable ASCII without quotes");
        if (!memchr(p->start, '\0', sizeof p->start) || parse_iso(p->start, ret_t0) < 0)
                return cs_err_set(err, CS_EINVAL,
                                  "start '%.39s' is not an ISO 8601 UTC time "
                                  "(YYYY-MM-DDTHH:MM:SS[.ffffff])",
                                  p->start);
        return CS_OK;
}

/* ---- the plan of a run ----------------------------------------------------- */

static void plan_frames(struct sim_run *run, struct cs__sim_rng *rng, long long t0)
{
        const struct cs_sim_params *p = run->p;
        int n = run->n_frames, k;
        double cx = (p->width - 1) * 0.5, cy = (p->height - 1) * 0.5;
        double drift = p->drift_px >= 0.0 ? p->drift_px : 3.0 * (n - 1);
        double phi = 2.0 * M_PI * cs__sim_rng_uniform(rng);
        double seeing_phase = 2.0 * M_PI * cs__sim_rng_uniform(rng);
        char obj[64], stamp[96];
        size_t i;

        for (i = 0; p->object[i] && i < sizeof obj - 1; i++) {
                char c = p->object[i];
                obj[i] = ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '.')
                                 ? c
                                 : '_';
        }
        obj[i] = '\0';

        /* Sky gradient, fixed on the sensor for the run (light dome). */
        run->grad[0] = 0.10 * (cs__sim_rng_uniform(rng) - 0.5);
        run->grad[1] = 0.16 * (cs__sim_rng_uniform(rng) - 0.5);
        run->grad[2] = 0.04 * cs__sim_rng_uniform(rng);
        run->grad[3] = 0.04 * cs__sim_rng_uniform(rng);
        run->grad[4] = 0.02 * (cs__sim_rng_uniform(rng) - 0.5);

        run->sat_frame = -1;
        run->cloudy_frame = -1;
        if (p->satellite)
                run->sat_frame = n == 2 ? 1 : (int)(0.4 * n + 0.5) < 1 ? 1 : (int)(0.4 * n + 0.5);
        if (p->cloudy) {
                run->cloudy_frame = (int)(0.7 * n + 0.5);
                if (run->cloudy_frame >= n)
                        run->cloudy_frame = n - 1;
                if (run->cloudy_frame < 1)
                        run->cloudy_frame = 1;
                if (run->cloudy_frame == run->sat_frame)
                        run->cloudy_frame = run->sat_frame == n - 1 ? run->sat_frame - 1
                                                                    : run->sat_frame + 1;
        }

        for (k = 0; k < n; k++) {
                struct sim_frame *f = &run->frames[k];
                double th, c, s, frac = n > 1 ? (double)k / (n - 1) : 0.0, wob;
                int ch;

                f->theta_deg = k * p->rotation_deg_per_frame;
                f->scale = 1.0;
                f->tx = frac * drift * cos(phi);
                f->ty = frac * drift * sin(phi);
                if (k > 0) {
                        /* Tracking jitter and a hint of focus breathing. */
                        f->theta_deg += 0.003 * cs__sim_rng_normal(rng);
                        f->scale += 0.0002 * cs__sim_rng_normal(rng);
                        f->tx += 0.7 * cs__sim_rng_normal(rng);
                        f->ty += 0.7 * cs__sim_rng_normal(rng);
                }
                th = f->theta_deg * M_PI / 180.0;
                c = f->scale * cos(th);
                s = f->scale * sin(th);
                /* q = s R (p - centre) + centre + t */
                f->m[0] = c;
                f->m[1] = -s;
                f->m[2] = cx + f->tx - (c * cx - s * cy);
                f->m[3] = s;
                f->m[4] = c;
                f->m[5] = cy + f->ty - (s * cx + c * cy);
                affine_invert(f->m, f->inv);

                wob = 0.035 * sin(2.0 * M_PI * k / 37.0 + seeing_phase) +
                      0.02 * cs__sim_rng_normal(rng);
                if (wob > 0.06)
                        wob = 0.06;
                if (wob < -0.06)
                        wob = -0.06;
                f->fwhm = p->fwhm_px * (1.0 + wob);
                f->beta = p->beta + 0.05 * cs__sim_rng_normal(rng);
                if (f->beta < 1.5)
                        f->beta = 1.5;
                for (ch = 0; ch < 3; ch++)
                        f->sky[ch] = sky_base[ch] * (1.0 + 0.03 * frac) *
                                     (1.0 + 0.004 * cs__sim_rng_normal(rng));
                f->ccd_temp = 25.0 + 0.75 * frac + 0.125 * (double)cs__sim_rng_below(rng, 3);
                f->trail_px = f->trail_deg = 0.0;
                f->satellite = k == run->sat_frame;
                f->cloudy = k == run->cloudy_frame;
                if (f->cloudy) {
                        f->fwhm *= 1.1;
                        for (ch = 0; ch < 3; ch++)
                                f->sky[ch] *= 2.4;
                }
                f->t_us = t0 + (long long)llround(k * p->cadence_s * 1e6);
                if (k > 0)
                        f->t_us += (long long)(cs__sim_rng_uniform(rng) * 40000.0);
                format_iso(f->t_us, f->date_obs, sizeof f->date_obs, stamp, sizeof stamp);
                snprintf(f->file, sizeof f->file, "Light_%s_%.1fs_IRCUT_%s_%04d.fit", obj,
                         p->exptime_s, stamp, k);
        }
        if (p->wind_frames > 0) {
                /* Wind-shaken frames spread over the run, from a stream of their
                 * own: every other frame is as without wind. */
                struct cs__sim_rng wr;
                int j;

                cs__sim_rng_seed(&wr, p->seed, 4242);
                for (j = 0; j < p->wind_frames; j++) {
                        int kk = 1 + (int)((j + 0.5) * (n - 1) / p->wind_frames), tries;

                        for (tries = 0; tries < n; tries++) {
                                struct sim_frame *g = &run->frames[kk];

                                if (!g->satellite && !g->cloudy && g->trail_px == 0.0)
                                        break;
                                kk = kk + 1 < n ? kk + 1 : 1;
                        }
                        run->frames[kk].trail_px = p->wind_px * (0.8 + 0.4 * cs__sim_rng_uniform(&wr));
                        run->frames[kk].trail_deg = 180.0 * cs__sim_rng_uniform(&wr);
                }
        }
}

static void clip_line(const struct sim_run *run, struct sim_sat *sat)
{
        /* Liang-Barsky clip of the infinite line to [0, W-1] x [0, H-1]. */
        double lo = -1e9, hi = 1e9;
        double bounds[2][2] = { { 0.0, run->p->width - 1.0 }, { 0.0, run->p->height - 1.0 } };
        double o[2] = { sat->px, sat->py }, d[2] = { sat->ux, sat->uy };
        int a;

        for (a = 0; a < 2; a++) {
                double t0, t1, tmp;

                if (fabs(d[a]) < 1e-12)
                        continue;
                t0 = (bounds[a][0] - o[a]) / d[a];
                t1 = (bounds[a][1] - o[a]) / d[a];
                if (t0 > t1) {
                        tmp = t0;
                        t0 = t1;
                        t1 = tmp;
                }
                if (t0 > lo)
                        lo = t0;
                if (t1 < hi)
                        hi = t1;
        }
        sat->line[0] = o[0] + lo * d[0];
        sat->line[1] = o[1] + lo * d[1];
        sat->line[2] = o[0] + hi * d[0];
        sat->line[3] = o[1] + hi * d[1];
}

static int plan_field(struct sim_run *run, struct cs__sim_rng *rng, struct cs_err *err)
{
        const struct cs_sim_params *p = run->p;
        double area = (double)p->width * p->height;
        double xmin = 1e30, xmax = -1e30, ymin = 1e30, ymax = -1e30, box, density;
        double corners[4][2] = { { -0.5, -0.5 },
                                 { p->width - 0.5, -0.5 },
                                 { -0.5, p->height - 0.5 },
                                 { p->width - 0.5, p->height - 0.5 } };
        double n_stars_d, expo = 1.0 / (STAR_SLOPE - 1.0);
        size_t i, n_hot;
        unsigned char *taken;
        int k, c;

        /* Stars cover the union of every frame's footprint on the sky. */
        for (k = 0; k < run->n_frames; k++)
                for (c = 0; c < 4; c++) {
                        double x, y;

                        affine_apply(run->frames[k].m, corners[c][0], corners[c][1], &x, &y);
                        xmin = fmin(xmin, x);
                        xmax = fmax(xmax, x);
                        ymin = fmin(ymin, y);
                        ymax = fmax(ymax, y);
                }
        xmin -= 40.0;
        ymin -= 40.0;
        xmax += 40.0;
        ymax += 40.0;
        box = (xmax - xmin) * (ymax - ymin);
        density = p->stars >= 0 ? p->stars / area : fmax(1500.0 / FULL_AREA, 60.0 / area);
        n_stars_d = density * box;
        if (n_stars_d > MAX_STARS)
                return cs_err_set(err, CS_ETOOBIG,
                                  "the field would hold %.0f stars (at most %d): less drift or "
                                  "fewer stars",
                                  n_stars_d, MAX_STARS);
        run->n_stars = (size_t)llround(n_stars_d);
        run->stars = cs_alloc_array(run->n_stars ? run->n_stars : 1, sizeof *run->stars, 0);
        if (!run->stars)
                return cs_err_set(err, CS_ENOMEM, "out of memory for %zu stars", run->n_stars);
        for (i = 0; i < run->n_stars; i++) {
                struct sim_star *st = &run->stars[i];
                double u = 1.0 - cs__sim_rng_uniform(rng); /* (0, 1] */
                double g = STAR_FLUX_MIN * pow(u, -expo), t;

                if (g > STAR_FLUX_MAX)
                        g = STAR_FLUX_MAX * (0.5 + 0.5 * cs__sim_rng_uniform(rng));
                st->x = xmin + (xmax - xmin) * cs__sim_rng_uniform(rng);
                st->y = ymin + (ymax - ymin) * cs__sim_rng_uniform(rng);
                /* Colour: t < 0 hot blue stars, t > 0 cool red ones, as a
                 * camera behind an IR-cut filter sees them next to its sky. */
                t = 2.0 * cs__sim_rng_uniform(rng) - 1.0;
                st->f[1] = g;
                st->f[0] = g * 0.80 * exp(0.30 * t);
                st->f[2] = g * 0.70 * exp(-0.35 * t);
        }

        n_hot = p->hot_pixels >= 0 ? (size_t)p->hot_pixels
                                   : (size_t)llround(fmax(5.0, 300.0 * area / FULL_AREA));
        run->n_hots = n_hot;
        run->hots = cs_alloc_array(n_hot ? n_hot : 1, sizeof *run->hots, 0);
        if (!run->hots)
                return cs_err_set(err, CS_ENOMEM, "out of memory for hot pixels");
        taken = cs_alloc_array((size_t)p->width * p->height, 1, 1);
        if (!taken)
                return cs_err_set(err, CS_ENOMEM, "out of memory for hot pixels");
        for (i = 0; i < n_hot; i++) {
                struct sim_hot *h = &run->hots[i];

                do {
                        h->x = (int)cs__sim_rng_below(rng, (uint64_t)p->width);
                        h->y = (int)cs__sim_rng_below(rng, (uint64_t)p->height);
                } while (taken[(size_t)h->y * p->width + h->x]);
                taken[(size_t)h->y * p->width + h->x] = 1;
                /* Log-uniform from a warm pixel to one that saturates. */
                h->amp = 300.0 * pow(250.0, cs__sim_rng_uniform(rng));
        }
        free(taken);

        if (run->sat_frame >= 0) {
                struct sim_sat *s = &run->sat;
                double ang = M_PI * cs__sim_rng_uniform(rng);

                s->px = p->width * (0.3 + 0.4 * cs__sim_rng_uniform(rng));
                s->py = p->height * (0.3 + 0.4 * cs__sim_rng_uniform(rng));
                s->ux = cos(ang);
                s->uy = sin(ang);
                s->sigma = 1.1;
                s->amp = 2500.0 + 2000.0 * cs__sim_rng_uniform(rng);
                clip_line(run, s);
        }
        return CS_OK;
}

/* ---- rendering ------------------------------------------------------------ */

struct psf {
        double alpha, beta, norm;  /* norm: flux -> peak density per px^2 */
        double step_inv;           /* table index per unit of r/alpha */
        float table[PSF_TABLE_N + 2];
};

static void psf_init(struct psf *psf, double fwhm, double beta)
{
        int i;

        psf->beta = beta;
        psf->alpha = fwhm / (2.0 * sqrt(pow(2.0, 1.0 / beta) - 1.0));
        psf->norm = (beta - 1.0) / (M_PI * psf->alpha * psf->alpha);
        psf->step_inv = PSF_TABLE_N / PSF_TABLE_RMAX;
        for (i = 0; i < PSF_TABLE_N + 2; i++) {
                double r = (double)i / psf->step_inv;

                psf->table[i] = (float)pow(1.0 + r * r, -beta);
        }
}

/* (1 + (r/alpha)^2)^-beta for r^2 given in units of alpha^2 (r_a = r/alpha). */
static inline double psf_eval(const struct psf *psf, double r_a)
{
        double pos = r_a * psf->step_inv;
        int i;
        double t;

        if (pos >= PSF_TABLE_N)
                return 0.0;
        i = (int)pos;
        t = pos - i;
        return psf->table[i] + t * (psf->table[i + 1] - psf->table[i]);
}

static void render_star(float *img, int w, int h, const struct psf *psf, double x, double y,
                        const double f[3])
{
        double fbig = fmax(f[0], fmax(f[1], f[2]));
        double peak = fbig * psf->norm, rad, inv_a = 1.0 / psf->alpha, inner;
        double sub, w_sub;
        int x0, x1, y0, y1, px, py, sx, sy, ns;

        /* Wings below 0.05 ADU are left out: far below the noise of even a
         * 1000-frame stack. */
        if (peak <= 0.05)
                return;
        rad = psf->alpha * sqrt(pow(peak / 0.05, 1.0 / psf->beta) - 1.0);
        if (rad > STAMP_RMAX)
                rad = STAMP_RMAX;
        if (rad < 1.5)
                rad = 1.5;
        x0 = (int)floor(x - rad);
        x1 = (int)ceil(x + rad);
        y0 = (int)floor(y - rad);
        y1 = (int)ceil(y + rad);
        if (x1 < 0 || y1 < 0 || x0 >= w || y0 >= h)
                return;
        if (x0 < 0)
                x0 = 0;
        if (y0 < 0)
                y0 = 0;
        if (x1 >= w)
                x1 = w - 1;
        if (y1 >= h)
                y1 = h - 1;
        /* Supersample where the profile is curved, point-sample the wings;
         * faint stars (most of them) need only 2 x 2. */
        inner = 2.5 * psf->alpha + 1.0;
        ns = peak >= 100.0 ? SUPERSAMPLE : 2;
        sub = 1.0 / ns;
        w_sub = sub * sub;
        for (py = y0; py <= y1; py++) {
                double dy = py - y;

                for (px = x0; px <= x1; px++) {
                        double dx = px - x, acc = 0.0;
                        int ch = bayer_channel(px, py);

                        if (dx * dx + dy * dy < inner * inner) {
                                for (sy = 0; sy < ns; sy++) {
                                        double yy = (dy - 0.5 + (sy + 0.5) * sub) * inv_a;

                                        for (sx = 0; sx < ns; sx++) {
                                                double xx = (dx - 0.5 + (sx + 0.5) * sub) * inv_a;

                                                acc += psf_eval(psf, sqrt(xx * xx + yy * yy));
                                        }
                                }
                                acc *= w_sub;
                        } else {
                                acc = psf_eval(psf, sqrt(dx * dx + dy * dy) * inv_a);
                        }
                        img[(size_t)py * w + px] += (float)(f[ch] * psf->norm * acc);
                }
        }
}

static void render_frame(const struct sim_run *run, int k, float *sig, uint16_t *out)
{
        const struct cs_sim_params *p = run->p;
        const struct sim_frame *f = &run->frames[k];
        int w = p->width, h = p->height, x, y;
        double trans = f->cloudy ? 0.03 : 1.0;
        struct cs__sim_rng rng;
        struct psf *psf = cs_xmalloc(sizeof *psf);
        size_t i;

        cs__sim_rng_seed(&rng, p->seed, 1000 + (uint64_t)k);
        psf_init(psf, f->fwhm, f->beta);

        /* Sky: per-channel level times the smooth gradient (plus cloud glow). */
        for (y = 0; y < h; y++) {
                double v = (double)y / h - 0.5;

                for (x = 0; x < w; x++) {
                        double u = (double)x / w - 0.5;
                        double g = 1.0 + run->grad[0] * u + run->grad[1] * v +
                                   run->grad[2] * u * u + run->grad[3] * v * v +
                                   run->grad[4] * u * v;

                        if (f->cloudy)
                                g += 0.25 * sin(2.0 * M_PI * (1.3 * u + 0.7 * v) + 0.5);
                        sig[(size_t)y * w + x] = (float)(f->sky[bayer_channel(x, y)] * g);
                }
        }

        for (i = 0; i < run->n_stars; i++) {
                const struct sim_star *st = &run->stars[i];
                double fx, fy, fl[3];

                affine_apply(f->inv, st->x, st->y, &fx, &fy);
                if (fx < -STAMP_RMAX || fy < -STAMP_RMAX || fx > w + STAMP_RMAX ||
                    fy > h + STAMP_RMAX)
                        continue;
                fl[0] = st->f[0] * trans;
                fl[1] = st->f[1] * trans;
                fl[2] = st->f[2] * trans;
                if (f->trail_px > 0.0) {
                        /* wind shake: the star smeared evenly along a line centred
                         * on its position (the centroid stays where the truth says) */
                        int ns = (int)ceil(f->trail_px / 0.5) + 1, s, ch;
                        double ux = cos(f->trail_deg * M_PI / 180.0), uy = sin(f->trail_deg * M_PI / 180.0);

                        for (ch = 0; ch < 3; ch++)
                                fl[ch] /= ns;
                        for (s = 0; s < ns; s++) {
                                double t = ((double)s / (ns - 1) - 0.5) * f->trail_px;

                                render_star(sig, w, h, psf, fx + t * ux, fy + t * uy, fl);
                        }
                        continue;
                }
                render_star(sig, w, h, psf, fx, fy, fl);
        }

        if (f->satellite) {
                const struct sim_sat *s = &run->sat;
                static const double col[3] = { 0.95, 1.0, 0.85 };
                double lim = 6.0 * s->sigma, inv2s2 = 1.0 / (2.0 * s->sigma * s->sigma);

                for (y = 0; y < h; y++)
                        for (x = 0; x < w; x++) {
                                double d = (x - s->px) * s->uy - (y - s->py) * s->ux;

                                if (fabs(d) < lim)
                                        sig[(size_t)y * w + x] += (float)(
                                                s->amp * col[bayer_channel(x, y)] *
                                                exp(-d * d * inv2s2));
                        }
        }

        for (i = 0; i < run->n_hots; i++)
                sig[(size_t)run->hots[i].y * w + run->hots[i].x] += (float)run->hots[i].amp;

        for (i = 0; i < (size_t)w * h; i++) {
                double s = sig[i] > 0.0f ? sig[i] : 0.0, v;

                if (p->noiseless)
                        v = s + PEDESTAL_ADU;
                else
                        v = ADU_PER_E * cs__sim_rng_poisson(&rng, s / ADU_PER_E) + PEDESTAL_ADU +
                            READ_NOISE_ADU * cs__sim_rng_normal(&rng);

                v = floor(v + 0.5);
                out[i] = (uint16_t)(v < 0.0 ? 0.0 : v > SAT_ADU ? SAT_ADU : v);
        }
        free(psf);
}

/* ---- FITS ----------------------------------------------------------------- */

static int fits_fail(int status, const char *path, struct cs_err *err)
{
        char text[FLEN_STATUS], msg[FLEN_ERRMSG] = "";

        fits_get_errstatus(status, text);
        fits_read_errmsg(msg);
        fits_clear_errmsg();
        return cs_err_set(err, CS_EFITS, "'%s': cfitsio: %s%s%s", path, text, msg[0] ? ": " : "",
                          msg);
}

static int write_fits(const struct sim_run *run, int k, const uint16_t *pix, struct cs_err *err)
{
        const struct cs_sim_params *p = run->p;
        const struct sim_frame *f = &run->frames[k];
        fitsfile *ff = NULL;
        int status = 0, r = CS_OK, i0 = 0, i1 = 1, gain = 80, focus = 1555 + k / 20;
        long naxes[2] = { p->width, p->height };
        double pix_um = 2.90000009536743, focal = 250.0, aperture = 5.0, exptime = p->exptime_s;
        char path[4096], hist[80];

        if ((size_t)snprintf(path, sizeof path, "%s/%s", run->outdir, f->file) >= sizeof path)
                return cs_err_set(err, CS_EINVAL, "output path too long");
        if (unlink(path) < 0 && errno != ENOENT)
                return cs_err_set(err, CS_EIO, "'%s': %s", path, strerror(errno));
        fits_create_diskfile(&ff, path, &status);
        fits_create_img(ff, USHORT_IMG, 2, naxes, &status);
        fits_write_key(ff, TSTRING, "CREATOR", "ZWO Seestar S50", "Capture software", &status);
        fits_write_key(ff, TSTRING, "PRODUCER", "ZWO", "Powered by ZWO", &status);
        fits_write_key(ff, TINT, "XORGSUBF", &i0, "Subframe X position in binned pixels",
                       &status);
        fits_write_key(ff, TINT, "YORGSUBF", &i0, "Subframe Y position in binned pixels",
                       &status);
        fits_write_key(ff, TDOUBLE, "FOCALLEN", &focal, "Focal length of telescope in mm",
                       &status);
        fits_write_key(ff, TDOUBLE, "APERTURE", &aperture, "Name of field of view aperture",
                       &status);
        fits_write_key(ff, TSTRING, "PROGRAM", "4.27",
                       "The name of the software task that created the file", &status);
        fits_write_key(ff, TINT, "XBINNING", &i1, "Camera X Bin", &status);
        fits_write_key(ff, TINT, "YBINNING", &i1, "Camera Y Bin", &status);
        fits_write_key(ff, TINT, "CCDXBIN", &i1, "Camera X Bin", &status);
        fits_write_key(ff, TINT, "CCDYBIN", &i1, "Camera Y Bin", &status);
        fits_write_key(ff, TDOUBLE, "XPIXSZ", &pix_um, "pixel size in microns (with binning)",
                       &status);
        fits_write_key(ff, TDOUBLE, "YPIXSZ", &pix_um, "pixel size in microns (with binning)",
                       &status);
        fits_write_key(ff, TSTRING, "IMAGETYP", "Light", "Type of image", &status);
        fits_write_key(ff, TDOUBLE, "EXPOSURE", &exptime, "Exposure time in seconds", &status);
        fits_write_key(ff, TDOUBLE, "EXPTIME", &exptime, "Exposure time in seconds", &status);
        fits_write_key(ff, TDOUBLE, "CCD-TEMP", (void *)&f->ccd_temp, "sensor temperature in C",
                       &status);
        fits_write_key(ff, TDOUBLE, "RA", (void *)&p->ra, "Object Right Ascension in degrees",
                       &status);
        fits_write_key(ff, TDOUBLE, "DEC", (void *)&p->dec, "Object Declination in degrees",
                       &status);
        {
                double lon = -79.7625, lat = 32.8965;

                fits_write_key(ff, TDOUBLE, "SITELONG", &lon,
                               "longitude of the imaging site in degrees", &status);
                fits_write_key(ff, TDOUBLE, "SITELAT", &lat,
                               "latitude of the imaging site in degrees", &status);
        }
        fits_write_key(ff, TSTRING, "DATE-OBS", (void *)f->date_obs, "Image created time",
                       &status);
        fits_write_key(ff, TSTRING, "FILTER", "IRCUT", "Filter used when taking image", &status);
        fits_write_key(ff, TSTRING, "INSTRUME", "Seestar S50", "Camera model", &status);
        fits_write_key(ff, TSTRING, "BAYERPAT", "GRBG", "Bayer pattern", &status);
        fits_write_key(ff, TINT, "GAIN", &gain, "Gain Value", &status);
        fits_write_key(ff, TINT, "FOCUSPOS", &focus, "Focuser position in steps", &status);
        fits_write_key(ff, TSTRING, "TELESCOP", "S50_5151ab00", "Telescope name", &status);
        fits_write_key(ff, TSTRING, "OBJECT", (void *)p->object,
                       "name or catalog number of object being imaged", &status);
        fits_write_key(ff, TDOUBLE, "TOTALEXP", &exptime, "Total Exposure Time in seconds",
                       &status);
        snprintf(hist, sizeof hist, "simulated by crowdsky-worker simulate %s, seed %llu, frame %d",
                 CS_VERSION, (unsigned long long)p->seed, k);
        fits_write_history(ff, hist, &status);
        fits_write_img(ff, TUSHORT, 1, (LONGLONG)p->width * p->height, (void *)pix, &status);
        if (status)
                r = fits_fail(status, path, err);
        status = 0;
        if (ff)
                fits_close_file(ff, &status);
        if (status && r == CS_OK)
                r = fits_fail(status, path, err);
        return r;
}

/* ---- threads -------------------------------------------------------------- */

static void *frame_worker(void *arg)
{
        struct sim_run *run = arg;
        size_t npix = (size_t)run->p->width * run->p->height;
        float *sig = cs_alloc_array(npix, sizeof *sig, 0);
        uint16_t *out = cs_alloc_array(npix, sizeof *out, 0);
        struct cs_err err = CS_ERR_INIT;
        int k, r;

        if (!sig || !out) {
                pthread_mutex_lock(&run->lock);
                if (!run->failed) {
                        run->failed = 1;
                        cs_err_set(&run->first_err, CS_ENOMEM, "out of memory for a %dx%d frame",
                                   run->p->width, run->p->height);
                }
                pthread_mutex_unlock(&run->lock);
                goto out;
        }
        for (;;) {
                pthread_mutex_lock(&run->lock);
                k = run->failed ? run->n_frames : run->next++;
                pthread_mutex_unlock(&run->lock);
                if (k >= run->n_frames)
                        break;
                render_frame(run, k, sig, out);
                if (run->fits_locked)
                        pthread_mutex_lock(&run->lock);
                r = write_fits(run, k, out, &err);
                if (run->fits_locked)
                        pthread_mutex_unlock(&run->lock);
                if (r < 0) {
                        pthread_mutex_lock(&run->lock);
                        if (!run->failed) {
                                run->failed = 1;
                                run->first_err = err;
                        }
                        pthread_mutex_unlock(&run->lock);
                        break;
                }
        }
out:
        free(sig);
        free(out);
        return NULL;
}

/* ---- truth.json ------------------------------------------------------------ */

static cJSON *json_pair(double a, double b)
{
        cJSON *arr = cJSON_CreateArray();

        cJSON_AddItemToArray(arr, cJSON_CreateNumber(a));
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(b));
        return arr;
}

static cJSON *json_triple(double a, double b, double c)
{
        cJSON *arr = json_pair(a, b);

        cJSON_AddItemToArray(arr, cJSON_CreateNumber(c));
        return arr;
}

static double round_to(double v, double q)
{
        return floor(v / q + 0.5) * q;
}

static int write_truth(const struct sim_run *run, struct cs_err *err)
{
        const struct cs_sim_params *p = run->p;
        cJSON *root = cJSON_CreateObject(), *frames, *hots, *stars;
        char path[4096], *text = NULL, tmp[4200];
        FILE *fp = NULL;
        int r = CS_OK, k;
        size_t i, len;

        cJSON_AddStringToObject(root, "generator", "crowdsky-worker simulate");
        cJSON_AddStringToObject(root, "version", CS_VERSION);
        cJSON_AddNumberToObject(root, "seed", (double)p->seed);
        cJSON_AddNumberToObject(root, "width", p->width);
        cJSON_AddNumberToObject(root, "height", p->height);
        cJSON_AddStringToObject(root, "bayer", "GRBG");
        cJSON_AddStringToObject(root, "object", p->object);
        cJSON_AddNumberToObject(root, "ra", p->ra);
        cJSON_AddNumberToObject(root, "dec", p->dec);
        cJSON_AddNumberToObject(root, "exptime", p->exptime_s);
        cJSON_AddNumberToObject(root, "pedestal_adu", PEDESTAL_ADU);
        cJSON_AddNumberToObject(root, "adu_per_electron", ADU_PER_E);
        cJSON_AddNumberToObject(root, "read_noise_adu", p->noiseless ? 0.0 : READ_NOISE_ADU);
        cJSON_AddBoolToObject(root, "noiseless", p->noiseless);
        cJSON_AddNumberToObject(root, "saturation_adu", SAT_ADU);
        cJSON_AddNumberToObject(root, "reference_frame", 0);
        cJSON_AddStringToObject(root, "reference_file", run->frames[0].file);
        cJSON_AddStringToObject(root, "matrix_convention",
                                "this frame (x=column, y=row, 0-based) -> reference frame: "
                                "x' = a x + b y + c, y' = d x + e y + f");

        frames = cJSON_AddArrayToObject(root, "frames");
        for (k = 0; k < run->n_frames; k++) {
                const struct sim_frame *f = &run->frames[k];
                cJSON *o = cJSON_CreateObject(), *mat = cJSON_CreateArray();

                cJSON_AddNumberToObject(o, "index", k);
                cJSON_AddStringToObject(o, "file", f->file);
                cJSON_AddStringToObject(o, "date_obs", f->date_obs);
                cJSON_AddItemToArray(mat, json_triple(f->m[0], f->m[1], f->m[2]));
                cJSON_AddItemToArray(mat, json_triple(f->m[3], f->m[4], f->m[5]));
                cJSON_AddItemToObject(o, "matrix", mat);
                cJSON_AddNumberToObject(o, "rotation_deg", f->theta_deg);
                cJSON_AddNumberToObject(o, "scale", f->scale);
                cJSON_AddItemToObject(o, "shift", json_pair(f->m[2], f->m[5]));
                cJSON_AddNumberToObject(o, "fwhm", f->fwhm);
                cJSON_AddNumberToObject(o, "beta", f->beta);
                cJSON_AddBoolToObject(o, "satellite", f->satellite);
                cJSON_AddBoolToObject(o, "cloudy", f->cloudy);
                cJSON_AddNumberToObject(o, "trail_px", round_to(f->trail_px, 1e-3));
                cJSON_AddNumberToObject(o, "trail_deg", round_to(f->trail_deg, 1e-3));
                cJSON_AddItemToObject(o, "sky_adu",
                                      json_triple(f->sky[0] + PEDESTAL_ADU,
                                                  f->sky[1] + PEDESTAL_ADU,
                                                  f->sky[2] + PEDESTAL_ADU));
                cJSON_AddItemToArray(frames, o);
        }

        if (run->sat_frame >= 0) {
                const struct sim_sat *s = &run->sat;
                const struct sim_frame *f = &run->frames[run->sat_frame];
                cJSON *o = cJSON_AddObjectToObject(root, "satellite"), *line;
                double ax, ay, bx, by;

                cJSON_AddNumberToObject(o, "frame", run->sat_frame);
                cJSON_AddStringToObject(o, "file", f->file);
                cJSON_AddNumberToObject(o, "width_px", 2.3548 * s->sigma);
                cJSON_AddNumberToObject(o, "amplitude_adu", s->amp);
                line = cJSON_AddArrayToObject(o, "frame_line");
                cJSON_AddItemToArray(line, json_pair(s->line[0], s->line[1]));
                cJSON_AddItemToArray(line, json_pair(s->line[2], s->line[3]));
                affine_apply(f->m, s->line[0], s->line[1], &ax, &ay);
                affine_apply(f->m, s->line[2], s->line[3], &bx, &by);
                line = cJSON_AddArrayToObject(o, "ref_line");
                cJSON_AddItemToArray(line, json_pair(ax, ay));
                cJSON_AddItemToArray(line, json_pair(bx, by));
        } else {
                cJSON_AddNullToObject(root, "satellite");
        }
        if (run->cloudy_frame >= 0)
                cJSON_AddNumberToObject(root, "cloudy_frame", run->cloudy_frame);
        else
                cJSON_AddNullToObject(root, "cloudy_frame");

        hots = cJSON_AddArrayToObject(root, "hot_pixels");
        for (i = 0; i < run->n_hots; i++)
                cJSON_AddItemToArray(hots, json_triple(run->hots[i].x, run->hots[i].y,
                                                       round_to(run->hots[i].amp, 0.1)));
        stars = cJSON_AddArrayToObject(root, "stars");
        for (i = 0; i < run->n_stars; i++) {
                const struct sim_star *st = &run->stars[i];
                cJSON *o = cJSON_CreateObject();

                cJSON_AddNumberToObject(o, "x", round_to(st->x, 1e-6));
                cJSON_AddNumberToObject(o, "y", round_to(st->y, 1e-6));
                cJSON_AddItemToObject(o, "flux",
                                      json_triple(round_to(st->f[0], 1e-3),
                                                  round_to(st->f[1], 1e-3),
                                                  round_to(st->f[2], 1e-3)));
                cJSON_AddItemToArray(stars, o);
        }

        /* Star positions are rounded to 1e-6 px above for a readable file;
         * that is far below any registration figure measured against them. */
        text = cJSON_Print(root);
        if (!text) {
                r = cs_err_set(err, CS_ENOMEM, "out of memory writing truth.json");
                goto out;
        }
        snprintf(path, sizeof path, "%s/truth.json", run->outdir);
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        fp = fopen(tmp, "w");
        if (!fp) {
                r = cs_err_set(err, CS_EIO, "'%s': %s", tmp, strerror(errno));
                goto out;
        }
        len = strlen(text);
        if (fwrite(text, 1, len, fp) != len || fputc('\n', fp) == EOF) {
                r = cs_err_set(err, CS_EIO, "'%s': write failed", tmp);
                goto out;
        }
        if (fclose(fp) != 0) {
                fp = NULL;
                r = cs_err_set(err, CS_EIO, "'%s': %s", tmp, strerror(errno));
                goto out;
        }
        fp = NULL;
        if (rename(tmp, path) < 0)
                r = cs_err_set(err, CS_EIO, "'%s': %s", path, strerror(errno));
out:
        if (fp)
                fclose(fp);
        free(text);
        cJSON_Delete(root);
        return r;
}

/* ---- entry point ------------------------------------------------------------ */

static int make_dirs(const char *dir, struct cs_err *err)
{
        char buf[4096];
        size_t i, n = strlen(dir);
        struct stat stt;

        if (n == 0 || n >= sizeof buf)
                return cs_err_set(err, CS_EINVAL, "bad output folder name");
        memcpy(buf, dir, n + 1);
        for (i = 1; i <= n; i++) {
                if (buf[i] != '/' && buf[i] != '\0')
                        continue;
                buf[i] = '\0';
                if (mkdir(buf, 0777) < 0 && errno != EEXIST)
                        return cs_err_set(err, CS_EIO, "'%s': %s", buf, strerror(errno));
                buf[i] = dir[i];
        }
        if (stat(dir, &stt) < 0 || !S_ISDIR(stt.st_mode))
                return cs_err_set(err, CS_EIO, "'%s' is not a folder", dir);
        return CS_OK;
}

int cs_sim_write(const struct cs_sim_params *p, const char *outdir, struct cs_err *err)
{
        struct sim_run run;
        struct cs__sim_rng rng;
        pthread_t *tids = NULL;
        long long t0 = 0;
        int r, i, nthreads, started = 0;

        memset(&run, 0, sizeof run);
        if (!p || !outdir)
                return cs_err_set(err, CS_EINVAL, "no parameters or output folder");
        r = check_params(p, &t0, err);
        if (r < 0)
                return r;
        if ((long)p->width * p->height > MAX_PIXELS)
                return cs_err_set(err, CS_ETOOBIG, "frame too large");
        run.p = p;
        run.outdir = outdir;
        run.n_frames = p->frames;
        r = make_dirs(outdir, err);
        if (r < 0)
                return r;
        run.frames = cs_alloc_array((size_t)p->frames, sizeof *run.frames, 1);
        if (!run.frames)
                return cs_err_set(err, CS_ENOMEM, "out of memory for %d frames", p->frames);

        cs__sim_rng_seed(&rng, p->seed, 0);
        plan_frames(&run, &rng, t0);
        r = plan_field(&run, &rng, err);
        if (r < 0)
                goto out;

        nthreads = p->threads > 0 ? p->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
        if (nthreads < 1)
                nthreads = 1;
        if (nthreads > p->frames)
                nthreads = p->frames;
        run.fits_locked = !fits_is_reentrant();
        pthread_mutex_init(&run.lock, NULL);
        tids = cs_xcalloc((size_t)nthreads, sizeof *tids);
        for (i = 0; i < nthreads; i++) {
                if (pthread_create(&tids[i], NULL, frame_worker, &run) != 0)
                        break;
                started++;
        }
        if (started == 0)
                frame_worker(&run);
        for (i = 0; i < started; i++)
                pthread_join(tids[i], NULL);
        pthread_mutex_destroy(&run.lock);
        if (run.failed) {
                r = cs_err_set(err, run.first_err.code, "%s", run.first_err.msg);
                goto out;
        }
        r = write_truth(&run, err);
out:
        free(tids);
        free(run.frames);
        free(run.stars);
        free(run.hots);
        return r;
}
