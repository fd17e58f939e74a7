/* html.h - the shared layout of the HTML pages (page_*.c): head with the
 * stylesheet and the page's script (files under fcgi/static/, served by
 * nginx at /static/; the CSP allows no inline script or style), the top
 * navigation, the footer, and small formatting helpers.
 *
 * Every piece of user data goes through cs_html's %s (escaped). A logged-in
 * page carries the session's CSRF token in <meta name="csrf-token"> for the
 * scripts (sent back as X-CSRF-Token) and in the log-out form. */
#ifndef CROWDSKY_FCGI_HTML_H
#define CROWDSKY_FCGI_HTML_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"

#define CS_PAGE_MAX (4 << 20) /* largest page we render */

/* Starts a page: doctype, head (title, stylesheet, optional script from
 * /static/<script>, deferred), header with the navigation (active = the nav
 * item to highlight: "home", "upload", "jobs", "stacks", "skymap",
 * "account", "login", "signup", or NULL), and opens <main>. */
void cs_page_begin(struct cs_buf *out, const struct cs_req *req, const char *title,
                   const char *active, const char *script);
/* Closes <main>, adds the footer, closes the document. */
void cs_page_end(struct cs_buf *out);
/* Sends the page (HTML, no-store) and releases out. Returns cs_reply_html's status. */
int cs_page_send(struct cs_req *req, int http, struct cs_buf *out);
/* cs_page_send(req, 200, out) for a page that, to a visitor without a
 * session, depends on nothing but the request's URI (the log-in and sign-up
 * forms: no data, no token, no name): nginx may answer it from a one-second
 * copy for such visitors (X-Accel-Expires: 1). Never for pages that show data,
 * which would then lag behind a change by that second. */
int cs_page_send_fixed(struct cs_req *req, struct cs_buf *out);
/* A complete error page ("Not found", ...) in the layout. */
int cs_page_error(struct cs_req *req, int http, const char *title, const char *msg);

/* "1.2 GB", "350 MB", "12 kB", "512 B" into out (size >= 16). */
void cs_fmt_bytes(double bytes, char *out, size_t outsz);
/* "1 h 05 min", "12 min 30 s", "45 s" into out. */
void cs_fmt_seconds(double seconds, char *out, size_t outsz);
/* RA degrees as "12h 52m 09s", Dec degrees as "+41° 07′". */
void cs_fmt_ra(double ra_deg, char *out, size_t outsz);
void cs_fmt_dec(double dec_deg, char *out, size_t outsz);

/* Opens a gallery tile of stack `id`: <li class="tile"><a href="/stack?id=">
 * and its thumbnail (alt text `alt`) or a "no preview" box; the caller
 * writes the captions and closes with </a></li>. */
void cs_html_tile_open(struct cs_buf *out, long long id, bool has_thumb, const char *alt);

/* True when the client asked for HTML (a plain form post) rather than JSON
 * (fetch from a page script sends Accept: application/json). */
bool cs_req_wants_html(const struct cs_req *req);

#endif
