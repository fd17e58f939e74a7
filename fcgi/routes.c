/* routes.c - THE route table of crowdsky-fcgi.
 *
 * One row per route: methods, path, handler, auth level, body cap, flags.
 * To add a route: write the handler (h_<resource>.c), declare it in
 * handlers.h, add a row here. Rows are matched in order; the first row whose
 * path and method match wins. Flags: CS_R_PHP (also PATH.php, the original
 * PHP site's URLs), CS_R_STREAM (handler reads the body itself), CS_R_PAGE
 * (HTML page: 303 to /login when not logged in), CS_R_OPTIONAL (session
 * looked up but not required), CS_R_PREFIX (path is a prefix ending in '/';
 * the rest is in req->path_rest). Body caps: 0 = no body; CS_BODY_FORM =
 * 64 KiB; CS_BODY_UPLOAD = max_upload_bytes + multipart framing. */
#include "handlers.h"
#include "pages.h"

#define GET CS_M_GET
#define POST CS_M_POST

const struct cs_route cs_routes[] = {
        /* methods     path                   handler            auth                   body max        flags */
        { GET,         "/health",             h_health,          CS_AUTH_NONE,          0,              0 },
        { GET,         "/metrics",            h_metrics,         CS_AUTH_NONE,          0,              0 },
        { GET,         "/api/admin/buffer",   h_admin_buffer,    CS_AUTH_SESSION,       0,              0 },
        { GET,         "/",                   page_home,         CS_AUTH_NONE,          0,              CS_R_OPTIONAL },

        /* HTML pages and their helper routes (page_*.c, pages.h) */
        { GET,         "/login",              page_login,        CS_AUTH_NONE,          0,              CS_R_OPTIONAL },
        { GET,         "/signup",             page_signup,       CS_AUTH_NONE,          0,              CS_R_OPTIONAL },
        { GET,         "/upload",             page_upload,       CS_AUTH_SESSION,       0,              CS_R_PAGE },
        { GET,         "/jobs",               page_jobs,         CS_AUTH_SESSION,       0,              CS_R_PAGE },
        { GET,         "/stacks",             page_stacks,       CS_AUTH_SESSION,       0,              CS_R_PAGE },
        { GET,         "/stack",              page_stack,        CS_AUTH_NONE,          0,              CS_R_OPTIONAL },
        { GET,         "/stack/thumb",        page_stack_thumb,  CS_AUTH_NONE,          0,              CS_R_OPTIONAL },
        { GET,         "/stack/png",          page_stack_png,    CS_AUTH_NONE,          0,              CS_R_OPTIONAL },
        { GET,         "/stack/fits",         page_stack_fits,   CS_AUTH_NONE,          0,              CS_R_OPTIONAL },
        { POST,        "/stack/publish",      page_stack_publish,CS_AUTH_SESSION_CSRF,  CS_BODY_FORM,   0 },
        { GET,         "/stacks/archive.tar", page_stacks_archive,CS_AUTH_SESSION,      0,              0 },
        { GET,         "/api/stacks",         page_stacks_json,  CS_AUTH_SESSION,       0,              0 },
        { GET,         "/skymap",             page_skymap,       CS_AUTH_SESSION,       0,              CS_R_PAGE },
        { GET,         "/account",            page_account,      CS_AUTH_SESSION,       0,              CS_R_PAGE },

        /* accounts */
        { POST,        "/signup",             h_signup,          CS_AUTH_NONE,          CS_BODY_FORM,   CS_R_PHP },
        { POST,        "/login",              h_login,           CS_AUTH_NONE,          CS_BODY_FORM,   CS_R_PHP },
        { POST,        "/logout",             h_logout,          CS_AUTH_SESSION_CSRF,  CS_BODY_FORM,   CS_R_PHP },
        { GET,         "/api/me",             h_me,              CS_AUTH_SESSION,       0,              0 },
        { GET,         "/api/tokens",         h_tokens_list,     CS_AUTH_SESSION,       0,              0 },
        { POST,        "/api/tokens",         h_tokens_create,   CS_AUTH_SESSION_CSRF,  CS_BODY_FORM,   0 },
        { POST,        "/api/tokens/revoke",  h_tokens_revoke,   CS_AUTH_SESSION_CSRF,  CS_BODY_FORM,   0 },
        { POST,        "/api/account",        h_account_settings,CS_AUTH_SESSION_CSRF,  CS_BODY_FORM,   0 },

        /* browser upload flow (SPEC section 6) */
        { POST,        "/upload",             h_upload,          CS_AUTH_SESSION_CSRF,  CS_BODY_UPLOAD, CS_R_PHP | CS_R_STREAM },
        { GET,         "/upload/status",      h_upload_status,   CS_AUTH_SESSION,       0,              0 },
        { POST,        "/finalize",           h_finalize,        CS_AUTH_SESSION_CSRF,  CS_BODY_FORM,   CS_R_PHP },
        { GET,         "/api/jobs",           h_jobs_list,       CS_AUTH_SESSION,       0,              0 },
        { POST,        "/api/jobs/delete",    h_job_delete,      CS_AUTH_SESSION_CSRF,  CS_BODY_FORM,   0 },

        /* script and telescope-app API (HTTP Basic) */
        { GET | POST,  "/api/raw_upload",     h_raw_upload,      CS_AUTH_BASIC,         CS_BODY_UPLOAD, CS_R_PHP | CS_R_STREAM },
        { GET,         "/api/my_stacks",      h_my_stacks,       CS_AUTH_BASIC,         0,              CS_R_PHP },
        { GET,         "/api/download_stack", h_download_stack,  CS_AUTH_BASIC,         0,              CS_R_PHP },
        { GET,         "/api/thumbnail",      h_thumbnail,       CS_AUTH_BASIC,         0,              CS_R_PHP },
        { POST,        "/api/upload_stack",   h_upload_stack,    CS_AUTH_BASIC,         CS_BODY_UPLOAD, CS_R_PHP | CS_R_STREAM },

        /* worker API (Bearer worker token; h_worker.c) */
        { GET,         "/api/next_job",       h_next_job,        CS_AUTH_BEARER,        0,              CS_R_PHP },
        { GET,         "/api/job_files",      h_job_files,       CS_AUTH_BEARER,        0,              CS_R_PHP },
        { GET,         "/api/download_raw",   h_download_raw,    CS_AUTH_BEARER,        0,              CS_R_PHP },
        { POST,        "/api/heartbeat",      h_heartbeat,       CS_AUTH_BEARER,        CS_BODY_FORM,   CS_R_PHP },
        { POST,        "/api/complete_job",   h_complete_job,    CS_AUTH_BEARER,        4 << 20,        CS_R_PHP },
        { POST,        "/api/fail_job",       h_fail_job,        CS_AUTH_BEARER,        CS_BODY_FORM,   CS_R_PHP },
};

const size_t cs_routes_count = sizeof cs_routes / sizeof cs_routes[0];
