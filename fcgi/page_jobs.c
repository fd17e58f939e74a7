/* page_jobs.c - the upload page and the jobs page.
 *
 * Upload: the page is a shell; static/upload.js drives the upload flow of
 * h_upload.c (POST /upload action=start, action=file per frame, 3-4 in
 * parallel; POST /finalize) and resumes the user's latest open upload session
 * (data-session on the form, GET /upload/status). Jobs: a server-rendered
 * table that static/jobs.js refreshes from GET /api/jobs while work is pending
 * and whose delete buttons call POST /api/jobs/delete. */
#include <stdio.h>
#include <string.h>

#include "handlers.h"
#include "html.h"
#include "pages.h"

int page_upload(struct cs_req *req)
{
        struct cs_buf page = CS_BUF_INIT(CS_PAGE_MAX);
        struct cs_db_rows *rows = NULL;
        int r;

        /* the latest open session with files in it: the page resumes it */
        r = cs_req_query_user(req,
                              "SELECT token, n_files FROM upload_sessions WHERE user_id = ? AND state = 'open' "
                              "AND n_files > 0 AND updated_at > NOW(6) - INTERVAL 1 DAY ORDER BY id DESC LIMIT 1",
                              &rows);
        if (r < 0)
                return r;
        cs_page_begin(&page, req, "Upload", "upload", "upload.js");
        cs_html(&page,
                "<h1>Upload a night</h1>"
                "<section id=\"uploader\" class=\"card\" data-max=\"%lld\" data-session=\"%s\" "
                "data-parallel=\"4\">"
                "<div id=\"drop\" class=\"dropzone\" tabindex=\"0\">"
                "<p class=\"big\">Drop your Seestar frames or a whole folder here</p>"
                "<p class=\"muted\">.fit / .fits raw sub-frames, up to %lld MiB each</p>"
                "<p><label class=\"button\">Choose files<input id=\"pick-files\" type=\"file\" multiple "
                "accept=\".fit,.fits\" hidden></label> "
                "<label class=\"button\">Choose a folder<input id=\"pick-folder\" type=\"file\" "
                "webkitdirectory multiple hidden></label></p></div>",
                (long long)req->app->cfg.max_upload_bytes,
                cs_db_rows_count(rows) ? cs_db_rows_str(rows, 0, 0) : "",
                (long long)(req->app->cfg.max_upload_bytes >> 20));
        if (cs_db_rows_count(rows))
                cs_html(&page,
                        "<p class=\"notice\" id=\"resume-note\">Resuming your unfinished upload "
                        "(%lld files already received). Add the rest, or finalize.</p>",
                        (long long)cs_db_rows_i64(rows, 0, 1));
        cs_db_rows_free(rows);
        cs_html(&page,
                "<div id=\"summary\" class=\"summary\" hidden>"
                "<div class=\"bar\"><div class=\"fill\" id=\"overall-fill\"></div></div>"
                "<p><strong id=\"overall-pct\">0%%</strong> · <span id=\"overall-count\"></span> · "
                "<span id=\"overall-speed\"></span> · <span id=\"overall-eta\"></span></p></div>"
                "<ul id=\"files\" class=\"files\"></ul>"
                "<p class=\"selection\"><label for=\"selection\">Frames to stack</label> "
                "<select id=\"selection\">"
                "<option value=\"\" selected>every frame, weighted by its sharpness and noise (recommended)</option>"
                "<option value=\"1.3\">leave out soft or trailed frames (stars 1.3 &times; wider than the "
                "chunk's median frame)</option>"
                "<option value=\"1.1\">only the sharper frames (up to 1.1 &times; the median width): sharper, "
                "noisier</option></select></p>"
                "<div class=\"actions\"><button type=\"button\" id=\"retry-all\" hidden>Retry failed</button>"
                "<button type=\"button\" id=\"finalize\" class=\"primary\" disabled>Finalize</button></div>"
                "<div id=\"result\" class=\"notice\" hidden></div>"
                "<p class=\"error\" id=\"upload-error\" role=\"alert\" hidden></p>"
                "</section>"
                "<section class=\"card muted\"><h2>What happens next</h2><p>Finalize groups your "
                "frames into 15-minute chunks by time and sky position; each chunk becomes one job "
                "that a worker aligns and stacks. Follow them on the <a href=\"/jobs\">jobs page</a>. "
                "Scripts can do the same with the <a href=\"/account\">API token</a> of your "
                "account.</p></section>");
        cs_page_end(&page);
        return cs_page_send(req, 200, &page);
}

static const char *state_class(const char *state)
{
        if (!strcmp(state, "completed"))
                return "ok";
        if (!strcmp(state, "failed"))
                return "bad";
        if (!strcmp(state, "processing"))
                return "busy";
        return "wait";
}

int page_jobs(struct cs_req *req)
{
        struct cs_buf page = CS_BUF_INIT(CS_PAGE_MAX);
        struct cs_db_rows *rows = NULL;
        size_t i, n;
        bool pending = false;
        int r;

        r = cs_req_query_user(req,
                              "SELECT j.id, j.chunk_key, j.object_name, j.frame_count, j.state, j.progress_stage, "
                              "j.progress_done, j.progress_total, j.last_error, "
                              "DATE_FORMAT(j.created_at, '%Y-%m-%d %H:%i'), s.id, j.attempts "
                              "FROM stacking_jobs j LEFT JOIN stacked_frames s ON s.job_id = j.id "
                              "WHERE j.user_id = ? ORDER BY j.id DESC LIMIT 500",
                              &rows);
        if (r < 0)
                return r;
        n = cs_db_rows_count(rows);
        cs_page_begin(&page, req, "Jobs", "jobs", "jobs.js");
        cs_html(&page, "<h1>My jobs</h1><p class=\"muted\" id=\"jobs-live\" role=\"status\"></p>");
        cs_html(&page, "<p class=\"muted empty-note\"%r>No jobs yet. <a href=\"/upload\">Upload a "
                       "night</a> to start one.</p>",
                n ? " hidden" : "");
        cs_html(&page,
                "<div class=\"tablewrap\"><table class=\"list jobs\" id=\"jobs\"%r><thead><tr><th>#</th>"
                "<th>Target</th><th>Chunk key</th><th>Frames</th><th>State</th><th>Progress</th>"
                "<th>Created</th><th></th></tr></thead><tbody>",
                n ? "" : " hidden");
        for (i = 0; i < n; i++) {
                long long id = (long long)cs_db_rows_i64(rows, i, 0);
                const char *state = cs_db_rows_str(rows, i, 4), *obj = cs_db_rows_str(rows, i, 2);
                const char *err = cs_db_rows_str(rows, i, 8);
                if (!strcmp(state, "pending") || !strcmp(state, "processing"))
                        pending = true;
                cs_html(&page,
                        "<tr data-id=\"%lld\"><td data-label=\"Job\">%lld</td><td data-label=\"Target\">%s</td>"
                        "<td data-label=\"Chunk key\"><code>%s</code></td><td data-label=\"Frames\">%lld</td>"
                        "<td data-label=\"State\"><span class=\"badge %r\">%s</span></td><td data-label=\"Progress\">",
                        id, id, obj && *obj ? obj : "—", cs_db_rows_str(rows, i, 1),
                        (long long)cs_db_rows_i64(rows, i, 3), state_class(state), state);
                if (!cs_db_rows_isnull(rows, i, 5) && strcmp(state, "completed") != 0)
                        cs_html(&page, "<span class=\"prog\">%s %lld / %lld</span><progress max=\"%lld\" "
                                       "value=\"%lld\"></progress>",
                                cs_db_rows_str(rows, i, 5), (long long)cs_db_rows_i64(rows, i, 6),
                                (long long)cs_db_rows_i64(rows, i, 7), (long long)cs_db_rows_i64(rows, i, 7),
                                (long long)cs_db_rows_i64(rows, i, 6));
                else if (!strcmp(state, "pending") && cs_db_rows_i64(rows, i, 11) > 0)
                        cs_html(&page, "waiting to retry (attempt %lld)", (long long)cs_db_rows_i64(rows, i, 11));
                else if (!strcmp(state, "pending"))
                        cs_html(&page, "<span class=\"muted\">waiting for a worker</span>");
                if (err && *err && strcmp(state, "completed") != 0)
                        cs_html(&page, "<div class=\"error small\">%s</div>", err);
                cs_html(&page, "</td><td data-label=\"Created\">%s</td><td class=\"acts\">",
                        cs_db_rows_str(rows, i, 9));
                if (!cs_db_rows_isnull(rows, i, 10))
                        cs_html(&page, "<a class=\"button small\" href=\"/stack?id=%lld\">View stack</a> ",
                                (long long)cs_db_rows_i64(rows, i, 10));
                cs_html(&page,
                        "<button type=\"button\" class=\"danger small js-delete\" data-id=\"%lld\">Delete</button>"
                        "</td></tr>",
                        id);
        }
        cs_html(&page, "</tbody></table></div><p class=\"error\" id=\"jobs-error\" role=\"alert\" hidden></p>"
                       "<div id=\"jobs-meta\" data-pending=\"%r\"></div>",
                pending ? "1" : "0");
        cs_db_rows_free(rows);
        cs_page_end(&page);
        return cs_page_send(req, 200, &page);
}
