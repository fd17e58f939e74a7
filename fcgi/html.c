/* html.c - the pages' shared layout and formatting helpers (see html.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "html.h"

static const struct {
        const char *id, *href, *label;
        bool logged_in; /* shown when logged in (else when logged out) */
} nav[] = {
        { "upload", "/upload", "Upload", true },
        { "jobs", "/jobs", "Jobs", true },
        { "stacks", "/stacks", "Stacks", true },
        { "skymap", "/skymap", "Sky map", true },
        { "account", "/account", "Account", true },
        { "login", "/login", "Log in", false },
        { "signup", "/signup", "Sign up", false },
};

void cs_page_begin(struct cs_buf *out, const struct cs_req *req, const char *title,
                   const char *active, const char *script)
{
        size_t i;

        cs_html(out,
                "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                "<title>%s · CrowdSky</title>"
                "<link rel=\"stylesheet\" href=\"/static/style.css?v=%r\">"
                "<link rel=\"icon\" href=\"/static/favicon.svg\" type=\"image/svg+xml\">",
                title, CS_VERSION);
        if (req->has_session)
                cs_html(out, "<meta name=\"csrf-token\" content=\"%s\">", req->session.csrf);
        cs_html(out, "<script src=\"/static/app.js?v=%r\" defer></script>", CS_VERSION);
        if (script)
                cs_html(out, "<script src=\"/static/%s?v=%r\" defer></script>", script, CS_VERSION);
        cs_html(out,
                "</head><body><header class=\"top\"><div class=\"bar\">"
                "<a class=\"brand\" href=\"/\"><img src=\"/static/favicon.svg\" alt=\"\" width=\"28\" "
                "height=\"28\">CrowdSky</a><nav><ul>");
        for (i = 0; i < sizeof nav / sizeof nav[0]; i++) {
                if (nav[i].logged_in != req->has_session)
                        continue;
                cs_html(out, "<li><a href=\"%s\"%r>%s</a></li>", nav[i].href,
                        active && !strcmp(active, nav[i].id) ? " class=\"active\" aria-current=\"page\"" : "",
                        nav[i].label);
        }
        if (req->has_session)
                cs_html(out,
                        "<li><form method=\"post\" action=\"/logout\" class=\"inline\">"
                        "<input type=\"hidden\" name=\"csrf_token\" value=\"%s\">"
                        "<button type=\"submit\" class=\"linkish\" title=\"Log out %s\">Log out</button>"
                        "</form></li>",
                        req->session.csrf, req->username);
        cs_html(out, "</ul></nav></div></header><main>");
}

void cs_page_end(struct cs_buf *out)
{
        cs_html(out,
                "</main><footer><p>CrowdSky %s — stacks for Seestar observers, data for "
                "time-domain citizen science. Observing sites are never shown to anyone else.</p>"
                "</footer></body></html>\n",
                CS_VERSION);
}

int cs_page_send(struct cs_req *req, int http, struct cs_buf *out)
{
        int r = cs_reply_html(req, http, out);

        cs_buf_release(out);
        return r;
}

int cs_page_send_fixed(struct cs_req *req, struct cs_buf *out)
{
        /* X-Accel-Expires is read and removed by nginx; the browser still
         * gets no-store. nginx stores nothing for a request that carries a
         * session cookie or credentials, nor an answer that sets a cookie
         * (conf/nginx/crowdsky.conf.in); this is the second guard. */
        if (!req->has_session && (!strcmp(req->method, "GET") || !strcmp(req->method, "HEAD")))
                cs_reply_header(req, "X-Accel-Expires", "1");
        return cs_page_send(req, 200, out);
}

int cs_page_error(struct cs_req *req, int http, const char *title, const char *msg)
{
        struct cs_buf page = CS_BUF_INIT(CS_PAGE_MAX);

        cs_page_begin(&page, req, title, NULL, NULL);
        cs_html(&page, "<section class=\"card narrow\"><h1>%s</h1><p>%s</p><p><a href=\"/\">Home</a></p></section>",
                title, msg);
        cs_page_end(&page);
        return cs_page_send(req, http, &page);
}

void cs_fmt_bytes(double b, char *out, size_t n)
{
        static const char *unit[] = { "B", "kB", "MB", "GB", "TB" };
        int u = 0;

        while (b >= 1000.0 && u < 4) {
                b /= 1000.0;
                u++;
        }
        if (u == 0)
                snprintf(out, n, "%.0f B", b);
        else
                snprintf(out, n, b < 10 ? "%.1f %s" : "%.0f %s", b, unit[u]);
}

void cs_html_tile_open(struct cs_buf *out, long long id, bool has_thumb, const char *alt)
{
        cs_html(out, "<li class=\"tile\"><a href=\"/stack?id=%lld\">", id);
        if (has_thumb)
                cs_html(out, "<img src=\"/stack/thumb?id=%lld\" alt=\"%s\" loading=\"lazy\">", id, alt);
        else
                cs_html(out, "<div class=\"nothumb\">no preview</div>");
}

void cs_fmt_seconds(double s, char *out, size_t n)
{
        long t = s > 0 ? lround(s) : 0;

        if (t >= 3600)
                snprintf(out, n, "%ld h %02ld min", t / 3600, (t % 3600) / 60);
        else if (t >= 60)
                snprintf(out, n, "%ld min %02ld s", t / 60, t % 60);
        else if (s > 0 && s < 10 && s != (double)t)
                snprintf(out, n, "%.1f s", s);
        else
                snprintf(out, n, "%ld s", t);
}

void cs_fmt_ra(double ra, char *out, size_t n)
{
        double h = fmod(fmod(ra, 360.0) + 360.0, 360.0) / 15.0;
        long secs = lround(h * 3600.0) % (24 * 3600);

        snprintf(out, n, "%02ldh %02ldm %02lds", secs / 3600, (secs % 3600) / 60, secs % 60);
}

void cs_fmt_dec(double dec, char *out, size_t n)
{
        long arcmin = lround(fabs(dec) * 60.0);

        snprintf(out, n, "%c%02ld° %02ld′", dec < 0 ? '-' : '+', arcmin / 60, arcmin % 60);
}

bool cs_req_wants_html(const struct cs_req *req)
{
        const char *accept = cs_req_header(req, "Accept");

        return accept && strstr(accept, "text/html") && !cs_req_header(req, "X-Requested-With");
}
