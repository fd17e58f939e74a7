/* test_sim.c - the simulator writes readable Seestar-like frames whose content
 * matches truth.json, deterministically for a seed. */
#include <dirent.h>
#include <fitsio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cs_test.h"
#include "crowdsky/sim.h"

#define W 256
#define H 192
#define N 5

static char *slurp(const char *path, size_t *ret_len)
{
        FILE *f = fopen(path, "rb");
        char *buf;
        long n;

        CS_ASSERT(f != NULL);
        CS_ASSERT(fseek(f, 0, SEEK_END) == 0);
        n = ftell(f);
        CS_ASSERT(n >= 0);
        rewind(f);
        buf = malloc((size_t)n + 1);
        CS_ASSERT(buf != NULL);
        CS_ASSERT(fread(buf, 1, (size_t)n, f) == (size_t)n);
        buf[n] = '\0';
        fclose(f);
        if (ret_len)
                *ret_len = (size_t)n;
        return buf;
}

static void rm_tree(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        char path[4096];

        if (!d)
                return;
        while ((e = readdir(d)) != NULL) {
                if (e->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                unlink(path);
        }
        closedir(d);
        rmdir(dir);
}

static void make_tmp(char *buf, size_t n)
{
        snprintf(buf, n, "/tmp/cs_test_sim_XXXXXX");
        CS_ASSERT(mkdtemp(buf) != NULL);
}

static struct cs_sim_params small_params(void)
{
        struct cs_sim_params p = cs_sim_params_defaults();

        p.width = W;
        p.height = H;
        p.frames = N;
        p.seed = 42;
        p.stars = 120;
        p.satellite = true;
        p.cloudy = true;
        p.rotation_deg_per_frame = 0.5;
        p.drift_px = 12.0;
        return p;
}

static cJSON *load_truth(const char *dir)
{
        char path[4096], *text;
        cJSON *t;

        snprintf(path, sizeof path, "%s/truth.json", dir);
        text = slurp(path, NULL);
        t = cJSON_Parse(text);
        free(text);
        CS_ASSERT(t != NULL);
        return t;
}

static const char *frame_file(const cJSON *truth, int k)
{
        const cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItem(truth, "frames"), k);

        CS_ASSERT(f != NULL);
        return cJSON_GetStringValue(cJSON_GetObjectItem(f, "file"));
}

static void read_matrix(const cJSON *truth, int k, double m[6])
{
        const cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItem(truth, "frames"), k);
        const cJSON *mat = cJSON_GetObjectItem(f, "matrix");
        int r, c;

        CS_ASSERT(cJSON_GetArraySize(mat) == 2);
        for (r = 0; r < 2; r++)
                for (c = 0; c < 3; c++)
                        m[r * 3 + c] = cJSON_GetNumberValue(
                                cJSON_GetArrayItem(cJSON_GetArrayItem(mat, r), c));
}

/* Reads a whole frame as unsigned 16-bit values, checking the header. */
static uint16_t *read_frame(const char *dir, const char *file, int check_keys)
{
        char path[4096], str[FLEN_VALUE];
        fitsfile *ff = NULL;
        int status = 0, bitpix = 0, naxis = 0, anynul = 0;
        long naxes[2] = { 0, 0 };
        double d, bzero = 0.0;
        uint16_t *pix = malloc(sizeof *pix * W * H);

        CS_ASSERT(pix != NULL);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        fits_open_diskfile(&ff, path, READONLY, &status);
        CS_ASSERT_EQ(status, 0);
        fits_get_img_param(ff, 2, &bitpix, &naxis, naxes, &status);
        CS_ASSERT_EQ(status, 0);
        CS_ASSERT_EQ(bitpix, 16);
        CS_ASSERT_EQ(naxis, 2);
        CS_ASSERT_EQ(naxes[0], W);
        CS_ASSERT_EQ(naxes[1], H);
        fits_read_key(ff, TDOUBLE, "BZERO", &bzero, NULL, &status);
        CS_ASSERT_EQ(status, 0);
        CS_ASSERT_NEAR(bzero, 32768.0, 0.0);
        if (check_keys) {
                int yy, mm, dd, hh, mi;
                double ss;

                fits_read_key(ff, TSTRING, "DATE-OBS", str, NULL, &status);
                CS_ASSERT_EQ(status, 0);
                CS_ASSERT(strlen(str) == 26); /* 2025-03-27T01:20:32.955368 */
                fits_str2time(str, &yy, &mm, &dd, &hh, &mi, &ss, &status);
                CS_ASSERT_EQ(status, 0);
                CS_ASSERT(yy == 2025 && mm == 3 && dd == 27);
                fits_read_key(ff, TSTRING, "BAYERPAT", str, NULL, &status);
                CS_ASSERT_STREQ(str, "GRBG");
                fits_read_key(ff, TSTRING, "INSTRUME", str, NULL, &status);
                CS_ASSERT_STREQ(str, "Seestar S50");
                fits_read_key(ff, TSTRING, "OBJECT", str, NULL, &status);
                CS_ASSERT_STREQ(str, "M 94");
                fits_read_key(ff, TSTRING, "FILTER", str, NULL, &status);
                CS_ASSERT_STREQ(str, "IRCUT");
                fits_read_key(ff, TSTRING, "TELESCOP", str, NULL, &status);
                CS_ASSERT_EQ(status, 0);
                fits_read_key(ff, TDOUBLE, "EXPTIME", &d, NULL, &status);
                CS_ASSERT_NEAR(d, 10.0, 1e-9);
                fits_read_key(ff, TDOUBLE, "RA", &d, NULL, &status);
                CS_ASSERT_NEAR(d, 193.04166, 1e-9);
                fits_read_key(ff, TDOUBLE, "DEC", &d, NULL, &status);
                CS_ASSERT_NEAR(d, 40.970556, 1e-9);
                fits_read_key(ff, TDOUBLE, "GAIN", &d, NULL, &status);
                CS_ASSERT_NEAR(d, 80.0, 1e-9);
                fits_read_key(ff, TDOUBLE, "CCD-TEMP", &d, NULL, &status);
                CS_ASSERT(d > 0.0 && d < 40.0);
                fits_read_key(ff, TDOUBLE, "FOCALLEN", &d, NULL, &status);
                CS_ASSERT_NEAR(d, 250.0, 1e-9);
                fits_read_key(ff, TDOUBLE, "XPIXSZ", &d, NULL, &status);
                CS_ASSERT_NEAR(d, 2.9, 1e-6);
                fits_read_key(ff, TDOUBLE, "SITELAT", &d, NULL, &status);
                fits_read_key(ff, TDOUBLE, "SITELONG", &d, NULL, &status);
                CS_ASSERT_EQ(status, 0);
        }
        fits_read_img(ff, TUSHORT, 1, (LONGLONG)W * H, NULL, pix, &anynul, &status);
        CS_ASSERT_EQ(status, 0);
        fits_close_file(ff, &status);
        CS_ASSERT_EQ(status, 0);
        return pix;
}

static int cmp_u16(const void *a, const void *b)
{
        return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static double cfa_median(const uint16_t *pix, int r0, int c0)
{
        uint16_t *v = malloc(sizeof *v * (W / 2) * (H / 2));
        size_t n = 0;
        double med;
        int x, y;

        CS_ASSERT(v != NULL);
        for (y = r0; y < H; y += 2)
                for (x = c0; x < W; x += 2)
                        v[n++] = pix[y * W + x];
        qsort(v, n, sizeof *v, cmp_u16);
        med = v[n / 2];
        free(v);
        return med;
}

/* Robust sigma of one Bayer colour over the frame (stars are few enough not
 * to move the median absolute deviation much). */
static double cfa_sigma(const uint16_t *pix, int r0, int c0)
{
        double med = cfa_median(pix, r0, c0);
        uint16_t *v = malloc(sizeof *v * (W / 2) * (H / 2));
        size_t n = 0;
        double mad;
        int x, y;

        CS_ASSERT(v != NULL);
        for (y = r0; y < H; y += 2)
                for (x = c0; x < W; x += 2)
                        v[n++] = (uint16_t)fabs(pix[y * W + x] - med);
        qsort(v, n, sizeof *v, cmp_u16);
        mad = v[n / 2];
        free(v);
        return 1.4826 * mad;
}

/* Shot + read noise like the real frames (green ~88 ADU robust sigma); with
 * noiseless only the sky's smooth gradient is left. */
CS_TEST(noise_matches_the_real_frames)
{
        struct cs_sim_params p = small_params();
        struct cs_err err = CS_ERR_INIT;
        char dir[64];
        cJSON *truth;
        uint16_t *pix;
        double sg, sr, sb;

        make_tmp(dir, sizeof dir);
        p.satellite = p.cloudy = false;
        p.stars = 20;
        CS_ASSERT_OK(cs_sim_write(&p, dir, &err));
        truth = load_truth(dir);
        pix = read_frame(dir, frame_file(truth, 0), 0);
        sg = cfa_sigma(pix, 0, 0);
        sr = cfa_sigma(pix, 0, 1);
        sb = cfa_sigma(pix, 1, 0);
        CS_ASSERT(sg > 75.0 && sg < 100.0);
        CS_ASSERT(sr > 62.0 && sr < 88.0);
        CS_ASSERT(sb > 58.0 && sb < 82.0);
        free(pix);
        cJSON_Delete(truth);
        rm_tree(dir);

        make_tmp(dir, sizeof dir);
        p.noiseless = true;
        CS_ASSERT_OK(cs_sim_write(&p, dir, &err));
        truth = load_truth(dir);
        CS_ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(truth, "noiseless")));
        pix = read_frame(dir, frame_file(truth, 0), 0);
        CS_ASSERT(cfa_sigma(pix, 0, 0) < 15.0); /* gradient only */
        free(pix);
        cJSON_Delete(truth);
        rm_tree(dir);
}

static void write_small(const char *dir, int threads, uint64_t seed)
{
        struct cs_sim_params p = small_params();
        struct cs_err err = CS_ERR_INIT;
        int r;

        p.threads = threads;
        p.seed = seed;
        r = cs_sim_write(&p, dir, &err);
        if (r < 0)
                fprintf(stderr, "cs_sim_write: %s\n", err.msg);
        CS_ASSERT_OK(r);
}

CS_TEST(frames_readable_with_seestar_header)
{
        char dir[64];
        cJSON *truth;
        int k;

        make_tmp(dir, sizeof dir);
        write_small(dir, 0, 42);
        truth = load_truth(dir);
        CS_ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(truth, "frames")), N);
        for (k = 0; k < N; k++)
                free(read_frame(dir, frame_file(truth, k), 1));
        cJSON_Delete(truth);
        rm_tree(dir);
}

CS_TEST(truth_is_consistent)
{
        char dir[64];
        cJSON *truth, *frames, *f, *sat;
        double m[6];
        int k, n_sat = 0, n_cloudy = 0;

        make_tmp(dir, sizeof dir);
        write_small(dir, 0, 42);
        truth = load_truth(dir);
        frames = cJSON_GetObjectItem(truth, "frames");
        read_matrix(truth, 0, m);
        CS_ASSERT_NEAR(m[0], 1.0, 1e-12);
        CS_ASSERT_NEAR(m[1], 0.0, 1e-12);
        CS_ASSERT_NEAR(m[2], 0.0, 1e-9);
        CS_ASSERT_NEAR(m[3], 0.0, 1e-12);
        CS_ASSERT_NEAR(m[4], 1.0, 1e-12);
        CS_ASSERT_NEAR(m[5], 0.0, 1e-9);
        CS_ASSERT_EQ(cJSON_GetNumberValue(cJSON_GetObjectItem(truth, "reference_frame")), 0);
        cJSON_ArrayForEach(f, frames) {
                double rot = cJSON_GetNumberValue(cJSON_GetObjectItem(f, "rotation_deg"));
                double sc = cJSON_GetNumberValue(cJSON_GetObjectItem(f, "scale"));
                double fwhm = cJSON_GetNumberValue(cJSON_GetObjectItem(f, "fwhm"));

                k = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(f, "index"));
                read_matrix(truth, k, m);
                /* matrix is a similarity with the stated rotation and scale */
                CS_ASSERT_NEAR(atan2(m[3], m[0]) * 180.0 / M_PI, rot, 1e-9);
                CS_ASSERT_NEAR(hypot(m[0], m[3]), sc, 1e-12);
                CS_ASSERT_NEAR(m[0], m[4], 1e-12);
                CS_ASSERT_NEAR(m[1], -m[3], 1e-12);
                CS_ASSERT(fwhm > 2.5 && fwhm < 4.0);
                CS_ASSERT(cJSON_IsString(cJSON_GetObjectItem(f, "date_obs")));
                n_sat += cJSON_IsTrue(cJSON_GetObjectItem(f, "satellite"));
                n_cloudy += cJSON_IsTrue(cJSON_GetObjectItem(f, "cloudy"));
        }
        CS_ASSERT_EQ(n_sat, 1);
        CS_ASSERT_EQ(n_cloudy, 1);
        /* rotation grows 0.5 deg per frame */
        read_matrix(truth, N - 1, m);
        CS_ASSERT_NEAR(atan2(m[3], m[0]) * 180.0 / M_PI, 0.5 * (N - 1), 0.05);
        sat = cJSON_GetObjectItem(truth, "satellite");
        CS_ASSERT(cJSON_IsObject(sat));
        CS_ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(sat, "ref_line")), 2);
        CS_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(truth, "hot_pixels")) >= 5);
        CS_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(truth, "stars")) >= 120);
        cJSON_Delete(truth);
        rm_tree(dir);
}

CS_TEST(bayer_medians_follow_grbg)
{
        char dir[64];
        cJSON *truth;
        uint16_t *pix;
        double g0, r, b, g1;

        make_tmp(dir, sizeof dir);
        write_small(dir, 0, 42);
        truth = load_truth(dir);
        pix = read_frame(dir, frame_file(truth, 0), 0);
        g0 = cfa_median(pix, 0, 0);
        r = cfa_median(pix, 0, 1);
        b = cfa_median(pix, 1, 0);
        g1 = cfa_median(pix, 1, 1);
        /* Like the real S50 frames: G ~990, R ~840, B ~795 */
        CS_ASSERT(fabs(g0 - g1) < 20.0);
        CS_ASSERT(g0 > r + 80.0 && r > b + 15.0);
        CS_ASSERT(g0 > 850.0 && g0 < 1150.0);
        free(pix);
        cJSON_Delete(truth);
        rm_tree(dir);
}

/* The brightest unsaturated, isolated star of truth.json, mapped into frame
 * k by the inverse of its matrix, has its light centred there. */
CS_TEST(known_star_lands_where_truth_says)
{
        char dir[64];
        cJSON *truth, *stars, *st;
        double m[6], inv[6], det, best = 0.0, bx = 0.0, by = 0.0, bf[3] = { 0, 0, 0 };
        double fx, fy, sx = 0.0, sy = 0.0, sw = 0.0, bg[4];
        uint16_t *pix;
        int k = N - 2, x, y; /* not the satellite or cloudy frame */
        cJSON *fr;

        make_tmp(dir, sizeof dir);
        write_small(dir, 0, 42);
        truth = load_truth(dir);
        fr = cJSON_GetArrayItem(cJSON_GetObjectItem(truth, "frames"), k);
        if (cJSON_IsTrue(cJSON_GetObjectItem(fr, "satellite")) ||
            cJSON_IsTrue(cJSON_GetObjectItem(fr, "cloudy")))
                k = 1;
        fr = cJSON_GetArrayItem(cJSON_GetObjectItem(truth, "frames"), k);
        CS_ASSERT(!cJSON_IsTrue(cJSON_GetObjectItem(fr, "satellite")));
        CS_ASSERT(!cJSON_IsTrue(cJSON_GetObjectItem(fr, "cloudy")));
        read_matrix(truth, k, m);
        det = m[0] * m[4] - m[1] * m[3];
        inv[0] = m[4] / det;
        inv[1] = -m[1] / det;
        inv[3] = -m[3] / det;
        inv[4] = m[0] / det;
        inv[2] = -(inv[0] * m[2] + inv[1] * m[5]);
        inv[5] = -(inv[3] * m[2] + inv[4] * m[5]);

        stars = cJSON_GetObjectItem(truth, "stars");
        cJSON_ArrayForEach(st, stars) {
                double x0 = cJSON_GetNumberValue(cJSON_GetObjectItem(st, "x"));
                double y0 = cJSON_GetNumberValue(cJSON_GetObjectItem(st, "y"));
                const cJSON *fl = cJSON_GetObjectItem(st, "flux");
                double g = cJSON_GetNumberValue(cJSON_GetArrayItem(fl, 1));
                const cJSON *o;
                int isolated = 1;

                fx = inv[0] * x0 + inv[1] * y0 + inv[2];
                fy = inv[3] * x0 + inv[4] * y0 + inv[5];
                if (g > 4.0e5 || g <= best || fx < 15 || fy < 15 || fx > W - 16 || fy > H - 16)
                        continue;
                cJSON_ArrayForEach(o, stars) {
                        double ox = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "x"));
                        double oy = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "y"));
                        double og = cJSON_GetNumberValue(
                                cJSON_GetArrayItem(cJSON_GetObjectItem(o, "flux"), 1));

                        if (o != st && hypot(ox - x0, oy - y0) < 12.0 && og > 0.02 * g)
                                isolated = 0;
                }
                if (!isolated)
                        continue;
                best = g;
                bx = fx;
                by = fy;
                bf[0] = cJSON_GetNumberValue(cJSON_GetArrayItem(fl, 0));
                bf[1] = g;
                bf[2] = cJSON_GetNumberValue(cJSON_GetArrayItem(fl, 2));
        }
        CS_ASSERT(best > 2.0e4); /* a bright star exists in the field */

        pix = read_frame(dir, frame_file(truth, k), 0);
        bg[0] = cfa_median(pix, 0, 0);
        bg[1] = cfa_median(pix, 0, 1);
        bg[2] = cfa_median(pix, 1, 0);
        bg[3] = cfa_median(pix, 1, 1);
        /* Centroid of the background-subtracted light, each Bayer pixel
         * divided by its channel's share of the star's flux. */
        for (y = (int)by - 6; y <= (int)by + 6; y++)
                for (x = (int)bx - 6; x <= (int)bx + 6; x++) {
                        int q = (y & 1) * 2 + (x & 1);
                        int ch = q == 1 ? 0 : q == 2 ? 2 : 1;
                        double v = (pix[y * W + x] - bg[q]) / bf[ch];

                        if (hypot(x - bx, y - by) > 6.0)
                                continue;
                        sx += v * x;
                        sy += v * y;
                        sw += v;
                }
        CS_ASSERT(sw > 0.0);
        CS_ASSERT_NEAR(sx / sw, bx, 0.2);
        CS_ASSERT_NEAR(sy / sw, by, 0.2);
        /* and its peak is well above the noise */
        CS_ASSERT(pix[(int)(by + 0.5) * W + (int)(bx + 0.5)] > bg[0] + 1000.0);
        free(pix);
        cJSON_Delete(truth);
        rm_tree(dir);
}

CS_TEST(hot_pixels_are_fixed_on_the_sensor)
{
        char dir[64];
        cJSON *truth, *hp;
        uint16_t *pix[N];
        int k, checked = 0;

        make_tmp(dir, sizeof dir);
        write_small(dir, 0, 42);
        truth = load_truth(dir);
        for (k = 0; k < N; k++)
                pix[k] = read_frame(dir, frame_file(truth, k), 0);
        cJSON_ArrayForEach(hp, cJSON_GetObjectItem(truth, "hot_pixels")) {
                int x = (int)cJSON_GetNumberValue(cJSON_GetArrayItem(hp, 0));
                int y = (int)cJSON_GetNumberValue(cJSON_GetArrayItem(hp, 1));
                double amp = cJSON_GetNumberValue(cJSON_GetArrayItem(hp, 2));

                CS_ASSERT(x >= 0 && x < W && y >= 0 && y < H);
                if (amp < 3000.0)
                        continue;
                for (k = 0; k < N; k++)
                        CS_ASSERT(pix[k][y * W + x] > 1000.0 + 0.6 * amp ||
                                  pix[k][y * W + x] == 65535);
                checked++;
        }
        CS_ASSERT(checked >= 1);
        for (k = 0; k < N; k++)
                free(pix[k]);
        cJSON_Delete(truth);
        rm_tree(dir);
}

CS_TEST(deterministic_for_a_seed)
{
        char a[64], b[64], c[64], pa[4096], pb[4096];
        cJSON *truth;
        char *ta, *tb;
        size_t la, lb;
        int k;

        make_tmp(a, sizeof a);
        make_tmp(b, sizeof b);
        make_tmp(c, sizeof c);
        write_small(a, 1, 42);
        write_small(b, 2, 42); /* thread count must not matter */
        write_small(c, 1, 43);
        truth = load_truth(a);
        for (k = 0; k < N; k++) {
                snprintf(pa, sizeof pa, "%s/%s", a, frame_file(truth, k));
                snprintf(pb, sizeof pb, "%s/%s", b, frame_file(truth, k));
                ta = slurp(pa, &la);
                tb = slurp(pb, &lb);
                CS_ASSERT_EQ(la, lb);
                CS_ASSERT(memcmp(ta, tb, la) == 0);
                free(ta);
                free(tb);
                snprintf(pb, sizeof pb, "%s/%s", c, frame_file(truth, k));
                tb = slurp(pb, &lb);
                CS_ASSERT_EQ(la, lb);
                ta = slurp(pa, &la);
                CS_ASSERT(memcmp(ta + 5760, tb + 5760, la - 5760) != 0);
                free(ta);
                free(tb);
        }
        snprintf(pa, sizeof pa, "%s/truth.json", a);
        snprintf(pb, sizeof pb, "%s/truth.json", b);
        ta = slurp(pa, &la);
        tb = slurp(pb, &lb);
        CS_ASSERT(la == lb && memcmp(ta, tb, la) == 0);
        free(ta);
        free(tb);
        cJSON_Delete(truth);
        rm_tree(a);
        rm_tree(b);
        rm_tree(c);
}

/* Wind: the asked-for number of frames (never frame 0, the satellite's or the
 * cloudy one) get trailed stars, with the same flux; every other frame is
 * byte for byte the frame of the same run without wind. */
CS_TEST(wind_shakes_only_its_frames)
{
        char a[64], b[64], pa[4096], pb[4096];
        struct cs_sim_params p = small_params();
        struct cs_err err = CS_ERR_INIT;
        cJSON *truth;
        int k, shaken = 0;

        make_tmp(a, sizeof a);
        make_tmp(b, sizeof b);
        p.stars = 400;
        CS_ASSERT_OK(cs_sim_write(&p, a, &err));
        p.wind_frames = 2;
        p.wind_px = 6.0;
        CS_ASSERT_OK(cs_sim_write(&p, b, &err));
        truth = load_truth(b);
        for (k = 0; k < N; k++) {
                const cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItem(truth, "frames"), k);
                double trail = cJSON_GetNumberValue(cJSON_GetObjectItem(f, "trail_px"));
                char *ta, *tb;
                size_t la, lb;

                snprintf(pa, sizeof pa, "%s/%s", a, frame_file(truth, k));
                snprintf(pb, sizeof pb, "%s/%s", b, frame_file(truth, k));
                ta = slurp(pa, &la);
                tb = slurp(pb, &lb);
                CS_ASSERT_EQ(la, lb);
                if (trail > 0) {
                        double sa = 0, sb = 0;
                        size_t i;

                        shaken++;
                        CS_ASSERT(k != 0);
                        CS_ASSERT(!cJSON_IsTrue(cJSON_GetObjectItem(f, "satellite")));
                        CS_ASSERT(!cJSON_IsTrue(cJSON_GetObjectItem(f, "cloudy")));
                        CS_ASSERT(trail >= 4.8 && trail <= 7.2);
                        CS_ASSERT(memcmp(ta + 5760, tb + 5760, la - 5760) != 0);
                        /* the light is moved, not lost: big-endian int16 + 32768 */
                        for (i = 5760; i + 1 < la; i += 2) {
                                sa += (double)(int16_t)((uint8_t)ta[i] << 8 | (uint8_t)ta[i + 1]);
                                sb += (double)(int16_t)((uint8_t)tb[i] << 8 | (uint8_t)tb[i + 1]);
                        }
                        CS_ASSERT(fabs(sa - sb) < 1e-3 * fabs(sa + 32768.0 * (double)(la - 5760) / 2));
                } else {
                        CS_ASSERT(memcmp(ta, tb, la) == 0);
                }
                free(ta);
                free(tb);
        }
        CS_ASSERT_EQ(shaken, 2);
        cJSON_Delete(truth);
        rm_tree(a);
        rm_tree(b);
}

CS_TEST(bad_parameters_are_refused)
{
        struct cs_sim_params p = small_params();
        struct cs_err err = CS_ERR_INIT;

        p.width = 255;
        CS_ASSERT_EQ(cs_sim_write(&p, "/tmp/cs_test_sim_never", &err), CS_EINVAL);
        CS_ASSERT(strstr(err.msg, "even") != NULL);
        p = small_params();
        p.frames = 0;
        CS_ASSERT_EQ(cs_sim_write(&p, "/tmp/cs_test_sim_never", &err), CS_EINVAL);
        p = small_params();
        snprintf(p.start, sizeof p.start, "%s", "yesterday");
        CS_ASSERT_EQ(cs_sim_write(&p, "/tmp/cs_test_sim_never", &err), CS_EINVAL);
        CS_ASSERT(strstr(err.msg, "ISO 8601") != NULL);
        p = small_params();
        p.frames = 1; /* satellite + cloudy need more frames */
        CS_ASSERT_EQ(cs_sim_write(&p, "/tmp/cs_test_sim_never", &err), CS_EINVAL);
        p = small_params();
        p.wind_frames = N - 2; /* with the satellite and the cloudy one: more than the N - 1 */
        CS_ASSERT_EQ(cs_sim_write(&p, "/tmp/cs_test_sim_never", &err), CS_EINVAL);
        CS_ASSERT(strstr(err.msg, "wind") != NULL);
        p = small_params();
        p.wind_frames = 1;
        p.wind_px = 0.1;
        CS_ASSERT_EQ(cs_sim_write(&p, "/tmp/cs_test_sim_never", &err), CS_EINVAL);
        CS_ASSERT(access("/tmp/cs_test_sim_never", F_OK) != 0);
}

CS_TEST_MAIN()
