/* app.h - the request/response framework of crowdsky-fcgi.
 *
 * How a request flows (pool.c -> routes.c -> your handler):
 *   1. A responder thread accepts it (FCGX_Accept_r) and fills struct cs_req:
 *      method, path (query string removed; a trailing ".php" removed when the
 *      route allows the alias), query arguments, client address, request id.
 *   2. The route table (routes.c, ONE table: add a row there and the handler's
 *      prototype in handlers.h) picks the handler by method + path.
 *   3. The framework enforces the route's body cap (413 before reading), reads
 *      and parses small bodies (urlencoded or multipart fields -> req->form;
 *      other types, e.g. JSON -> req->body), unless the route streams its own
 *      body (CS_R_STREAM), and authenticates per the route's auth level:
 *        CS_AUTH_NONE          anyone
 *        CS_AUTH_SESSION       browser session cookie (401 JSON, or 303 to
 *                              /login for CS_R_PAGE GET routes)
 *        CS_AUTH_SESSION_CSRF  session + CSRF token from the X-CSRF-Token
 *                              header or the csrf_token form field (403). For
 *                              CS_R_STREAM routes without the header, the
 *                              handler must call cs_req_csrf_check() with the
 *                              field before it keeps anything.
 *        CS_AUTH_BASIC         HTTP Basic: username + password (argon2id, with
 *                              the verified-credential cache) or username +
 *                              personal API token; throttled (429)
 *        CS_AUTH_BEARER        worker token (Authorization: Bearer ...)
 *      After auth, req->user_id / req->username (session, Basic) or
 *      req->worker_token_id / req->worker_name (Bearer) are set.
 *   4. The handler replies with one cs_reply_* call and returns CS_OK; or it
 *      returns a negative cs_status with req->err set and the framework
 *      replies {"error": ...} with the HTTP code of that status (5xx bodies
 *      say little; the detail is logged with the request id).
 *
 * Ownership: everything hanging off a struct cs_req lives until the request
 * ends (the framework releases it); handlers own only what they allocate.
 * Threads: a struct cs_req and its req->w (thread state, DB handle) belong to
 * one responder thread; struct cs_app is shared and read-only except for its
 * internally locked members (throttle, credential cache, counters). */
#ifndef CROWDSKY_FCGI_APP_H
#define CROWDSKY_FCGI_APP_H

#include <fcgiapp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "crowdsky/auth.h"
#include "crowdsky/buf.h"
#include "crowdsky/config.h"
#include "crowdsky/db.h"
#include "crowdsky/err.h"
#include "crowdsky/http.h"

/* ---- process and thread state ---- */

/* Log-in throttle: this many failures per account and per address within the
 * window answer 429 -- counted in this process's memory and, for attempts
 * that would verify a password, in the database that every process shares. */
#define CS_LOGIN_MAX_FAILURES 10
#define CS_LOGIN_WINDOW_SECONDS (15 * 60)

struct cs_app {
        struct cs_config cfg;
        struct cs_throttle *throttle;    /* login + Basic failures, per account and address */
        struct cs_credcache *credcache;  /* verified Basic credentials */
        struct cs_sesscache *sesscache;  /* looked-up browser sessions (a few seconds) */
        int64_t started_at;              /* epoch seconds */
        atomic_llong requests;           /* served since start */
        atomic_int busy;                 /* requests in flight */
        int nthreads;
        /* raw-buffer usage (bytes), refreshed from the database at most every
         * 2 s and bumped by this process's own uploads in between (h_upload.c) */
        pthread_mutex_t quota_lock;
        int64_t quota_used;
        int64_t quota_at_us;             /* 0 = never loaded */
};

#define CS_IOBUF_SIZE (256 * 1024) /* body streaming buffer per thread */

struct cs_worker {
        struct cs_app *app;
        int index;
        struct cs_db *db;       /* opened lazily, reopened after failures; see cs_req_db */
        char *iobuf;            /* CS_IOBUF_SIZE bytes for streaming bodies */
        uint64_t req_counter;
};

/* ---- routes ---- */

enum cs_auth_level {
        CS_AUTH_NONE = 0,
        CS_AUTH_SESSION,
        CS_AUTH_SESSION_CSRF,
        CS_AUTH_BASIC,
        CS_AUTH_BEARER,
};

enum {
        CS_M_GET = 1 << 0,
        CS_M_POST = 1 << 1,
        CS_M_DELETE = 1 << 2,
        CS_M_PUT = 1 << 3,
        CS_M_HEAD = 1 << 4, /* GET routes answer HEAD too */
};

enum {
        CS_R_PHP = 1 << 0,      /* also answers PATH.php (the original's URLs) */
        CS_R_STREAM = 1 << 1,   /* the handler reads the body itself (cs_req_read) */
        CS_R_PAGE = 1 << 2,     /* an HTML page: unauthenticated GET -> 303 /login */
        CS_R_OPTIONAL = 1 << 3, /* session auth optional: look the session up, never refuse */
        CS_R_PREFIX = 1 << 4,   /* path is a prefix ending in '/': /stack/ matches /stack/12 */
};

struct cs_req;
typedef int (*cs_handler_fn)(struct cs_req *req);

struct cs_route {
        unsigned methods;       /* CS_M_* */
        const char *path;       /* exact path, e.g. "/upload" */
        cs_handler_fn fn;
        enum cs_auth_level auth;
        int64_t body_max;       /* largest body accepted (bytes); 0 = none */
        unsigned flags;         /* CS_R_* */
};

extern const struct cs_route cs_routes[];
extern const size_t cs_routes_count;

/* ---- the request ---- */

struct cs_req {
        FCGX_Request *fx;
        struct cs_app *app;
        struct cs_worker *w;
        const struct cs_route *route;
        char id[24];               /* request id for logs: <thread>-<counter> */
        int64_t t_start_us;

        /* what was asked */
        const char *method;        /* "GET", ... */
        unsigned method_bit;       /* CS_M_* */
        char path[512];            /* decoded? no: raw path without query, ".php" dropped if aliased */
        const char *query;         /* raw query string ("" if none) */
        const char *client_addr;   /* REMOTE_ADDR ("" if unknown) */
        const char *content_type;  /* "" if none */
        int64_t content_length;    /* -1 if absent */
        struct cs_form args;       /* decoded query string */
        struct cs_form form;       /* decoded urlencoded / multipart fields (non-stream routes) */
        struct cs_buf body;        /* raw body of other content types (non-stream routes) */
        const char *path_rest;     /* CS_R_PREFIX: the part after the prefix */

        /* who asked */
        int64_t user_id;           /* 0 = nobody */
        char username[CS_USERNAME_MAX];
        bool is_admin;
        bool has_session;
        struct cs_session session; /* when has_session */
        bool csrf_ok;              /* CSRF verified (header or field) */
        int64_t worker_token_id;   /* Bearer routes */
        char worker_name[101];

        /* the reply */
        int status;                /* HTTP status sent (0 = nothing sent yet) */
        bool head_only;            /* HEAD request: headers only */
        struct cs_buf headers;     /* extra header lines queued by cs_reply_header */
        int64_t body_read;         /* request body bytes consumed */
        int64_t bytes_out;
        struct cs_err err;         /* detail of a handler's failure */
};

/* ---- request helpers (req.c) ---- */

/* A CGI/FastCGI parameter (HTTP_COOKIE, CONTENT_TYPE, ...), or NULL. Borrowed. */
const char *cs_req_param(const struct cs_req *req, const char *name);
/* A request header by its HTTP name ("X-CSRF-Token"), or NULL. Borrowed. */
const char *cs_req_header(const struct cs_req *req, const char *name);
/* Query argument, or NULL (cs_form_get_text semantics: NUL-free). */
const char *cs_req_arg(const struct cs_req *req, const char *name);
/* Form field (urlencoded/multipart fields), or NULL. */
const char *cs_req_field(const struct cs_req *req, const char *name);
/* Form field first, then query argument. */
const char *cs_req_value(const struct cs_req *req, const char *name);
/* Parses an integer argument/field `name` into *ret; on a missing or bad value
 * replies 400 with a clear message and returns CS_EINVAL, so handlers write
 * `if (cs_req_i64_or_reply(req, "job_id", &id) < 0) return CS_OK;`. */
int cs_req_i64_or_reply(struct cs_req *req, const char *name, int64_t *ret);
/* A cookie's value (copied into out, size outsz); false if absent or too long. */
bool cs_req_cookie(const struct cs_req *req, const char *name, char *out, size_t outsz);
/* The thread's database handle, (re)connecting when needed. On failure sets
 * req->err (CS_EDB) and returns NULL: the handler returns CS_EDB. */
struct cs_db *cs_req_db(struct cs_req *req);
/* The route's body cap in bytes (CS_BODY_UPLOAD resolved from the config). */
int64_t cs_req_body_cap(const struct cs_req *req);
/* Reads up to n body bytes (CS_R_STREAM routes). Returns bytes read, 0 at the
 * end of the body, or CS_EIO. Never reads past the route's body_max
 * (CS_ETOOBIG instead). */
long cs_req_read(struct cs_req *req, char *buf, size_t n);
/* Reads and parses a small body as the framework does for non-stream routes
 * (urlencoded or multipart fields -> req->form, else raw -> req->body),
 * capped by the route's body_max. On a refusal it has replied (413/400) and
 * returns the status; on I/O errors returns CS_EIO without replying. */
int cs_req_read_form(struct cs_req *req);
/* Constant-time CSRF check against the session; sets req->csrf_ok. */
bool cs_req_csrf_check(struct cs_req *req, const char *token);
/* Runs sql, whose one parameter is the requesting user's id, on the
 * thread's database connection (CS_EDB without one); errors in req->err. */
int cs_req_query_user(struct cs_req *req, const char *sql, struct cs_db_rows **ret_rows);
/* Current time (epoch seconds). */
int64_t cs_now(void);
/* Wall-clock time in microseconds (logs, durations shown to people). */
int64_t cs_now_us(void);
/* Monotonic time in microseconds (expiry of in-process memories). */
int64_t cs_mono_us(void);

/* ---- replies (reply.c) ---- */

/* HTTP status of a cs_status (CS_EINVAL -> 400, CS_ENOTFOUND -> 404, ...). */
int cs_http_status_of(int cs_status);
/* Queues a response header ("Name: value") for the next reply. */
void cs_reply_header(struct cs_req *req, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Queues Set-Cookie name=value; Path=/; HttpOnly; SameSite=Lax (+ Secure unless
 * cookie_secure = false). max_age < 0: session cookie; 0: delete. */
void cs_reply_cookie(struct cs_req *req, const char *name, const char *value, int max_age);
/* Sends status + queued headers + Content-Type and, if body_len >= 0,
 * Content-Length; after this, cs_reply_write streams the body. */
int cs_reply_begin(struct cs_req *req, int http, const char *content_type, int64_t body_len);
int cs_reply_write(struct cs_req *req, const void *p, size_t n);
/* Whole replies. cs_reply_json TAKES OWNERSHIP of doc (deletes it). */
int cs_reply_json(struct cs_req *req, int http, cJSON *doc);
int cs_reply_text(struct cs_req *req, int http, const char *content_type, const char *body,
                  size_t len);
/* {"error": "<message>", "code": "<cs_status_name>"} with the given HTTP code. */
int cs_reply_error(struct cs_req *req, int http, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Error reply for a cs_status and its detail (5xx: generic message + log). */
int cs_reply_fail(struct cs_req *req, int cs_status, const struct cs_err *err);
int cs_reply_redirect(struct cs_req *req, int http, const char *location);
/* 204 No Content. */
int cs_reply_empty(struct cs_req *req, int http);

/* HTML with escaping by default. cs_html appends to out using a small
 * printf-like format where
 *   %s  text, HTML-escaped          %r  raw, trusted HTML (never user data)
 *   %d %u %ld %lld %zu  integers     %f %.Nf  doubles (N = 0..9)
 *   %%  a percent sign
 * Unknown conversions abort in debug builds (they are programmer errors). */
int cs_html(struct cs_buf *out, const char *fmt, ...);
/* Sends an HTML page (text/html; charset=utf-8). */
int cs_reply_html(struct cs_req *req, int http, const struct cs_buf *page);

/* ---- dispatch (routes.c) ---- */

/* Checks the route table: handler, path and method set; prefix paths end in
 * '/'; streaming routes have a body cap; no path + method twice (the later
 * row would never be reached). CS_OK or CS_EINVAL naming the row. */
int cs_routes_check(struct cs_err *err);
/* Runs one accepted request: route, body, auth, handler, error reply, log. */
void cs_dispatch(struct cs_req *req);

#endif
