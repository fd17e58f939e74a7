/* reply.c - status -> HTTP, headers, JSON / HTML / redirect replies. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "crowdsky/log.h"

/* The one table from library status to HTTP. */
static const struct {
        int status;
        int http;
} status_map[] = {
        { CS_OK, 200 },           { CS_ENOMEM, 500 },      { CS_EINVAL, 400 },
        { CS_ETOOBIG, 413 },      { CS_EIO, 500 },         { CS_EFITS, 400 },
        { CS_EDB, 503 },          { CS_EAUTH, 401 },       { CS_ENOTFOUND, 404 },
        { CS_ECONFLICT, 409 },    { CS_EREMOTE, 502 },     { CS_ECANCELLED, 503 },
        { CS_EQUOTA, 507 },       { CS_EFORBIDDEN, 403 },  { CS_ERATELIMIT, 429 },
};

int cs_http_status_of(int st)
{
        size_t i;

        for (i = 0; i < sizeof status_map / sizeof status_map[0]; i++)
                if (status_map[i].status == st)
                        return status_map[i].http;
        return 500;
}

void cs_reply_header(struct cs_req *req, const char *name, const char *fmt, ...)
{
        va_list ap;
        size_t mark = req->headers.len;

        cs_buf_printf(&req->headers, "%s: ", name);
        va_start(ap, fmt);
        cs_buf_vprintf(&req->headers, fmt, ap);
        va_end(ap);
        /* a header value never carries CR/LF (response splitting) */
        {
                size_t i;
                for (i = mark; i < req->headers.len; i++)
                        if (req->headers.data[i] == '\r' || req->headers.data[i] == '\n')
                                req->headers.data[i] = ' ';
        }
        cs_buf_adds(&req->headers, "\r\n");
}

void cs_reply_cookie(struct cs_req *req, const char *name, const char *value, int max_age)
{
        char age[48] = "";

        if (max_age >= 0)
                snprintf(age, sizeof age, "; Max-Age=%d", max_age);
        cs_reply_header(req, "Set-Cookie", "%s=%s; Path=/; HttpOnly; SameSite=Lax%s%s", name, value,
                        req->app->cfg.cookie_secure ? "; Secure" : "", age);
}

int cs_reply_begin(struct cs_req *req, int http, const char *content_type, int64_t body_len)
{
        struct cs_buf h = CS_BUF_INIT(64 * 1024);
        int r;

        if (req->status) {
                /* a handler bug; never worth taking the pool down for */
                cs_log_error("req=%s path='%s' replied twice (%d, then %d), ignoring the second",
                             req->id, req->path, req->status, http);
                return CS_EINVAL;
        }
        req->status = http;
        cs_buf_printf(&h, "Status: %d %s\r\n", http, cs_http_reason(http));
        if (content_type)
                cs_buf_printf(&h, "Content-Type: %s\r\n", content_type);
        if (body_len >= 0)
                cs_buf_printf(&h, "Content-Length: %lld\r\n", (long long)body_len);
        cs_buf_add(&h, req->headers.data, req->headers.len);
        cs_buf_adds(&h, "\r\n");
        r = FCGX_PutStr(h.data, (int)h.len, req->fx->out) == (int)h.len ? CS_OK : CS_EIO;
        cs_buf_release(&h);
        return r;
}

int cs_reply_write(struct cs_req *req, const void *p, size_t n)
{
        const char *s = p;

        if (req->head_only)
                return CS_OK;
        while (n) {
                int k = n > (1u << 30) ? (1 << 30) : (int)n;
                if (FCGX_PutStr(s, k, req->fx->out) != k)
                        return CS_EIO;
                req->bytes_out += k;
                s += k;
                n -= (size_t)k;
        }
        return CS_OK;
}

int cs_reply_text(struct cs_req *req, int http, const char *content_type, const char *body,
                  size_t len)
{
        int r = cs_reply_begin(req, http, content_type, (int64_t)len);

        if (r == CS_OK && len)
                r = cs_reply_write(req, body, len);
        return r;
}

int cs_reply_json(struct cs_req *req, int http, cJSON *doc)
{
        char *s = doc ? cJSON_PrintUnformatted(doc) : NULL;
        int r;

        cJSON_Delete(doc);
        if (!s)
                return cs_reply_text(req, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
        cs_reply_header(req, "Cache-Control", "no-store");
        r = cs_reply_text(req, http, "application/json", s, strlen(s));
        cJSON_free(s);
        return r;
}

static const char *code_of_http(int http)
{
        switch (http) {
        case 400: return cs_status_name(CS_EINVAL);
        case 401: return cs_status_name(CS_EAUTH);
        case 403: return cs_status_name(CS_EFORBIDDEN);
        case 404: return cs_status_name(CS_ENOTFOUND);
        case 409: return cs_status_name(CS_ECONFLICT);
        case 413: return cs_status_name(CS_ETOOBIG);
        case 429: return cs_status_name(CS_ERATELIMIT);
        case 507: return cs_status_name(CS_EQUOTA);
        default: return http >= 500 ? "internal" : "error";
        }
}

static int reply_error_msg(struct cs_req *req, int http, const char *code, const char *msg)
{
        cJSON *doc = cJSON_CreateObject();

        cJSON_AddStringToObject(doc, "error", msg);
        cJSON_AddStringToObject(doc, "code", code);
        if (http == 401 && req->route && req->route->auth == CS_AUTH_BASIC)
                cs_reply_header(req, "WWW-Authenticate", "Basic realm=\"CrowdSky\", charset=\"UTF-8\"");
        return cs_reply_json(req, http, doc);
}

int cs_reply_error(struct cs_req *req, int http, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        return reply_error_msg(req, http, code_of_http(http), msg);
}

int cs_reply_fail(struct cs_req *req, int st, const struct cs_err *err)
{
        int http = cs_http_status_of(st);
        const char *msg = err && err->msg[0] ? err->msg : "request failed";

        if (http >= 500) {
                char generic[128];
                cs_log_error("req=%s path='%s' status=%s error='%s'", req->id, req->path,
                             cs_status_name(st), msg);
                snprintf(generic, sizeof generic, "%s (request %s)",
                         http == 503 ? "service temporarily unavailable" : "internal error", req->id);
                return reply_error_msg(req, http, cs_status_name(st), generic);
        }
        return reply_error_msg(req, http, cs_status_name(st), msg);
}

int cs_reply_redirect(struct cs_req *req, int http, const char *location)
{
        /* only local redirects: an absolute path, never "//host" */
        if (location[0] != '/' || location[1] == '/' || location[1] == '\\')
                location = "/";
        cs_reply_header(req, "Location", "%s", location);
        return cs_reply_text(req, http, "text/plain; charset=utf-8", "", 0);
}

int cs_reply_empty(struct cs_req *req, int http)
{
        return cs_reply_begin(req, http, NULL, http == 204 || http == 304 ? -1 : 0);
}

int cs_reply_html(struct cs_req *req, int http, const struct cs_buf *page)
{
        cs_reply_header(req, "Cache-Control", "no-store");
        return cs_reply_text(req, http, "text/html; charset=utf-8", page->data, page->len);
}

int cs_html(struct cs_buf *out, const char *fmt, ...)
{
        va_list ap;
        const char *p = fmt;
        int r = CS_OK;

        va_start(ap, fmt);
        while (*p && r == CS_OK) {
                const char *pct = strchr(p, '%');
                char num[64];
                if (!pct) {
                        r = cs_buf_adds(out, p);
                        break;
                }
                if (pct > p)
                        r = cs_buf_add(out, p, (size_t)(pct - p));
                if (r < 0)
                        break;
                p = pct + 1;
                switch (*p) {
                case '%':
                        r = cs_buf_addc(out, '%');
                        p++;
                        break;
                case 's': {
                        const char *s = va_arg(ap, const char *);
                        if (!s)
                                s = "";
                        r = cs_html_escape(out, s, strlen(s));
                        p++;
                        break;
                }
                case 'r': {
                        const char *s = va_arg(ap, const char *);
                        r = cs_buf_adds(out, s ? s : "");
                        p++;
                        break;
                }
                case 'd':
                        snprintf(num, sizeof num, "%d", va_arg(ap, int));
                        r = cs_buf_adds(out, num);
                        p++;
                        break;
                case 'u':
                        snprintf(num, sizeof num, "%u", va_arg(ap, unsigned));
                        r = cs_buf_adds(out, num);
                        p++;
                        break;
                case 'z':
                        assert(p[1] == 'u');
                        snprintf(num, sizeof num, "%zu", va_arg(ap, size_t));
                        r = cs_buf_adds(out, num);
                        p += 2;
                        break;
                case 'l':
                        if (p[1] == 'l' && p[2] == 'd') {
                                snprintf(num, sizeof num, "%lld", va_arg(ap, long long));
                                p += 3;
                        } else {
                                assert(p[1] == 'd');
                                snprintf(num, sizeof num, "%ld", va_arg(ap, long));
                                p += 2;
                        }
                        r = cs_buf_adds(out, num);
                        break;
                case 'f':
                        snprintf(num, sizeof num, "%f", va_arg(ap, double));
                        r = cs_buf_adds(out, num);
                        p++;
                        break;
                case '.':
                        if (p[1] >= '0' && p[1] <= '9' && p[2] == 'f') {
                                snprintf(num, sizeof num, "%.*f", p[1] - '0', va_arg(ap, double));
                                r = cs_buf_adds(out, num);
                                p += 3;
                                break;
                        }
                        /* fall through */
                default:
                        assert(!"cs_html: unknown conversion");
                        r = CS_EINVAL;
                        break;
                }
        }
        va_end(ap);
        return r;
}
