/* page_account.c - the pages around accounts: home (what CrowdSky is and the
 * latest published stacks), log in, sign up, and the account page (API
 * tokens, the scrub_location default, and for admins the raw buffer).
 *
 * The forms post to the JSON/HTML endpoints of h_account.c; static/app.js
 * submits them with fetch and shows the server's error next to the form, and
 * without JavaScript they still work as plain form posts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "html.h"
#include "memo.h"
#include "upload_recv.h"
#include "pages.h"

/* A local path to go to after logging in, or "/". */
static const char *next_path(const struct cs_req *req)
{
        const char *next = cs_req_arg(req, "next");

        if (!next || next[0] != '/' || next[1] == '/' || next[1] == '\\' || strpbrk(next, "\r\n"))
                return "/";
        return next;
}

/* The home page's "Recently published" list is the same for every visitor
 * (public stacks only, never a site), and one query per home page was most of
 * its cost (8.6k pages/s, p99 15 ms at 64 connections): the rendered list is
 * kept for at most CS_HOME_LIST_CACHE_US, its clock started before the query.
 * A publish, unpublish or completed stack through this process drops it at
 * once (cs_home_list_forget) and a query running meanwhile does not store its
 * answer (the generation check); a change made through another process shows
 * within the second. */
static struct cs_memo_entry home_entry[1];
static struct cs_memo home_list = CS_MEMO_INIT(home_entry);

void cs_home_list_forget(void)
{
        cs_memo_forget(&home_list, 0);
}

/* The list's HTML into out, from the copy or from the database. */
static int home_list_html(struct cs_req *req, struct cs_db *db, struct cs_buf *out)
{
        struct cs_buf list = CS_BUF_INIT(CS_PAGE_MAX);
        struct cs_db_rows *rows = NULL;
        int64_t t0 = cs_mono_us();
        uint64_t gen = cs_memo_gen(&home_list);
        size_t i, len;
        char *kept = cs_memo_get(&home_list, 0, 0, &len);
        int r;

        if (kept) {
                cs_buf_adds(out, kept);
                free(kept);
                return CS_OK;
        }
        /* only published stacks, and never the observing site */
        r = cs_db_query(db,
                        "SELECT s.id, s.object_name, s.chunk_key, DATE_FORMAT(s.date_obs_start, '%Y-%m-%d %H:%i'), "
                        "s.n_frames_aligned, s.total_exptime, u.username, s.thumbnail_path IS NOT NULL "
                        "FROM stacked_frames s JOIN users u ON u.id = s.user_id "
                        "WHERE s.is_public = 1 ORDER BY s.created_at DESC, s.id DESC LIMIT 12",
                        NULL, 0, &rows, &req->err);
        if (r < 0)
                return r;
        if (cs_db_rows_count(rows) == 0)
                cs_html(&list, "<p class=\"muted\">Nothing published yet — be the first.</p>");
        else
                cs_html(&list, "<ul class=\"gallery\">");
        for (i = 0; i < cs_db_rows_count(rows); i++) {
                long long id = (long long)cs_db_rows_i64(rows, i, 0);
                const char *obj = cs_db_rows_str(rows, i, 1);
                char expo[32];
                cs_fmt_seconds(cs_db_rows_f64(rows, i, 5), expo, sizeof expo);
                cs_html_tile_open(&list, id, cs_db_rows_i64(rows, i, 7), obj ? obj : cs_db_rows_str(rows, i, 2));
                cs_html(&list,
                        "<span class=\"t\">%s</span><span class=\"m\">%s · %lld frames · %s</span>"
                        "<span class=\"m\">by %s</span></a></li>",
                        obj && *obj ? obj : cs_db_rows_str(rows, i, 2), cs_db_rows_str(rows, i, 3),
                        (long long)cs_db_rows_i64(rows, i, 4), expo, cs_db_rows_str(rows, i, 6));
        }
        if (cs_db_rows_count(rows))
                cs_html(&list, "</ul>");
        cs_db_rows_free(rows);
        cs_memo_put(&home_list, 0, 0, list.data, list.len, gen, t0 + CS_HOME_LIST_CACHE_US);
        cs_buf_adds(out, list.data);
        cs_buf_release(&list);
        return CS_OK;
}

int page_home(struct cs_req *req)
{
        struct cs_buf page = CS_BUF_INIT(CS_PAGE_MAX);
        struct cs_db *db = cs_req_db(req);
        int r;

        if (!db)
                return CS_EDB;
        cs_page_begin(&page, req, "Home", "home", NULL);
        cs_html(&page,
                "<section class=\"hero\"><h1>Your Seestar nights, stacked and kept.</h1>"
                "<p class=\"lead\">CrowdSky is a home for the stacks of ZWO Seestar smart-telescope "
                "users and a resource for time-domain citizen science. Drop a night's raw frames "
                "here: CrowdSky groups them into 15-minute chunks by time and sky position, aligns "
                "and stacks every chunk, and keeps the results for you to view and download. "
                "Publish a stack and it joins a growing record of the sky, night after night.</p>");
        if (req->has_session)
                cs_html(&page,
                        "<p class=\"cta\"><a class=\"button primary\" href=\"/upload\">Upload a night</a> "
                        "<a class=\"button\" href=\"/stacks\">My stacks</a> "
                        "<a class=\"button\" href=\"/skymap\">Sky map</a></p>");
        else
                cs_html(&page,
                        "<p class=\"cta\"><a class=\"button primary\" href=\"/signup\">Sign up</a> "
                        "<a class=\"button\" href=\"/login\">Log in</a></p>");
        cs_html(&page,
                "</section><section class=\"how\"><div><h2>1 · Upload</h2><p>Drag the folder of "
                "<code>.fit</code> sub-frames from your Seestar onto the upload page, or let a script "
                "send them with your API token.</p></div><div><h2>2 · Stack</h2><p>Workers debayer, "
                "find stars, register the field-rotated frames and sigma-clip them into one deep "
                "image per chunk.</p></div><div><h2>3 · Share</h2><p>Your stacks are private until "
                "you publish them. Your observing site is never shown to anyone.</p></div></section>"
                "<section><h2>Recently published</h2>");
        r = home_list_html(req, db, &page);
        if (r < 0) {
                cs_buf_release(&page);
                return r;
        }
        cs_html(&page, "</section>");
        cs_page_end(&page);
        return cs_page_send(req, 200, &page);
}

int page_login(struct cs_req *req)
{
        struct cs_buf page = CS_BUF_INIT(CS_PAGE_MAX);

        if (req->has_session)
                return cs_reply_redirect(req, 303, next_path(req));
        cs_page_begin(&page, req, "Log in", "login", NULL);
        cs_html(&page,
                "<section class=\"card narrow\"><h1>Log in</h1>"
                "<form method=\"post\" action=\"/login\" class=\"stack js-auth\" data-next=\"%s\">"
                "<input type=\"hidden\" name=\"next\" value=\"%s\">"
                "<label>Username<input name=\"username\" autocomplete=\"username\" required "
                "autocapitalize=\"none\" maxlength=\"64\"></label>"
                "<label>Password<input name=\"password\" type=\"password\" autocomplete=\"current-password\" "
                "required></label>"
                "<p class=\"error\" role=\"alert\" hidden></p>"
                "<button type=\"submit\" class=\"primary\">Log in</button></form>"
                "<p class=\"muted\">No account yet? <a href=\"/signup\">Sign up</a>.</p></section>",
                next_path(req), next_path(req));
        cs_page_end(&page);
        return cs_page_send_fixed(req, &page);
}

int page_signup(struct cs_req *req)
{
        struct cs_buf page = CS_BUF_INIT(CS_PAGE_MAX);

        if (req->has_session)
                return cs_reply_redirect(req, 303, "/upload");
        cs_page_begin(&page, req, "Sign up", "signup", NULL);
        cs_html(&page,
                "<section class=\"card narrow\"><h1>Create your account</h1>"
                "<form method=\"post\" action=\"/signup\" class=\"stack js-auth\" data-next=\"/upload\">"
                "<input type=\"hidden\" name=\"next\" value=\"/upload\">"
                "<label>Username<input name=\"username\" autocomplete=\"username\" required minlength=\"3\" "
                "maxlength=\"40\" pattern=\"[A-Za-z0-9][A-Za-z0-9_.\\-]*\" autocapitalize=\"none\">"
                "<small>3–40 letters, digits, “_”, “.” or “-”.</small></label>"
                "<label>Email<input name=\"email\" type=\"email\" autocomplete=\"email\" required></label>"
                "<label>Password<input name=\"password\" type=\"password\" autocomplete=\"new-password\" "
                "required minlength=\"%d\"><small>At least %d characters.</small></label>"
                "<label>Password again<input name=\"password_confirm\" type=\"password\" "
                "autocomplete=\"new-password\" required minlength=\"%d\"></label>"
                "<p class=\"error\" role=\"alert\" hidden></p>"
                "<button type=\"submit\" class=\"primary\">Sign up</button></form>"
                "<p class=\"muted\">Already have an account? <a href=\"/login\">Log in</a>.</p></section>",
                CS_AUTH_PASSWORD_MIN, CS_AUTH_PASSWORD_MIN, CS_AUTH_PASSWORD_MIN);
        cs_page_end(&page);
        return cs_page_send_fixed(req, &page);
}

int page_account(struct cs_req *req)
{
        struct cs_buf page = CS_BUF_INIT(CS_PAGE_MAX);
        struct cs_db_rows *rows = NULL;
        struct cs_db *db = cs_req_db(req);
        struct cs_user u;
        size_t i;
        int r;

        if (!db)
                return CS_EDB;
        r = cs_user_get(db, req->user_id, &u, &req->err);
        if (r < 0)
                return r;
        r = cs_req_query_user(req,
                              "SELECT id, name, DATE_FORMAT(created_at, '%Y-%m-%d %H:%i'), "
                              "DATE_FORMAT(last_used_at, '%Y-%m-%d %H:%i') FROM api_tokens "
                              "WHERE user_id = ? AND revoked_at IS NULL ORDER BY id",
                              &rows);
        if (r < 0)
                return r;
        cs_page_begin(&page, req, "Account", "account", "account.js");
        cs_html(&page,
                "<h1>Account</h1><section class=\"card\"><h2>%s</h2><p class=\"muted\">%s</p></section>",
                u.name, u.email);

        cs_html(&page,
                "<section class=\"card\"><h2>Location privacy</h2>"
                "<form id=\"settings\" class=\"stack\" method=\"post\" action=\"/api/account\">"
                "<label class=\"check\"><input type=\"checkbox\" name=\"scrub_location\" value=\"1\"%r> "
                "Remove my observing site (SITELAT/SITELONG) from my stacks</label>"
                "<small>The default for uploads from scripts and the telescope app. Other users never "
                "see your site, whatever this says.</small>"
                "<p class=\"status\" role=\"status\"></p>"
                "<button type=\"submit\">Save</button></form></section>",
                u.scrub_location ? " checked" : "");

        cs_html(&page,
                "<section class=\"card\"><h2>Password</h2>"
                "<form id=\"password\" class=\"stack\" method=\"post\" action=\"/api/account\">"
                "<label>Current password<input name=\"current_password\" type=\"password\" "
                "autocomplete=\"current-password\" required></label>"
                "<label>New password<input name=\"new_password\" type=\"password\" autocomplete=\"new-password\" "
                "required minlength=\"%d\"><small>At least %d characters. Changing it logs out your other "
                "sessions and forgets scripts' cached log-ins (API tokens keep working).</small></label>"
                "<p class=\"status\" role=\"status\"></p>"
                "<button type=\"submit\">Change password</button></form></section>",
                CS_AUTH_PASSWORD_MIN, CS_AUTH_PASSWORD_MIN);

        cs_html(&page,
                "<section class=\"card\"><h2>API tokens</h2>"
                "<p>Scripts and the telescope app log in with your username and a token "
                "(HTTP Basic), e.g. <code>curl -u %s:TOKEN %s/api/my_stacks</code>.</p>"
                "<table class=\"list\" id=\"tokens\"><thead><tr><th>Name</th><th>Created</th>"
                "<th>Last used</th><th></th></tr></thead><tbody>",
                u.name, req->app->cfg.site_url);
        for (i = 0; i < cs_db_rows_count(rows); i++) {
                const char *used = cs_db_rows_str(rows, i, 3);
                cs_html(&page,
                        "<tr data-id=\"%lld\"><td>%s</td><td>%s</td><td>%s</td><td><button type=\"button\" "
                        "class=\"danger small js-revoke\" data-id=\"%lld\">Revoke</button></td></tr>",
                        (long long)cs_db_rows_i64(rows, i, 0), cs_db_rows_str(rows, i, 1),
                        cs_db_rows_str(rows, i, 2), used ? used : "never",
                        (long long)cs_db_rows_i64(rows, i, 0));
        }
        cs_html(&page,
                "</tbody></table><p class=\"muted empty-note\"%r>No tokens yet.</p>"
                "<form id=\"newtoken\" class=\"row\"><input name=\"name\" placeholder=\"Token name, e.g. "
                "laptop script\" maxlength=\"100\" required><button type=\"submit\" class=\"primary\">Create "
                "token</button></form>"
                "<div id=\"tokenshown\" class=\"notice\" hidden><p>Your new token — copy it now, it is "
                "shown only once:</p><p><code id=\"tokenvalue\"></code></p></div>"
                "<p class=\"error\" role=\"alert\" hidden></p></section>",
                cs_db_rows_count(rows) ? " hidden" : "");
        rows = cs_db_rows_free(rows);

        if (req->is_admin) {
                int64_t used = 0, nfiles = 0;
                char a[32], b[32];
                double q = (double)req->app->cfg.buffer_quota_bytes;
                r = upload_recv_buffer_used(req, db, false, &used); /* what the quota counts */
                if (r == CS_OK)
                        r = cs_db_query_i64(db, "SELECT COUNT(*) FROM raw_files", NULL, 0, &nfiles, &req->err);
                if (r < 0) {
                        cs_buf_release(&page);
                        return r;
                }
                cs_fmt_bytes((double)used, a, sizeof a);
                cs_fmt_bytes(q, b, sizeof b);
                cs_html(&page,
                        "<section class=\"card\" id=\"buffer\"><h2>Raw buffer (admin)</h2>"
                        "<progress max=\"1000\" value=\"%lld\"></progress>"
                        "<p>%s of %s used (%.1f%%), %lld raw files waiting.</p></section>",
                        (long long)(q > 0 ? (double)used * 1000.0 / q : 0), a, b,
                        q > 0 ? (double)used * 100.0 / q : 0.0, (long long)nfiles);
        }
        cs_page_end(&page);
        return cs_page_send(req, 200, &page);
}
