/* cmd_stack.c - crowdsky-worker stack: the command-line stacker (SPEC section 3).
 * The engine is libcrowdsky's stack module (crowdsky/stack.h); this file only
 * parses options, wires SIGINT/SIGTERM to the cancel flag and writes the report. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "crowdsky/err.h"
#include "crowdsky/log.h"
#include "crowdsky/stack.h"
#include "crowdsky/str.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
        (void)sig;
        stop_flag = 1;
}

static void usage(FILE *f)
{
        fprintf(f,
                "usage: crowdsky-worker stack [options] FILE...\n"
                "\n"
                "Registers the raw Bayer frames FILE... on the stars of a reference frame and\n"
                "combines them with a kappa-sigma clipped mean into an RGB FITS stack.\n"
                "\n"
                "options:\n"
                "  --output OUT.fits      the stack (default stacked.fits)\n"
                "  --thumbnail OUT.png    an auto-stretched PNG (long side <= 1024 px)\n"
                "  --report OUT.json      per-frame registration, timings and memory ('-' = stdout)\n"
                "  --kappa K              rejection threshold in robust sigmas (default 3)\n"
                "  --iterations N         clipping iterations, stops earlier when stable (default 10)\n"
                "  --threads N            threads (default: all CPUs)\n"
                "  --reference FILE       register against this frame (default: the best)\n"
                "  --affine               fit affine transforms to every frame\n"
                "  --similarity           fit similarities to every frame (default: a similarity,\n"
                "                         affine where an F-test on the star pairs prefers it)\n"
                "  --norm none|add|addscale  background normalisation (default add)\n"
                "  --max-fwhm-ratio R     leave out frames whose stars are wider than R times the\n"
                "                         median frame's (trailed, soft; default 0 = keep all)\n"
                "  --min-stars-ratio R    leave out frames with fewer stars than R times the median\n"
                "                         frame's (cloud, haze; default 0 = keep all)\n"
                "  --no-hot-pixels        do not detect and mend hot pixels\n"
                "  --keep-location        keep SITELAT/SITELONG (default: scrubbed)\n"
                "  --progress             print progress lines to stderr\n");
}

static void print_progress(void *ctx, enum cs_stack_stage stage, size_t done, size_t total)
{
        (void)ctx;
        fprintf(stderr, "%s %zu / %zu\n", cs_stack_stage_name(stage), done, total);
}

static int opt_num(const char *opt, const char *s, double lo, double hi, double *ret)
{
        if (!s) {
                fprintf(stderr, "crowdsky-worker stack: %s needs a value\n", opt);
                return -1;
        }
        if (cs_parse_f64_c(s, ret) < 0 || *ret < lo || *ret > hi) {
                fprintf(stderr, "crowdsky-worker stack: %s: '%s' is not a number in [%g, %g]\n", opt, s, lo, hi);
                return -1;
        }
        return 0;
}

int cmd_stack(int argc, char **argv)
{
        struct cs_stack_params p;
        struct cs_stack_result res;
        struct cs_err err = CS_ERR_INIT;
        const char *report = NULL, **files = NULL;
        size_t nfiles = 0;
        bool progress = false;
        int i, rc = 1;
        double v;
        char *json = NULL;
        struct sigaction sa;

        memset(&res, 0, sizeof res);
        cs_stack_params_default(&p);
        p.output = "stacked.fits";
        files = calloc((size_t)argc, sizeof *files);
        if (!files)
                return 1;
        for (i = 1; i < argc; i++) {
                const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

                if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
                        usage(stdout);
                        rc = 0;
                        goto out;
                } else if (!strcmp(a, "--output") || !strcmp(a, "--thumbnail") || !strcmp(a, "--report") ||
                           !strcmp(a, "--reference") || !strcmp(a, "--norm")) {
                        if (!val) {
                                fprintf(stderr, "crowdsky-worker stack: %s needs a value\n", a);
                                rc = 2;
                                goto out;
                        }
                        if (!strcmp(a, "--output"))
                                p.output = val;
                        else if (!strcmp(a, "--thumbnail"))
                                p.thumbnail = val;
                        else if (!strcmp(a, "--report"))
                                report = val;
                        else if (!strcmp(a, "--reference"))
                                p.reference = val;
                        else if (!strcmp(val, "none"))
                                p.norm = CS_NORM_NONE;
                        else if (!strcmp(val, "add"))
                                p.norm = CS_NORM_ADDITIVE;
                        else if (!strcmp(val, "addscale"))
                                p.norm = CS_NORM_ADDSCALE;
                        else {
                                fprintf(stderr, "crowdsky-worker stack: --norm: '%s' is not none, add or addscale\n", val);
                                rc = 2;
                                goto out;
                        }
                        i++;
                } else if (!strcmp(a, "--kappa")) {
                        if (opt_num(a, val, 0.5, 100, &v) < 0) {
                                rc = 2;
                                goto out;
                        }
                        p.combine.kappa = (float)v;
                        i++;
                } else if (!strcmp(a, "--iterations")) {
                        if (opt_num(a, val, 1, 1000, &v) < 0 || v != (double)(int)v) {
                                rc = 2;
                                goto out;
                        }
                        p.combine.max_iter = (int)v;
                        i++;
                } else if (!strcmp(a, "--threads")) {
                        if (opt_num(a, val, 1, 64, &v) < 0 || v != (double)(int)v) {
                                rc = 2;
                                goto out;
                        }
                        p.threads = (int)v;
                        i++;
                } else if (!strcmp(a, "--max-fwhm-ratio")) {
                        if (opt_num(a, val, 0, 100, &v) < 0) {
                                rc = 2;
                                goto out;
                        }
                        if (!cs_stack_fwhm_ratio_valid(v)) {
                                fprintf(stderr, "crowdsky-worker stack: --max-fwhm-ratio: %g would leave out the "
                                        "median frame itself (0 = off, or at least 1)\n", v);
                                rc = 2;
                                goto out;
                        }
                        p.max_fwhm_ratio = v;
                        i++;
                } else if (!strcmp(a, "--min-stars-ratio")) {
                        if (opt_num(a, val, 0, 1, &v) < 0) {
                                rc = 2;
                                goto out;
                        }
                        p.min_stars_ratio = v;
                        i++;
                } else if (!strcmp(a, "--affine")) {
                        p.match.model = CS_XFORM_AFFINE;
                } else if (!strcmp(a, "--similarity")) {
                        p.match.model = CS_XFORM_SIMILARITY;
                } else if (!strcmp(a, "--no-hot-pixels")) {
                        p.hotpix = false;
                } else if (!strcmp(a, "--keep-location")) {
                        p.scrub_location = false;
                } else if (!strcmp(a, "--progress")) {
                        progress = true;
                } else if (!strcmp(a, "--")) {
                        for (i++; i < argc; i++)
                                files[nfiles++] = argv[i];
                } else if (a[0] == '-' && a[1]) {
                        fprintf(stderr, "crowdsky-worker stack: unknown option '%s' (try --help)\n", a);
                        rc = 2;
                        goto out;
                } else {
                        files[nfiles++] = a;
                }
        }
        if (nfiles == 0) {
                usage(stderr);
                rc = 2;
                goto out;
        }
        if (progress)
                p.progress = print_progress;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        p.cancel = &stop_flag;
        if (cs_stack_run(&p, files, nfiles, &res, &err) < 0) {
                fprintf(stderr, "crowdsky-worker stack: %s\n", err.msg[0] ? err.msg : cs_status_name(err.code));
                rc = 1;
                goto out;
        }
        if (report) {
                FILE *f;

                json = cs_stack_report_json(&res);
                if (!json) {
                        fprintf(stderr, "crowdsky-worker stack: out of memory for the report\n");
                        goto out;
                }
                f = strcmp(report, "-") ? fopen(report, "w") : stdout;
                if (!f || fprintf(f, "%s\n", json) < 0 || (f != stdout && fclose(f) != 0)) {
                        fprintf(stderr, "crowdsky-worker stack: cannot write report '%s'\n", report);
                        goto out;
                }
        }
        cs_log_info("stacked frames=%zu used=%zu rejected=%zu reference='%s' seconds=%.2f peak_rss_mb=%.0f",
                    res.n, res.n_used, res.n_rejected, res.frames[res.reference].file,
                    res.timings[CS_STACK_T_TOTAL], res.peak_rss_mb);
        rc = 0;
out:
        free(json);
        free(files);
        cs_stack_result_release(&res);
        return rc;
}
