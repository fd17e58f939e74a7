/* webdav.c - WebDAV client over libcurl: MKCOL, PUT (streamed), HEAD,
 * PROPFIND, GET (streamed), DELETE, with retries and backoff. CURLcode and
 * CURLOPT_ERRORBUFFER are translated to CS_EREMOTE here and nowhere else. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crowdsky/alloc.h"
#include "crowdsky/buf.h"
#include "crowdsky/log.h"
#include "crowdsky/rand.h"
#include "crowdsky/str.h"
#include "crowdsky/webdav.h"

#define ERRBODY_MAX 512          /* bytes of an error reply kept for the message */
#define PROPFIND_MAX (64 * 1024) /* a Depth-0 PROPFIND reply is small */

struct cs_webdav {
        char *base; /* ends with '/' */
        char *user;
        char *password;
        struct cs_webdav_opts o; /* numbers and hooks; strings point at the copies above */
        CURL *h;
        char errbuf[CURL_ERROR_SIZE];
};

/* ---- global init ------------------------------------------------------- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static CURLcode g_init_rc = CURLE_OK;

static void global_init(void)
{
        g_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int cs_webdav_global_init(struct cs_err *err)
{
        pthread_once(&g_once, global_init);
        if (g_init_rc != CURLE_OK)
                return cs_err_set(err, CS_EREMOTE, "curl_global_init: %s", curl_easy_strerror(g_init_rc));
        return CS_OK;
}

/* ---- client ------------------------------------------------------------- */

int cs_webdav_new(const struct cs_webdav_opts *opts, struct cs_webdav **ret_dav, struct cs_err *err)
{
        struct cs_webdav *dav;
        size_t n;
        int r;

        if (!opts || !opts->url || !*opts->url)
                return cs_err_set(err, CS_EINVAL, "WebDAV: no base URL configured");
        if (strncmp(opts->url, "http://", 7) != 0 && strncmp(opts->url, "https://", 8) != 0)
                return cs_err_set(err, CS_EINVAL, "WebDAV: base URL '%s' is not http(s)", opts->url);
        r = cs_webdav_global_init(err);
        if (r < 0)
                return r;
        dav = cs_xcalloc(1, sizeof *dav);
        dav->o = *opts;
        n = strlen(opts->url);
        dav->base = opts->url[n - 1] == '/' ? cs_xstrdup(opts->url) : cs_xasprintf("%s/", opts->url);
        dav->user = cs_xstrdup(opts->user ? opts->user : "");
        dav->password = cs_xstrdup(opts->password ? opts->password : "");
        dav->o.url = dav->base;
        dav->o.user = dav->user;
        dav->o.password = dav->password;
        if (dav->o.max_attempts <= 0)
                dav->o.max_attempts = 5;
        if (dav->o.backoff_base_ms <= 0)
                dav->o.backoff_base_ms = 500;
        if (dav->o.backoff_max_ms <= 0)
                dav->o.backoff_max_ms = 30000;
        if (dav->o.connect_timeout_s <= 0)
                dav->o.connect_timeout_s = 10;
        if (dav->o.stall_timeout_s <= 0)
                dav->o.stall_timeout_s = 60;
        if (dav->o.request_timeout_s <= 0)
                dav->o.request_timeout_s = 60;
        dav->h = curl_easy_init();
        if (!dav->h) {
                cs_webdav_free(dav);
                return cs_err_set(err, CS_ENOMEM, "WebDAV: curl_easy_init failed");
        }
        *ret_dav = dav;
        return CS_OK;
}

struct cs_webdav *cs_webdav_free(struct cs_webdav *dav)
{
        if (!dav)
                return NULL;
        if (dav->h)
                curl_easy_cleanup(dav->h);
        if (dav->password) {
                /* do not leave the credential in freed memory */
                volatile char *p = dav->password;
                while (*p)
                        *p++ = 0;
        }
        free(dav->base);
        free(dav->user);
        free(dav->password);
        free(dav);
        return NULL;
}

/* ---- URLs --------------------------------------------------------------- */

/* base + each non-empty segment of path percent-encoded, joined with '/';
 * a trailing '/' when dir. NULL (and err set) for "." or ".." segments. */
static char *build_url(struct cs_webdav *dav, const char *path, bool dir, struct cs_err *err)
{
        struct cs_buf b = CS_BUF_INIT(8192);
        struct cs_str rest = cs_str_c(path), seg;
        bool first = true, more = true;

        if (cs_buf_adds(&b, dav->base) < 0)
                goto toolong;
        while (more) {
                char *esc;

                if (!cs_str_split(&rest, '/', &seg)) {
                        seg = rest;
                        more = false;
                }
                if (seg.len == 0)
                        continue;
                if (cs_str_eq(seg, ".") || cs_str_eq(seg, "..")) {
                        cs_buf_release(&b);
                        cs_err_set(err, CS_EINVAL, "WebDAV: path '%s' has a '.' or '..' segment", path);
                        return NULL;
                }
                if (seg.len > 1024)
                        goto toolong;
                esc = curl_easy_escape(dav->h, seg.p, (int)seg.len);
                if (!esc) {
                        cs_buf_release(&b);
                        cs_err_set(err, CS_ENOMEM, "WebDAV: cannot escape a path segment");
                        return NULL;
                }
                if ((!first && cs_buf_addc(&b, '/') < 0) || cs_buf_adds(&b, esc) < 0) {
                        curl_free(esc);
                        goto toolong;
                }
                curl_free(esc);
                first = false;
        }
        if (dir && !first && cs_buf_addc(&b, '/') < 0)
                goto toolong;
        return cs_buf_detach(&b, NULL);
toolong:
        cs_buf_release(&b);
        cs_err_set(err, CS_EINVAL, "WebDAV: path '%.64s...' is too long", path);
        return NULL;
}

char *cs_webdav_url(const struct cs_webdav *dav, const char *path)
{
        return cs_xasprintf("%s%s", dav->base, path && path[0] == '/' ? path + 1 : (path ? path : ""));
}

/* ---- one operation with retries ---------------------------------------- */

enum op_kind { OP_MKCOL, OP_PUT, OP_HEAD, OP_PROPFIND, OP_GET, OP_DELETE };

struct op {
        enum op_kind kind;
        const char *name; /* "MKCOL" ... for messages */
        const char *path; /* as the caller gave it, for messages */
        const char *url;
        CURL *h;

        /* PUT */
        const char *local_path;
        const char *content_type;
        FILE *fp;
        int64_t put_size;
        int64_t put_sent;
        int read_errno;

        /* GET */
        const struct cs_webdav_sink *sink;
        bool begun;    /* on_begin called: the attempt can no longer be retried */
        int sink_code; /* < 0 when the sink aborted */

        /* reply body (the PROPFIND reply, or the start of an error page) */
        struct cs_buf body;
        long code;
};

static int begin_sink(struct op *op)
{
        curl_off_t len = -1;
        char *ctype = NULL;
        int r;

        op->begun = true;
        if (!op->sink->on_begin)
                return CS_OK;
        curl_easy_getinfo(op->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
        curl_easy_getinfo(op->h, CURLINFO_CONTENT_TYPE, &ctype);
        r = op->sink->on_begin(op->sink->ud, (int64_t)len, ctype);
        return r < 0 ? r : CS_OK;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
        struct op *op = ud;
        size_t n = size * nmemb;
        long code = 0;

        if (op->kind == OP_GET && op->sink) {
                /* the status line has been read by the time the body arrives */
                curl_easy_getinfo(op->h, CURLINFO_RESPONSE_CODE, &code);
                if (code >= 200 && code < 300) {
                        int r = CS_OK;
                        if (!op->begun)
                                r = begin_sink(op);
                        if (r == CS_OK && n && op->sink->on_data)
                                r = op->sink->on_data(op->sink->ud, data, n);
                        if (r < 0) {
                                op->sink_code = r;
                                return n == 0 ? 1 : 0; /* any other value aborts */
                        }
                        return n;
                }
        }
        if (op->kind == OP_PROPFIND) {
                if (cs_buf_add(&op->body, data, n) < 0)
                        return 0; /* absurdly large reply: abort */
                return n;
        }
        /* error page or an uninteresting reply body: keep its start for the message */
        if (op->body.len < ERRBODY_MAX) {
                size_t keep = ERRBODY_MAX - op->body.len;
                cs_buf_add(&op->body, data, n < keep ? n : keep);
        }
        return n;
}

static size_t on_read(char *dst, size_t size, size_t nmemb, void *ud)
{
        struct op *op = ud;
        size_t want = size * nmemb, got;

        got = fread(dst, 1, want, op->fp);
        if (got < want && ferror(op->fp)) {
                op->read_errno = errno ? errno : EIO;
                return CURL_READFUNC_ABORT;
        }
        op->put_sent += (int64_t)got;
        return got;
}

static bool transient_curl(CURLcode rc)
{
        switch (rc) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_AGAIN:
                return true;
        default:
                return false;
        }
}

static bool transient_http(long code)
{
        return code >= 500 || code == 429 || code == 408;
}

/* First line of an error body without markup, for messages. */
static void body_excerpt(const struct cs_buf *b, char *out, size_t outsz)
{
        size_t i, o = 0;
        bool tag = false;

        for (i = 0; i < b->len && o + 1 < outsz; i++) {
                char c = b->data[i];
                if (c == '<') {
                        tag = true;
                        continue;
                }
                if (c == '>') {
                        tag = false;
                        if (o && out[o - 1] != ' ')
                                out[o++] = ' ';
                        continue;
                }
                if (tag)
                        continue;
                if (c == '\r' || c == '\n' || c == '\t')
                        c = ' ';
                if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
                        continue;
                if (c == ' ' && (o == 0 || out[o - 1] == ' '))
                        continue;
                out[o++] = c;
        }
        while (o && out[o - 1] == ' ')
                o--;
        out[o] = '\0';
}

/* Sets up one attempt. */
static int setup(struct cs_webdav *dav, struct op *op, struct curl_slist **hdrs, struct cs_err *err)
{
        CURL *h = dav->h;

        curl_easy_reset(h); /* keeps the connection cache */
        dav->errbuf[0] = '\0';
        curl_easy_setopt(h, CURLOPT_URL, op->url);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, dav->errbuf);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "crowdsky/" CS_VERSION);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)dav->o.connect_timeout_s);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
        if (dav->user[0]) {
                curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
                curl_easy_setopt(h, CURLOPT_USERNAME, dav->user);
                curl_easy_setopt(h, CURLOPT_PASSWORD, dav->password);
        }
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, op);
        if (op->kind == OP_PUT || op->kind == OP_GET) {
                /* big transfers: no total cap, but give up when stalled */
                curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
                curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)dav->o.stall_timeout_s);
        } else {
                curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)dav->o.request_timeout_s);
        }

        cs_buf_reset(&op->body);
        op->begun = false;
        op->sink_code = CS_OK;
        op->code = 0;
        switch (op->kind) {
        case OP_MKCOL:
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "MKCOL");
                break;
        case OP_DELETE:
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
                break;
        case OP_HEAD:
                curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
                break;
        case OP_GET:
                curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
                break;
        case OP_PROPFIND:
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PROPFIND");
                curl_easy_setopt(h, CURLOPT_POSTFIELDS,
                                 "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
                                 "<d:propfind xmlns:d=\"DAV:\"><d:prop><d:getcontentlength/>"
                                 "<d:resourcetype/></d:prop></d:propfind>");
                *hdrs = curl_slist_append(*hdrs, "Depth: 0");
                *hdrs = curl_slist_append(*hdrs, "Content-Type: application/xml; charset=utf-8");
                break;
        case OP_PUT: {
                struct stat st;
                char ct[256];

                if (op->fp)
                        fclose(op->fp);
                op->fp = fopen(op->local_path, "rb");
                if (!op->fp)
                        return cs_err_set(err, CS_EIO, "WebDAV PUT: cannot open '%s': %s", op->local_path,
                                          strerror(errno));
                if (fstat(fileno(op->fp), &st) < 0 || !S_ISREG(st.st_mode))
                        return cs_err_set(err, CS_EIO, "WebDAV PUT: '%s' is not a regular file",
                                          op->local_path);
                op->put_size = (int64_t)st.st_size;
                op->put_sent = 0;
                op->read_errno = 0;
                curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
                curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
                curl_easy_setopt(h, CURLOPT_READDATA, op);
                curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
                snprintf(ct, sizeof ct, "Content-Type: %s",
                         op->content_type ? op->content_type : "application/octet-stream");
                *hdrs = curl_slist_append(*hdrs, ct);
                break;
        }
        }
        if (*hdrs)
                curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
        return CS_OK;
}

static void backoff_sleep(struct cs_webdav *dav, const struct op *op, const char *reason, int attempt)
{
        int64_t d = dav->o.backoff_base_ms;
        uint32_t rnd = 0;
        int i, delay;
        struct timespec ts;
        char what[300];

        for (i = 1; i < attempt && d < dav->o.backoff_max_ms; i++)
                d *= 2;
        if (d > dav->o.backoff_max_ms)
                d = dav->o.backoff_max_ms;
        /* "equal jitter": half fixed, half random, so workers that failed
         * together do not come back together */
        cs_random_bytes(&rnd, sizeof rnd, NULL);
        delay = (int)(d / 2 + (d / 2 + 1 > 0 ? (int64_t)(rnd % (uint32_t)(d / 2 + 1)) : 0));
        snprintf(what, sizeof what, "%s %s", op->name, op->path);
        cs_log_debug("webdav retry op='%s' attempt=%d delay_ms=%d reason='%s'", what, attempt, delay,
                     reason);
        if (dav->o.on_retry)
                dav->o.on_retry(dav->o.retry_ud, what, reason, attempt, delay);
        ts.tv_sec = delay / 1000;
        ts.tv_nsec = (long)(delay % 1000) * 1000000L;
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* Runs op with retries. On CS_OK, op->code holds the final HTTP status (any
 * non-transient one: the caller judges 4xx). */
static int run(struct cs_webdav *dav, struct op *op, struct cs_err *err)
{
        int attempt, r = CS_OK;

        op->h = dav->h;
        for (attempt = 1;; attempt++) {
                struct curl_slist *hdrs = NULL;
                char reason[CURL_ERROR_SIZE + 64];
                CURLcode rc;

                r = setup(dav, op, &hdrs, err);
                if (r < 0) {
                        curl_slist_free_all(hdrs);
                        return r;
                }
                rc = curl_easy_perform(dav->h);
                curl_slist_free_all(hdrs);
                curl_easy_getinfo(dav->h, CURLINFO_RESPONSE_CODE, &op->code);

                if (rc == CURLE_OK && op->kind == OP_GET && op->sink && op->code >= 200 && op->code < 300 &&
                    !op->begun) {
                        /* an empty 2xx body: the sink still learns the reply began */
                        r = begin_sink(op);
                        if (r < 0)
                                return cs_err_set(err, r, "WebDAV GET %s: aborted by the receiver", op->path);
                }
                if (op->sink_code < 0)
                        return cs_err_set(err, op->sink_code, "WebDAV GET %s: aborted by the receiver",
                                          op->path);
                if (op->kind == OP_PUT && op->read_errno)
                        return cs_err_set(err, CS_EIO, "WebDAV PUT %s: reading '%s': %s", op->path,
                                          op->local_path, strerror(op->read_errno));

                if (rc == CURLE_OK && !transient_http(op->code))
                        return CS_OK;
                if (rc == CURLE_OK) {
                        char ex[160];
                        body_excerpt(&op->body, ex, sizeof ex);
                        snprintf(reason, sizeof reason, "HTTP %ld%s%s", op->code, ex[0] ? " " : "", ex);
                } else {
                        snprintf(reason, sizeof reason, "%s",
                                 dav->errbuf[0] ? dav->errbuf : curl_easy_strerror(rc));
                }
                if ((rc != CURLE_OK && !transient_curl(rc)) || op->begun || attempt >= dav->o.max_attempts)
                        return cs_err_set(err, CS_EREMOTE, "WebDAV %s %s: %s%s", op->name, op->url, reason,
                                          (rc == CURLE_OK || transient_curl(rc)) && !op->begun
                                                  ? " (gave up after retries)"
                                                  : "");
                backoff_sleep(dav, op, reason, attempt);
        }
}

static void op_init(struct op *op, enum op_kind kind, const char *name, const char *path)
{
        memset(op, 0, sizeof *op);
        op->kind = kind;
        op->name = name;
        op->path = path;
        cs_buf_init(&op->body, kind == OP_PROPFIND ? PROPFIND_MAX : ERRBODY_MAX);
}

static void op_release(struct op *op)
{
        if (op->fp)
                fclose(op->fp);
        op->fp = NULL;
        cs_buf_release(&op->body);
}

/* Maps a final non-transient HTTP status that the operation does not accept. */
static int http_fail(struct op *op, struct cs_err *err)
{
        char ex[160];

        body_excerpt(&op->body, ex, sizeof ex);
        if (op->code == 401 || op->code == 403)
                return cs_err_set(err, CS_EAUTH, "WebDAV %s %s: HTTP %ld (check webdav_user/webdav_password)",
                                  op->name, op->url, op->code);
        if (op->code == 404)
                return cs_err_set(err, CS_ENOTFOUND, "WebDAV %s %s: not found", op->name, op->url);
        return cs_err_set(err, CS_EREMOTE, "WebDAV %s %s: HTTP %ld%s%s", op->name, op->url, op->code,
                          ex[0] ? " " : "", ex);
}

/* ---- operations --------------------------------------------------------- */

static int mkcol_one(struct cs_webdav *dav, const char *path, bool *ret_409, struct cs_err *err)
{
        struct op op;
        char *url = build_url(dav, path, true, err);
        int r;

        if (ret_409)
                *ret_409 = false;
        if (!url)
                return err ? err->code : CS_EINVAL;
        op_init(&op, OP_MKCOL, "MKCOL", path);
        op.url = url;
        r = run(dav, &op, err);
        if (r == CS_OK && !(op.code == 201 || op.code == 405 || op.code == 200 || op.code == 204)) {
                if (op.code == 409) {
                        r = cs_err_set(err, CS_EREMOTE, "WebDAV MKCOL %s: HTTP 409 (parent collection missing)",
                                       url);
                        if (ret_409)
                                *ret_409 = true;
                } else
                        r = http_fail(&op, err);
        }
        op_release(&op);
        free(url);
        return r;
}

int cs_webdav_mkcol_p(struct cs_webdav *dav, const char *path, struct cs_err *err)
{
        size_t n = strlen(path), i;
        char *prefix = cs_xstrdup(path);
        bool first = true, conflict = false;
        int r = CS_OK;

        /* top-down: a level that exists answers 405, which is fine; this costs
         * one request per level but never depends on a 409 being reported */
        for (i = 0; i <= n && r == CS_OK; i++) {
                if ((i == n || path[i] == '/') && i > 0 && path[i - 1] != '/') {
                        memcpy(prefix, path, i);
                        prefix[i] = '\0';
                        r = mkcol_one(dav, prefix, &conflict, err);
                        if (r < 0 && first && conflict) {
                                /* the base collection itself is missing (a fresh
                                 * Nextcloud folder in webdav_url): make it, once */
                                r = mkcol_one(dav, "", NULL, err);
                                if (r == CS_OK)
                                        r = mkcol_one(dav, prefix, NULL, err);
                        }
                        first = false;
                }
        }
        free(prefix);
        return r;
}

int cs_webdav_put_file(struct cs_webdav *dav, const char *path, const char *local_path,
                       const char *content_type, struct cs_err *err)
{
        struct op op;
        char *url = build_url(dav, path, false, err);
        int r;

        if (!url)
                return err ? err->code : CS_EINVAL;
        op_init(&op, OP_PUT, "PUT", path);
        op.url = url;
        op.local_path = local_path;
        op.content_type = content_type;
        r = run(dav, &op, err);
        if (r == CS_OK && !(op.code == 200 || op.code == 201 || op.code == 204)) {
                if (op.code == 409)
                        r = cs_err_set(err, CS_EREMOTE, "WebDAV PUT %s: HTTP 409 (parent collection missing)",
                                       url);
                else
                        r = http_fail(&op, err);
        }
        if (r == CS_OK && op.put_sent != op.put_size)
                r = cs_err_set(err, CS_EIO, "WebDAV PUT %s: sent %" PRId64 " of %" PRId64 " bytes of '%s'",
                               path, op.put_sent, op.put_size, local_path);
        op_release(&op);
        free(url);
        return r;
}

/* Finds the number inside the first <...getcontentlength> element, whatever
 * the namespace prefix ("D:", "d:", none). -1 if absent. */
static int64_t parse_contentlength(const char *xml)
{
        const char *p = xml;

        while ((p = strstr(p, "getcontentlength")) != NULL) {
                const char *lt = p;
                int64_t v;
                char num[32];
                size_t k = 0;

                /* must be an opening tag: "<" [prefix ":"] "getcontentlength" ... ">" */
                while (lt > xml && lt[-1] != '<' && lt[-1] != '/' && lt[-1] != '>' && lt[-1] != ' ')
                        lt--;
                p += strlen("getcontentlength");
                if (lt == xml || lt[-1] != '<')
                        continue;
                p = strchr(p, '>');
                if (!p)
                        return -1;
                if (p[-1] == '/')
                        continue; /* empty element */
                p++;
                while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
                        p++;
                while (*p >= '0' && *p <= '9' && k + 1 < sizeof num)
                        num[k++] = *p++;
                num[k] = '\0';
                if (k && cs_parse_i64_c(num, &v) == CS_OK)
                        return v;
                return -1;
        }
        return -1;
}

int cs_webdav_propfind_size(struct cs_webdav *dav, const char *path, int64_t *ret_size, struct cs_err *err)
{
        struct op op;
        char *url = build_url(dav, path, false, err);
        int64_t v;
        int r;

        if (!url)
                return err ? err->code : CS_EINVAL;
        op_init(&op, OP_PROPFIND, "PROPFIND", path);
        op.url = url;
        r = run(dav, &op, err);
        if (r == CS_OK && op.code != 207 && op.code != 200)
                r = http_fail(&op, err);
        if (r == CS_OK) {
                v = parse_contentlength(op.body.data);
                if (v < 0)
                        r = cs_err_set(err, CS_EREMOTE, "WebDAV PROPFIND %s: no getcontentlength in the reply "
                                       "(a collection?)", url);
                else
                        *ret_size = v;
        }
        op_release(&op);
        free(url);
        return r;
}

int cs_webdav_ping(struct cs_webdav *dav, struct cs_err *err)
{
        struct op op;
        char *url = build_url(dav, "", true, err);
        int r;

        if (!url)
                return err ? err->code : CS_EINVAL;
        op_init(&op, OP_PROPFIND, "PROPFIND", "");
        op.url = url;
        r = run(dav, &op, err);
        if (r == CS_OK && op.code != 207 && op.code != 200)
                r = http_fail(&op, err);
        op_release(&op);
        free(url);
        return r;
}

int cs_webdav_stat(struct cs_webdav *dav, const char *path, int64_t *ret_size, struct cs_err *err)
{
        struct op op;
        char *url = build_url(dav, path, false, err);
        curl_off_t len = -1;
        int r;

        if (!url)
                return err ? err->code : CS_EINVAL;
        op_init(&op, OP_HEAD, "HEAD", path);
        op.url = url;
        r = run(dav, &op, err);
        if (r == CS_OK && op.code != 200)
                r = http_fail(&op, err);
        if (r == CS_OK) {
                curl_easy_getinfo(dav->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
                if (len >= 0)
                        *ret_size = (int64_t)len;
        }
        op_release(&op);
        free(url);
        if (r == CS_OK && len < 0)
                return cs_webdav_propfind_size(dav, path, ret_size, err);
        return r;
}

int cs_webdav_get(struct cs_webdav *dav, const char *path, const struct cs_webdav_sink *sink,
                  struct cs_err *err)
{
        struct op op;
        char *url = build_url(dav, path, false, err);
        int r;

        if (!url)
                return err ? err->code : CS_EINVAL;
        op_init(&op, OP_GET, "GET", path);
        op.url = url;
        op.sink = sink;
        r = run(dav, &op, err);
        if (r == CS_OK && !(op.code >= 200 && op.code < 300))
                r = http_fail(&op, err);
        op_release(&op);
        free(url);
        return r;
}

struct file_sink {
        FILE *f;
        int err_no;
};

static int file_data(void *ud, const void *data, size_t n)
{
        struct file_sink *fs = ud;

        if (fwrite(data, 1, n, fs->f) != n) {
                fs->err_no = errno ? errno : EIO;
                return CS_EIO;
        }
        return CS_OK;
}

static int file_begin(void *ud, int64_t length, const char *ctype)
{
        struct file_sink *fs = ud;
        (void)length;
        (void)ctype;
        /* a retried attempt starts the file again */
        if (fseek(fs->f, 0, SEEK_SET) < 0 || ftruncate(fileno(fs->f), 0) < 0) {
                fs->err_no = errno;
                return CS_EIO;
        }
        return CS_OK;
}

int cs_webdav_get_file(struct cs_webdav *dav, const char *path, const char *local_path, struct cs_err *err)
{
        struct file_sink fs = { NULL, 0 };
        struct cs_webdav_sink sink = { file_begin, file_data, &fs };
        int r;

        fs.f = fopen(local_path, "wb");
        if (!fs.f)
                return cs_err_set(err, CS_EIO, "cannot create '%s': %s", local_path, strerror(errno));
        r = cs_webdav_get(dav, path, &sink, err);
        if (r == CS_EIO && fs.err_no)
                r = cs_err_set(err, CS_EIO, "writing '%s': %s", local_path, strerror(fs.err_no));
        if (fclose(fs.f) != 0 && r == CS_OK)
                r = cs_err_set(err, CS_EIO, "writing '%s': %s", local_path, strerror(errno));
        if (r < 0)
                unlink(local_path);
        return r;
}

int cs_webdav_delete(struct cs_webdav *dav, const char *path, int strict, struct cs_err *err)
{
        struct op op;
        char *url = build_url(dav, path, false, err);
        int r;

        if (!url)
                return err ? err->code : CS_EINVAL;
        op_init(&op, OP_DELETE, "DELETE", path);
        op.url = url;
        r = run(dav, &op, err);
        if (r == CS_OK && op.code == 409) {
                /* nginx refuses DELETE of a collection without the trailing '/' */
                free(url);
                url = build_url(dav, path, true, err);
                op.url = url;
                r = url ? run(dav, &op, err) : CS_EINVAL;
        }
        if (r == CS_OK && op.code == 404 && !strict)
                r = CS_OK;
        else if (r == CS_OK && !(op.code == 200 || op.code == 204))
                r = http_fail(&op, err);
        op_release(&op);
        free(url);
        return r;
}
