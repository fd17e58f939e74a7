/* api.h - the worker's HTTP client for the CrowdSky worker API (SPEC section
 * 6): libcurl + cJSON, Bearer token. One struct wk_api per thread (it holds a
 * curl handle with a kept-alive connection).
 *
 * Status mapping: 2xx -> CS_OK; 204 -> CS_OK with *ret_doc NULL; 401 ->
 * CS_EAUTH (token unknown or revoked); 403 -> CS_EFORBIDDEN; 404 ->
 * CS_ENOTFOUND; 409 -> CS_ECONFLICT (stale lease); other 4xx -> CS_EINVAL;
 * 5xx, timeouts and connection failures -> CS_EREMOTE. Messages carry the
 * server's {"error": ...} text. */
#ifndef CROWDSKY_WORKER_API_H
#define CROWDSKY_WORKER_API_H

#include <signal.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "crowdsky/err.h"

struct wk_api;

/* base: e.g. "http://127.0.0.1:8080" (a trailing '/' is fine). */
int wk_api_new(const char *base, const char *token, struct wk_api **ret, struct cs_err *err);
struct wk_api *wk_api_free(struct wk_api *api);

/* Transfers stop early (CS_ECANCELLED) once *flag is non-zero (may be NULL). */
void wk_api_set_cancel(struct wk_api *api, const volatile sig_atomic_t *flag);

/* GET path (with query) -> JSON object in *ret_doc (caller deletes; NULL on 204). */
int wk_api_get_json(struct wk_api *api, const char *path, cJSON **ret_doc, struct cs_err *err);
/* POST body as JSON -> reply object in *ret_doc (may be NULL to discard). */
int wk_api_post_json(struct wk_api *api, const char *path, const cJSON *body, cJSON **ret_doc,
                     struct cs_err *err);
/* GET path into local_path (created/truncated; removed on failure) with the
 * SHA-256 of the bytes written to ret_sha (65 bytes) and their count to
 * ret_size. */
int wk_api_download(struct wk_api *api, const char *path, const char *local_path, int64_t *ret_size,
                    char ret_sha[65], struct cs_err *err);

#endif
