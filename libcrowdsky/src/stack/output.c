/* output.c - the stack as FITS (cfitsio) and the JSON report (cJSON). */
#include <cjson/cJSON.h>
#include <fitsio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crowdsky/alloc.h"
#include "crowdsky/stack.h"
#include "crowdsky/str.h"
#include "stack/stack_int.h"

static const char *base_name(const char *p)
{
        const char *s = strrchr(p, '/');

        return s ? s + 1 : p;
}

int cs_stack_write_fits(const struct cs_stack_result *r, const struct cs_stack_params *p,
                        const char *path, struct cs_err *err)
{
        fitsfile *ff = NULL;
        int status = 0, ret = CS_OK;
        long naxes[3] = { (long)r->width, (long)r->height, 3 };
        char *tmp = cs_xasprintf("%s.tmp%ld", path, (long)getpid());
        char buf[FLEN_VALUE + 160], first[32] = "", last[32] = "";
        double tmin = INFINITY, tmax = -INFINITY, tmax_exp = 0, ra_sum_x = 0, ra_sum_y = 0, dec_sum = 0;
        size_t i, npt = 0;
        const struct cs_stack_frame *rf = &r->frames[r->reference];
        long ncomb = (long)r->n_used;
        double exptime = r->total_exptime;

        if (!r->rgb) {
                ret = cs_err_set(err, CS_EINVAL, "no stack to write");
                goto out;
        }
        for (i = 0; i < r->n; i++) {
                const struct cs_stack_frame *f = &r->frames[i];

                if (!f->used)
                        continue;
                if (isfinite(f->date_obs)) {
                        if (f->date_obs < tmin) {
                                tmin = f->date_obs;
                                snprintf(first, sizeof first, "%s", f->date_obs_str);
                        }
                        if (f->date_obs + f->exptime > tmax) {
                                tmax = f->date_obs + f->exptime;
                                tmax_exp = f->exptime;
                        }
                }
                if (isfinite(f->ra) && isfinite(f->dec)) {
                        ra_sum_x += cos(f->ra * M_PI / 180);
                        ra_sum_y += sin(f->ra * M_PI / 180);
                        dec_sum += f->dec;
                        npt++;
                }
        }
        (void)tmax_exp;
        unlink(tmp);
        if (fits_create_diskfile(&ff, tmp, &status))
                goto fits_fail;
        fits_create_img(ff, FLOAT_IMG, 3, naxes, &status);
        fits_write_key(ff, TLONG, "NCOMBINE", &ncomb, "number of frames combined", &status);
        fits_write_key(ff, TDOUBLE, "EXPTIME", &exptime, "[s] total exposure of the combined frames", &status);
        if (r->stack_fwhm > 0) {
                double fw = round(r->stack_fwhm * 1000) / 1000;

                fits_write_key(ff, TDOUBLE, "FWHM", &fw, "[px] median star FWHM of this stack", &status);
        }
        if (first[0])
                fits_write_key(ff, TSTRING, "DATE-OBS", first, "UTC start of the first frame", &status);
        if (isfinite(tmax)) {
                cs__format_time(tmax, last);
                fits_write_key(ff, TSTRING, "DATE-END", last, "UTC end of the last frame", &status);
        }
        if (r->object[0])
                fits_write_key(ff, TSTRING, "OBJECT", (void *)r->object, "target", &status);
        if (npt > 0) {
                double ra = atan2(ra_sum_y, ra_sum_x) * 180 / M_PI, dec = dec_sum / (double)npt;

                if (ra < 0)
                        ra += 360;
                fits_write_key(ff, TDOUBLE, "RA", &ra, "[deg] mean pointing of the frames", &status);
                fits_write_key(ff, TDOUBLE, "DEC", &dec, "[deg] mean pointing of the frames", &status);
        }
        if (r->chunk_key[0])
                fits_write_key(ff, TSTRING, "CHUNKKEY", (void *)r->chunk_key, "CrowdSky chunk key", &status);
        if (rf->file)
                fits_write_key(ff, TSTRING, "REFFRAME", (void *)base_name(rf->file), "registration reference", &status);
        fits_write_key(ff, TSTRING, "CREATOR", "CrowdSky " CS_VERSION, "software", &status);
        fits_write_key(ff, TSTRING, "CTYPE3", "RGB", "planes: R, G, B", &status);
        if (!p->scrub_location) {
                /* only when the owner asked to keep them: the observer's home */
                double v;

                if (r->sitelat[0] && cs_parse_f64_c(r->sitelat, &v) == 0)
                        fits_write_key(ff, TDOUBLE, "SITELAT", &v, "[deg] observing site latitude", &status);
                if (r->sitelong[0] && cs_parse_f64_c(r->sitelong, &v) == 0)
                        fits_write_key(ff, TDOUBLE, "SITELONG", &v, "[deg] observing site longitude", &status);
        }
        snprintf(buf, sizeof buf, "CrowdSky %s stack of %zu frames (%zu rejected)", CS_VERSION, r->n_used, r->n_rejected);
        fits_write_history(ff, buf, &status);
        snprintf(buf, sizeof buf, "hot pixels: %zu found across frames, mended in the raw mosaic", r->n_hot_pixels);
        fits_write_history(ff, buf, &status);
        fits_write_history(ff, p->debayer_gradient ? "debayer: directional green (Hamilton-Adams, gradient-weighted), colour-difference red and blue" : "debayer: bilinear", &status);
        {
                size_t naff = 0;

                for (i = 0; i < r->n; i++)
                        naff += r->frames[i].used && r->frames[i].reg.affine;
                if (p->match.model == CS_XFORM_AUTO)
                        snprintf(buf, sizeof buf,
                                 "registration: star triangles + weighted LSQ similarity fit (affine where an "
                                 "F-test prefers it: %zu frames) to %s",
                                 naff, base_name(rf->file));
                else
                        snprintf(buf, sizeof buf, "registration: star triangles + weighted LSQ %s fit to %s",
                                 p->match.model == CS_XFORM_AFFINE ? "affine" : "similarity", base_name(rf->file));
        }
        fits_write_history(ff, buf, &status);
        fits_write_history(ff, p->resample_bicubic ? "resampling: bicubic (Mitchell-Netravali B=0.42 C=0.29), coverage-masked"
                                                   : "resampling: bilinear, coverage-masked", &status);
        snprintf(buf, sizeof buf, "normalisation: %s",
                 p->norm == CS_NORM_NONE ? "none" : p->norm == CS_NORM_ADDSCALE ? "additive + scale" : "additive");
        fits_write_history(ff, buf, &status);
        if (p->max_fwhm_ratio > 0 || p->min_stars_ratio > 0) {
                snprintf(buf, sizeof buf, "selection: frames left out above %.2f x the median FWHM, below %.2f x the median star count (0 = off)",
                         p->max_fwhm_ratio, p->min_stars_ratio);
                fits_write_history(ff, buf, &status);
        }
        snprintf(buf, sizeof buf, "combine: mean clipped at %.2f x 1.4826 MAD around the median, <= %d iterations, median below %d frames",
                 (double)p->combine.kappa, p->combine.max_iter, p->combine.median_below);
        fits_write_history(ff, buf, &status);
        for (i = 0; i < r->n; i++) {
                const struct cs_stack_frame *f = &r->frames[i];

                if (!f->used)
                        continue;
                snprintf(buf, sizeof buf, "frame %s rot %.3f deg scale %.5f rms %.3f px stars %zu",
                         base_name(f->file), f->reg.rotation_deg, f->reg.scale, f->reg.rms_px, f->reg.n_matched);
                fits_write_history(ff, buf, &status);
        }
        if (status)
                goto fits_fail;
        if (fits_write_img(ff, TFLOAT, 1, (LONGLONG)3 * (LONGLONG)r->width * (LONGLONG)r->height, r->rgb, &status))
                goto fits_fail;
        if (fits_close_file(ff, &status)) {
                ff = NULL;
                goto fits_fail;
        }
        ff = NULL;
        if (rename(tmp, path) != 0) {
                ret = cs_err_set(err, CS_EIO, "cannot rename '%s' to '%s'", tmp, path);
                unlink(tmp);
        }
        goto out;
fits_fail:
        {
                char msg[FLEN_ERRMSG] = "";

                fits_get_errstatus(status, msg);
                fits_clear_errmsg();
                ret = cs_err_set(err, CS_EFITS, "cannot write '%s': %s", path, msg);
                if (ff) {
                        status = 0;
                        fits_close_file(ff, &status);
                        fits_clear_errmsg();
                }
                unlink(tmp);
        }
out:
        free(tmp);
        return ret;
}

static cJSON *num_or_null(double v)
{
        return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static double round_to(double v, double q)
{
        return round(v / q) * q;
}

char *cs_stack_report_json(const struct cs_stack_result *r)
{
        cJSON *doc = cJSON_CreateObject(), *frames, *tm;
        char *out = NULL;
        size_t i;
        double wmax = 0;
        static const char *tnames[CS_STACK_T_COUNT] = {
                "read_detect", "hot_pixels", "align", "stack", "write_fits", "thumbnail", "total",
                "cpu_read", "cpu_debayer", "cpu_resample", "cpu_combine",
        };

        if (!doc)
                return NULL;
        for (i = 0; i < r->n; i++)
                if (r->frames[i].used && r->frames[i].weight > wmax)
                        wmax = r->frames[i].weight;
        cJSON_AddStringToObject(doc, "reference", r->n ? r->frames[r->reference].file : "");
        frames = cJSON_AddArrayToObject(doc, "frames");
        for (i = 0; i < r->n; i++) {
                const struct cs_stack_frame *f = &r->frames[i];
                cJSON *o = cJSON_CreateObject();

                cJSON_AddItemToArray(frames, o);
                cJSON_AddStringToObject(o, "file", f->file);
                cJSON_AddBoolToObject(o, "used", f->used);
                if (f->used)
                        cJSON_AddNullToObject(o, "reason");
                else
                        cJSON_AddStringToObject(o, "reason", f->reason[0] ? f->reason : "not used");
                if (f->registered) {
                        cJSON *m = cJSON_AddArrayToObject(o, "matrix");
                        int row;

                        for (row = 0; row < 2; row++) {
                                double v[3] = { f->reg.xf.m[row * 3], f->reg.xf.m[row * 3 + 1], f->reg.xf.m[row * 3 + 2] };

                                cJSON_AddItemToArray(m, cJSON_CreateDoubleArray(v, 3));
                        }
                        cJSON_AddNumberToObject(o, "rotation_deg", f->reg.rotation_deg);
                        cJSON_AddNumberToObject(o, "scale", f->reg.scale);
                        cJSON_AddBoolToObject(o, "mirrored", f->reg.mirror);
                        cJSON_AddStringToObject(o, "model", f->reg.affine ? "affine" : "similarity");
                        cJSON_AddNumberToObject(o, "rms_px", round_to(f->reg.rms_px, 1e-5));
                        cJSON_AddNumberToObject(o, "matched_stars", (double)f->reg.n_matched);
                } else {
                        cJSON_AddNullToObject(o, "matrix");
                        cJSON_AddNullToObject(o, "rotation_deg");
                        cJSON_AddNullToObject(o, "scale");
                        cJSON_AddNullToObject(o, "rms_px");
                        cJSON_AddNumberToObject(o, "matched_stars", 0);
                }
                cJSON_AddNumberToObject(o, "stars", (double)f->n_stars);
                cJSON_AddNumberToObject(o, "elongated", (double)f->n_elongated);
                cJSON_AddNumberToObject(o, "fwhm", round_to(f->fwhm, 1e-4));
                /* its say in the mean against the frame that counts most (green);
                 * 1 for every used frame when the mean is unweighted */
                cJSON_AddNumberToObject(o, "weight",
                                        !f->used ? 0.0 : wmax > 0 ? round_to(f->weight / wmax, 1e-4) : 1.0);
                cJSON_AddItemToObject(o, "date_obs", f->date_obs_str[0] ? cJSON_CreateString(f->date_obs_str) : cJSON_CreateNull());
                cJSON_AddNumberToObject(o, "exptime", f->exptime);
                {
                        double bg[3] = { f->stats.bg[0], f->stats.bg[1], f->stats.bg[2] };
                        double nz[3] = { round_to(f->stats.noise[0], 1e-3), round_to(f->stats.noise[1], 1e-3),
                                         round_to(f->stats.noise[2], 1e-3) };

                        cJSON_AddItemToObject(o, "background", cJSON_CreateDoubleArray(bg, 3));
                        cJSON_AddItemToObject(o, "noise", cJSON_CreateDoubleArray(nz, 3));
                }
        }
        tm = cJSON_AddObjectToObject(doc, "timings");
        for (i = 0; i < CS_STACK_T_COUNT; i++)
                cJSON_AddNumberToObject(tm, tnames[i], round_to(r->timings[i], 1e-4));
        cJSON_AddNumberToObject(doc, "peak_rss_mb", round_to(r->peak_rss_mb, 0.1));
        cJSON_AddNumberToObject(doc, "n_frames", (double)r->n);
        cJSON_AddNumberToObject(doc, "n_used", (double)r->n_used);
        cJSON_AddNumberToObject(doc, "n_rejected", (double)r->n_rejected);
        cJSON_AddNumberToObject(doc, "width", (double)r->width);
        cJSON_AddNumberToObject(doc, "height", (double)r->height);
        cJSON_AddNumberToObject(doc, "total_exptime", r->total_exptime);
        cJSON_AddNumberToObject(doc, "hot_pixels", (double)r->n_hot_pixels);
        cJSON_AddItemToObject(doc, "chunk_key", r->chunk_key[0] ? cJSON_CreateString(r->chunk_key) : cJSON_CreateNull());
        cJSON_AddItemToObject(doc, "object", r->object[0] ? cJSON_CreateString(r->object) : cJSON_CreateNull());
        {
                /* the stack's own FWHM, and the best input frame's by the same
                 * detector, to compare */
                double best = INFINITY;

                for (i = 0; i < r->n; i++)
                        if (r->frames[i].used && r->frames[i].fwhm > 0 && r->frames[i].fwhm < best)
                                best = r->frames[i].fwhm;
                cJSON_AddItemToObject(doc, "best_input_fwhm", num_or_null(best));
                cJSON_AddItemToObject(doc, "stack_fwhm", num_or_null(r->stack_fwhm > 0 ? round_to(r->stack_fwhm, 1e-4)
                                                                                        : NAN));
        }
        out = cJSON_Print(doc);
        cJSON_Delete(doc);
        return out;
}
