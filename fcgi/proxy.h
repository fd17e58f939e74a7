/* proxy.h - streaming a user's stacks from the WebDAV store through the app
 * (WebDAV credentials never reach a browser or a script), for the script API
 * (h_worker.c: /api/download_stack, /api/thumbnail) and for the pages' own
 * download links (session auth: call these with req->user_id).
 *
 * Each function checks that the stack belongs to user_id (404 otherwise: no
 * oracle), then replies itself: 200 with the bytes streamed as they arrive
 * from WebDAV (never buffered whole), Content-Length when WebDAV gives it,
 * and for FITS a Content-Disposition: attachment. On failure before any byte
 * was sent it replies the error ({"error": ...}; 502 when WebDAV fails) and
 * returns CS_OK, so a handler can `return cs_proxy_...(req, ...);`. */
#ifndef CROWDSKY_FCGI_PROXY_H
#define CROWDSKY_FCGI_PROXY_H

#include <stdint.h>

#include "app.h"

/* The FITS of the user's stack with this chunk key. */
int cs_proxy_stack_by_key(struct cs_req *req, int64_t user_id, const char *chunk_key);
/* The FITS of stacked_frames.id = stack_id. */
int cs_proxy_stack_by_id(struct cs_req *req, int64_t user_id, int64_t stack_id);
/* The PNG thumbnail of stacked_frames.id = stack_id (inline, cacheable privately). */
int cs_proxy_thumbnail(struct cs_req *req, int64_t user_id, int64_t stack_id);

/* Streams any store path (relative to webdav_url) as the reply; used by the
 * above after their ownership check. attachment_name NULL = inline. */
int cs_proxy_webdav_path(struct cs_req *req, const char *path, const char *content_type,
                         const char *attachment_name);

#endif
