/* cmd_simulate.c - crowdsky-worker simulate: Seestar-like raw frames + truth.json
 * (the core is libcrowdsky's sim module, crowdsky/sim.h). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmds.h"
#include "crowdsky/err.h"
#include "crowdsky/log.h"
#include "crowdsky/sim.h"
#include "crowdsky/str.h"

static void usage(FILE *f)
{
        fprintf(f,
                "usage: crowdsky-worker simulate --out DIR --frames N [options]\n"
                "\n"
                "Writes N Seestar S50-like raw frames (FITS, uint16, GRBG Bayer) of one\n"
                "simulated star field and DIR/truth.json with every frame's true transform.\n"
                "\n"
                "options:\n"
                "  --seed S                     random seed (default 1)\n"
                "  --width W --height H         frame size, even (default 1080 x 1920)\n"
                "  --stars N                    stars within one frame (default 1500 per 1080x1920)\n"
                "  --hot-pixels N               fixed hot pixels (default 300 per 1080x1920)\n"
                "  --satellite                  a satellite trail in one frame\n"
                "  --cloudy                     one cloudy frame (few stars, bright sky)\n"
                "  --wind N                     N frames shaken by wind (trailed stars)\n"
                "  --wind-px L                  their trail length (default 6 px)\n"
                "  --rotation-deg-per-frame X   field rotation (default 0.05)\n"
                "  --drift-px X                 total drift over the run (default 3 px per frame)\n"
                "  --fwhm PX --beta B           seeing: Moffat FWHM (3.15) and beta (3.0)\n"
                "  --object NAME                OBJECT (default 'M 94')\n"
                "  --ra DEG --dec DEG           pointing (default M 94)\n"
                "  --start ISO                  DATE-OBS of the first frame (UTC)\n"
                "  --cadence SECONDS            time between frames (default 11)\n"
                "  --exptime SECONDS            exposure (default 10)\n"
                "  --threads N                  threads (default: all CPUs)\n"
                "  --noiseless                  no shot or read noise (for checking tools)\n");
}

static bool takes_value(const char *opt)
{
        static const char *const opts[] = {
                "--out", "--frames", "--seed", "--width", "--height", "--stars", "--hot-pixels",
                "--threads", "--rotation-deg-per-frame", "--drift-px", "--fwhm", "--beta", "--ra",
                "--dec", "--cadence", "--exptime", "--object", "--start", "--wind", "--wind-px",
        };
        size_t i;

        for (i = 0; i < sizeof opts / sizeof opts[0]; i++)
                if (!strcmp(opt, opts[i]))
                        return true;
        return false;
}

static int want_value(int i, int argc, char **argv)
{
        if (i + 1 >= argc) {
                fprintf(stderr, "crowdsky-worker simulate: %s needs a value\n", argv[i]);
                return -1;
        }
        return 0;
}

static int parse_int(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *ret)
{
        if (cs_parse_i64_c(s, ret) < 0 || *ret < lo || *ret > hi) {
                fprintf(stderr, "crowdsky-worker simulate: %s: '%s' is not an integer in [%lld, %lld]\n",
                        opt, s, (long long)lo, (long long)hi);
                return -1;
        }
        return 0;
}

static int parse_dbl(const char *opt, const char *s, double *ret)
{
        if (cs_parse_f64_c(s, ret) < 0) {
                fprintf(stderr, "crowdsky-worker simulate: %s: '%s' is not a number\n", opt, s);
                return -1;
        }
        return 0;
}

int cmd_simulate(int argc, char **argv)
{
        struct cs_sim_params p = cs_sim_params_defaults();
        struct cs_err err = CS_ERR_INIT;
        const char *out = NULL;
        bool have_frames = false;
        struct timespec t0, t1;
        int64_t v;
        int i;

        for (i = 1; i < argc; i++) {
                const char *a = argv[i];

                if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
                        usage(stdout);
                        return 0;
                } else if (!strcmp(a, "--satellite")) {
                        p.satellite = true;
                        continue;
                } else if (!strcmp(a, "--cloudy")) {
                        p.cloudy = true;
                        continue;
                } else if (!strcmp(a, "--noiseless")) {
                        p.noiseless = true;
                        continue;
                }
                if (strncmp(a, "--", 2) != 0) {
                        fprintf(stderr, "crowdsky-worker simulate: unexpected argument '%s'\n", a);
                        return 2;
                }
                if (!takes_value(a)) {
                        fprintf(stderr, "crowdsky-worker simulate: unknown option '%s' (try --help)\n",
                                a);
                        return 2;
                }
                if (want_value(i, argc, argv) < 0)
                        return 2;
                const char *val = argv[++i];

                if (!strcmp(a, "--out")) {
                        out = val;
                } else if (!strcmp(a, "--frames")) {
                        if (parse_int(a, val, 1, 100000, &v) < 0)
                                return 2;
                        p.frames = (int)v;
                        have_frames = true;
                } else if (!strcmp(a, "--seed")) {
                        uint64_t u;

                        if (cs_parse_u64(cs_str_c(val), &u) < 0) {
                                fprintf(stderr, "crowdsky-worker simulate: --seed: '%s' is not "
                                                "an unsigned integer\n", val);
                                return 2;
                        }
                        p.seed = u;
                } else if (!strcmp(a, "--width")) {
                        if (parse_int(a, val, 16, 16384, &v) < 0)
                                return 2;
                        p.width = (int)v;
                } else if (!strcmp(a, "--height")) {
                        if (parse_int(a, val, 16, 16384, &v) < 0)
                                return 2;
                        p.height = (int)v;
                } else if (!strcmp(a, "--stars")) {
                        if (parse_int(a, val, 0, 5000000, &v) < 0)
                                return 2;
                        p.stars = (int)v;
                } else if (!strcmp(a, "--hot-pixels")) {
                        if (parse_int(a, val, 0, 1000000, &v) < 0)
                                return 2;
                        p.hot_pixels = (int)v;
                } else if (!strcmp(a, "--threads")) {
                        if (parse_int(a, val, 0, 256, &v) < 0)
                                return 2;
                        p.threads = (int)v;
                } else if (!strcmp(a, "--rotation-deg-per-frame")) {
                        if (parse_dbl(a, val, &p.rotation_deg_per_frame) < 0)
                                return 2;
                } else if (!strcmp(a, "--drift-px")) {
                        if (parse_dbl(a, val, &p.drift_px) < 0)
                                return 2;
                        if (p.drift_px < 0) {
                                fprintf(stderr, "crowdsky-worker simulate: --drift-px must be >= 0\n");
                                return 2;
                        }
                } else if (!strcmp(a, "--wind")) {
                        if (parse_int(a, val, 0, 100000, &v) < 0)
                                return 2;
                        p.wind_frames = (int)v;
                } else if (!strcmp(a, "--wind-px")) {
                        if (parse_dbl(a, val, &p.wind_px) < 0)
                                return 2;
                } else if (!strcmp(a, "--fwhm")) {
                        if (parse_dbl(a, val, &p.fwhm_px) < 0)
                                return 2;
                } else if (!strcmp(a, "--beta")) {
                        if (parse_dbl(a, val, &p.beta) < 0)
                                return 2;
                } else if (!strcmp(a, "--ra")) {
                        if (parse_dbl(a, val, &p.ra) < 0)
                                return 2;
                } else if (!strcmp(a, "--dec")) {
                        if (parse_dbl(a, val, &p.dec) < 0)
                                return 2;
                } else if (!strcmp(a, "--cadence")) {
                        if (parse_dbl(a, val, &p.cadence_s) < 0)
                                return 2;
                } else if (!strcmp(a, "--exptime")) {
                        if (parse_dbl(a, val, &p.exptime_s) < 0)
                                return 2;
                } else if (!strcmp(a, "--object")) {
                        if (strlen(val) >= sizeof p.object || !val[0]) {
                                fprintf(stderr, "crowdsky-worker simulate: --object must be 1..%zu "
                                                "characters\n", sizeof p.object - 1);
                                return 2;
                        }
                        snprintf(p.object, sizeof p.object, "%s", val);
                } else if (!strcmp(a, "--start")) {
                        if (strlen(val) >= sizeof p.start) {
                                fprintf(stderr, "crowdsky-worker simulate: --start: '%s' is too "
                                                "long\n", val);
                                return 2;
                        }
                        snprintf(p.start, sizeof p.start, "%s", val);
                } else {
                        fprintf(stderr, "crowdsky-worker simulate: unknown option '%s' (try --help)\n",
                                a);
                        return 2;
                }
        }
        if (!out || !have_frames) {
                fprintf(stderr, "crowdsky-worker simulate: --out DIR and --frames N are required "
                                "(try --help)\n");
                return 2;
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (cs_sim_write(&p, out, &err) < 0) {
                fprintf(stderr, "crowdsky-worker simulate: %s\n", err.msg);
                return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        cs_log_info("simulate: wrote %d frames of %dx%d and truth.json to '%s' in %.2f s", p.frames,
                    p.width, p.height, out,
                    (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
        return 0;
}
