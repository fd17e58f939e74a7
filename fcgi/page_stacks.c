/* page_stacks.c - my stacks (gallery), one stack, the publish toggle, the
 * FITS/PNG downloads and the preview image proxied from WebDAV (session auth:
 * WebDAV credentials never reach the browser), and GET /api/stacks, the
 * session-auth JSON list the sky map draws.
 *
 * Who sees what: the owner sees everything of a stack. Anybody (logged in or
 * not) sees a published stack's page and preview; its FITS only when the
 * stack was made with scrub_location=1 (the file then carries no observing
 * site). SITELAT/SITELONG are never selected here. A stack that is not the
 * user's and not published is "not found" (no oracle). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crowdsky/alloc.h"
#include "handlers.h"
#include "html.h"
#include "pages.h"
#include "proxy.h"

#define ISO(col) "DATE_FORMAT(" col ", '%Y-%m-%dT%H:%i:%sZ')"

int page_stacks(struct cs_req *req)
{
        struct cs_buf page = CS_BUF_INIT(CS_PAGE_MAX);
        struct cs_db_rows *rows = NULL;
        size_t i, n;
        int r;

        r = cs_req_query_user(req,
                              "SELECT id, chunk_key, object_name, DATE_FORMAT(date_obs_start, '%Y-%m-%d %H:%i'), "
                              "n_frames_aligned, total_exptime, thumbnail_path IS NOT NULL, is_public "
                              "FROM stacked_frames WHERE user_id = ? "
                              "ORDER BY date_obs_start DESC, id DESC LIMIT 1000",
                              &rows);
        if (r < 0)
                return r;
        n = cs_db_rows_count(rows);
        cs_page_begin(&page, req, "My stacks", "stacks", NULL);
        cs_html(&page, "<div class=\"head-row\"><h1>My stacks</h1>");
        if (n)
                cs_html(&page, "<a class=\"button\" href=\"/skymap\">Sky map</a>");
        cs_html(&page, "</div>");
        if (!n)
                cs_html(&page, "<p class=\"muted\">No stacks yet. <a href=\"/upload\">Upload a night</a>; "
                               "finished jobs appear here.</p>");
        else
                cs_html(&page, "<ul class=\"gallery\" id=\"gallery\">");
        for (i = 0; i < n; i++) {
                long long id = (long long)cs_db_rows_i64(rows, i, 0);
                const char *obj = cs_db_rows_str(rows, i, 2);
                char expo[32];
                cs_fmt_seconds(cs_db_rows_f64(rows, i, 5), expo, sizeof expo);
                cs_html_tile_open(&page, id, cs_db_rows_i64(rows, i, 6), obj ? obj : "stack");
                cs_html(&page,
                        "<span class=\"t\">%s%r</span><span class=\"m\">%s · %lld frames · %s</span>"
                        "<span class=\"m\"><code>%s</code></span></a></li>",
                        obj && *obj ? obj : "(no target)",
                        cs_db_rows_i64(rows, i, 7) ? " <span class=\"badge ok\">public</span>" : "",
                        cs_db_rows_str(rows, i, 3) ? cs_db_rows_str(rows, i, 3) : "",
                        (long long)cs_db_rows_i64(rows, i, 4), expo, cs_db_rows_str(rows, i, 1));
        }
        if (n)
                cs_html(&page, "</ul>");
        cs_db_rows_free(rows);
        cs_page_end(&page);
        return cs_page_send(req, 200, &page);
}

/* The id argument: 0 when missing or malformed. */
static int64_t arg_id(const struct cs_req *req)
{
        const char *v = cs_req_value(req, "id");
        int64_t id;

        if (!v || cs_parse_i64_c(v, &id) != CS_OK || id <= 0)
                return 0;
        return id;
}

enum { C_ID, C_USER, C_KEY, C_OBJ, C_NIN, C_NUSED, C_EXP, C_START, C_END, C_RA, C_DEC, C_FWHM,
       C_SIZE, C_THUMB, C_PUBLIC, C_REPORT, C_OWNER, C_SCRUB, C_CREATED, C_PATH, C_JOB };

/* Loads a stack the request may see (own, or published). CS_ENOTFOUND otherwise. */
static int load_visible(struct cs_req *req, int64_t id, struct cs_db_rows **ret)
{
        struct cs_db *db = cs_req_db(req);
        struct cs_db_rows *rows = NULL;
        int r;

        if (!db)
                return CS_EDB;
        {
                struct cs_db_param p[] = { CS_DB_I64(id), CS_DB_I64(req->user_id) };
                r = cs_db_query(db,
                                "SELECT s.id, s.user_id, s.chunk_key, s.object_name, s.n_frames_input, "
                                "s.n_frames_aligned, s.total_exptime, DATE_FORMAT(s.date_obs_start, '%Y-%m-%d %H:%i:%s'), "
                                "DATE_FORMAT(s.date_obs_end, '%Y-%m-%d %H:%i:%s'), s.ra_deg, s.dec_deg, s.fwhm, "
                                "s.file_size_bytes, s.thumbnail_path, s.is_public, s.report, u.username, "
                                "COALESCE(j.scrub_location, 0), DATE_FORMAT(s.created_at, '%Y-%m-%d %H:%i'), "
                                "s.webdav_path, s.job_id, "
                                "TIMESTAMPDIFF(MICROSECOND, s.date_obs_start, s.date_obs_end) / 1e6 "
                                "FROM stacked_frames s JOIN users u ON u.id = s.user_id "
                                "LEFT JOIN stacking_jobs j ON j.id = s.job_id "
                                "WHERE s.id = ? AND (s.user_id = ? OR s.is_public = 1)",
                                p, CS_DB_N(p), &rows, &req->err);
        }
        if (r < 0)
                return r;
        if (cs_db_rows_count(rows) == 0) {
                cs_db_rows_free(rows);
                return cs_err_set(&req->err, CS_ENOTFOUND, "no such stack");
        }
        *ret = rows;
        return CS_OK;
}

/* One frame of the stacking report, for the frame table. */
struct frame_row {
        const char *date;   /* ISO 8601, or NULL */
        double fwhm, weight;
        double stars;
        bool used;
        const char *why;
};

static int cmp_frame_date(const void *a, const void *b)
{
        const struct frame_row *x = a, *y = b;

        return strcmp(x->date ? x->date : "", y->date ? y->date : "");
}

static double num_or(const cJSON *o, const char *key, double dflt)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

        return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* The rejected frames of the stacking report and why (owner only: the report
 * names the user's files). */
static void report_rejections(struct cs_buf *page, const cJSON *doc)
{
        const cJSON *frames = cJSON_GetObjectItemCaseSensitive(doc, "frames"), *f;
        int n = 0;

        cJSON_ArrayForEach(f, frames)
        {
                const cJSON *used = cJSON_GetObjectItemCaseSensitive(f, "used");
                const cJSON *file = cJSON_GetObjectItemCaseSensitive(f, "file");
                const cJSON *why = cJSON_GetObjectItemCaseSensitive(f, "reason");
                const cJSON *date = cJSON_GetObjectItemCaseSensitive(f, "date_obs");
                const char *base;

                if (cJSON_IsTrue(used))
                        continue;
                if (n++ == 0)
                        cs_html(page, "<details class=\"rejects\"><summary>Rejected frames</summary><ul>");
                base = cJSON_IsString(file) ? file->valuestring : "?";
                if (strrchr(base, '/'))
                        base = strrchr(base, '/') + 1;
                /* the worker names downloaded raws by id: the frame's time says more */
                if (cJSON_IsString(date) && strlen(date->valuestring) >= 19)
                        cs_html(page, "<li>frame of <code>%s</code>: %s</li>", date->valuestring + 11,
                                cJSON_IsString(why) ? why->valuestring : "left out");
                else
                        cs_html(page, "<li><code>%s</code>: %s</li>", base,
                                cJSON_IsString(why) ? why->valuestring : "left out");
        }
        if (n)
                cs_html(page, "</ul></details>");
}

/* Every frame of the stacking report in time order, with its FWHM, stars and
 * its say in the mean (weight against the frame that counts most): which part
 * of the night was steady (owner only, as the report). */
#define FRAME_TABLE_MAX 2000
static void report_frame_table(struct cs_buf *page, const cJSON *doc)
{
        const cJSON *frames = cJSON_GetObjectItemCaseSensitive(doc, "frames"), *f;
        struct frame_row *rows;
        int n = 0, k, total = cJSON_GetArraySize(frames);

        if (total <= 0)
                return;
        rows = cs_xcalloc((size_t)(total < FRAME_TABLE_MAX ? total : FRAME_TABLE_MAX), sizeof *rows);
        cJSON_ArrayForEach(f, frames)
        {
                const cJSON *why = cJSON_GetObjectItemCaseSensitive(f, "reason");
                const cJSON *date = cJSON_GetObjectItemCaseSensitive(f, "date_obs");
                struct frame_row *r;

                if (n == FRAME_TABLE_MAX)
                        break;
                r = &rows[n++];
                r->date = cJSON_IsString(date) && strlen(date->valuestring) >= 19 ? date->valuestring : NULL;
                r->used = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, "used"));
                r->fwhm = num_or(f, "fwhm", 0);
                r->stars = num_or(f, "stars", 0);
                r->weight = num_or(f, "weight", r->used ? 1 : 0);
                r->why = cJSON_IsString(why) ? why->valuestring : "left out";
        }
        qsort(rows, (size_t)n, sizeof *rows, cmp_frame_date);
        cs_html(page, "<details class=\"frames card\"><summary>Every frame (%d)</summary><div class=\"tablewrap\">"
                      "<table class=\"list frames\"><thead><tr><th>Time (UTC)</th><th>FWHM</th><th>Stars</th>"
                      "<th>Weight</th><th>Status</th></tr></thead><tbody>",
                total);
        for (k = 0; k < n; k++) {
                const struct frame_row *r = &rows[k];
                int pct = (int)(100.0 * (r->weight < 0 ? 0 : r->weight > 1 ? 1 : r->weight) + 0.5);
                char t[9] = "—";

                if (r->date)
                        snprintf(t, sizeof t, "%.8s", r->date + 11);
                cs_html(page, "<tr%r><td>%s</td>", r->used ? "" : " class=\"out\"", t);
                if (r->fwhm > 0)
                        cs_html(page, "<td>%.2f px</td>", r->fwhm);
                else
                        cs_html(page, "<td>—</td>");
                cs_html(page, "<td>%.0f</td><td><span class=\"wbar\"><span class=\"w%d\"></span></span> %d %%</td>"
                              "<td>%s</td></tr>",
                        r->stars, pct / 10 * 10, pct, r->used ? "used" : r->why);
        }
        if (total > n)
                cs_html(page, "<tr><td colspan=\"5\">… and %d more</td></tr>", total - n);
        cs_html(page, "</tbody></table></div></details>");
        free(rows);
}

int page_stack(struct cs_req *req)
{
        struct cs_buf page = CS_BUF_INIT(CS_PAGE_MAX);
        struct cs_db_rows *rows = NULL;
        int64_t id = arg_id(req);
        const char *obj, *title;
        bool own, has_thumb, fits_ok;
        long long nin, nused;
        char span[40], expo[32], size[32], ra[32], dec[32];
        cJSON *rep;
        int r;

        if (!id)
                return cs_page_error(req, 404, "No such stack", "This stack does not exist or is not yours.");
        r = load_visible(req, id, &rows);
        if (r == CS_ENOTFOUND)
                return cs_page_error(req, 404, "No such stack", "This stack does not exist or is not yours.");
        if (r < 0)
                return r;
        own = req->user_id && cs_db_rows_i64(rows, 0, C_USER) == req->user_id;
        has_thumb = !cs_db_rows_isnull(rows, 0, C_THUMB) && *cs_db_rows_str(rows, 0, C_THUMB);
        fits_ok = own || cs_db_rows_i64(rows, 0, C_SCRUB) == 1;
        obj = cs_db_rows_str(rows, 0, C_OBJ);
        title = obj && *obj ? obj : cs_db_rows_str(rows, 0, C_KEY);
        nin = (long long)cs_db_rows_i64(rows, 0, C_NIN);
        nused = (long long)cs_db_rows_i64(rows, 0, C_NUSED);
        cs_fmt_seconds(cs_db_rows_f64(rows, 0, C_EXP), expo, sizeof expo);
        cs_fmt_seconds(cs_db_rows_isnull(rows, 0, C_JOB + 1) ? 0 : cs_db_rows_f64(rows, 0, C_JOB + 1), span,
                       sizeof span);
        cs_fmt_bytes((double)cs_db_rows_i64(rows, 0, C_SIZE), size, sizeof size);

        rep = own && !cs_db_rows_isnull(rows, 0, C_REPORT) ? cJSON_Parse(cs_db_rows_str(rows, 0, C_REPORT)) : NULL;
        cs_page_begin(&page, req, title, own ? "stacks" : NULL, NULL);
        cs_html(&page, "<p class=\"crumbs\">%r</p><div class=\"head-row\"><h1>%s</h1>",
                own ? "<a href=\"/stacks\">My stacks</a> ›" : "<a href=\"/\">Published stacks</a> ›", title);
        if (cs_db_rows_i64(rows, 0, C_PUBLIC))
                cs_html(&page, "<span class=\"badge ok\">public</span>");
        else
                cs_html(&page, "<span class=\"badge\">private</span>");
        cs_html(&page, "</div><div class=\"stackview\"><figure class=\"preview\">");
        if (has_thumb)
                cs_html(&page, "<a href=\"/stack/thumb?id=%lld\"><img src=\"/stack/thumb?id=%lld\" alt=\"%s\"></a>",
                        (long long)id, (long long)id, title);
        else
                cs_html(&page, "<div class=\"nothumb\">no preview</div>");
        cs_html(&page, "</figure><div class=\"meta card\"><dl>");
        cs_html(&page, "<dt>Target</dt><dd>%s</dd>", obj && *obj ? obj : "—");
        cs_html(&page, "<dt>Chunk key</dt><dd><code>%s</code></dd>", cs_db_rows_str(rows, 0, C_KEY));
        if (!cs_db_rows_isnull(rows, 0, C_RA) && !cs_db_rows_isnull(rows, 0, C_DEC)) {
                cs_fmt_ra(cs_db_rows_f64(rows, 0, C_RA), ra, sizeof ra);
                cs_fmt_dec(cs_db_rows_f64(rows, 0, C_DEC), dec, sizeof dec);
                cs_html(&page, "<dt>Pointing</dt><dd>RA %s, Dec %s <span class=\"muted\">(%.3f°, %.3f°)</span></dd>",
                        ra, dec, cs_db_rows_f64(rows, 0, C_RA), cs_db_rows_f64(rows, 0, C_DEC));
        }
        cs_html(&page, "<dt>Time span (UTC)</dt><dd>%s → %s <span class=\"muted\">(%s)</span></dd>",
                cs_db_rows_str(rows, 0, C_START) ? cs_db_rows_str(rows, 0, C_START) : "?",
                cs_db_rows_str(rows, 0, C_END) ? cs_db_rows_str(rows, 0, C_END) + 11 : "?", span);
        cs_html(&page, "<dt>Frames</dt><dd>%lld used, %lld rejected, of %lld</dd>", nused,
                nin > nused ? nin - nused : 0, nin);
        cs_html(&page, "<dt>Total exposure</dt><dd>%s</dd>", expo);
        if (!cs_db_rows_isnull(rows, 0, C_FWHM))
                cs_html(&page, "<dt>FWHM</dt><dd>%.2f px</dd>", cs_db_rows_f64(rows, 0, C_FWHM));
        else
                cs_html(&page, "<dt>FWHM</dt><dd>—</dd>");
        cs_html(&page, "<dt>Observer</dt><dd>%s</dd><dt>Stacked</dt><dd>%s UTC</dd></dl>",
                cs_db_rows_str(rows, 0, C_OWNER), cs_db_rows_str(rows, 0, C_CREATED));
        if (own)
                report_rejections(&page, rep);
        cs_html(&page, "<p class=\"downloads\">");
        if (fits_ok)
                cs_html(&page, "<a class=\"button primary\" href=\"/stack/fits?id=%lld\" download>Download FITS "
                               "<span class=\"muted\">(%s)</span></a> ",
                        (long long)id, size);
        if (has_thumb)
                cs_html(&page, "<a class=\"button\" href=\"/stack/png?id=%lld\" download>Download PNG</a>",
                        (long long)id);
        cs_html(&page, "</p>");
        if (own) {
                bool pub = cs_db_rows_i64(rows, 0, C_PUBLIC) != 0;
                cs_html(&page,
                        "<form method=\"post\" action=\"/stack/publish\" class=\"publish\">"
                        "<input type=\"hidden\" name=\"csrf_token\" value=\"%s\">"
                        "<input type=\"hidden\" name=\"id\" value=\"%lld\">"
                        "<input type=\"hidden\" name=\"public\" value=\"%r\">"
                        "<button type=\"submit\"%r>%r</button> <small class=\"muted\">%r</small></form>",
                        req->session.csrf, (long long)id, pub ? "0" : "1", pub ? "" : " class=\"primary\"",
                        pub ? "Make private" : "Publish",
                        pub ? "Everybody can see this stack (never your observing site)."
                            : "Only you can see this stack. Publishing shows it on the home page; your "
                              "observing site stays hidden.");
        }
        cs_html(&page, "</div></div>");
        if (rep)
                report_frame_table(&page, rep);
        cJSON_Delete(rep);
        cs_db_rows_free(rows);
        cs_page_end(&page);
        return cs_page_send(req, 200, &page);
}

int page_stack_publish(struct cs_req *req)
{
        struct cs_db *db = cs_req_db(req);
        const char *pub = cs_req_field(req, "public");
        int64_t id = arg_id(req), changed = 0;
        char loc[64];
        cJSON *doc;
        int r;

        if (!id)
                return cs_reply_error(req, 400, "id must be a positive integer");
        if (!pub || (strcmp(pub, "0") != 0 && strcmp(pub, "1") != 0))
                return cs_reply_error(req, 400, "public must be 0 or 1");
        if (!db)
                return CS_EDB;
        {
                struct cs_db_param p[] = { CS_DB_I64(id), CS_DB_I64(req->user_id) };
                r = cs_db_query_i64(db, "SELECT COUNT(*) FROM stacked_frames WHERE id = ? AND user_id = ?", p,
                                    CS_DB_N(p), &changed, &req->err);
        }
        if (r < 0)
                return r;
        if (!changed)
                return cs_reply_error(req, 404, "no such stack");
        {
                struct cs_db_param p[] = { CS_DB_BOOL(pub[0] == '1'), CS_DB_I64(id), CS_DB_I64(req->user_id) };
                r = cs_db_exec(db, "UPDATE stacked_frames SET is_public = ? WHERE id = ? AND user_id = ?", p,
                               CS_DB_N(p), NULL, NULL, &req->err);
        }
        if (r < 0)
                return r;
        cs_home_list_forget();
        if (cs_req_wants_html(req)) {
                snprintf(loc, sizeof loc, "/stack?id=%lld", (long long)id);
                return cs_reply_redirect(req, 303, loc);
        }
        doc = cJSON_CreateObject();
        cJSON_AddBoolToObject(doc, "ok", 1);
        cJSON_AddNumberToObject(doc, "id", (double)id);
        cJSON_AddBoolToObject(doc, "public", pub[0] == '1');
        return cs_reply_json(req, 200, doc);
}

enum download { D_FITS, D_PNG, D_THUMB };

static int download(struct cs_req *req, enum download what)
{
        struct cs_db_rows *rows = NULL;
        int64_t id = arg_id(req);
        char path[512], name[96];
        bool own;
        int r;

        if (!id)
                return cs_reply_error(req, 400, "id must be a positive integer");
        r = load_visible(req, id, &rows);
        if (r == CS_ENOTFOUND)
                return cs_reply_error(req, 404, "no such stack");
        if (r < 0)
                return r;
        own = req->user_id && cs_db_rows_i64(rows, 0, C_USER) == req->user_id;
        if (what == D_FITS && !own && cs_db_rows_i64(rows, 0, C_SCRUB) != 1) {
                cs_db_rows_free(rows);
                return cs_reply_error(req, 403, "the owner keeps this stack's FITS private");
        }
        if (what == D_FITS) {
                snprintf(path, sizeof path, "%s", cs_db_rows_str(rows, 0, C_PATH));
                snprintf(name, sizeof name, "%s.fits", cs_db_rows_str(rows, 0, C_KEY));
        } else {
                const char *t = cs_db_rows_str(rows, 0, C_THUMB);
                if (!t || !*t) {
                        cs_db_rows_free(rows);
                        return cs_reply_error(req, 404, "this stack has no preview");
                }
                snprintf(path, sizeof path, "%s", t);
                snprintf(name, sizeof name, "%s.png", cs_db_rows_str(rows, 0, C_KEY));
        }
        cs_db_rows_free(rows);
        return cs_proxy_webdav_path(req, path, what == D_FITS ? "application/fits" : "image/png",
                                    what == D_THUMB ? NULL : name);
}

int page_stack_fits(struct cs_req *req)
{
        return download(req, D_FITS);
}

int page_stack_png(struct cs_req *req)
{
        return download(req, D_PNG);
}

int page_stack_thumb(struct cs_req *req)
{
        return download(req, D_THUMB);
}

int page_stacks_json(struct cs_req *req)
{
        struct cs_db_rows *rows = NULL;
        cJSON *doc, *arr;
        size_t i;
        int r;

        r = cs_req_query_user(req,
                              "SELECT id, chunk_key, object_name, ra_deg, dec_deg, " ISO("date_obs_start") ", "
                              ISO("date_obs_end") ", UNIX_TIMESTAMP(date_obs_start), n_frames_aligned, "
                              "total_exptime, file_size_bytes, thumbnail_path IS NOT NULL, is_public "
                              "FROM stacked_frames WHERE user_id = ? ORDER BY date_obs_start, id LIMIT 20000",
                              &rows);
        if (r < 0)
                return r;
        doc = cJSON_CreateObject();
        arr = cJSON_AddArrayToObject(doc, "stacks");
        for (i = 0; i < cs_db_rows_count(rows); i++) {
                cJSON *o = cJSON_CreateObject();
                const char *obj = cs_db_rows_str(rows, i, 2);
                cJSON_AddNumberToObject(o, "id", (double)cs_db_rows_i64(rows, i, 0));
                cJSON_AddStringToObject(o, "chunk_key", cs_db_rows_str(rows, i, 1));
                if (obj)
                        cJSON_AddStringToObject(o, "object_name", obj);
                else
                        cJSON_AddNullToObject(o, "object_name");
                for (int c = 3; c <= 4; c++) {
                        const char *nm = c == 3 ? "ra_deg" : "dec_deg";
                        if (cs_db_rows_isnull(rows, i, (size_t)c))
                                cJSON_AddNullToObject(o, nm);
                        else
                                cJSON_AddNumberToObject(o, nm, cs_db_rows_f64(rows, i, (size_t)c));
                }
                if (cs_db_rows_isnull(rows, i, 5)) {
                        cJSON_AddNullToObject(o, "date_obs_start");
                        cJSON_AddNullToObject(o, "date_obs_end");
                        cJSON_AddNullToObject(o, "t");
                } else {
                        cJSON_AddStringToObject(o, "date_obs_start", cs_db_rows_str(rows, i, 5));
                        cJSON_AddStringToObject(o, "date_obs_end",
                                                cs_db_rows_str(rows, i, 6) ? cs_db_rows_str(rows, i, 6)
                                                                           : cs_db_rows_str(rows, i, 5));
                        cJSON_AddNumberToObject(o, "t", cs_db_rows_f64(rows, i, 7));
                }
                cJSON_AddNumberToObject(o, "n_frames", (double)cs_db_rows_i64(rows, i, 8));
                cJSON_AddNumberToObject(o, "total_exptime", cs_db_rows_f64(rows, i, 9));
                cJSON_AddNumberToObject(o, "file_size_bytes", (double)cs_db_rows_i64(rows, i, 10));
                cJSON_AddBoolToObject(o, "thumbnail", cs_db_rows_i64(rows, i, 11) != 0);
                cJSON_AddBoolToObject(o, "public", cs_db_rows_i64(rows, i, 12) != 0);
                cJSON_AddItemToArray(arr, o);
        }
        cs_db_rows_free(rows);
        return cs_reply_json(req, 200, doc);
}
